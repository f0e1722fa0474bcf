"""Failures AWS produces that the estate cannot bring about on its own, armed on purpose.

Things happen on AWS that moto never does by itself:
- a Lambda control-plane call fails for one function at one moment (UpdateAlias answering
  ResourceConflictException while another update of the function is in progress, a throttled PublishVersion);
- a DynamoDB call on one table is throttled, or refused (AccessDeniedException: a policy that lacks the
  action), at one moment;
- a function goes `Inactive` (AWS reclaims an idle function's resources; the next invoke reactivates it).

`POST /_local/faults` arms a fault for the next N matching calls:
    {"account": "093646564004", "region": "eu-west-1", "operation": "UpdateAlias",
     "function": "prod-bbws-plugins-service", "times": 1,
     "status": 409, "code": "ResourceConflictException", "message": "..."}
    {"service": "dynamodb", "account": "815856636111", "region": "af-south-1", "operation": "PutItem",
     "target": "bbws-promotion-locks-sit", "times": 1, "status": 400, "code": "AccessDeniedException",
     "message": "User: ... is not authorized to perform: dynamodb:PutItem on resource: ..."}
`service` is `lambda` (the default; `function` or `target` names the function) or `dynamodb` (`target`
names the table). The answer is the service's own error shape: Lambda's REST error (x-amzn-ErrorType), or
DynamoDB's JSON 1.0 `__type`.
`GET /_local/faults` lists what is armed (with the count of calls each has failed), `DELETE` disarms all.
`POST /_local/function-state` sets a function's State: {"account", "region", "function", "state"}.

Only the operations below are matched: the estate's callers reach every other failure honestly (a missing
item, a conditional write, a cross-account refusal).
"""
from __future__ import annotations

import io
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
# JSON-protocol services: X-Amz-Target prefix, the operations a fault may hit, the body field naming the target.
_JSON_SERVICES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "dynamodb": ("DynamoDB_20120810", ("PutItem", "GetItem", "DeleteItem", "UpdateItem", "Query"), "TableName"),
}
SERVICES = ("lambda", *_JSON_SERVICES)
STATES = ("Active", "Inactive", "Pending", "Failed")
_SCOPE = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/")


class FaultError(ValueError):
    """A fault or state request that names a field wrongly."""


@dataclass
class Fault:
    account: str
    region: str
    operation: str
    target: str
    times: int
    status: int
    code: str
    message: str
    failed: int = 0
    service: str = "lambda"


def _text(doc: dict[str, Any], field: str, default: str | None = None) -> str:
    value = doc.get(field, default)
    if not isinstance(value, str) or not value:
        raise FaultError(f"{field}: a non-empty string is required")
    return value


def parse_fault(doc: Any) -> Fault:
    if not isinstance(doc, dict):
        raise FaultError("body: a JSON object is required")
    service = _text(doc, "service", "lambda")
    if service not in SERVICES:
        raise FaultError(f"service: one of {', '.join(SERVICES)}")
    operations = OPERATIONS if service == "lambda" else _JSON_SERVICES[service][1]
    operation = _text(doc, "operation")
    if operation not in operations:
        raise FaultError(f"operation: one of {', '.join(operations)}")
    target = _text(doc, "function") if service == "lambda" and "target" not in doc else _text(doc, "target")
    times = doc.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 100:
        raise FaultError("times: an integer from 1 to 100")
    status = doc.get("status", 409)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise FaultError("status: an HTTP error status from 400 to 599")
    return Fault(account=_text(doc, "account"), region=_text(doc, "region"), operation=operation,
                 target=target, times=times, status=status, service=service,
                 code=_text(doc, "code", "ResourceConflictException"),
                 message=_text(doc, "message", f"An update is in progress for resource: {target}"))


def _call_of(environ: dict[str, Any], path: str) -> tuple[str, str, str] | None:
    """(service, operation, target) of a request a fault may hit; None for any other request. A
    JSON-protocol body is read to find its target and put back for the service."""
    method = environ.get("REQUEST_METHOD", "")
    for m, pattern, op in _OPERATIONS:
        found = pattern.match(path) if m == method else None
        if found:
            return "lambda", op, _function_name(unquote(found.group(1)))
    prefix, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
    for service, (target_prefix, operations, field) in _JSON_SERVICES.items():
        if prefix == target_prefix and operation in operations:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                return None
            target = doc.get(field) if isinstance(doc, dict) else None
            return (service, operation, target) if isinstance(target, str) else None
    return None


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
            return [{**asdict(f), **({"function": f.target} if f.service == "lambda" else {})}
                    for f in self._armed]

    def take(self, environ: dict[str, Any], path: str, account_of) -> Fault | None:
        """The armed fault this call hits (counted), if any."""
        with self._lock:
            if not self._armed:
                return None
        call = _call_of(environ, path)
        if call is None:
            return None
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not scope:
            return None
        account, region = account_of(scope.group(1)), scope.group(2)
        with self._lock:
            for f in self._armed:
                if (f.service, f.operation, f.target, f.account, f.region) == (*call, account, region):
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


def response(fault: Fault) -> tuple[str, bytes, str, list[tuple[str, str]]]:
    """Status line, body, content type and headers of the service's own error answer."""
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
              500: "Internal Server Error", 503: "Service Unavailable"}.get(fault.status, "Error")
    if fault.service == "lambda":
        body = json.dumps({"Type": "User", "message": fault.message}).encode()
        return f"{fault.status} {reason}", body, "application/json", [("x-amzn-ErrorType", fault.code)]
    prefix = _JSON_SERVICES[fault.service][0]
    namespace = f"com.amazonaws.{fault.service}.v{prefix.rsplit('_', 1)[-1]}"
    body = json.dumps({"__type": f"{namespace}#{fault.code}", "message": fault.message}).encode()
    return f"{fault.status} {reason}", body, "application/x-amz-json-1.0", []


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
