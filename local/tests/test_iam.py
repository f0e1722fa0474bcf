"""IAM enforced as AWS enforces it, for every request signed by a role session (bbws_local/iam.py).

Each test gives a role exactly one policy and calls as that role, through the real SDK and HTTP: what
the policy grants passes, everything else is refused with AWS's status, code and sentence, and the
refusal is logged. Tests that expect a refusal say so (`expect_denials`), so the suite-wide check of
unexpected denials (conftest) holds.
"""
from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNTS, ENDPOINT, ensure_role, unique

PROD = ACCOUNTS["prod"]
REGION = "af-south-1"


def trust_account(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}


def role_with(session: boto3.Session, statements: list[dict[str, Any]], name: str | None = None) -> str:
    name = name or unique("iam-test")
    arn = ensure_role(session, name, trust_account(session.client("sts").get_caller_identity()["Account"]))
    session.client("iam").put_role_policy(RoleName=name, PolicyName="only",
                                          PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                     "Statement": statements}))
    return arn


def as_role(session: boto3.Session, role_arn: str, region: str = REGION) -> boto3.Session:
    c = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="iam-test")["Credentials"]
    return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token=c["SessionToken"], region_name=region)


def client(sess: boto3.Session, service: str, region: str = REGION) -> Any:
    return sess.client(service, endpoint_url=ENDPOINT, region_name=region,
                       config=boto3.session.Config(retries={"max_attempts": 1}))


def table(session: boto3.Session, index: bool = False) -> str:
    name = unique("iam-t")
    extra: dict[str, Any] = {}
    attrs = [{"AttributeName": "k", "AttributeType": "S"}]
    if index:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                            "Projection": {"ProjectionType": "ALL"}}]
    session.client("dynamodb").create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                            AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra)
    return name


def denied(fn: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as e:
        fn()
    return {"status": e.value.response["ResponseMetadata"]["HTTPStatusCode"], **e.value.response["Error"]}


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{PROD}:table/{name}"


def test_a_role_gets_what_its_policy_grants_and_nothing_else(prod, expect_denials):
    t1, t2 = table(prod), table(prod)
    s = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "dynamodb:GetItem",
                                        "Resource": table_arn(t1)}]))
    ddb = client(s, "dynamodb")
    ddb.get_item(TableName=t1, Key={"k": {"S": "x"}})
    e = denied(lambda: ddb.get_item(TableName=t2, Key={"k": {"S": "x"}}))
    assert e["Code"] == "AccessDeniedException"
    assert e["Message"] == (f"User: arn:aws:sts::{PROD}:assumed-role/{s.client('sts', endpoint_url=ENDPOINT).get_caller_identity()['Arn'].split('/')[1]}/iam-test "
                            f"is not authorized to perform: dynamodb:GetItem on resource: {table_arn(t2)} "
                            f"because no identity-based policy allows the dynamodb:GetItem action")
    e = denied(lambda: ddb.put_item(TableName=t1, Item={"k": {"S": "x"}}))
    assert "dynamodb:PutItem" in e["Message"]
    # Nothing was written by the refused call.
    assert "Item" not in prod.client("dynamodb").get_item(TableName=t1, Key={"k": {"S": "x"}})
    assert expect_denials(2)


def test_explicit_deny_wins_and_not_resource_is_honoured(prod, expect_denials):
    t1, t2 = table(prod), table(prod)
    s = as_role(prod, role_with(prod, [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:PutItem", "NotResource": table_arn(t1)},
    ]))
    ddb = client(s, "dynamodb")
    ddb.put_item(TableName=t1, Item={"k": {"S": "a"}})
    e = denied(lambda: ddb.put_item(TableName=t2, Item={"k": {"S": "a"}}))
    assert "with an explicit deny" in e["Message"]
    ddb.get_item(TableName=t2, Key={"k": {"S": "a"}})  # Allow * still holds for other actions
    assert expect_denials(1)


