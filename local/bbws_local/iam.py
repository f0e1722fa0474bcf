"""IAM as AWS evaluates it, for every request signed by a role session.

moto's own access control checks actions only (never resources or conditions); this module makes the
estate answer as AWS does for the roles the pipeline runs as: the Lambda execution roles, the state
machines' role, the source-reader roles assumed across accounts, the fixtures' roles and any role added
later. The operator's admin user (an IAM user with a key) keeps full access, as an administrator does.

How one request is decided:
 1. `caller_of`: the access key names an assumed-role session (moto keeps the role ARN on the key).
    Anything else (the admin user, an unknown key) is not evaluated here.
 2. `describe`: the request's service and operation, by protocol (REST-JSON paths for Lambda, the
    X-Amz-Target of JSON services, `Action=` of Query services, the Smithy RPC v2 CBOR path).
 3. `OPERATIONS`: the one table of what the project calls: each operation -> the IAM action(s) and the
    resource ARN(s) AWS authorises it against (a qualified function ARN for a qualified Invoke, an
    index ARN for a Query on an index, ...), the condition keys AWS sets, and the resource-based
    policy that takes part (function policy, topic policy, key policy, role trust). Some operations
    imply a second authorisation AWS makes on the caller's behalf (a Publish to a topic encrypted with
    a customer key also needs kms:GenerateDataKey and kms:Decrypt through SNS).
    An operation a role session calls that the table does not know is refused, loudly: a new SDK call
    cannot slip past.
 4. The evaluation itself is @cloud-copilot/iam-simulate (explicit Deny over Allow, Action/NotAction,
    Resource/NotResource, wildcards, condition operators, same- and cross-account rules, KMS key
    policies, role trust) in one long-lived Node process (local/iam/evaluate.mjs); decisions are
    cached by their whole input.
 5. A denial is AWS's: HTTP 403 (or the protocol's status) with AccessDeniedException / AccessDenied /
    AuthorizationError and AWS's sentence ("User: <arn> is not authorized to perform: <action> on
    resource: <arn> because no identity-based policy allows the <action> action"), and one
    CloudTrail-like JSON line in `<state>/logs/iam.jsonl`. `GET /_local/iam` lists the denials and the
    evaluator's timing; the test suites fail on a denial they did not expect.

BBWS_LOCAL_IAM=off turns enforcement off (for experiments only); it is on in make up, test and demo.
Limits are listed in the README's local-estate section.
"""
from __future__ import annotations

import collections
import copy
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

LOG = logging.getLogger("bbws_local.iam")

ROOT = Path(__file__).resolve().parents[2]
EVALUATOR = ROOT / "local" / "iam" / "evaluate.mjs"
PARTITION = "aws"


def enforcing() -> bool:
    return os.environ.get("BBWS_LOCAL_IAM", "enforce").lower() not in ("off", "0", "false", "no")


# ---------------------------------------------------------------------------------------------------
# Who calls
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    account: str
    role_arn: str  # arn:aws:iam::<acct>:role/<name>
    session_arn: str  # arn:aws:sts::<acct>:assumed-role/<name>/<session>


