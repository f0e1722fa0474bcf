"""The estate as GitHub Actions' OIDC issuer, and STS's AssumeRoleWithWebIdentity deciding its tokens
as AWS does (bbws_local/oidc.py): signature, audience, the account's provider, the role's trust
conditions, the session's duration."""
from __future__ import annotations

import base64
import json

import boto3
import botocore
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config

from conftest import ACCOUNTS, SETTINGS, unique

ISSUER_URL = "https://token.actions.githubusercontent.com"
REPO = "BigBeardWebSolutions/2_bbws_tenants_event_handler"


def token(environment: str | None = "sit", audience: str = "sts.amazonaws.com", repository: str = REPO) -> str:
    job = {"repository": repository, "run_id": 4242, "actor": "octocat"}
    if environment:
        job["environment"] = environment
    pair = requests.post(f"{SETTINGS.endpoint}/_local/github-oidc/jobs", json=job, timeout=10).json()
    r = requests.get(f"{pair['ACTIONS_ID_TOKEN_REQUEST_URL']}&audience={audience}",
                     headers={"Authorization": f"Bearer {pair['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"}, timeout=10)
    assert r.status_code == 200
    return r.json()["value"]


def assume(role_arn: str, web_token: str, duration: int = 3600) -> dict:
    sts = boto3.client("sts", endpoint_url=SETTINGS.endpoint, region_name="af-south-1",
                       config=Config(signature_version=UNSIGNED))
    return sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="gh", WebIdentityToken=web_token,
                                             DurationSeconds=duration)


def refused(role_arn: str, web_token: str, duration: int = 3600) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as e:
        assume(role_arn, web_token, duration)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture()
def role(sit):
    """A SIT role trusting GitHub's provider for REPO's jobs in the environment "sit"; the provider is
    made when the pipeline has not made it, and removed again then."""
    iam = sit.client("iam")
    provider_arn = f"arn:aws:iam::{ACCOUNTS['sit']}:oidc-provider/token.actions.githubusercontent.com"
    made = False
    try:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    except botocore.exceptions.ClientError:
        iam.create_open_id_connect_provider(Url=ISSUER_URL, ClientIDList=["sts.amazonaws.com"],
                                            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])
        made = True
    name = unique("gh-oidc")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                       "token.actions.githubusercontent.com:sub": f"repo:{REPO}:environment:sit"}}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=7200)["Role"]["Arn"]
    yield arn
    iam.delete_role(RoleName=name)
    if made:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)


def test_the_issuer_serves_its_discovery_document_and_the_key_its_tokens_name():
    conf = requests.get(f"{SETTINGS.endpoint}/_local/github-oidc/.well-known/openid-configuration", timeout=10).json()
    assert conf["issuer"] == ISSUER_URL and conf["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = requests.get(conf["jwks_uri"], timeout=10).json()["keys"]
    header = json.loads(base64.urlsafe_b64decode(token().split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"] in [k["kid"] for k in keys]
    bad = requests.get(f"{SETTINGS.endpoint}/_local/github-oidc/token?job=x&audience=sts.amazonaws.com",
                       headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401


def test_sts_takes_a_token_of_the_trusted_repository_and_environment(role):
    got = assume(role, token("sit"))
    assert got["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNTS['sit']}:assumed-role/{role.split('/')[-1]}/gh"
    c = got["Credentials"]
    who = boto3.client("sts", endpoint_url=SETTINGS.endpoint, region_name="af-south-1",
                       aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                       aws_session_token=c["SessionToken"]).get_caller_identity()
    assert who["Account"] == ACCOUNTS["sit"]


def test_sts_refuses_another_environment_repository_audience_a_forged_token_or_a_long_session(role):
    denied = ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert refused(role, token("prod")) == denied
    assert refused(role, token(None)) == denied  # no environment: sub names the ref
    assert refused(role, token("sit", repository="BigBeardWebSolutions/other")) == denied
    assert refused(role, token("sit", audience="https://github.com/BigBeardWebSolutions")) == \
        ("InvalidIdentityToken", "Incorrect token audience")
    head, body, sig = token("prod").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = f"repo:{REPO}:environment:sit"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert refused(role, f"{head}.{forged}.{sig}") == ("InvalidIdentityToken", "The signature of the ID token is invalid")
    code, message = refused(role, token("sit"), duration=7201)
    assert (code, message) == ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set "
                                                  "for this role.")