def _replay(doc: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{ENDPOINT}/_local/iam/replay", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_the_replay_counts_the_calls_of_the_sessions_it_is_given_only(prod):
    """The least-privilege replay (tests/test_zz_least_privilege.py) asks for the pipeline's own
    sessions: a call a test made acting as the role must not make a grant look needed."""
    t1, t2 = table(prod), table(prod)
    role = role_with(prod, [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:DescribeTable"],
                             "Resource": [table_arn(t1), table_arn(t2)]}])
    for session_name, name in (("pipeline-run", t1), ("a-test", t2)):
        c = prod.client("sts").assume_role(RoleArn=role, RoleSessionName=session_name)["Credentials"]
        s = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                          aws_session_token=c["SessionToken"], region_name=REGION)
        client(s, "dynamodb").get_item(TableName=name, Key={"k": {"S": "x"}})
    client(as_role(prod, role), "dynamodb").describe_table(TableName=t1)  # session iam-test

    everyone = _replay({"role_arn": role, "policies": [], "actions": ["dynamodb:GetItem"]})
    assert (everyone["recorded"], everyone["considered"]) == (3, 2)
    assert sorted(r["session"] for r in everyone["refused"]) == ["a-test", "pipeline-run"]

    ours = _replay({"role_arn": role, "policies": [], "actions": ["dynamodb:GetItem"], "sessions": ["pipeline-*"]})
    assert (ours["recorded"], ours["considered"]) == (1, 1)
    assert ours["refused"] == [{"action": "dynamodb:GetItem", "resource": table_arn(t1), "session": "pipeline-run"}]
    # Under the role's own policy nothing it was allowed is refused.
    assert _replay({"role_arn": role, "sessions": ["*"]})["refused"] == []


def test_a_query_on_an_index_is_authorised_against_the_index_arn(prod, expect_denials):
    t = table(prod, index=True)
    s = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": table_arn(t)}]))
    ddb = client(s, "dynamodb")
    ddb.query(TableName=t, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}})
    e = denied(lambda: ddb.query(TableName=t, IndexName="by-g", KeyConditionExpression="g = :g",
                                 ExpressionAttributeValues={":g": {"S": "a"}}))
    assert f"{table_arn(t)}/index/by-g" in e["Message"]
    assert expect_denials(1)


def test_a_qualified_invoke_needs_the_qualified_arn(prod, probe_zip, make_function, expect_denials):
    fn = make_function(prod, probe_zip)
    name, arn = fn["FunctionName"], fn["FunctionArn"]
    v = prod.client("lambda").publish_version(FunctionName=name)["Version"]
    prod.client("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion=v)
    only_plain = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                 "Resource": arn}]))
    lam = client(only_plain, "lambda")
    assert lam.invoke(FunctionName=name)["StatusCode"] == 200
    e = denied(lambda: lam.invoke(FunctionName=name, Qualifier="live"))
    assert e["status"] == 403 and e["Code"] == "AccessDeniedException"
    assert f"on resource: {arn}:live " in e["Message"]
    denied(lambda: lam.invoke(FunctionName=f"{arn}:{v}"))
    both = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                           "Resource": [arn, f"{arn}:*"]}]))
    assert client(both, "lambda").invoke(FunctionName=name, Qualifier="live")["StatusCode"] == 200
    # Another region is another resource.
    e = denied(lambda: client(both, "lambda", "eu-west-1").invoke(FunctionName=name.replace(REGION, "eu-west-1")))
    assert expect_denials(3)


def test_an_operation_the_table_does_not_know_is_refused_loudly(prod, expect_denials):
    s = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "*", "Resource": "*"}]))
    e = denied(lambda: client(s, "ssm").list_documents())
    assert "ssm:ListDocuments" in e["Message"] and "IAM table does not know" in e["Message"]
    assert expect_denials(1)


def test_publishing_to_a_topic_with_a_customer_key_needs_the_key_through_sns(prod, expect_denials):
    key = prod.client("kms").create_key(Description="iam test")["KeyMetadata"]["Arn"]
    topic = prod.client("sns").create_topic(Name=unique("iam-topic"),
                                            Attributes={"KmsMasterKeyId": key})["TopicArn"]
    publish_only = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]))
    e = denied(lambda: client(publish_only, "sns").publish(TopicArn=topic, Message="m"))
    assert "kms:GenerateDataKey" in e["Message"] and key in e["Message"]
    with_key = as_role(prod, role_with(prod, [
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key,
         "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}},
    ]))
    client(with_key, "sns").publish(TopicArn=topic, Message="m")
    assert expect_denials(1)


