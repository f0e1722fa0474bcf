"""AWS Cloud Control API, for the one resource type the project manages through it.

The Terraform AWS provider the project pins (5.100) cannot give a function URL's function the second
permission AWS requires since October 2025 (`lambda:InvokeFunction` with the condition
`lambda:InvokedViaFunctionUrl`); `infra/modules/pipeline/lambda.tf` makes it through
`aws_cloudcontrolapi_resource` with type `AWS::Lambda::Permission`, on AWS and on this estate alike.
moto has no Cloud Control API, so the estate answers its operations for that type here, on moto's own
Lambda backend (the statement lands in the function's policy, where `iam.py` enforces it):

- CloudApiService.CreateResource / GetResource / DeleteResource / GetResourceRequestStatus / ListResources;
- CloudFormation DescribeType for `AWS::Lambda::Permission` (the provider reads the type's schema).

Any other type is refused with UnsupportedActionException, as Cloud Control refuses a type it does
not support; the estate's README lists the type it supports.
"""
from __future__ import annotations

import html
import json
import threading
import time
import uuid
from typing import Any

TYPE = "AWS::Lambda::Permission"

# The parts of the registry schema of AWS::Lambda::Permission the provider reads: properties,
# identifiers and which properties are create-only / write-only / read-only.
SCHEMA: dict[str, Any] = {
    "typeName": TYPE,
    "description": "The AWS::Lambda::Permission resource grants an AWS service or another account "
                   "permission to use a function.",
    "additionalProperties": False,
    "properties": {
        "Id": {"type": "string", "pattern": "^.*$", "minLength": 1, "maxLength": 256},
        "Action": {"type": "string", "pattern": "^(lambda:[*]|lambda:[a-zA-Z]+|[*])$", "minLength": 1,
                   "maxLength": 256},
        "EventSourceToken": {"type": "string", "pattern": "^[a-zA-Z0-9._\\-]+$", "minLength": 1,
                             "maxLength": 256},
        "FunctionName": {"type": "string", "minLength": 1, "maxLength": 140},
        "FunctionUrlAuthType": {"type": "string", "enum": ["AWS_IAM", "NONE"]},
        "InvokedViaFunctionUrl": {"type": "boolean"},
        "Principal": {"type": "string", "pattern": "^.*$", "minLength": 1, "maxLength": 256},
        "PrincipalOrgID": {"type": "string", "pattern": "^o-[a-z0-9]{10,32}$", "minLength": 12,
                           "maxLength": 34},
        "SourceAccount": {"type": "string", "pattern": "^\\d{12}$", "minLength": 12, "maxLength": 12},
        "SourceArn": {"type": "string", "minLength": 12, "maxLength": 1024},
    },
    "required": ["FunctionName", "Action", "Principal"],
    "createOnlyProperties": [f"/properties/{p}" for p in (
        "SourceAccount", "FunctionUrlAuthType", "SourceArn", "Principal", "Action", "FunctionName",
        "EventSourceToken", "PrincipalOrgID", "InvokedViaFunctionUrl")],
    "readOnlyProperties": ["/properties/Id"],
    "primaryIdentifier": ["/properties/FunctionName", "/properties/Id"],
    "handlers": {"create": {"permissions": ["lambda:AddPermission"]},
                 "read": {"permissions": ["lambda:GetPolicy"]},
                 "delete": {"permissions": ["lambda:RemovePermission"]},
                 "list": {"permissions": ["lambda:GetPolicy"]}},
}

_PARAM_OF = {"Action": "Action", "Principal": "Principal", "SourceArn": "SourceArn",
             "SourceAccount": "SourceAccount", "EventSourceToken": "EventSourceToken",
             "FunctionUrlAuthType": "FunctionUrlAuthType", "InvokedViaFunctionUrl": "InvokedViaFunctionUrl",
             "PrincipalOrgID": "PrincipalOrgID"}

_lock = threading.Lock()
_requests: dict[str, dict[str, Any]] = {}


class CloudControlError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _backend(account: str, region: str) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(account, region)


def _split(identifier: str) -> tuple[str, str]:
    if "|" not in identifier:
        raise CloudControlError("InvalidRequestException", f"identifier {identifier!r}: FunctionName|Id expected")
    fn, sid = identifier.rsplit("|", 1)
    return fn, sid


