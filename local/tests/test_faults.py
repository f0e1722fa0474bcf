"""Armed faults and function states: failures AWS produces at moments the estate cannot otherwise pick."""
from __future__ import annotations

import io
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


def arm(**fault) -> requests.Response:
    return requests.post(f"{ENDPOINT}/_local/faults", json=fault, timeout=5)


@pytest.fixture()
def disarm():
    yield
    requests.delete(f"{ENDPOINT}/_local/faults", timeout=5)


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
    assert [f["function"] for f in requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json()] == [target]

    # the same name in another region or account is not hit
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_alias(FunctionName=target, Name="live", FunctionVersion="2")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert lam.get_alias(FunctionName=target, Name="live")["FunctionVersion"] == "1", "nothing changed"
    assert lam.update_alias(FunctionName=other, Name="live", FunctionVersion="2")["FunctionVersion"] == "2"
    assert requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json() == [], "used up after one call"
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
    [left] = requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json()
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
    assert requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json() == [], "used up after one call"
    db.put_item(TableName=target, Item=item)
    assert db.get_item(TableName=target, Key=item)["Item"] == item


@pytest.mark.parametrize("doc, field", [
    ({"region": "af-south-1", "operation": "UpdateAlias", "function": "f"}, "account"),
    ({"account": "1", "region": "af-south-1", "operation": "DeleteEverything", "function": "f"}, "operation"),
    ({"account": "1", "region": "af-south-1", "operation": "UpdateAlias", "function": "f", "times": 0}, "times"),
    ({"account": "1", "region": "af-south-1", "operation": "UpdateAlias", "function": "f", "status": 200},
     "status"),
    ({"service": "s3", "account": "1", "region": "af-south-1", "operation": "PutObject", "target": "b"},
     "service"),
    ({"service": "dynamodb", "account": "1", "region": "af-south-1", "operation": "UpdateAlias",
      "target": "t"}, "operation"),
    ({"service": "dynamodb", "account": "1", "region": "af-south-1", "operation": "PutItem"}, "target"),
    ([], "body"),
])
def test_a_malformed_fault_names_its_field_and_arms_nothing(doc, field, disarm):
    r = requests.post(f"{ENDPOINT}/_local/faults", json=doc, timeout=5)
    assert r.status_code == 400 and r.json()["message"].startswith(f"{field}:"), r.text
    assert requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json() == []


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
    [armed] = requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json()
    assert (armed["service"], armed["target"], armed["operation"]) == ("sns", name, "Publish")

    sns.publish(TopicArn=other, Message="another topic is not hit")
    prod.client("sns").publish(TopicArn=elsewhere, Message="the same name in another account is not hit")
    assert sns.list_topics()["Topics"], "other SNS operations are not hit"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sns.publish(TopicArn=target, Message="refused once")
    assert e.value.response["Error"]["Code"] == "KMSThrottling"
    assert e.value.response["Error"]["Message"] == "Request was denied due to request throttling"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert requests.get(f"{ENDPOINT}/_local/faults", timeout=5).json() == [], "used up after one call"
    assert sns.publish(TopicArn=target, Message="then published")["MessageId"]


@pytest.mark.parametrize("doc, field", [
    ({"service": "sqs", "account": "1", "region": "af-south-1", "operation": "Publish", "target": "t"},
     "service"),
    ({"service": "sns", "account": "1", "region": "af-south-1", "operation": "UpdateAlias", "target": "t"},
     "operation"),
    ({"service": "sns", "account": "1", "region": "af-south-1", "operation": "Publish"}, "target"),
])
def test_a_fault_names_a_service_and_an_operation_of_that_service(doc, field, disarm):
    r = requests.post(f"{ENDPOINT}/_local/faults", json=doc, timeout=5)
    assert r.status_code == 400 and r.json()["message"].startswith(f"{field}:"), r.text