def test_the_administrator_keeps_full_access(prod):
    t = table(prod)
    prod.client("dynamodb").put_item(TableName=t, Item={"k": {"S": "a"}})
    assert prod.client("dynamodb").get_item(TableName=t, Key={"k": {"S": "a"}})["Item"]


def test_each_denial_is_logged_as_cloudtrail_would(prod, expect_denials):
    s = as_role(prod, role_with(prod, [{"Effect": "Allow", "Action": "sns:Publish",
                                        "Resource": f"arn:aws:sns:{REGION}:{PROD}:nothing"}]))
    denied(lambda: client(s, "dynamodb").get_item(TableName="nope", Key={"k": {"S": "a"}}))
    assert expect_denials(1)
    with urllib.request.urlopen(f"{ENDPOINT}/_local/iam") as r:
        last = json.loads(r.read())["denials"][-1]
    assert last["eventSource"] == "dynamodb.amazonaws.com" and last["eventName"] == "GetItem"
    assert last["errorCode"] == "AccessDenied"
    assert last["userIdentity"]["type"] == "AssumedRole"
    assert last["evaluated"]["action"] == "dynamodb:GetItem"


# -- the pipeline's own roles -----------------------------------------------------------------------


def _python_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(Path(__file__).parent / "fixtures" / "pyfn" / "handler.py", "handler.py")
    return buf.getvalue()


def call_as(session: boto3.Session, role_name: str, service: str, operation: str, params: dict[str, Any],
            region: str | None = None) -> dict[str, Any]:
    """One AWS call made by a function running with `role_name` (as the role's own Lambda would)."""
    acct = session.client("sts").get_caller_identity()["Account"]
    lam = session.client("lambda")
    name = unique("as-role")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="handler.handler",
                        Role=f"arn:aws:iam::{acct}:role/{role_name}", Code={"ZipFile": _python_zip()}, Timeout=30)
    try:
        out = lam.invoke(FunctionName=name, Payload=json.dumps({
            "action": "call", "service": service, "operation": operation, "params": params, "region": region}))
        return json.loads(out["Payload"].read())
    finally:
        lam.delete_function(FunctionName=name)


def test_the_monitor_may_health_check_every_region_and_move_no_alias(prod, expect_denials):
    fn = "bbws-tenant-instance-management-prod"
    ok = call_as(prod, "bbws-promotion-monitor-prod", "lambda", "invoke",
                 {"FunctionName": fn, "Qualifier": "latest-prod", "Payload": b'{"rawPath": "/health"}'.decode()},
                 region="eu-west-1")
    assert ok == {"ok": True}, ok
    no = call_as(prod, "bbws-promotion-monitor-prod", "lambda", "update_alias",
                 {"FunctionName": fn, "Name": "latest-prod", "FunctionVersion": "1"})
    assert no["ok"] is False and no["status"] == 403 and no["code"] == "AccessDeniedException"
    assert no["message"].startswith(f"User: arn:aws:sts::{PROD}:assumed-role/bbws-promotion-monitor-prod/")
    assert no["message"].endswith(
        f"is not authorized to perform: lambda:UpdateAlias on resource: arn:aws:lambda:{REGION}:{PROD}:function:{fn} "
        f"because no identity-based policy allows the lambda:UpdateAlias action")
    assert expect_denials(1)


def test_the_watch_may_list_the_executions_of_its_own_state_machine_only(prod, expect_denials):
    """ListExecutions is authorised against the state machine listed (the watch ends older watches)."""
    machine = f"arn:aws:states:{REGION}:{PROD}:stateMachine:bbws-{{}}-prod"
    ok = call_as(prod, "bbws-promotion-watch-prod", "stepfunctions", "list_executions",
                 {"stateMachineArn": machine.format("watch"), "statusFilter": "RUNNING"})
    assert ok == {"ok": True}, ok
    no = call_as(prod, "bbws-promotion-watch-prod", "stepfunctions", "list_executions",
                 {"stateMachineArn": machine.format("promote")})
    assert no["ok"] is False and no["code"] == "AccessDeniedException", no
    assert f"is not authorized to perform: states:ListExecutions on resource: {machine.format('promote')}" \
        in no["message"], no["message"]
    assert expect_denials(1)


