"""Armed faults and function states: failures AWS produces at moments the estate cannot otherwise pick."""
from __future__ import annotations

import io
import json
import time
import zipfile

import botocore.config
import botocore.exceptions
import pytest
import requests
from conftest import ACCOUNTS, ENDPOINT, session_for, unique


def second_version(session, name: str, code: bytes) -> str:
    """Publishes a second version (moto publishes only when the package changed, as AWS does)."""
    buf = io.BytesIO(code)
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("VERSION", "2")
    return session.client("lambda").update_function_code(FunctionName=name, ZipFile=buf.getvalue(),
                                                         Publish=True)["Version"]


ARMED: list[int] = []  # ids of the faults this module armed


def arm(**fault) -> requests.Response:
    r = requests.post(f"{ENDPOINT}/_local/faults", json=fault, timeout=5)
    if r.status_code == 200:
        ARMED.append(r.json()["armed"]["id"])
    return r


def armed() -> list[dict]:
    """What this module armed and is still armed (the pipeline's tests may arm their own meanwhile)."""
    return [f for f in requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json() if f["id"] in ARMED]


@pytest.fixture()
def disarm():
    yield
    while ARMED:
        requests.delete(f"{ENDPOINT}/_local/faults?id={ARMED.pop()}", timeout=5)


def test_an_armed_update_alias_fault_fails_that_function_only_and_only_as_often_as_armed(
        prod, probe_zip, make_function, disarm):
    lam = prod.client("lambda")
    target = make_function(prod, probe_zip, Publish=True)["FunctionName"]
    other = make_function(prod, probe_zip, Publish=True)["FunctionName"]
    for fn in (target, other):
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
        assert second_version(prod, fn, probe_zip) == "2"
    r = arm(account=ACCOUNTS["prod"], region="af-south-1", operation="UpdateAlias", function=target, times=1)
    assert r.status_code == 200, r.text
    assert [f["function"] for f in armed()] == [target]

    # the same name in another region or account is not hit
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_alias(FunctionName=target, Name="live", FunctionVersion="2")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert lam.get_alias(FunctionName=target, Name="live")["FunctionVersion"] == "1", "nothing changed"
    assert lam.update_alias(FunctionName=other, Name="live", FunctionVersion="2")["FunctionVersion"] == "2"
    assert armed() == [], "used up after one call"
    assert lam.update_alias(FunctionName=target, Name="live", FunctionVersion="2")["FunctionVersion"] == "2"


