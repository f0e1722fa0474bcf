"""Failures AWS produces that the estate cannot bring about on its own, armed on purpose.

Things happen on AWS that moto never does by itself:
- a call fails for one resource at one moment: UpdateAlias answering ResourceConflictException while
  another update of the function is in progress, a throttled PublishVersion or PutItem, an SNS Publish
  that is throttled or refused once, a DynamoDB write refused (AccessDeniedException) or a 5xx;
- a function goes `Inactive` (AWS reclaims an idle function's resources; the next invoke reactivates it).

`POST /_local/faults` arms a fault for the next N matching calls:
    {"service": "lambda", "account": "093646564004", "region": "eu-west-1", "operation": "UpdateAlias",
     "target": "prod-bbws-plugins-service", "times": 1,
     "status": 409, "code": "ResourceConflictException", "message": "..."}
    {"service": "dynamodb", "account": "815856636111", "region": "af-south-1", "operation": "PutItem",
     "target": "bbws-promotion-locks-sit", "times": 1, "status": 400, "code": "AccessDeniedException"}
`service` is the IAM service prefix (`lambda`, the default, `dynamodb`, `sns`, `ssm`, `sts`, `states`,
`cloudwatch`, `events`, `kms`, `codebuild`, `ecs`, `s3`) and `operation` one of that service's API operations (checked against
the SDK's model). `target` names the resource the call acts on: a function name for Lambda (`function`
may be used instead), a table for DynamoDB, a topic ARN or name for SNS, a parameter name for SSM, a role
ARN for STS, a state machine or execution ARN for Step Functions, a metric name for CloudWatch, a rule
name for EventBridge, a project name (or a build id for StopBuild) for CodeBuild, a service name or ARN
for ECS, an object key (or a bucket, for a bucket's calls) for S3; `*` matches any. The answer is the
service's own error, in its protocol: Lambda's REST error (x-amzn-ErrorType), the JSON protocols'
`__type`, the query protocol's XML, S3's `<Error>` document, CloudWatch's CBOR.
`caller` (optional) narrows the fault to calls of one role (its name: `bbws-promotion-deploy-sit`), so
that two executions in flight in one account do not take each other's faults.

`kind` says what happens to a matching call:
- `error` (the default): the call is answered at once with the error above;
- `hang`: the connection is held `seconds` (default 30) before that answer, as a call that hangs past the
  SDK's timeout (the client gives up first; its retry is a new call);
- `crash`: the call goes through and succeeds; then the process of the Lambda function `crash_function`
  (in the fault's account) is killed before it answers its invocation, as a process that dies after its
  side effect: the invocation ends with Runtime.ExitError and the caller retries work already done.

`GET /_local/faults` lists what is armed (with the count of calls each has failed and the `id` POST
answered), `DELETE` disarms all, `DELETE /_local/faults?id=N` the one.
`POST /_local/function-state` sets a function's State: {"account", "region", "function", "state"}.

The request is described by the same code that IAM uses (iam.describe), so a fault can hit any call a
role or an administrator makes; a fault is taken after IAM has allowed the call, as on AWS.
"""
from __future__ import annotations

import html
import json
import re
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Callable

from . import iam

# The IAM service prefix -> botocore's service name (whose model lists the operations).
_BOTOCORE = {"lambda": "lambda", "dynamodb": "dynamodb", "sns": "sns", "ssm": "ssm", "sts": "sts",
             "states": "stepfunctions", "cloudwatch": "cloudwatch", "events": "events", "kms": "kms",
             "codebuild": "codebuild", "ecs": "ecs", "s3": "s3"}
SERVICES = tuple(_BOTOCORE)
# Where a call names the resource it acts on, by service (the first present of the fields).
_TARGET_FIELDS = {"lambda": ("fn",), "dynamodb": ("TableName",), "sns": ("TopicArn", "TargetArn"),
                  "ssm": ("Name",), "sts": ("RoleArn",), "states": ("stateMachineArn", "executionArn"),
                  "cloudwatch": ("MetricName",), "events": ("Name",), "kms": ("KeyId",),
                  "codebuild": ("projectName", "name", "id"), "ecs": ("service", "serviceName"),
                  "s3": ("Key", "Bucket")}
_DEFAULT_ERROR = {"lambda": (409, "ResourceConflictException"), "sns": (500, "InternalError")}
STATES = ("Active", "Inactive", "Pending", "Failed")
KINDS = ("error", "hang", "crash")
_SCOPE = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class FaultError(ValueError):
    pass


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
    kind: str = "error"
    caller: str | None = None
    seconds: float = 0.0
    crash_function: str | None = None
    id: int = 0

    @property
    def function(self) -> str:
        return self.target

    def listing(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.service == "lambda":
            doc["function"] = self.target
        return doc

    def matches(self, target: str | None) -> bool:
        if self.target == "*":
            return True
        if not target:
            return False
        if self.service == "lambda":  # a name, `name:qualifier` or an ARN names the function
            return _function_name(target) == _function_name(self.target)
        return target == self.target or target.rsplit(":", 1)[-1] == self.target


def target_fields(service: str) -> tuple[str, ...]:
    """The request fields that name the resource a call of `service` acts on, in order of preference."""
    return _TARGET_FIELDS.get(service, ())


def _text(doc: dict[str, Any], field: str, default: str | None = None) -> str:
    value = doc.get(field, default)
    if not isinstance(value, str) or not value:
        raise FaultError(f"{field}: a non-empty string is required")
    return value


def operations_of(service: str) -> tuple[str, ...]:
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model(_BOTOCORE[service]).operation_names)