def caller_of(access_key: str) -> Caller | None:
    """The role session behind an access key, or None (an IAM user, an unknown key)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, backends in list(iam_backends.items()):
        key = backends["aws"].access_keys.get(access_key)
        if key is None:
            continue
        role_arn = getattr(key, "role_arn", None)
        if not role_arn:
            return None
        session = "session"
        assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            session = assumed.session_name
        name = role_arn.rsplit("/", 1)[-1]
        return Caller(account, role_arn, f"arn:{PARTITION}:sts::{account}:assumed-role/{name}/{session}")
    return None


# The request this thread is answering: its access key, set by the gateway before moto sees the request,
# so the checks moto makes inside its own handlers (a bucket policy's Deny) know who asks.
REQUEST = threading.local()


def principal_of(access_key: str | None) -> tuple[str, str] | None:
    """(the principal as a policy sees it, aws:PrincipalArn) of an access key: a role session's ARN and
    its role's, or an IAM user's ARN twice; None for a key no account knows."""
    if not access_key:
        return None
    caller = caller_of(access_key)
    if caller is not None:
        return caller.session_arn, caller.role_arn
    from moto.iam.models import iam_backends

    for account, backends in list(iam_backends.items()):
        key = backends["aws"].access_keys.get(access_key)
        name = getattr(key, "user_name", None) if key is not None else None
        if name:
            arn = f"arn:{PARTITION}:iam::{account}:user/{name}"
            return arn, arn
    return None


# ---------------------------------------------------------------------------------------------------
# What is called
# ---------------------------------------------------------------------------------------------------

# The signing name of the credential scope -> the IAM service prefix.
SIGNING_TO_PREFIX = {"monitoring": "cloudwatch", "states": "states", "lambda": "lambda", "dynamodb": "dynamodb",
                     "sns": "sns", "sts": "sts", "ssm": "ssm", "kms": "kms", "events": "events", "logs": "logs",
                     "iam": "iam", "s3": "s3", "cloudcontrolapi": "cloudformation"}


@dataclass
class Call:
    service: str  # IAM prefix
    operation: str  # API operation name, e.g. UpdateAlias
    region: str
    account: str  # the caller's account: where unqualified names live
    params: dict[str, Any] = field(default_factory=dict)
    protocol: str = "json"  # rest-json | json | query | cbor


# Lambda's REST paths: (method, path pattern) -> operation. `{fn}` and `{alias}` are captured.
_LAMBDA_ROUTES: list[tuple[str, str, str]] = [
    ("POST", r"/2015-03-31/functions/(?P<fn>[^/]+)/invocations", "Invoke"),
    ("POST", r"/2014-11-13/functions/(?P<fn>[^/]+)/invoke-async/?", "InvokeAsync"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/configuration", "GetFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/(?P<fn>[^/]+)/configuration", "UpdateFunctionConfiguration"),
    ("PUT", r"/2015-03-31/functions/(?P<fn>[^/]+)/code", "UpdateFunctionCode"),
    ("POST", r"/2015-03-31/functions/(?P<fn>[^/]+)/versions", "PublishVersion"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/versions", "ListVersionsByFunction"),
    ("POST", r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases", "CreateAlias"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases", "ListAliases"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases/(?P<alias>[^/]+)", "GetAlias"),
    ("PUT", r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases/(?P<alias>[^/]+)", "UpdateAlias"),
    ("DELETE", r"/2015-03-31/functions/(?P<fn>[^/]+)/aliases/(?P<alias>[^/]+)", "DeleteAlias"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/policy", "GetPolicy"),
    ("GET", r"/2015-03-31/functions/(?P<fn>[^/]+)/?", "GetFunction"),
    ("GET", r"/2015-03-31/functions/?", "ListFunctions"),
]
_LAMBDA_COMPILED = [(m, __import__("re").compile("^" + p + "$"), op) for m, p, op in _LAMBDA_ROUTES]


def describe(environ: dict[str, Any], path: str, body: bytes, signing: str, region: str,
             account: str) -> Call | None:
    """The service and operation of a request, with the parameters the table needs; None if unknown."""
    prefix = SIGNING_TO_PREFIX.get(signing, signing)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if prefix == "lambda":
        method = environ.get("REQUEST_METHOD", "GET")
        for m, rx, op in _LAMBDA_COMPILED:
            hit = rx.match(path)
            if hit and m == method:
                params: dict[str, Any] = {k: unquote(v) for k, v in hit.groupdict().items() if v}
                q = (query.get("Qualifier") or query.get("qualifier") or [None])[0]
                if q:
                    params["Qualifier"] = q
                if op == "CreateAlias":
                    params.update(_json(body))
                return Call("lambda", op, region, account, params, "rest-json")
        return Call("lambda", f"{environ.get('REQUEST_METHOD', '')} {path}", region, account, {}, "rest-json")
    if prefix == "s3":  # S3's sub-resources are flags without a value (`?versions`)
        flags = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return _describe_s3(environ.get("REQUEST_METHOD", "GET"), path, flags, region, account)
    if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor":
        op = path.rstrip("/").rsplit("/", 1)[-1]
        return Call(prefix, op, region, account, {}, "cbor")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return Call(prefix, target.rsplit(".", 1)[-1], region, account, _json(body), "json")
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype or (not body and "Action" in query):
        form = parse_qs(body.decode("utf-8", "replace")) if body else query
        params = {k: v[0] for k, v in form.items() if v}
        op = params.pop("Action", "")
        return Call(prefix, op, region, account, params, "query")
    return None


# A listing's query arguments, as the condition keys AWS sets from them (s3:prefix, s3:delimiter,
# s3:max-keys; a key the request does not give is absent, so a condition on it does not match).
_S3_LIST_ARGS = {"prefix": "Prefix", "delimiter": "Delimiter", "max-keys": "MaxKeys"}


def _describe_s3(method: str, path: str, query: dict[str, list[str]], region: str, account: str) -> Call:
    """S3's REST operations on objects and their bucket, path-style (`/<bucket>/<key>`: the estate answers
    on one host name). Bucket configuration calls (Terraform's, as the admin user) are not described:
    a role session making one is refused as an unknown operation."""
    bucket, _, key = path.lstrip("/").partition("/")
    params: dict[str, Any] = {"Bucket": unquote(bucket), "Key": unquote(key)}
    version = (query.get("versionId") or [None])[0]
    op = f"{method} {path}"
    if key:
        op = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, op)
        if version and op in ("GetObject", "HeadObject", "DeleteObject"):
            params["VersionId"] = version
    elif bucket and method == "GET":
        if "versions" in query:
            op = "ListObjectVersions"
        elif not any(k in query for k in ("policy", "acl", "encryption", "versioning", "lifecycle", "tagging",
                                           "publicAccessBlock", "ownershipControls", "location", "cors")):
            op = "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        if op in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):  # what s3:prefix and its kin read
            params.update({name: query[arg][0] for arg, name in _S3_LIST_ARGS.items() if query.get(arg)})
    elif bucket and method == "HEAD":
        op = "HeadBucket"
    return Call("s3", op, region, account, params, "rest-xml")


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


# ---------------------------------------------------------------------------------------------------
# The table: operation -> what AWS authorises
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    resource_account: str
    context: tuple[tuple[str, Any], ...] = ()
    # A resource-based policy that takes part (JSON text), or None.
    resource_policy: str | None = None
    # Why this check is evaluated without iam-data's resource-type validation (None: validated).
    unchecked: str | None = None


class UnknownOperation(Exception):
    pass


def _fn_parts(name: str, region: str, account: str) -> tuple[str, str, str, str | None]:
    """(region, account, function name, qualifier) of a FunctionName in any of its accepted forms."""
    if name.startswith("arn:"):
        p = name.split(":")
        return p[3], p[4], p[6], (p[7] if len(p) > 7 else None)
    if ":" in name:  # name:qualifier or account:function:name[:qualifier]
        p = name.split(":")
        if len(p) >= 3 and p[1] == "function":
            return region, p[0], p[2], (p[3] if len(p) > 3 else None)
        return region, account, p[0], p[1]
    return region, account, name, None


def _function_policy(region: str, account: str, name: str) -> str | None:
    from moto.awslambda.utils import get_backend

    try:
        fn = get_backend(account, region).get_function(name, None)
        doc = fn.policy.get_policy() if fn.policy else None
    except Exception:
        return None
    if not doc:
        return None
    policy = doc.get("Policy", doc)
    if isinstance(policy, str):
        policy = json.loads(policy)
    base = f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}"
    statements = []
    for st in policy.get("Statement", []):
        st = dict(st)
        # moto keeps AddPermission's condition parameters as fields; AWS writes them as conditions.
        cond = {op: dict(v) for op, v in (st.get("Condition") or {}).items()}
        if "FunctionUrlAuthType" in st:
            cond.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = st.pop("FunctionUrlAuthType")
        if "InvokedViaFunctionUrl" in st:
            via = st.pop("InvokedViaFunctionUrl")
            cond.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = str(via).lower()
        for k in ("AWS:SourceAccount", "AWS:SourceArn"):
            for v in cond.values():
                if k in v:
                    v[k.replace("AWS:", "aws:")] = v.pop(k)
        if cond:
            st["Condition"] = cond
        res = st.get("Resource")
        if isinstance(res, str) and res.endswith(":$LATEST"):
            st["Resource"] = base  # AWS: the unqualified function ARN when no qualifier was given
        statements.append(st)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _lambda(call: Call, caller: Caller) -> list[Check]:
    name = call.params.get("fn", "")
    region, account, fn, qual = _fn_parts(name, call.region, call.account)
    base = f"arn:{PARTITION}:lambda:{region}:{account}:function:{fn}"
    qualified_ops = {"Invoke": "lambda:InvokeFunction", "InvokeAsync": "lambda:InvokeAsync",
                     "GetFunction": "lambda:GetFunction",
                     "GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
                     "GetPolicy": "lambda:GetPolicy"}
    plain_ops = {"UpdateFunctionCode": "lambda:UpdateFunctionCode",
                 "UpdateFunctionConfiguration": "lambda:UpdateFunctionConfiguration",
                 "PublishVersion": "lambda:PublishVersion",
                 "ListVersionsByFunction": "lambda:ListVersionsByFunction",
                 "CreateAlias": "lambda:CreateAlias", "ListAliases": "lambda:ListAliases",
                 "GetAlias": "lambda:GetAlias", "UpdateAlias": "lambda:UpdateAlias",
                 "DeleteAlias": "lambda:DeleteAlias"}
    policy = _function_policy(region, account, fn)
    if call.operation in qualified_ops:
        q = qual or call.params.get("Qualifier")
        arn = f"{base}:{q}" if q and q != "$LATEST" else base
        return [Check(qualified_ops[call.operation], arn, account, resource_policy=policy)]
    if call.operation in plain_ops:
        # Alias and version operations are authorised against the function (AWS's Lambda permissions
        # reference: resource type `function` for each of them).
        return [Check(plain_ops[call.operation], base, account, resource_policy=policy)]
    if call.operation == "ListFunctions":
        return [Check("lambda:ListFunctions", "*", call.account)]
    raise UnknownOperation(call.operation)


def _table_arn(call: Call, name: str) -> tuple[str, str]:
    if name.startswith("arn:"):
        return name, name.split(":")[4]
    return f"arn:{PARTITION}:dynamodb:{call.region}:{call.account}:table/{name}", call.account


def _dynamodb(call: Call, caller: Caller) -> list[Check]:
    ops = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
    if call.operation in ops:
        arn, acct = _table_arn(call, str(call.params.get("TableName", "")))
        if call.operation in ("Query", "Scan") and call.params.get("IndexName"):
            arn = f"{arn}/index/{call.params['IndexName']}"
        return [Check(f"dynamodb:{call.operation}", arn, acct)]
    if call.operation in ("BatchGetItem", "BatchWriteItem"):
        action = f"dynamodb:{call.operation}"
        return [Check(action, *_table_arn(call, t)) for t in (call.params.get("RequestItems") or {})]
    if call.operation == "TransactWriteItems":
        checks = []
        for item in call.params.get("TransactItems") or []:
            for kind, action in (("Put", "PutItem"), ("Update", "UpdateItem"), ("Delete", "DeleteItem"),
                                 ("ConditionCheck", "ConditionCheckItem")):
                if kind in item:
                    checks.append(Check(f"dynamodb:{action}", *_table_arn(call, item[kind].get("TableName", ""))))
        return checks
    raise UnknownOperation(call.operation)


def _kms_key(region: str, account: str, key_id: str) -> Any:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        if key_id.startswith("alias/") or ":alias/" in key_id:
            key_id = backend.get_key_id_from_alias(key_id.split(":", 5)[-1] if key_id.startswith("arn:")
                                                   else key_id) or key_id
        return backend.describe_key(key_id)
    except Exception:
        return None


def _via_service(call: Call, caller: Caller, service: str, key_id: str, actions: tuple[str, ...]) -> list[Check]:
    """kms actions a service (SNS, SSM) performs with the caller's credentials on a customer key."""
    key = _kms_key(call.region, call.account, key_id)
    if key is None:
        return []
    arn = key.arn
    ctx = (("kms:ViaService", f"{service}.{call.region}.amazonaws.com"), ("kms:CallerAccount", caller.account))
    policy = key.policy if isinstance(key.policy, str) else json.dumps(key.policy)
    return [Check(a, arn, arn.split(":")[4], ctx, policy) for a in actions]


def _sns(call: Call, caller: Caller) -> list[Check]:
    if call.operation != "Publish":
        raise UnknownOperation(call.operation)
    topic_arn = str(call.params.get("TopicArn") or call.params.get("TargetArn") or "")
    from moto.sns.models import sns_backends

    acct, region = topic_arn.split(":")[4], topic_arn.split(":")[3]
    checks: list[Check] = []
    try:
        topic = sns_backends[acct][region].get_topic(topic_arn)
    except Exception:
        topic = None
    policy = getattr(topic, "policy", None) if topic is not None else None
    checks.append(Check("sns:Publish", topic_arn, acct, resource_policy=_sns_policy(policy)))
    key_id = (getattr(topic, "kms_master_key_id", None) or "") if topic is not None else ""
    if key_id:
        checks += _via_service(Call(call.service, call.operation, region, acct), caller, "sns", key_id,
                               ("kms:GenerateDataKey", "kms:Decrypt"))
    return checks


def _sns_policy(policy: Any) -> str | None:
    """A topic policy, with moto's default (AWS:SourceOwner on every action) kept as AWS has it."""
    if not policy:
        return None
    return policy if isinstance(policy, str) else json.dumps(policy)


def _token_state_machine(token: str) -> str | None:
    """The state machine of the running execution that issued a task token."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for _account, regions in list(stepfunctions_parser_backends.items()):
        for _region, backend in list(regions.items()):
            for sm in list(backend.state_machines):
                for ex in list(sm.executions):
                    pool = getattr(getattr(getattr(ex, "exec_worker", None), "env", None), "callback_pool_manager", None)
                    if pool is not None and pool.get(token) is not None:
                        return sm.arn
    return None


def _states(call: Call, caller: Caller) -> list[Check]:
    p = call.params
    if call.operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        sm = _token_state_machine(str(p.get("taskToken", "")))
        if sm is None:  # an unknown token: AWS answers InvalidToken after authorising "*"
            return [Check(f"states:{call.operation}", "*", call.account)]
        # The Service Authorization Reference lists no resource type for the task-token actions, yet
        # Step Functions authorises them against the state machine that issued the token (AWS's own
        # CDK grants them on the state machine ARN, StateMachine.grantTaskResponse).
        return [Check(f"states:{call.operation}", sm, sm.split(":")[4],
                      unchecked="task-token actions are authorised against the issuing state machine")]
    if call.operation == "StartExecution":
        arn = str(p.get("stateMachineArn", ""))
        return [Check("states:StartExecution", arn, arn.split(":")[4] if arn.count(":") > 4 else call.account)]
    if call.operation in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
        arn = str(p.get("executionArn", ""))
        return [Check(f"states:{call.operation}", arn, arn.split(":")[4] if arn.count(":") > 4 else call.account)]
    if call.operation in ("DescribeStateMachine", "ListExecutions"):
        arn = str(p.get("stateMachineArn", ""))
        return [Check(f"states:{call.operation}", arn, call.account)]
    raise UnknownOperation(call.operation)


def _s3_bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    where = s3_backends.bucket_accounts.get(name)
    if where is None:
        return None
    partition, account = where
    try:
        return s3_backends[account][partition].get_bucket(name)
    except Exception:
        return None


def _s3_default_key(bucket: Any) -> str | None:
    """The customer key a bucket's default encryption names (SSE-KMS), or None."""
    rule = ((getattr(bucket, "encryption", None) or {}).get("Rule") or {})
    if isinstance(rule, list):
        rule = rule[0] if rule else {}
    default = rule.get("ApplyServerSideEncryptionByDefault") or {}
    if default.get("SSEAlgorithm") != "aws:kms":
        return None
    return default.get("KMSMasterKeyID") or "alias/aws/s3"


def _s3(call: Call, caller: Caller) -> list[Check]:
    """S3 object operations: authorised against the object (or the bucket for a listing) with the bucket
    policy taking part, and for a bucket encrypted with a customer key the KMS action S3 performs with
    the caller's credentials (GenerateDataKey to write, Decrypt to read). The estate stands in for S3's
    HTTPS endpoints, so aws:SecureTransport is true."""
    name, key = str(call.params.get("Bucket", "")), str(call.params.get("Key", ""))
    bucket_arn = f"arn:{PARTITION}:s3:::{name}"
    versioned = bool(call.params.get("VersionId"))
    object_actions = {"PutObject": "s3:PutObject",
                      "GetObject": "s3:GetObjectVersion" if versioned else "s3:GetObject",
                      "HeadObject": "s3:GetObjectVersion" if versioned else "s3:GetObject",
                      "DeleteObject": "s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"}
    bucket_actions = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket",
                      "ListObjectVersions": "s3:ListBucketVersions", "HeadBucket": "s3:ListBucket"}
    bucket = _s3_bucket(name)
    owner = bucket.account_id if bucket is not None else call.account
    policy = None
    if bucket is not None and bucket.policy:
        policy = bucket.policy.decode() if isinstance(bucket.policy, bytes) else str(bucket.policy)
    ctx = (("aws:SecureTransport", "true"),)
    if call.operation in object_actions:
        checks = [Check(object_actions[call.operation], f"{bucket_arn}/{key}", owner, ctx, policy)]
        key_id = _s3_default_key(bucket) if bucket is not None else None
        kms_action = {"PutObject": "kms:GenerateDataKey", "GetObject": "kms:Decrypt"}.get(call.operation)
        if key_id and kms_action:
            checks += _via_service(Call(call.service, call.operation, call.region, owner), caller, "s3", key_id,
                                   (kms_action,))
        return checks
    if call.operation in bucket_actions:
        listing = tuple((f"s3:{arg}", str(call.params[name])) for arg, name in _S3_LIST_ARGS.items()
                        if name in call.params)
        return [Check(bucket_actions[call.operation], bucket_arn, owner, ctx + listing, policy)]
    raise UnknownOperation(call.operation)