def test_a_fault_matches_by_account_and_region(prod, sit, probe_zip, make_function, disarm):
    name = unique("fn")
    for session in (prod, sit, session_for("prod", "eu-west-1")):
        make_function(session, probe_zip, name=name, Publish=True)
        session.client("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    arm(account=ACCOUNTS["prod"], region="eu-west-1", operation="UpdateAlias", function=name, times=2,
        status=500, code="ServiceException", message="Internal error")
    sit.client("lambda").update_alias(FunctionName=name, Name="live", FunctionVersion="1")
    prod.client("lambda").update_alias(FunctionName=name, Name="live", FunctionVersion="1")
    failover = session_for("prod", "eu-west-1").client(
        "lambda", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        failover.update_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert e.value.response["Error"]["Code"] == "ServiceException"
    [left] = armed()
    assert (left["times"], left["failed"]) == (1, 1)


def test_a_dynamodb_fault_fails_that_table_only_with_dynamodb_s_own_error_shape(sit, prod, disarm):
    db = sit.client("dynamodb", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    tables = [unique("tbl"), unique("tbl")]
    for session in (sit, prod):
        for table in tables:
            session.client("dynamodb").create_table(
                TableName=table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    target, other = tables
    denied = (f"User: arn:aws:sts::{ACCOUNTS['sit']}:assumed-role/r/s is not authorized to perform: "
              f"dynamodb:PutItem on resource: arn:aws:dynamodb:af-south-1:{ACCOUNTS['sit']}:table/{target}")
    r = arm(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem",
            target=target, times=1, status=400, code="AccessDeniedException", message=denied)
    assert r.status_code == 200, r.text
    item = {"id": {"S": "a"}}
    prod.client("dynamodb").put_item(TableName=target, Item=item)  # the same name in another account
    db.put_item(TableName=other, Item=item)
    db.get_item(TableName=target, Key=item)  # another operation on the table
    with pytest.raises(botocore.exceptions.ClientError) as e:
        db.put_item(TableName=target, Item=item)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["Error"]["Message"] == denied
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Item" not in db.get_item(TableName=target, Key=item), "nothing was written"
    assert armed() == [], "used up after one call"
    db.put_item(TableName=target, Item=item)
    assert db.get_item(TableName=target, Key=item)["Item"] == item


@pytest.mark.parametrize("doc, field", [
    ({"region": "af-south-1", "operation": "UpdateAlias", "function": "f"}, "account"),
    ({"account": "1", "region": "af-south-1", "operation": "DeleteEverything", "function": "f"}, "operation"),
    ({"account": "1", "region": "af-south-1", "operation": "UpdateAlias", "function": "f", "times": 0}, "times"),
    ({"account": "1", "region": "af-south-1", "operation": "UpdateAlias", "function": "f", "status": 200},
     "status"),
    ({"service": "sqs", "account": "1", "region": "af-south-1", "operation": "SendMessage", "target": "q"},
     "service"),
    ({"service": "dynamodb", "account": "1", "region": "af-south-1", "operation": "UpdateAlias",
      "target": "t"}, "operation"),
    ({"service": "dynamodb", "account": "1", "region": "af-south-1", "operation": "PutItem"}, "target"),
    ([], "body"),
])
def test_a_malformed_fault_names_its_field_and_arms_nothing(doc, field, disarm):
    r = arm(**doc) if isinstance(doc, dict) else requests.post(f"{ENDPOINT}/_local/faults", json=doc, timeout=5)
    assert r.status_code == 400 and r.json()["message"].startswith(f"{field}:"), r.text
    assert armed() == []


def test_a_function_can_be_made_inactive_in_every_version(dev, probe_zip, make_function):
    lam = dev.client("lambda")
    name = make_function(dev, probe_zip, Publish=True)["FunctionName"]
    assert second_version(dev, name, probe_zip) == "2"
    r = requests.post(f"{ENDPOINT}/_local/function-state", timeout=5,
                      json={"account": ACCOUNTS["dev"], "region": "af-south-1", "function": name,
                            "state": "Inactive"})
    assert r.status_code == 200 and r.json()["state"] == "Inactive", r.text
    for qualifier in (None, "1", "2"):
        kw = {"Qualifier": qualifier} if qualifier else {}
        assert lam.get_function(FunctionName=name, **kw)["Configuration"]["State"] == "Inactive", qualifier
    r = requests.post(f"{ENDPOINT}/_local/function-state", timeout=5,
                      json={"account": ACCOUNTS["dev"], "region": "af-south-1", "function": name,
                            "state": "Sleeping"})
    assert r.status_code == 400 and r.json()["message"].startswith("state:")
    r = requests.post(f"{ENDPOINT}/_local/function-state", timeout=5,
                      json={"account": ACCOUNTS["dev"], "region": "af-south-1", "function": unique("none"),
                            "state": "Active"})
    assert r.status_code == 400 and r.json()["message"].startswith("function:")


def test_an_armed_sns_publish_fault_fails_that_topic_only_in_the_query_protocol(sit, prod, disarm):
    name = unique("topic")
    sns = sit.client("sns", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    target = sns.create_topic(Name=name)["TopicArn"]
    other = sns.create_topic(Name=unique("topic"))["TopicArn"]
    elsewhere = prod.client("sns").create_topic(Name=name)["TopicArn"]
    r = arm(service="sns", account=ACCOUNTS["sit"], region="af-south-1", operation="Publish", target=name,
            times=1, status=400, code="KMSThrottling", message="Request was denied due to request throttling")
    assert r.status_code == 200, r.text
    [fault] = armed()
    assert (fault["service"], fault["target"], fault["operation"]) == ("sns", name, "Publish")

    sns.publish(TopicArn=other, Message="another topic is not hit")
    prod.client("sns").publish(TopicArn=elsewhere, Message="the same name in another account is not hit")
    assert sns.list_topics()["Topics"], "other SNS operations are not hit"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sns.publish(TopicArn=target, Message="refused once")
    assert e.value.response["Error"]["Code"] == "KMSThrottling"
    assert e.value.response["Error"]["Message"] == "Request was denied due to request throttling"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert armed() == [], "used up after one call"
    assert sns.publish(TopicArn=target, Message="then published")["MessageId"]


def test_an_armed_s3_fault_fails_that_object_only_with_s3_s_own_error_document(sit, prod, disarm):
    """S3 answers a throttled or failing read with its <Error> document (SlowDown, 503); a versioned read
    (GetObject with versionId) is the same operation."""
    s3 = sit.client("s3", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    bucket = unique("bkt")
    for session in (sit, prod):
        session.client("s3").create_bucket(Bucket=bucket if session is sit else unique("bkt"),
                                           CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="config/rules.json", Body=b"{}")["VersionId"]
    s3.put_object(Bucket=bucket, Key="other.json", Body=b"[]")
    r = arm(service="s3", account=ACCOUNTS["sit"], region="af-south-1", operation="GetObject",
            target="config/rules.json", times=2, status=503, code="SlowDown", message="Please reduce your request rate.")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="other.json")["Body"].read() == b"[]", "another key is not hit"
    s3.head_object(Bucket=bucket, Key="config/rules.json")  # another operation on the key
    for extra in ({}, {"VersionId": version}):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bucket, Key="config/rules.json", **extra)
        assert e.value.response["Error"]["Code"] == "SlowDown"
        assert e.value.response["Error"]["Message"] == "Please reduce your request rate."
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert armed() == [], "used up after two calls"
    assert s3.get_object(Bucket=bucket, Key="config/rules.json", VersionId=version)["Body"].read() == b"{}"


@pytest.mark.parametrize("doc, field", [
    ({"service": "sqs", "account": "1", "region": "af-south-1", "operation": "Publish", "target": "t"},
     "service"),
    ({"service": "sns", "account": "1", "region": "af-south-1", "operation": "UpdateAlias", "target": "t"},
     "operation"),
    ({"service": "sns", "account": "1", "region": "af-south-1", "operation": "Publish"}, "target"),
])
def test_a_fault_names_a_service_and_an_operation_of_that_service(doc, field, disarm):
    r = arm(**doc) if isinstance(doc, dict) else requests.post(f"{ENDPOINT}/_local/faults", json=doc, timeout=5)
    assert r.status_code == 400 and r.json()["message"].startswith(f"{field}:"), r.text


# -- kinds: a crash after the side effect, a hang; narrowed to one caller; the call journal ----------

def _table(session) -> str:
    name = unique("faults-t")
    session.client("dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return name


def _writer(session, python_zip: bytes, table: str) -> tuple[str, str]:
    """A python function whose own role may put items into `table`: (function, role name)."""
    from conftest import LAMBDA_TRUST, ensure_role

    role = unique("faults-writer")
    arn = ensure_role(session, role, LAMBDA_TRUST)
    account = session.client("sts").get_caller_identity()["Account"]
    session.client("iam").put_role_policy(RoleName=role, PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem",
                                                "Resource": f"arn:aws:dynamodb:af-south-1:{account}:table/{table}"}]}))
    name = unique("writer")
    session.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Handler="handler.handler",
                                              Role=arn, Code={"ZipFile": python_zip}, Timeout=30)
    return name, role