def parse_fault(doc: Any) -> Fault:
    if not isinstance(doc, dict):
        raise FaultError("body: a JSON object is required")
    service = _text(doc, "service", "lambda")
    if service not in SERVICES:
        raise FaultError(f"service: one of {', '.join(SERVICES)}")
    operation = _text(doc, "operation")
    if operation not in operations_of(service):
        raise FaultError(f"operation: {operation} is not an operation of {service}")
    target = _text(doc, "function") if service == "lambda" and "target" not in doc else _text(doc, "target")
    times = doc.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= 100:
        raise FaultError("times: an integer from 1 to 100")
    default_status, default_code = _DEFAULT_ERROR.get(service, (500, "InternalFailure"))
    status = doc.get("status", default_status)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise FaultError("status: an HTTP error status from 400 to 599")
    kind = _text(doc, "kind", "error")
    if kind not in KINDS:
        raise FaultError(f"kind: one of {', '.join(KINDS)}")
    caller = _text(doc, "caller") if "caller" in doc else None
    seconds = doc.get("seconds", 30 if kind == "hang" else 0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 300:
        raise FaultError("seconds: a number from 0 to 300")
    if "seconds" in doc and kind != "hang":
        raise FaultError("seconds: only a hang holds the connection")
    crash_function = _text(doc, "crash_function") if kind == "crash" else None
    if "crash_function" in doc and kind != "crash":
        raise FaultError("crash_function: only a crash kills a process")
    code = _text(doc, "code", default_code)
    default_message = (f"An update is in progress for resource: {target}" if service == "lambda"
                       else f"{operation} failed ({code})")
    return Fault(account=_text(doc, "account"), region=_text(doc, "region"), operation=operation,
                 target=target, times=times, status=status, code=code,
                 message=_text(doc, "message", default_message), service=service, kind=kind,
                 caller=caller, seconds=float(seconds), crash_function=crash_function)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._next_id = 0

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._next_id += 1
            fault.id = self._next_id
            self._armed.append(fault)

    def clear(self, fault_id: int | None = None) -> int:
        """Disarm every fault, or the one with `fault_id`; how many were disarmed."""
        with self._lock:
            n = len(self._armed)
            self._armed[:] = [f for f in self._armed if fault_id is not None and f.id != fault_id]
            return n - len(self._armed)

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.listing() for f in self._armed]

    def take(self, environ: dict[str, Any], path: str, body: bytes, account_of: Callable[[str], str],
             caller_role: str | None = None) -> tuple[Fault, iam.Call] | None:
        """The armed fault this call hits (counted), with the call as described; None if none.
        `caller_role` is the name of the caller's role when a role session calls."""
        with self._lock:
            if not self._armed:
                return None
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not scope:
            return None
        account, region = account_of(scope.group(1)), scope.group(2)
        call = iam.describe(environ, path, body, scope.group(3), region, account)
        if call is None:
            return None
        fields = _TARGET_FIELDS.get(call.service, ())
        target = next((str(call.params[f]) for f in fields if call.params.get(f)), None)
        with self._lock:
            for f in self._armed:
                if ((f.service, f.operation, f.account, f.region) == (call.service, call.operation, account, region)
                        and f.matches(target) and f.caller in (None, caller_role)):
                    f.failed += 1
                    f.times -= 1
                    if f.times == 0:
                        self._armed.remove(f)
                    return f, call
        return None


def _function_name(named: str) -> str:
    """`name`, `name:qualifier` or an ARN -> the bare function name."""
    parts = named.split(":")
    return parts[6] if named.startswith("arn:") and len(parts) > 6 else parts[0]


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def response(fault: Fault, call: iam.Call) -> tuple[str, bytes, str, list[tuple[str, str]]]:
    """Status line, body, content type and headers of the service's own error answer."""
    status = f"{fault.status} {_REASONS.get(fault.status, 'Error')}"
    request_id = [("x-amzn-RequestId", str(uuid.uuid4()))]  # every AWS answer carries one
    if call.protocol == "rest-json":
        body = json.dumps({"Type": "User", "message": fault.message}).encode()
        return status, body, "application/json", [("x-amzn-ErrorType", fault.code)] + request_id
    if call.protocol == "json":
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        return status, body, "application/x-amz-json-1.0", [("x-amzn-ErrorType", fault.code)] + request_id
    if call.protocol == "cbor":
        import cbor2

        body = cbor2.dumps({"__type": fault.code, "message": fault.message})
        return status, body, "application/cbor", [("smithy-protocol", "rpc-v2-cbor")] + request_id
    if call.protocol == "rest-xml":  # S3: <Error> at the root, no ErrorResponse
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{html.escape(fault.code)}</Code>"
                f"<Message>{html.escape(fault.message)}</Message><RequestId>local-fault</RequestId></Error>").encode()
        return status, body, "application/xml", request_id
    kind = "Receiver" if fault.status >= 500 else "Sender"
    body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{html.escape(fault.code)}</Code>"
            f"<Message>{html.escape(fault.message)}</Message></Error><RequestId>local-fault</RequestId>"
            f"</ErrorResponse>").encode()
    return status, body, "text/xml", []


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