def _parameter_arn(call: Call, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:ssm:{call.region}:{call.account}:parameter{name if name.startswith('/') else '/' + name}"


def _ssm(call: Call, caller: Caller) -> list[Check]:
    if call.operation == "GetParameters":
        # One check per parameter (AWS authorises ssm:GetParameters against each parameter ARN), with
        # the key of each SecureString as for GetParameter.
        checks: list[Check] = []
        for name in call.params.get("Names") or []:
            one = Call(call.service, "GetParameter", call.region, call.account,
                       {"Name": name, "WithDecryption": call.params.get("WithDecryption")}, call.protocol)
            checks += [Check("ssm:GetParameters", c.resource, c.resource_account) if c.action == "ssm:GetParameter"
                       else c for c in _ssm(one, caller)]
        return checks
    if call.operation in ("PutParameter", "DeleteParameter"):
        name = str(call.params.get("Name", ""))
        checks = [Check(f"ssm:{call.operation}", _parameter_arn(call, name), call.account)]
        if call.operation == "PutParameter" and call.params.get("Tags"):
            # A parameter made with tags needs ssm:AddTagsToResource too.
            checks.append(Check("ssm:AddTagsToResource", _parameter_arn(call, name), call.account))
        return checks
    if call.operation == "DescribeParameters":  # no resource-level permissions
        return [Check("ssm:DescribeParameters", "*", call.account)]
    if call.operation in ("ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource"):
        if call.params.get("ResourceType") != "Parameter":
            raise UnknownOperation(f"{call.operation} of a {call.params.get('ResourceType')}")
        return [Check(f"ssm:{call.operation}", _parameter_arn(call, str(call.params.get("ResourceId", ""))),
                      call.account)]
    if call.operation != "GetParameter":
        raise UnknownOperation(call.operation)
    name = str(call.params.get("Name", ""))
    checks = [Check("ssm:GetParameter", _parameter_arn(call, name), call.account)]
    if call.params.get("WithDecryption"):
        from moto.ssm.models import ssm_backends

        try:
            param = ssm_backends[call.account][call.region].get_parameter(name)
        except Exception:
            param = None
        if param is not None and getattr(param, "parameter_type", getattr(param, "type", "")) == "SecureString":
            key_id = getattr(param, "keyid", None) or "alias/aws/ssm"
            checks += _via_service(call, caller, "ssm", key_id, ("kms:Decrypt",))
    return checks


def _sts(call: Call, caller: Caller) -> list[Check]:
    if call.operation == "GetCallerIdentity":
        return []  # no permission is needed (AWS: GetCallerIdentity cannot be denied)
    if call.operation == "AssumeRole":
        role_arn = str(call.params.get("RoleArn", ""))
        from moto.iam.models import iam_backends

        acct = role_arn.split(":")[4] if role_arn.count(":") >= 5 else call.account
        try:
            role = iam_backends[acct]["aws"].get_role_by_arn(role_arn)
            trust = role.assume_role_policy_document
            trust = unquote(trust) if isinstance(trust, str) else json.dumps(trust)
        except Exception:
            trust = None
        return [Check("sts:AssumeRole", role_arn, acct, resource_policy=trust)]
    raise UnknownOperation(call.operation)


def _cloudwatch(call: Call, caller: Caller) -> list[Check]:
    # CloudWatch's metric reads and writes have no resource-level permissions ("*").
    if call.operation in ("GetMetricStatistics", "GetMetricData", "ListMetrics", "PutMetricData",
                          "DescribeAlarms"):
        return [Check(f"cloudwatch:{call.operation}", "*", call.account)]
    raise UnknownOperation(call.operation)


def _events(call: Call, caller: Caller) -> list[Check]:
    if call.operation == "ListRules":
        return [Check("events:ListRules", "*", call.account)]
    if call.operation in ("DescribeRule", "PutRule", "PutTargets"):
        name = str(call.params.get("Name", "") or call.params.get("Rule", ""))
        bus = call.params.get("EventBusName")
        path = f"rule/{bus}/{name}" if bus and bus != "default" else f"rule/{name}"
        return [Check(f"events:{call.operation}", f"arn:{PARTITION}:events:{call.region}:{call.account}:{path}",
                      call.account)]
    raise UnknownOperation(call.operation)


def _codebuild(call: Call, caller: Caller) -> list[Check]:
    """CodeBuild's build and project calls are authorised against the project (the Service Authorization
    Reference: resource type `project` for StartBuild, StopBuild, BatchGetBuilds, ...)."""
    p = call.params

    def project_arn(name: str) -> tuple[str, str]:
        if name.startswith("arn:"):
            parts = name.split(":")
            return f"arn:{PARTITION}:codebuild:{parts[3]}:{parts[4]}:project/{parts[5].split('/', 1)[-1]}", parts[4]
        return f"arn:{PARTITION}:codebuild:{call.region}:{call.account}:project/{name}", call.account

    def build_project(build_id: str) -> tuple[str, str]:
        if build_id.startswith("arn:"):  # arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>
            parts = build_id.split(":")
            return f"arn:{PARTITION}:codebuild:{parts[3]}:{parts[4]}:project/{parts[5].split('/', 1)[-1]}", parts[4]
        return project_arn(build_id.split(":", 1)[0])

    def pass_role(role: Any) -> list[Check]:
        """iam:PassRole of the role the builds will run as (AWS checks it on CreateProject, UpdateProject
        and a StartBuild with serviceRoleOverride), for the CodeBuild service."""
        if not role:
            return []
        arn = str(role) if str(role).startswith("arn:") else f"arn:{PARTITION}:iam::{call.account}:role/{role}"
        return [Check("iam:PassRole", arn, arn.split(":")[4] if arn.count(":") >= 5 else call.account,
                      (("iam:PassedToService", "codebuild.amazonaws.com"),))]

    action = f"codebuild:{call.operation}"
    if call.operation == "StartBuild":
        return [Check(action, *project_arn(str(p.get("projectName", ""))))] + pass_role(p.get("serviceRoleOverride"))
    if call.operation == "ListBuildsForProject":
        return [Check(action, *project_arn(str(p.get("projectName", ""))))]
    if call.operation in ("CreateProject", "UpdateProject", "DeleteProject"):
        return [Check(action, *project_arn(str(p.get("name", ""))))] + pass_role(p.get("serviceRole"))
    if call.operation == "BatchGetProjects":
        return [Check(action, *project_arn(str(n))) for n in p.get("names") or []]
    if call.operation == "StopBuild":
        return [Check(action, *build_project(str(p.get("id", ""))))]
    if call.operation in ("BatchGetBuilds", "BatchDeleteBuilds"):
        return [Check(action, *build_project(str(i))) for i in p.get("ids") or []]
    if call.operation in ("ListProjects", "ListBuilds"):
        return [Check(action, "*", call.account)]
    raise UnknownOperation(call.operation)


def _logs(call: Call, caller: Caller) -> list[Check]:
    """CloudWatch Logs writes as AWS names their resource in a denial: the stream's ARN for
    CreateLogStream and PutLogEvents, `log-group:<name>:log-stream:` for CreateLogGroup."""
    p = call.params
    group = str(p.get("logGroupName", ""))
    base = f"arn:{PARTITION}:logs:{call.region}:{call.account}:log-group:{group}"
    if call.operation == "CreateLogGroup":
        checks = [Check("logs:CreateLogGroup", f"{base}:log-stream:", call.account,
                        unchecked="AWS names the group's ARN with an empty stream for CreateLogGroup")]
        if p.get("tags"):
            # "To assign tags when you create a log group, you must have either the logs:TagResource or
            # logs:TagLogGroup permission" (CreateLogGroup's API reference); the estate asks for the first.
            checks.append(Check("logs:TagResource", base, call.account))
        return checks
    if call.operation in ("CreateLogStream", "PutLogEvents"):
        return [Check(f"logs:{call.operation}", f"{base}:log-stream:{p.get('logStreamName', '')}", call.account)]
    if call.operation in ("GetLogEvents", "DescribeLogStreams", "FilterLogEvents"):
        return [Check(f"logs:{call.operation}", f"{base}:*" if call.operation != "GetLogEvents"
                      else f"{base}:log-stream:{p.get('logStreamName', '')}", call.account)]
    if call.operation in ("PutRetentionPolicy", "DeleteRetentionPolicy", "DeleteLogGroup", "ListTagsLogGroup"):
        return [Check(f"logs:{call.operation}", f"{base}:*", call.account)]
    if call.operation == "DescribeLogGroups":  # no resource-level permissions
        return [Check("logs:DescribeLogGroups", "*", call.account)]
    if call.operation in ("ListTagsForResource", "TagResource", "UntagResource"):
        return [Check(f"logs:{call.operation}", str(p.get("resourceArn", "")), call.account)]
    raise UnknownOperation(call.operation)


def _ecs(call: Call, caller: Caller) -> list[Check]:
    """ECS service calls against the service's ARN (long form: service/<cluster>/<name>), with the
    ecs:cluster condition key AWS sets."""
    p = call.params
    cluster = str(p.get("cluster") or "default")
    cluster_name = cluster.split("/")[-1]
    cluster_arn = f"arn:{PARTITION}:ecs:{call.region}:{call.account}:cluster/{cluster_name}"
    ctx = (("ecs:cluster", cluster_arn),)

    def service_arn(name: str) -> str:
        if name.startswith("arn:"):
            return name if name.count("/") >= 2 else name.replace(":service/", f":service/{cluster_name}/")
        return f"arn:{PARTITION}:ecs:{call.region}:{call.account}:service/{cluster_name}/{name}"

    def tagged_at_creation(arn: str) -> list[Check]:
        """Tags given to a create need ecs:TagResource on the new resource too (ECS's tagging
        authorization), with ecs:CreateAction naming the create."""
        if not p.get("tags"):
            return []
        return [Check("ecs:TagResource", arn, call.account, (("ecs:CreateAction", call.operation),))]

    action = f"ecs:{call.operation}"
    if call.operation in ("UpdateService", "DeleteService"):
        return [Check(action, service_arn(str(p.get("service", ""))), call.account, ctx)]
    if call.operation == "CreateService":
        arn = service_arn(str(p.get("serviceName", "")))
        return [Check(action, arn, call.account, ctx)] + tagged_at_creation(arn)
    if call.operation == "RegisterTaskDefinition":
        # Authorised against the revision it makes; the roles it names are passed to ECS's tasks.
        family = str(p.get("family", ""))
        arn = (f"arn:{PARTITION}:ecs:{call.region}:{call.account}:task-definition/{family}:"
               f"{_next_task_definition_revision(call, family)}")
        checks = [Check(action, arn, call.account)] + tagged_at_creation(arn)
        for key in ("executionRoleArn", "taskRoleArn"):
            role = str(p.get(key) or "")
            if role:
                role_arn = role if role.startswith("arn:") else f"arn:{PARTITION}:iam::{call.account}:role/{role}"
                checks.append(Check("iam:PassRole", role_arn, role_arn.split(":")[4],
                                    (("iam:PassedToService", "ecs-tasks.amazonaws.com"),)))
        return checks
    if call.operation in ("DescribeTaskDefinition", "DeregisterTaskDefinition"):
        return [Check(action, "*", call.account)]  # no resource-level permissions
    if call.operation in ("ListTagsForResource", "TagResource", "UntagResource"):
        arn = str(p.get("resourceArn", ""))
        return [Check(action, arn, arn.split(":")[4] if arn.count(":") >= 5 else call.account)]
    if call.operation == "DescribeServices":
        return [Check(action, service_arn(str(s)), call.account, ctx) for s in p.get("services") or []]
    if call.operation == "DescribeClusters":
        return [Check(action, f"arn:{PARTITION}:ecs:{call.region}:{call.account}:cluster/{str(c).split('/')[-1]}",
                      call.account) for c in p.get("clusters") or ["default"]]
    if call.operation in ("ListServices", "ListClusters"):
        return [Check(action, "*", call.account)]
    raise UnknownOperation(call.operation)


def _next_task_definition_revision(call: Call, family: str) -> int:
    from moto.ecs.models import ecs_backends

    try:
        revisions = ecs_backends[call.account][call.region].task_definitions.get(family) or {}
    except Exception:
        revisions = {}
    return max(revisions, default=0) + 1


def _ec2(call: Call, caller: Caller) -> list[Check]:
    """EC2's reads: its Describe* actions have no resource-level permissions ("*"), but for
    DescribeVpcAttribute (the VPC)."""
    if call.operation in ("DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeRouteTables",
                          "DescribeNetworkAcls", "DescribeAvailabilityZones"):
        return [Check(f"ec2:{call.operation}", "*", call.account)]
    if call.operation == "DescribeVpcAttribute":
        vpc = str(call.params.get("VpcId", ""))
        return [Check("ec2:DescribeVpcAttribute", f"arn:{PARTITION}:ec2:{call.region}:{call.account}:vpc/{vpc}",
                      call.account)]
    raise UnknownOperation(call.operation)


_IAM_ROLE_OPERATIONS = ("CreateRole", "GetRole", "DeleteRole", "UpdateRole", "UpdateRoleDescription",
                        "UpdateAssumeRolePolicy", "TagRole", "UntagRole", "ListRoleTags", "ListRolePolicies",
                        "ListAttachedRolePolicies", "ListInstanceProfilesForRole", "PutRolePolicy", "GetRolePolicy",
                        "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary",
                        "DeleteRolePermissionsBoundary")


def _iam(call: Call, caller: Caller) -> list[Check]:
    """IAM's role operations, against the role's ARN (IAM is global: the caller's account). A role made
    with tags needs iam:TagRole too."""
    if call.operation not in _IAM_ROLE_OPERATIONS:
        raise UnknownOperation(call.operation)
    p = call.params
    name = str(p.get("RoleName", ""))
    path = str(p.get("Path") or "/") if call.operation == "CreateRole" else _role_path(call.account, name)
    arn = f"arn:{PARTITION}:iam::{call.account}:role{path}{name}"
    checks = [Check(f"iam:{call.operation}", arn, call.account)]
    if call.operation == "CreateRole" and any(k.startswith("Tags.member.") for k in p):
        checks.append(Check("iam:TagRole", arn, call.account))
    return checks


def _role_path(account: str, name: str) -> str:
    from moto.iam.models import iam_backends

    try:
        return str(iam_backends[account]["aws"].get_role(name).path or "/")
    except Exception:
        return "/"


OPERATIONS: dict[str, Callable[[Call, Caller], list[Check]]] = {
    "lambda": _lambda,
    "dynamodb": _dynamodb,
    "sns": _sns,
    "states": _states,
    "ssm": _ssm,
    "sts": _sts,
    "cloudwatch": _cloudwatch,
    "events": _events,
    "s3": _s3,
    "codebuild": _codebuild,
    "logs": _logs,
    "ecs": _ecs,
    "ec2": _ec2,
    "iam": _iam,
}


def checks_for(call: Call, caller: Caller) -> list[Check]:
    handler = OPERATIONS.get(call.service)
    if handler is None:
        raise UnknownOperation(call.operation)
    return handler(call, caller)


# ---------------------------------------------------------------------------------------------------
# Role policies
# ---------------------------------------------------------------------------------------------------


def identity_policies(role_arn: str) -> list[dict[str, Any]]:
    """The role's inline and attached managed policies, as iam-simulate takes them."""
    from moto.iam.models import iam_backends

    acct = role_arn.split(":")[4]
    try:
        role = iam_backends[acct]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return []
    out = []
    for name, doc in sorted(role.policies.items()):
        out.append({"name": name, "policy": _doc(doc)})
    for arn, mp in sorted(role.managed_policies.items()):
        doc = None
        for v in getattr(mp, "versions", []):
            if getattr(v, "is_default", False) or v.version_id == getattr(mp, "default_version_id", None):
                doc = v.document
        out.append({"name": arn, "policy": _doc(doc if doc is not None else getattr(mp, "document", "{}"))})
    return out


def _doc(doc: Any) -> Any:
    if isinstance(doc, str):
        try:
            return json.loads(unquote(doc) if doc.startswith("%7B") else doc)
        except ValueError:
            return {}
    return doc


# ---------------------------------------------------------------------------------------------------
# The evaluator process
# ---------------------------------------------------------------------------------------------------


class EvaluatorError(Exception):
    pass


class Evaluator:
    """iam-simulate in a long-lived Node process; one request at a time; decisions cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._next = 0
        self._cache: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.timings: collections.deque[float] = collections.deque(maxlen=5000)
        self.cache_hits = 0
        self.evaluations = 0

    def _start(self) -> subprocess.Popen:
        node = shutil.which("node")
        if node is None:
            raise EvaluatorError("node is not installed: the estate's IAM evaluator needs Node.js (make npm)")
        if not (ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate").exists():
            raise EvaluatorError("@cloud-copilot/iam-simulate is missing: run `make npm`")
        return subprocess.Popen([node, str(EVALUATOR)], cwd=str(ROOT), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1)

    def decide(self, simulation: dict[str, Any], unchecked: bool) -> str:
        return str(self.explain(simulation, unchecked)["decision"])

    def explain(self, simulation: dict[str, Any], unchecked: bool) -> dict[str, Any]:
        """The decision, with the identity and resource policies' own results where evaluated."""
        key = hashlib.sha256(json.dumps([simulation, unchecked], sort_keys=True).encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return hit
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            self._next += 1
            req = {"id": self._next, "simulation": simulation, "unchecked": unchecked}
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
            if not line:
                self._proc = None
                raise EvaluatorError("the IAM evaluator exited")
            answer = json.loads(line)
            self.evaluations += 1
            if "error" in answer:
                raise EvaluatorError(answer["error"])
            self._cache[key] = answer
            if len(self._cache) > 20000:
                self._cache.popitem(last=False)
            return answer

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
            self._proc = None


# ---------------------------------------------------------------------------------------------------
# The decision and its record
# ---------------------------------------------------------------------------------------------------


@dataclass
class Denial:
    caller: Caller
    call: Call
    action: str
    resource: str
    reason: str  # identity | resource | explicit | unknown-operation | evaluator
    message: str


def _reason(answer: dict[str, Any], check: Check, caller: Caller) -> tuple[str, str]:
    """Which policy refused, in AWS's words."""
    identity, resource = answer.get("identity"), answer.get("resource")
    if answer["decision"] == "ExplicitlyDenied":
        where = "resource-based" if resource == "ExplicitlyDenied" else "identity-based"
        return "explicit", f"with an explicit deny in a {where} policy"
    if identity != "Allowed":
        return "identity", f"because no identity-based policy allows the {check.action} action"
    return "resource", f"because no resource-based policy allows the {check.action} action"


class Authorizer:
    def __init__(self, state_dir: Path) -> None:
        self.evaluator = Evaluator()
        self.log_path = state_dir / "logs" / "iam.jsonl"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.denials: list[dict[str, Any]] = []
        self.decisions = 0
        # Every check that was allowed, by role, with the session that made it and its region: what
        # `replay` re-decides under other policies.
        self.allowed: dict[str, dict[tuple[Check, str], str]] = collections.defaultdict(dict)

    def authorize(self, caller: Caller, call: Call) -> Denial | None:
        t0 = time.perf_counter()
        try:
            return self._authorize(caller, call)
        finally:
            self.evaluator.timings.append((time.perf_counter() - t0) * 1000.0)
            self.decisions += 1

    def _authorize(self, caller: Caller, call: Call) -> Denial | None:
        try:
            checks = checks_for(call, caller)
        except UnknownOperation:
            action = f"{call.service}:{call.operation}"
            msg = (f"User: {caller.session_arn} is not authorized to perform: {action} because the local "
                   f"estate's IAM table does not know this operation (add it to local/bbws_local/iam.py)")
            return self._deny(caller, call, action, "*", "unknown-operation", msg)
        identity = identity_policies(caller.role_arn)
        for check in checks:
            sim = self._simulation(caller, check, call.region, identity)
            try:
                answer = self.evaluator.explain(sim, check.unchecked is not None)
            except EvaluatorError as e:
                msg = (f"User: {caller.session_arn} is not authorized to perform: {check.action} on resource: "
                       f"{check.resource} (the estate could not evaluate the request: {e})")
                return self._deny(caller, call, check.action, check.resource, "evaluator", msg)
            if answer["decision"] == "Allowed":
                with self._lock:
                    self.allowed[caller.role_arn].setdefault((check, caller.session_arn), call.region)
                continue
            why, tail = _reason(answer, check, caller)
            msg = (f"User: {caller.session_arn} is not authorized to perform: {check.action} on resource: "
                   f"{check.resource} {tail}")
            return self._deny(caller, call, check.action, check.resource, why, msg)
        return None

    def role_allows(self, role_arn: str, action: str, resource: str, region: str) -> bool:
        """Whether a role's identity policies allow `action` on `resource` (same account, no resource
        policy): what a service checks before acting for the role (Step Functions' managed rules)."""
        account = role_arn.split(":")[4]
        caller = Caller(account, role_arn, f"arn:{PARTITION}:sts::{account}:assumed-role/"
                                           f"{role_arn.rsplit('/', 1)[-1]}/states")
        sim = self._simulation(caller, Check(action, resource, account), region, identity_policies(role_arn))
        return self.evaluator.decide(sim, False) == "Allowed"

    @staticmethod
    def _simulation(caller: Caller, check: Check, region: str, identity: list[dict[str, Any]]) -> dict[str, Any]:
        sim: dict[str, Any] = {
            "identityPolicies": identity,
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": check.action,
                "principal": caller.session_arn,
                "resource": {"resource": check.resource, "accountId": check.resource_account},
                "contextVariables": {
                    "aws:PrincipalArn": caller.role_arn,
                    "aws:PrincipalAccount": caller.account,
                    "aws:RequestedRegion": region,
                    **dict(check.context),
                },
            },
        }
        if check.resource_policy:
            sim["resourcePolicy"] = _doc(check.resource_policy)
        return sim

    def _deny(self, caller: Caller, call: Call, action: str, resource: str, why: str, message: str) -> Denial:
        event = {
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "eventSource": f"{call.service}.amazonaws.com",
            "eventName": call.operation,
            "awsRegion": call.region,
            "recipientAccountId": caller.account,
            "userIdentity": {"type": "AssumedRole", "arn": caller.session_arn, "accountId": caller.account,
                             "sessionContext": {"sessionIssuer": {"type": "Role", "arn": caller.role_arn}}},
            "errorCode": "AccessDenied",
            "errorMessage": message,
            "evaluated": {"action": action, "resource": resource, "reason": why},
        }
        with self._lock:
            self.denials.append(event)
            with open(self.log_path, "a") as f:
                f.write(json.dumps(event) + "\n")
        LOG.info("IAM denied: %s %s on %s (%s)", caller.session_arn, action, resource, why)
        return Denial(caller, call, action, resource, why, message)

    def replay(self, role_arn: str, policies: list[dict[str, Any]] | None,
               actions: list[str] | None = None, without: dict[str, Any] | None = None,
               sessions: list[str] | None = None) -> dict[str, Any]:
        """Re-decide every call `role_arn` was allowed so far under other identity policies: which
        of them those policies would refuse (the least-privilege check removes one action at a time).
        `policies` None: the role's own inline policies in this estate (its ARNs, such as its keys', are
        this estate's), less `without` ({"policy": name, "statement": index, "action": action}) if given.
        With `sessions` (role session name patterns), only the calls of a matching session count: those
        the pipeline made, not those a test made acting as the role. With `actions` (IAM action
        patterns), only the calls of a matching action are re-decided: removing an action from an Allow
        can change no other call's decision."""
        if policies is None:
            policies = without_action(inline_policies(role_arn), without) if without else inline_policies(role_arn)
        with self._lock:
            recorded = list(self.allowed.get(role_arn, {}).items())
        if sessions is not None:
            recorded = [((c, arn), r) for (c, arn), r in recorded
                        if any(fnmatch.fnmatchcase(arn.rsplit("/", 1)[-1], p) for p in sessions)]
        considered = recorded
        if actions is not None:
            patterns = [a.lower() for a in actions]
            considered = [((c, arn), r) for (c, arn), r in recorded
                          if any(fnmatch.fnmatchcase(c.action.lower(), p) for p in patterns)]
        refused = []
        for (check, session_arn), region in considered:
            sim = self._simulation(Caller(role_arn.split(":")[4], role_arn, session_arn), check, region, policies)
            if self.evaluator.decide(sim, check.unchecked is not None) != "Allowed":
                refused.append({"action": check.action, "resource": check.resource,
                                "session": session_arn.rsplit("/", 1)[-1]})
        return {"role": role_arn, "recorded": len(recorded), "considered": len(considered), "refused": refused}

    def summary(self, since: int = 0) -> dict[str, Any]:
        times = list(self.evaluator.timings)
        return {
            "enforcing": enforcing(),
            "decisions": self.decisions,
            "evaluations": self.evaluator.evaluations,
            "cache_hits": self.evaluator.cache_hits,
            "ms_median": statistics.median(times) if times else None,
            "ms_p95": (sorted(times)[int(len(times) * 0.95) - 1] if len(times) >= 20 else None),
            "denial_count": len(self.denials),
            "denials": self.denials[since:],
        }


def inline_policies(role_arn: str) -> list[dict[str, Any]]:
    """The role's inline policies as stored in this estate, `[{"name", "policy"}]` in name order."""
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception as e:
        raise EvaluatorError(f"role_arn: no role {role_arn!r} in this estate") from e
    return [{"name": name, "policy": _doc(doc)} for name, doc in sorted(role.policies.items())]


def without_action(policies: list[dict[str, Any]], without: dict[str, Any]) -> list[dict[str, Any]]:
    """`policies` less one action of one statement (`{"policy": name, "statement": index, "action": a}`);
    a statement left with no action goes, and a policy left with no statement."""
    reduced = copy.deepcopy(policies)
    names = [p["name"] for p in reduced]
    name, index, action = without.get("policy"), without.get("statement"), without.get("action")
    if name not in names or not isinstance(index, int) or not isinstance(action, str):
        raise EvaluatorError(f"without: policy (one of {names}), statement (an index) and action are required")
    policy = reduced[names.index(name)]["policy"]
    statements = policy["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    if not 0 <= index < len(statements):
        raise EvaluatorError(f"without: statement {index} is not in {name} ({len(statements)} statements)")
    st = statements[index]
    listed = [st.get("Action")] if isinstance(st.get("Action"), str) else list(st.get("Action") or [])
    if action not in listed:
        raise EvaluatorError(f"without: {action} is not an action of statement {index} of {name}")
    listed.remove(action)
    if listed:
        st["Action"] = listed
    else:
        statements.pop(index)
    policy["Statement"] = statements
    return [p for p in reduced if p["policy"]["Statement"]]


# ---------------------------------------------------------------------------------------------------
# The denial as each protocol says it
# ---------------------------------------------------------------------------------------------------


def denial_response(call: Call, message: str) -> tuple[str, bytes, str, list[tuple[str, str]]]:
    """(status, body, content type, extra headers) of AWS's AccessDenied for this protocol."""
    if call.protocol == "rest-json":
        body = json.dumps({"Type": "User", "Message": message}).encode()
        return "403 Forbidden", body, "application/json", [("x-amzn-ErrorType", "AccessDeniedException")]
    if call.protocol == "json":
        body = json.dumps({"__type": "AccessDeniedException", "message": message, "Message": message}).encode()
        return "400 Bad Request", body, "application/x-amz-json-1.0", [("x-amzn-ErrorType", "AccessDeniedException")]
    if call.protocol == "cbor":
        import cbor2

        body = cbor2.dumps({"__type": "AccessDenied", "message": message})
        return "403 Forbidden", body, "application/cbor", [("smithy-protocol", "rpc-v2-cbor")]
    import html

    if call.service == "s3":  # S3's REST-XML error: <Error> at the root
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>"
                f"{html.escape(message)}</Message><RequestId>local</RequestId></Error>").encode()
        return "403 Forbidden", body, "application/xml", []
    code = "AuthorizationError" if call.service == "sns" else "AccessDenied"
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{html.escape(message)}"
            f"</Message></Error><RequestId>local</RequestId></ErrorResponse>").encode()
    return "403 Forbidden", body, "text/xml", []


