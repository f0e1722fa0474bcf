"""Fixtures for the local estate's tests: clients of each account, test functions, unique names.

The estate must be up (`make up`; `make test` does it). Every test names its resources uniquely, so the
suite can run against an estate that is also used for other things.
"""
from __future__ import annotations

import functools
import io
import json
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # local/

from bbws_local import pipeline_client  # noqa: E402
from bbws_local.pipeline_client import ROOT, SETTINGS, ensure_role, history  # noqa: E402,F401
from bbws_local.pipeline_client import session as session_for  # noqa: E402
from bbws_local.settings import ACCOUNTS  # noqa: E402,F401

# A test fails when the estate refused a call (IAM) that the test did not expect.
from bbws_local import pytest_iam  # noqa: E402
from bbws_local.pytest_iam import _no_unexpected_iam_denials, expect_denials  # noqa: E402,F401

# The pure tests have their own conftest and run before the estate starts (`make unit-py`).
collect_ignore = ["unit"]

# Modules that read what the pipeline tests (tests/) change: the applied Terraform (a second plan) and the
# BBWS services as seeded. `make test-local` runs them before the suites that run side by side.
PIPELINE_STATE_MODULES = ("test_infra.py", "test_services.py")


def pytest_configure(config: pytest.Config) -> None:
    pytest_iam.pytest_configure(config)
    config.addinivalue_line("markers", "pipeline_state: reads the applied pipeline and the seeded services")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    pytest_iam.pytest_collection_modifyitems(items)
    for item in items:
        if item.path.name in PIPELINE_STATE_MODULES:
            item.add_marker(pytest.mark.pipeline_state)

STATE = SETTINGS.state_dir
ENDPOINT = SETTINGS.endpoint
PROBE_ZIP = ROOT / "target" / "lambda" / "bbws-local-probe" / "bootstrap.zip"

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", autouse=True)
def _estate_is_up() -> None:
    problem = pipeline_client.check_up(pipeline=False)
    if problem:
        pytest.exit(problem, returncode=2)


@pytest.fixture(scope="session")
def dev() -> boto3.Session:
    return session_for("dev")


@pytest.fixture(scope="session")
def sit() -> boto3.Session:
    return session_for("sit")


@pytest.fixture(scope="session")
def prod() -> boto3.Session:
    return session_for("prod")


@pytest.fixture(scope="session")
def probe_zip() -> bytes:
    if not PROBE_ZIP.exists():
        pytest.fail(f"{PROBE_ZIP} is missing: build it with `make lambdas`")
    return PROBE_ZIP.read_bytes()


@pytest.fixture(scope="session")
def python_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(Path(__file__).parent / "fixtures" / "pyfn" / "handler.py", "handler.py")
    return buf.getvalue()


@pytest.fixture(scope="session")
def make_function() -> Callable[..., dict[str, Any]]:
    """Create a function in an account: make_function(session, zip, runtime=..., handler=..., **extra)."""

    def _make(session: boto3.Session, code: bytes, runtime: str = "provided.al2023",
              handler: str = "bootstrap", name: str | None = None, **extra: Any) -> dict[str, Any]:
        role = ensure_role(session, "bbws-local-test-fn", LAMBDA_TRUST)
        return session.client("lambda").create_function(
            FunctionName=name or unique("fn"), Runtime=runtime, Handler=handler, Role=role,
            Code={"ZipFile": code}, Timeout=extra.pop("Timeout", 5), **extra)

    return _make


@pytest.fixture(scope="session")
def make_state_machine() -> Callable[..., str]:
    def _make(session: boto3.Session, definition: dict[str, Any], name: str | None = None) -> str:
        role = ensure_role(session, "bbws-local-test-sfn", STATES_TRUST)
        acct = role.split(":")[4]
        # What the estate's own test machines do, in their own account only (IAM is enforced).
        session.client("iam").put_role_policy(RoleName="bbws-local-test-sfn", PolicyName="test-machines",
                                              PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction",
             "Resource": [f"arn:aws:lambda:*:{acct}:function:*"]},
            {"Effect": "Allow", "Action": ["states:StartExecution", "states:DescribeExecution",
                                           "states:StopExecution"],
             "Resource": [f"arn:aws:states:*:{acct}:stateMachine:*", f"arn:aws:states:*:{acct}:execution:*"]},
            {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
             "Resource": f"arn:aws:dynamodb:*:{acct}:table/*"},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:sns:*:{acct}:*"},
        ]}))
        return session.client("stepfunctions").create_state_machine(
            name=name or unique("sm"), definition=json.dumps(definition), roleArn=role)["stateMachineArn"]

    return _make


# The emulator's own tests ask more often and give up sooner than the pipeline's.
wait_execution = functools.partial(pipeline_client.wait_execution, timeout=30.0, poll=0.1)
wait_for = functools.partial(pipeline_client.wait_for, timeout=10.0, poll=0.1)
