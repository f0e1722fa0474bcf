"""Failures AWS produces that the estate cannot bring about on its own, armed on purpose.

Two things happen on AWS that moto never does by itself:
- a control-plane call fails for one resource at one moment (UpdateAlias answering
  ResourceConflictException while another update of the function is in progress, a throttled PublishVersion,
  an SNS Publish that is throttled or refused once);
- a function goes `Inactive` (AWS reclaims an idle function's resources; the next invoke reactivates it).

`POST /_local/faults` arms a fault for the next N matching calls:
    {"service": "lambda", "account": "093646564004", "region": "eu-west-1", "operation": "UpdateAlias",
     "target": "prod-bbws-plugins-service", "times": 1,
     "status": 409, "code": "ResourceConflictException", "message": "..."}
`service` is `lambda` (the default; `function` may name the target) or `sns`; `target` is the resource the
call acts on: a function name for Lambda, a topic ARN (or name) for SNS. `status`, `code` and `message`
are the error answered, in the service's own protocol (Lambda's REST JSON, SNS's query XML).
`GET /_local/faults` lists what is armed (with the count of calls each has failed), `DELETE` disarms all.
`POST /_local/function-state` sets a function's State: {"account", "region", "function", "state"}.

Only the operations below are matched: the estate's callers reach every other failure honestly (a missing
item, a conditional write, a cross-account refusal).
"""
from __future__ import annotations

import html
import io
import json
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

# (method, path under /2015-03-31, operation) for the Lambda calls a fault may hit.
_OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("PUT", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/aliases/([^/]+)$"), "UpdateAlias"),
    ("POST", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/aliases$"), "CreateAlias"),
    ("POST", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/versions$"), "PublishVersion"),
    ("PUT", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)/code$"), "UpdateFunctionCode"),
    ("GET", re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)$"), "GetFunction"),
)
_LAMBDA_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/")
OPERATIONS = tuple(op for _, _, op in _OPERATIONS)
# The query-protocol operations (form body `Action=...`) a fault may hit, by service.
_QUERY_OPERATIONS = {"sns": ("Publish",)}
SERVICES = {"lambda": OPERATIONS, **_QUERY_OPERATIONS}
# What an SNS call acts on, by operation: the form field naming it.
_QUERY_TARGET = {"Publish": ("TopicArn", "TargetArn")}
_DEFAULT_ERROR = {"lambda": (409, "ResourceConflictException"), "sns": (500, "InternalError")}
STATES = ("Active", "Inactive", "Pending", "Failed")
_SCOPE = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")


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
    service: str = "lambda"
    failed: int = 0

    @property
    def function(self) -> str:
        return self.target

    def listing(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.service == "lambda":
            doc["function"] = self.target
        return doc


def _text(doc: dict[str, Any], field: str, default: str | None = None) -> str:
    value = doc.get(field, default)
    if not isinstance(value, str) or not value:
        raise FaultError(f"{field}: a non-empty string is required")
    return value


def parse_fault(doc: Any) -> Fault:
    if not isinstance(doc, dict):
        raise FaultError("body: a JSON object is required")
    service = doc.get("service", "lambda")
    if service not in SERVICES:
        raise FaultError(f"service: one of {', '.join(SERVICES)}")
    operation = _text(doc, "operation")
    if operation not in SERVICES[service]:
        raise FaultError(f"operation: one of {', '.join(SERVICES[service])}")
    target_field = "target" if "target" in doc or service != "lambda" else "function"
    target = _text(doc, target_field)
    times = doc.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 100:
        raise FaultError("times: an integer from 1 to 100")
    default_status, default_code = _DEFAULT_ERROR[service]
    status = doc.get("status", default_status)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise FaultError("status: an HTTP error status from 400 to 599")
    code = _text(doc, "code", default_code)
    default_message = (f"An update is in progress for resource: {target}" if service == "lambda"
                       else f"{operation} failed ({code})")
    return Fault(account=_text(doc, "account"), region=_text(doc, "region"), operation=operation,
                 target=target, times=times, status=status, code=code,
                 message=_text(doc, "message", default_message), service=service)


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
            return [f.listing() for f in self._armed]

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
        return self._hit("lambda", operation, lambda target: target == function, authorization, account_of)

    def take_request(self, environ: dict[str, Any], account_of) -> Fault | None:
        """The armed fault a request hits (counted), if any: a Lambda REST call, or a query-protocol
        call (SNS) whose form body names the operation and its target. The body stays readable."""
        path = environ.get("PATH_INFO", "")
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if _LAMBDA_PATH.match(path):
            return self.take(environ.get("REQUEST_METHOD", ""), path, authorization, account_of)
        with self._lock:
            if not any(f.service in _QUERY_OPERATIONS for f in self._armed):
                return None
        scope = _SCOPE.search(authorization)
        if not scope or scope.group(3) not in _QUERY_OPERATIONS:
            return None
        if "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not length or length > 1_000_000:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"))
        operation = (form.get("Action") or [""])[0]
        named = [form[f][0] for f in _QUERY_TARGET.get(operation, ()) if form.get(f)]

        def names(target: str) -> bool:
            return any(n == target or n.rsplit(":", 1)[-1] == target for n in named)

        return self._hit(scope.group(3), operation, names, authorization, account_of)

    def _hit(self, service: str, operation: str, names, authorization: str, account_of) -> Fault | None:
        scope = _SCOPE.search(authorization)
        if not scope:
            return None
        account, region = account_of(scope.group(1)), scope.group(2)
        with self._lock:
            if not self._armed:
                return None
            for f in self._armed:
                if ((f.service, f.operation, f.account, f.region) == (service, operation, account, region)
                        and names(f.target)):
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
    """Status line, body and extra headers of the error, in the service's protocol (`content_type`)."""
    reason = {400: "Bad Request", 403: "Forbidden", 409: "Conflict", 429: "Too Many Requests",
              500: "Internal Server Error"}.get(fault.status, "Error")
    if fault.service in _QUERY_OPERATIONS:
        kind = "Receiver" if fault.status >= 500 else "Sender"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{html.escape(fault.code)}</Code>"
                f"<Message>{html.escape(fault.message)}</Message></Error><RequestId>local-fault</RequestId>"
                f"</ErrorResponse>").encode()
        return f"{fault.status} {reason}", body, []
    body = json.dumps({"Type": "User", "message": fault.message}).encode()
    return f"{fault.status} {reason}", body, [("x-amzn-ErrorType", fault.code)]


def content_type(fault: Fault) -> str:
    return "text/xml" if fault.service in _QUERY_OPERATIONS else "application/json"


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