def anonymous_function_url_allowed(evaluator: Evaluator, account: str, region: str, name: str,
                                   auth_type: str = "NONE") -> bool:
    """AWS (since October 2025): a function URL call needs lambda:InvokeFunctionUrl and
    lambda:InvokeFunction (condition lambda:InvokedViaFunctionUrl) in the function's resource policy."""
    policy = _function_policy(region, account, name)
    if policy is None:
        return False
    arn = f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}"
    for action, ctx in (("lambda:InvokeFunctionUrl", {"lambda:FunctionUrlAuthType": auth_type}),
                        ("lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": "true"})):
        sim = {"identityPolicies": [], "serviceControlPolicies": [], "resourceControlPolicies": [],
               "resourcePolicy": _doc(policy),
               "request": {"action": action, "principal": {"type": "Anonymous"},
                           "resource": {"resource": arn, "accountId": account}, "contextVariables": ctx}}
        if evaluator.decide(sim, False) != "Allowed":
            return False
    return True


CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


def alarm_publish_refusal(evaluator: Evaluator, alarm_arn: str, topic_arn: str, topic: Any) -> str | None:
    """Why CloudWatch may not publish an alarm's notification to a topic (None: it may), as AWS decides
    it for the CloudWatch service principal acting for the alarm: sns:Publish under the topic's policy,
    and for a topic encrypted with a customer key kms:GenerateDataKey and kms:Decrypt under the key's
    policy (an AWS managed key's policy allows no service principal). The words are CloudWatch's."""
    alarm_account = alarm_arn.split(":")[4]
    topic_account, region = topic_arn.split(":")[4], topic_arn.split(":")[3]
    context = {"aws:SourceAccount": alarm_account, "aws:SourceArn": alarm_arn, "aws:SourceOwner": alarm_account}

    def allowed(action: str, resource: str, account: str, policy: str | None, extra: dict[str, str]) -> bool:
        sim: dict[str, Any] = {
            "identityPolicies": [], "serviceControlPolicies": [], "resourceControlPolicies": [],
            "request": {"action": action, "principal": CLOUDWATCH_PRINCIPAL,
                        "resource": {"resource": resource, "accountId": account},
                        "contextVariables": {**context, **extra}}}
        if policy:
            sim["resourcePolicy"] = _doc(policy)
        try:
            return evaluator.decide(sim, False) == "Allowed"
        except EvaluatorError as e:
            LOG.warning("could not evaluate %s for CloudWatch on %s: %s", action, resource, e)
            return False

    if not allowed("sns:Publish", topic_arn, topic_account, _sns_policy(getattr(topic, "policy", None)), {}):
        return f"CloudWatch Alarms is not authorized to perform: SNS:Publish on resource:{topic_arn}"
    key_id = getattr(topic, "kms_master_key_id", None) or ""
    if key_id:
        key = _kms_key(region, topic_account, key_id)
        policy = None if key is None else (key.policy if isinstance(key.policy, str) else json.dumps(key.policy))
        via = {"kms:ViaService": f"sns.{region}.amazonaws.com"}
        if key is None or not all(allowed(a, key.arn, key.arn.split(":")[4], policy, via)
                                  for a in ("kms:GenerateDataKey", "kms:Decrypt")):
            return "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
    return None


CODEBUILD_PRINCIPAL = "codebuild.amazonaws.com"


def codebuild_may_assume(evaluator: Evaluator, role_arn: str, trust: Any, project_arn: str) -> bool:
    """Whether CodeBuild may assume a project's service role: sts:AssumeRole by the service principal
    under the role's trust policy, with the keys CodeBuild sets for the project it acts for
    (aws:SourceAccount, aws:SourceArn: the confused-deputy conditions AWS documents for CodeBuild)."""
    account = role_arn.split(":")[4]
    doc = _doc(trust) if isinstance(trust, str) else trust
    sim = {"identityPolicies": [], "serviceControlPolicies": [], "resourceControlPolicies": [],
           "resourcePolicy": doc,
           "request": {"action": "sts:AssumeRole", "principal": CODEBUILD_PRINCIPAL,
                       "resource": {"resource": role_arn, "accountId": account},
                       "contextVariables": {"aws:SourceAccount": project_arn.split(":")[4],
                                            "aws:SourceArn": project_arn}}}
    try:
        return evaluator.decide(sim, False) == "Allowed"
    except EvaluatorError as e:
        LOG.warning("could not evaluate CodeBuild's trust of %s: %s", role_arn, e)
        return False