def test_the_approval_url_needs_both_permissions_of_its_function_policy(prod):
    """AWS since October 2025: lambda:InvokeFunctionUrl and lambda:InvokeFunction (via the URL)."""
    lam = prod.client("lambda")
    name = "bbws-promotion-approval-prod"
    statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert {st["Action"] for st in statements} >= {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    url = lam.get_function_url_config(FunctionName=name)["FunctionUrl"]
    import requests

    r = requests.get(url + "approve", timeout=10)  # no token: the function's own refusal page, not IAM's
    assert "For troubleshooting Function URL authorization" not in r.text, r.text
    assert r.headers.get("x-amzn-ErrorType") != "AccessDeniedException"


def test_a_function_url_without_the_invoke_permission_is_forbidden(prod, make_function):
    fn = make_function(prod, _python_zip(), runtime="python3.12", handler="handler.handler")
    lam = prod.client("lambda")
    url = lam.create_function_url_config(FunctionName=fn["FunctionName"], AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=fn["FunctionName"], StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 403
    lam.add_permission(FunctionName=fn["FunctionName"], StatementId="via-url", Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200


def test_a_role_s_inline_policies_are_refused_over_10240_characters_as_iam_refuses_them(prod):
    """IAM's quota: a role's inline policies together hold 10,240 characters, white space not counted
    (PutRolePolicy answers LimitExceeded, 409); the refused policy changes nothing."""
    iam = prod.client("iam")
    name = unique("iam-size")
    ensure_role(prod, name, trust_account(PROD))

    def policy(characters: int) -> str:
        head, tail = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/', '"}]}'
        return head + "k" * (characters - len((head + tail).replace(" ", ""))) + tail

    iam.put_role_policy(RoleName=name, PolicyName="first", PolicyDocument=policy(6000))
    iam.put_role_policy(RoleName=name, PolicyName="second", PolicyDocument=policy(4240))  # 10,240 in all
    e = denied(lambda: iam.put_role_policy(RoleName=name, PolicyName="second", PolicyDocument=policy(4241)))
    assert (e["status"], e["Code"], e["Message"]) == \
        (409, "LimitExceeded", f"Maximum policy size of 10240 bytes exceeded for role {name}")
    kept = iam.get_role_policy(RoleName=name, PolicyName="second")["PolicyDocument"]
    assert "k" * 100 in json.dumps(kept) and len(json.dumps(kept, separators=(",", ":"))) == 4240, "unchanged"
    assert denied(lambda: iam.put_role_policy(RoleName=name, PolicyName="third", PolicyDocument=policy(200)))[
        "Code"] == "LimitExceeded"
    assert sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]) == ["first", "second"]


def test_a_listing_granted_for_one_prefix_lists_that_prefix_only(prod, expect_denials):
    """s3:prefix as AWS sets it from the request (the tenant build lists its scripts' prefix only)."""
    bucket = unique("iam-list")
    prod.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    prod.client("s3").put_object(Bucket=bucket, Key="scripts/a.sh", Body=b"a")
    prod.client("s3").put_object(Bucket=bucket, Key="plans/p", Body=b"p")
    s3 = client(as_role(prod, role_with(prod, [{
        "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringEquals": {"s3:prefix": "scripts/"}}}])), "s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="scripts/")
    assert [o["Key"] for o in listed["Contents"]] == ["scripts/a.sh"]
    for other in ({"Prefix": "plans/"}, {"Prefix": ""}, {}):
        e = denied(lambda: s3.list_objects_v2(Bucket=bucket, **other))
        assert (e["status"], e["Code"]) == (403, "AccessDenied"), other
        assert "s3:ListBucket" in e["Message"], e["Message"]
    assert expect_denials(3)