def _put(lam, function: str, table: str, key: str) -> dict:
    out = lam.invoke(FunctionName=function, Payload=json.dumps({
        "action": "call", "service": "dynamodb", "operation": "put_item",
        "params": {"TableName": table, "Item": {"k": {"S": key}}}}))
    return {"error": out.get("FunctionError"), "payload": json.loads(out["Payload"].read())}


def test_a_crash_after_the_side_effect_kills_the_process_once_the_call_succeeded(sit, python_zip, disarm):
    table = _table(sit)
    function, role = _writer(sit, python_zip, table)
    lam = sit.client("lambda", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    r = arm(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem", target=table,
            caller=role, kind="crash", crash_function=function)
    assert r.status_code == 200, r.text

    crashed = _put(lam, function, table, "first")
    assert crashed["error"] == "Unhandled", crashed
    assert crashed["payload"]["errorType"] == "Runtime.ExitError"
    assert crashed["payload"]["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert sit.client("dynamodb").get_item(TableName=table, Key={"k": {"S": "first"}})["Item"], \
        "the side effect happened before the process died"
    assert armed() == [], "used up by one call"
    assert _put(lam, function, table, "second") == {"error": None, "payload": {"ok": True}}, "a new process answers"


def test_a_crash_needs_the_call_to_succeed(sit, python_zip, disarm, expect_denials):
    """A call the estate refuses (IAM) kills nothing: the function answers with the refusal."""
    table, other = _table(sit), _table(sit)
    function, role = _writer(sit, python_zip, table)
    lam = sit.client("lambda")
    arm(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem", target=other,
        caller=role, kind="crash", crash_function=function)
    out = _put(lam, function, other, "x")
    assert expect_denials(1)
    assert out["error"] is None and out["payload"]["code"] == "AccessDeniedException", out
    assert len(armed()) == 1, "a refused call does not take the crash"


def test_a_fault_narrowed_to_a_caller_leaves_other_callers_alone(sit, disarm):
    table = _table(sit)
    db = sit.client("dynamodb", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    r = arm(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem", target=table,
            caller="bbws-promotion-record-sit", times=1, status=400, code="ThrottlingException")
    assert r.status_code == 200 and r.json()["armed"]["caller"] == "bbws-promotion-record-sit", r.text
    db.put_item(TableName=table, Item={"k": {"S": "admin"}})
    [left] = armed()
    assert left["failed"] == 0


def test_a_hang_holds_the_connection_past_the_client_s_timeout(sit, disarm):
    table = _table(sit)
    db = sit.client("dynamodb", config=botocore.config.Config(read_timeout=1, retries={"total_max_attempts": 1}))
    arm(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem", target=table,
        kind="hang", seconds=3, times=1, status=500, code="InternalServerError")
    t0 = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        db.put_item(TableName=table, Item={"k": {"S": "x"}})
    assert 1 <= time.monotonic() - t0 < 3
    assert armed() == []


def test_one_fault_is_disarmed_by_its_id(sit, disarm):
    docs = [dict(service="dynamodb", account=ACCOUNTS["sit"], region="af-south-1", operation="PutItem",
                 target=unique("t"), status=400, code="ThrottlingException") for _ in range(2)]
    first, second = (arm(**d).json()["armed"]["id"] for d in docs)
    assert requests.delete(f"{ENDPOINT}/_local/faults?id={first}", timeout=5).json() == {"cleared": 1}
    assert [f["id"] for f in armed()] == [second]
    r = requests.delete(f"{ENDPOINT}/_local/faults?id=first", timeout=5)
    assert r.status_code == 400 and r.json()["message"].startswith("id:")


def test_the_call_journal_lists_each_role_session_s_calls_with_their_answer(sit, python_zip):
    table = _table(sit)
    function, role = _writer(sit, python_zip, table)
    seq = requests.get(f"{ENDPOINT}/_local/calls?since=999999999", timeout=5).json()["seq"]
    assert _put(sit.client("lambda"), function, table, "k")["payload"] == {"ok": True}
    calls = [c for c in requests.get(f"{ENDPOINT}/_local/calls?since={seq}", timeout=5).json()["calls"]
             if c["role"].endswith(f"/{role}")]
    assert [(c["service"], c["operation"], c["target"], c["status"]) for c in calls] == [
        ("dynamodb", "PutItem", table, 200)]
    assert calls[0]["account"] == ACCOUNTS["sit"] and calls[0]["region"] == "af-south-1"


@pytest.mark.parametrize("extra, field", [
    ({"kind": "explode"}, "kind"),
    ({"kind": "crash"}, "crash_function"),
    ({"seconds": 5}, "seconds"),
    ({"kind": "hang", "seconds": 9999}, "seconds"),
    ({"crash_function": "f"}, "crash_function"),
    ({"caller": ""}, "caller"),
])
def test_a_malformed_kind_names_its_field(extra, field, disarm):
    r = arm(service="dynamodb", account="1", region="af-south-1", operation="PutItem", target="t", **extra)
    assert r.status_code == 400 and r.json()["message"].startswith(f"{field}:"), r.text


def test_recycling_a_function_stops_its_idle_processes(dev, python_zip, make_function):
    fn = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")["FunctionName"]
    lam = dev.client("lambda")
    pid = lambda: json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read())["pid"]  # noqa: E731
    first = pid()
    assert pid() == first, "a warm process serves the next invocation"
    r = requests.post(f"{ENDPOINT}/_local/recycle", json={"account": ACCOUNTS["dev"], "function": fn}, timeout=5)
    assert r.status_code == 200 and r.json() == {"stopped": 1}, r.text
    assert pid() != first, "a new process after the recycle"
    r = requests.post(f"{ENDPOINT}/_local/recycle", json={"account": ACCOUNTS["dev"]}, timeout=5)
    assert r.status_code == 400 and "function" in r.json()["message"]
