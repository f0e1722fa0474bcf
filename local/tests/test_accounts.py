"""Three accounts: a principal acts in another only through sts:AssumeRole into a role that trusts it."""
from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request

import boto3
import pytest
from conftest import ACCOUNTS, ENDPOINT, ensure_role, unique


def trust_account(account: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}


def assumed(session: boto3.Session, role_arn: str) -> boto3.Session:
    c = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token=c["SessionToken"], region_name="af-south-1")


def grant(session: boto3.Session, role_arn: str, statements: list[dict]) -> None:
    """The role's identity policy: what it may do once assumed (IAM is enforced on the estate)."""
    session.client("iam").put_role_policy(RoleName=role_arn.rsplit("/", 1)[-1], PolicyName="grant",
                                          PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                     "Statement": statements}))


def client(sess: boto3.Session, service: str):
    return sess.client(service, endpoint_url=ENDPOINT)


def test_each_profile_acts_in_its_own_account(dev, sit, prod):
    for env, sess in (("dev", dev), ("sit", sit), ("prod", prod)):
        assert sess.client("sts").get_caller_identity()["Account"] == ACCOUNTS[env]


def test_unknown_keys_reach_none_of_the_estate():
    anon = boto3.Session(aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x",
                         region_name="af-south-1")
    assert client(anon, "sts").get_caller_identity()["Account"] not in ACCOUNTS.values()


def test_account_header_cannot_pick_an_account(dev, sit, probe_zip, make_function):
    """moto would act in the account an `x-moto-account-id` header names; the estate ignores it."""
    fn = make_function(dev, probe_zip)
    lam = sit.client("lambda")

    def add_header(request, **_):
        request.headers["x-moto-account-id"] = ACCOUNTS["dev"]

    lam.meta.events.register("before-sign.lambda.*", add_header)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=fn["FunctionName"])


def test_sit_principal_is_refused_in_dev_without_assume_role(dev, sit, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    lam = sit.client("lambda")
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.get_function(FunctionName=fn["FunctionArn"])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.invoke(FunctionName=fn["FunctionArn"], Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_assume_role_requires_a_role_that_trusts_the_caller(dev, sit, prod):
    sts = sit.client("sts")
    trusting = ensure_role(dev, unique("reader-for-sit"), trust_account(ACCOUNTS["sit"]))
    only_prod = ensure_role(dev, unique("reader-for-prod"), trust_account(ACCOUNTS["prod"]))
    missing = f"arn:aws:iam::{ACCOUNTS['dev']}:role/{unique('no-such-role')}"
    for role in (only_prod, missing):
        with pytest.raises(sts.exceptions.ClientError) as e:
            sts.assume_role(RoleArn=role, RoleSessionName="test")
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    ok = sts.assume_role(RoleArn=trusting, RoleSessionName="test")
    assert ok["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNTS['dev']}:assumed-role/")


def test_trust_naming_a_role_admits_that_role_only(dev, sit, prod, expect_denials):
    pipeline = ensure_role(sit, unique("pipeline"), trust_account(ACCOUNTS["sit"]))
    reader = ensure_role(dev, unique("reader"), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": pipeline}, "Action": "sts:AssumeRole"}]})
    with pytest.raises(sit.client("sts").exceptions.ClientError):
        sit.client("sts").assume_role(RoleArn=reader, RoleSessionName="admin-not-pipeline")
    # Across accounts, the caller's own policy must allow sts:AssumeRole too, not only the trust.
    grant(sit, pipeline, [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}])
    with pytest.raises(sit.client("sts").exceptions.ClientError) as e:
        client(assumed(sit, pipeline), "sts").assume_role(RoleArn=reader, RoleSessionName="pipeline")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert expect_denials(1)
    grant(sit, pipeline, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": reader}])
    creds = client(assumed(sit, pipeline), "sts").assume_role(RoleArn=reader, RoleSessionName="pipeline")
    assert creds["Credentials"]["AccessKeyId"]


def test_code_copied_from_dev_to_sit_through_code_location(dev, sit, probe_zip, make_function):
    source = make_function(dev, probe_zip, name=unique("svc-dev"))
    reader = ensure_role(dev, unique("bbws-promotion-reader"), trust_account(ACCOUNTS["sit"]))
    grant(dev, reader, [{"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": source["FunctionArn"]}])
    in_dev = assumed(sit, reader)
    got = client(in_dev, "lambda").get_function(FunctionName=source["FunctionName"])
    location = got["Code"]["Location"]
    assert location.startswith(f"{ENDPOINT}/_local/code/")
    with urllib.request.urlopen(location, timeout=10) as r:
        package = r.read()
    assert base64.b64encode(hashlib.sha256(package).digest()).decode() == got["Configuration"]["CodeSha256"]
    target = make_function(sit, package, name=unique("svc-sit"))
    assert target["CodeSha256"] == source["CodeSha256"]
    out = json.loads(sit.client("lambda").invoke(FunctionName=target["FunctionName"], Payload=b"{}")["Payload"].read())
    assert out["function_name"] == target["FunctionName"]


def test_code_location_is_signed(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    location = dev.client("lambda").get_function(FunctionName=fn["FunctionName"])["Code"]["Location"]
    tampered = location[:-1] + ("0" if location[-1] != "0" else "1")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered, timeout=5)
    assert e.value.code == 403