def _statements(account: str, region: str, function: str) -> list[dict[str, Any]]:
    try:
        fn = _backend(account, region).get_function(function, None)
    except Exception:
        raise CloudControlError("ResourceNotFoundException", f"function {function} not found", 404) from None
    if not fn.policy:
        return []
    doc = fn.policy.get_policy()
    policy = doc.get("Policy", doc)
    if isinstance(policy, str):
        policy = json.loads(policy)
    return list(policy.get("Statement", []))


def _properties(function: str, st: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"Id": st["Sid"], "FunctionName": function, "Action": st.get("Action")}
    principal = st.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("Service") or principal.get("AWS")
    props["Principal"] = principal
    for key in ("FunctionUrlAuthType", "InvokedViaFunctionUrl"):
        if key in st:
            props[key] = st[key]
    return props


def _event(operation: str, identifier: str, status: str = "SUCCESS", message: str | None = None) -> dict[str, Any]:
    token = str(uuid.uuid4())
    ev = {"TypeName": TYPE, "Identifier": identifier, "RequestToken": token, "Operation": operation,
          "OperationStatus": status, "EventTime": time.time()}
    if message:
        ev["StatusMessage"] = message
    with _lock:
        _requests[token] = ev
    return ev


def handle(operation: str, params: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    type_name = params.get("TypeName")
    if operation == "GetResourceRequestStatus":
        with _lock:
            ev = _requests.get(str(params.get("RequestToken")))
        if ev is None:
            raise CloudControlError("RequestTokenNotFoundException", "request token not found", 404)
        return {"ProgressEvent": ev}
    if type_name != TYPE:
        raise CloudControlError("UnsupportedActionException",
                                f"the local estate's Cloud Control supports {TYPE} only, not {type_name}")
    if operation == "CreateResource":
        desired = json.loads(params.get("DesiredState") or "{}")
        function = str(desired.get("FunctionName", ""))
        sid = f"bbws-cc-{uuid.uuid4().hex[:16]}"
        body = {"StatementId": sid, **{_PARAM_OF[k]: v for k, v in desired.items() if k in _PARAM_OF}}
        try:
            _backend(account, region).add_permission(function, None, json.dumps(body))
        except Exception as e:
            raise CloudControlError("InvalidRequestException", f"AddPermission: {e}") from None
        return {"ProgressEvent": _event("CREATE", f"{function}|{sid}")}
    if operation == "GetResource":
        function, sid = _split(str(params.get("Identifier", "")))
        for st in _statements(account, region, function):
            if st.get("Sid") == sid:
                return {"TypeName": TYPE, "ResourceDescription": {
                    "Identifier": f"{function}|{sid}", "Properties": json.dumps(_properties(function, st))}}
        raise CloudControlError("ResourceNotFoundException", f"{TYPE} {function}|{sid} not found", 404)
    if operation == "DeleteResource":
        function, sid = _split(str(params.get("Identifier", "")))
        try:
            _backend(account, region).remove_permission(function, sid, None)
        except Exception:
            raise CloudControlError("ResourceNotFoundException", f"{TYPE} {function}|{sid} not found", 404) from None
        return {"ProgressEvent": _event("DELETE", f"{function}|{sid}")}
    raise CloudControlError("UnsupportedActionException", f"{operation} is not supported for {TYPE} here")


def describe_type_xml(type_name: str) -> tuple[int, bytes]:
    """CloudFormation DescribeType (Query protocol) for the supported type."""
    if type_name != TYPE:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>TypeNotFoundException</Code><Message>"
                f"{html.escape(str(type_name))} is not known to the local estate</Message></Error>"
                f"<RequestId>local</RequestId></ErrorResponse>")
        return 404, body.encode()
    schema = html.escape(json.dumps(SCHEMA))
    body = ("<DescribeTypeResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">"
            "<DescribeTypeResult>"
            f"<Arn>arn:aws:cloudformation:af-south-1::type/resource/AWS-Lambda-Permission</Arn>"
            f"<Type>RESOURCE</Type><TypeName>{TYPE}</TypeName><DefaultVersionId>00000001</DefaultVersionId>"
            "<IsDefaultVersion>true</IsDefaultVersion><Visibility>PUBLIC</Visibility>"
            "<ProvisioningType>FULLY_MUTABLE</ProvisioningType><DeprecatedStatus>LIVE</DeprecatedStatus>"
            f"<Schema>{schema}</Schema></DescribeTypeResult>"
            "<ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></DescribeTypeResponse>")
    return 200, body.encode()
