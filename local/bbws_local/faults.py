"""Failures AWS produces that the estate cannot bring about on its own, armed on purpose.

Two things happen on AWS that moto never does by itself:
- a Lambda control-plane call fails for one function at one moment (UpdateAlias answering
  ResourceConflictException while another update of the function is in progress, a throttled PublishVersion);
- a function goes `Inactive` (AWS reclaims an idle function's resources; the next invoke reactivates it).

`POST /_local/faults` arms a fault for the next N matching calls:
    {"account": "093646564004", "region": "eu-west-1", "operation": "UpdateAlias",
     "function": "prod-bbws-plugins-service", "times": 1,
     "status": 409, "code": "ResourceConflictException", "message": "..."}
`GET /_local/faults` lists what is armed (with the count of calls each has failed), `DELETE` disarms all.
`POST /_local/function-state` sets a function's State: {"account", "region", "function", "state"}.

Only Lambda's REST operations below are matched: the estate's callers reach every other service's failures
honestly (a missing item, a conditional write, a cross-account refusal).
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote

# (method, path under /2015-03-31, operation) for the Lambda calls a fault may hit.
_OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("PUT", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/aliases/([^/]+)$"), "UpdateAlias"),
    ("POST", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/aliases$"), "CreateAlias"),
    ("POST", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/versions$"), "PublishVersion"),
    ("PUT", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/code$"), "UpdateFunctionCode"),
    ("GET", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)$"), "GetFunction"),
)
OPERATIONS = tuple(op for _, _, op in _OPERATIONS)
STATES = ("Active", "Inactive", "Pending", "Failed")
_SCOPE = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/")


class FaultError(ValueError):
    """A fault or state request that names a field wrongly."""


@dataclass
class Fault:
    account: str
    region: str
    operation: str
    function: str
    times: int
    status: int
    code: str
    message: str
    failed: int = 0


def _text(doc: dict[str, Any], field: str, default: str | None = None) -> str:
    value = doc.get(field, default)
    if not isinstance(value, str) or not value:
        raise FaultError(f"{field}: a non-empty string is required")
    return value


def parse_fault(doc: Any) -> Fault:
    if not isinstance(doc, dict):
        raise FaultError("body: a JSON object is required")
    operation = _text(doc, "operation")
    if operation not in OPERATIONS:
        raise FaultError(f"operation: one of {', '.join(OPERATIONS)}")
    times = doc.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 100:
        raise FaultError("times: an integer from 1 to 100")
    status = doc.get("status", 409)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise FaultError("status: an HTTP error status from 400 to 599")
    return Fault(account=_text(doc, "account"), region=_text(doc, "region"), operation=operation,
                 function=_text(doc, "function"), times=times, status=status,
                 code=_text(doc, "code", "ResourceConflictException"),
                 message=_text(doc, "message", "An update is in progress for resource: "
                                               f"{doc.get('function')}"))


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def clear(self) -> int:
        with self._lock:
            n = len(self._armed)
            self._armed.clear()
            return n

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._armed]

    def take(self, method: str, path: str, authorization: str, account_of) -> Fault | None:
        """The armed fault this Lambda call hits (counted), if any."""
        operation = function = None
        for m, pattern, op in _OPERATIONS:
            found = pattern.match(path) if m == method else None
            if found:
                operation, function = op, _function_name(unquote(found.group(1)))
                break
        if operation is None:
            return None
        scope = _SCOPE.search(authorization)
        if not scope:
            return None
        account, region = account_of(scope.group(1)), scope.group(2)
        with self._lock:
            if not self._armed:
                return None
            for f in self._armed:
                if (f.operation, f.function, f.account, f.region) == (operation, function, account, region):
                    f.failed += 1
                    f.times -= 1
                    if f.times == 0:
                        self._armed.remove(f)
                    return f
        return None


def _function_name(named: str) -> str:
    """`name`, `name:qualifier` or an ARN -> the bare function name."""
    parts = named.split(":")
    return parts[6] if named.startswith("arn:") and len(parts) > 6 else parts[0]


def response(fault: Fault) -> tuple[str, bytes, list[tuple[str, str]]]:
    reason = {409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}.get(fault.status, "Error")
    body = json.dumps({"Type": "User", "message": fault.message}).encode()
    return f"{fault.status} {reason}", body, [("x-amzn-ErrorType", fault.code)]


def set_function_state(doc: Any) -> dict[str, Any]:
    """Sets State on the function and every published version of it (AWS reports one state for all)."""
    from moto.awslambda.utils import get_backend

    if not isinstance(doc, dict):
        raise FaultError("body: a JSON object is required")
    state = _text(doc, "state")
    if state not in STATES:
        raise FaultError(f"state: one of {', '.join(STATES)}")
    account, region, name = _text(doc, "account"), _text(doc, "region"), _text(doc, "function")
    backend = get_backend(account, region)
    try:
        latest = backend.get_function(name, None)
    except Exception as e:  # moto raises its own not-found type
        raise FaultError(f"function: {name} does not exist in {account} {region}") from e
    published = [v for v in backend.list_versions_by_function(name) if str(v.version) != "$LATEST"]
    for fn in [latest, *published]:
        fn.state = state
    return {"function": name, "state": state, "versions": [str(v.version) for v in published]}
