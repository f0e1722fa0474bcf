"""The tenant build as `make up` deployed it (RB-003 §3.2.4, §4.3.4): CodeBuild project bbws-tenant-build-dev,
its role, buckets, lock table and buildspec, started as the pipeline's state machine starts it, at the commits
of the tenants fixture that `make up` registered as the project's GitHub repository.

The tests are the steps of one story and run in file order: plan tenant-001 and tenant-002 at "initial"
(one build), refuse apply builds that do not name the approved plans (nothing applied), apply the approved
plans (the services run), and refuse what is not a plan or an apply. Every build runs as the project's
service role: a call the role may not make fails the test (the estate's IAM layer). The plans are read back
as the auditor role: the plans bucket refuses them to administrators.

At the end the tenants are destroyed with Terraform directly (the build has no destroy), so
test_tenants_fixture.py and a later run find DEV's cluster as they expect it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from bbws_local.codebuild import github_key
from bbws_local.settings import PRIMARY_REGION, terraform_plugin_args
from conftest import ENDPOINT, STATE, unique
from tenants import fixture

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is needed")

ENV = "dev"
CLUSTER = f"bbws-cluster-{ENV}"
TENANTS = ("tenant-001", "tenant-002")
# What each tenant's plan at "initial" creates (tenant-002 also has its legacy-redirects parameter).
CREATES = {"tenant-001": 6, "tenant-002": 7}


@dataclass
class Project:
    """The applied root's tenant_build output, and what the builds need besides."""

    out: dict[str, Any]
    shas: dict[str, str]
    session: boto3.Session

    @property
    def name(self) -> str:
        return self.out["project_name"]

    def start(self, label: str, **variables: str) -> dict[str, Any]:
        """StartBuild as the state machine starts it: the commit and the build's variables."""
        over = [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()]
        return self.session.client("codebuild").start_build(
            projectName=self.name, sourceVersion=self.shas[label], environmentVariablesOverride=over)["build"]

    def run(self, label: str, **variables: str) -> tuple[dict[str, Any], str]:
        """A build to its end: the build and its log."""
        return self.wait(self.start(label, **variables)["id"])

    def wait(self, build_id: str, timeout: float = 300.0) -> tuple[dict[str, Any], str]:
        cb = self.session.client("codebuild")
        deadline = time.time() + timeout
        while time.time() < deadline:
            build = cb.batch_get_builds(ids=[build_id])["builds"][0]
            if build["buildComplete"]:
                return build, self.log(build)
            time.sleep(0.3)
        raise AssertionError(f"build {build_id} did not complete in {timeout} s")

    def log(self, build: dict[str, Any]) -> str:
        logs = self.session.client("logs")
        events, token = [], None
        while True:
            page = logs.get_log_events(logGroupName=build["logs"]["groupName"], startFromHead=True,
                                       logStreamName=build["logs"]["streamName"], **({"nextToken": token} if token else {}))
            events += page["events"]
            if not page["events"] or page["nextForwardToken"] == token:
                return "\n".join(e["message"] for e in events)
            token = page["nextForwardToken"]


def phase(build: dict[str, Any], phase_type: str) -> dict[str, Any]:
    return next(p for p in build["phases"] if p["phaseType"] == phase_type)


def services(session: boto3.Session) -> dict[str, dict[str, Any]]:
    found = session.client("ecs").describe_services(cluster=CLUSTER, services=[f"{t}-wordpress" for t in TENANTS])
    return {s["serviceName"]: s for s in found["services"] if s["status"] == "ACTIVE"}


def state_key(tenant: str) -> str:
    return f"tenants/{tenant}/terraform.tfstate"


def has_state(session: boto3.Session, bucket: str, tenant: str) -> bool:
    listed = session.client("s3", endpoint_url=ENDPOINT).list_objects_v2(Bucket=bucket, Prefix=state_key(tenant))
    return listed.get("KeyCount", 0) > 0


def holds_resources(session: boto3.Session, bucket: str, tenant: str) -> bool:
    """Whether the tenant's state in the build's bucket has resources (a destroyed tenant's state stays, empty)."""
    if not has_state(session, bucket, tenant):
        return False
    body = session.client("s3", endpoint_url=ENDPOINT).get_object(Bucket=bucket, Key=state_key(tenant))["Body"]
    return bool(json.loads(body.read()).get("resources"))


def destroy(project: Project, tenant: str, workdir: Path) -> subprocess.CompletedProcess:
    """terraform destroy of a tenant at "initial", as an administrator, with the build's backend."""
    checkout = fixture.checkout(Path(repository_path(project.out["repository_url"])), project.shas["initial"],
                                workdir / unique(f"destroy-{tenant}"))
    root = checkout / "tenants" / tenant
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(STATE / "aws" / "config"), AWS_SHARED_CREDENTIALS_FILE=str(STATE / "aws" / "credentials"),
               AWS_PROFILE=f"bbws-{ENV}", AWS_REGION=PRIMARY_REGION, AWS_ENDPOINT_URL=ENDPOINT, TF_IN_AUTOMATION="1",
               TF_INPUT="0", CHECKPOINT_DISABLE="1")
    out = project.out
    r = None
    for args in (["init", "-no-color", f"-backend-config=bucket={out['state_bucket']}",
                  f"-backend-config=key={state_key(tenant)}", f"-backend-config=region={PRIMARY_REGION}",
                  f"-backend-config=dynamodb_table={out['lock_table']}", "-backend-config=encrypt=true",
                  f"-backend-config=kms_key_id={out['kms_key_arn']}", *terraform_plugin_args()],
                 ["destroy", "-no-color", "-auto-approve", f"-var-file=env/{ENV}.tfvars"]):
        r = subprocess.run(["terraform", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            return r
    assert r is not None
    return r


def repository_path(url: str) -> str:
    """The local repository the estate serves for a GitHub URL (as `make up` registered it)."""
    with urllib.request.urlopen(f"{ENDPOINT}/_local/codebuild/repositories", timeout=10) as r:
        registered = json.loads(r.read())["repositories"]
    key = github_key(url)
    assert key in registered, f"{url} is not registered with the estate's CodeBuild: run `make up`"
    return registered[key]


def destroy_all(project: Project, workdir: Path) -> list[str]:
    """Destroy the tenants the state bucket holds a state of (side by side); the failures."""
    bucket = project.out["state_bucket"]
    held = [t for t in TENANTS if holds_resources(project.session, bucket, t)]
    with ThreadPoolExecutor(len(TENANTS)) as pool:
        results = list(pool.map(lambda t: (t, destroy(project, t, workdir)), held))
    return [f"destroy of {t} failed:\n{r.stdout}{r.stderr}" for t, r in results if r.returncode != 0]


# Fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(dev: boto3.Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    applied = STATE / "tf" / f"{ENV}.tfstate"
    if not applied.exists():
        pytest.fail("the pipeline is not applied to this estate: run `make up`")
    out = json.loads(applied.read_text())["outputs"]["tenant_build"]["value"]
    shas = fixture.shas(Path(repository_path(out["repository_url"])))
    p = Project(out, shas, dev)
    workdir = tmp_path_factory.mktemp("tenant-build")
    problems = destroy_all(p, workdir)  # what an earlier run that failed half-way left
    left = services(dev)
    if problems or left:
        pytest.fail("\n".join(problems) or f"{', '.join(left)} already in {CLUSTER}, not in the tenant build's "
                    "state: left by test_tenants_fixture.py; start a new estate")
    yield p
    problems = destroy_all(p, workdir)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def auditor_s3(dev: boto3.Session) -> Any:
    """S3 as bbws-promotion-auditor-dev: one of the three principals the plans bucket lets read plans."""
    acct = dev.client("sts").get_caller_identity()["Account"]
    creds = dev.client("sts").assume_role(RoleArn=f"arn:aws:iam::{acct}:role/bbws-promotion-auditor-{ENV}",
                                          RoleSessionName="tenant-build-test")["Credentials"]
    return boto3.client("s3", region_name=PRIMARY_REGION, endpoint_url=ENDPOINT,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


# The story -----------------------------------------------------------------------------------------

RUN: dict[str, Any] = {}


@pytest.mark.parametrize("env", ["dev", "sit", "prod"])
def test_make_up_registered_the_tenants_fixture_as_each_accounts_repository(env):
    url = json.loads((STATE / "tf" / f"{env}.tfstate").read_text())["outputs"]["tenant_build"]["value"]["repository_url"]
    assert list(fixture.shas(Path(repository_path(url)))) == list(fixture.LABELS)


def test_a_plan_build_of_two_tenants_publishes_each_plan_with_its_summary(project, auditor_s3):
    root = f"tenant/{ENV}/{unique('plan')}"
    build, log = project.run("initial", ACTION="plan", TENANTS=" ".join(TENANTS), ARTIFACTS_ROOT=root)
    assert build["buildStatus"] == "SUCCEEDED", log
    assert build["resolvedSourceVersion"] == project.shas["initial"]
    initial = fixture.COMMITS[0]
    summaries = {}
    for tenant in TENANTS:
        def get(name: str) -> bytes:
            return auditor_s3.get_object(Bucket=project.out["artifacts_bucket"],
                                         Key=f"{root}/{tenant}/{name}")["Body"].read()

        summary = json.loads(get("plan-summary.json"))
        assert hashlib.sha256(get("tfplan")).hexdigest() == summary["tfplan_sha256"]
        plan_json = get("plan.json")
        assert hashlib.sha256(plan_json).hexdigest() == summary["plan_json_sha256"]
        assert json.loads(plan_json)["terraform_version"] == "1.11.4"
        assert {k: summary[k] for k in ("tenant_id", "env", "commit", "commit_author", "commit_subject", "changes")} == {
            "tenant_id": tenant, "env": ENV, "commit": project.shas["initial"],
            "commit_author": f"{initial.author[0]} <{initial.author[1]}>",
            "commit_subject": initial.message.splitlines()[0], "changes": {"create": CREATES[tenant]}}
        assert (f"plan of {tenant} in {ENV} at {project.shas['initial']}: s3://{project.out['artifacts_bucket']}/"
                f"{root}/{tenant}/tfplan sha256 {summary['tfplan_sha256']}") in log
        summaries[tenant] = summary
    assert services(project.session) == {}  # a plan changes nothing
    RUN.update(root=root, summaries=summaries)


@pytest.mark.parametrize("given, refusal, failed_phase", [
    ("a wrong sha256 for tenant-001", "apply.sh: refusing to apply", "BUILD"),
    ("tenant-002's sha256 missing", "buildspec: TFPLAN_SHA256S has no approved plan SHA-256 for tenant-002", "PRE_BUILD"),
], ids=["wrong-sha256", "missing-sha256"])
def test_an_apply_build_without_the_approved_plans_fails_and_applies_nothing(project, given, refusal, failed_phase):
    summaries = RUN["summaries"]
    if given.startswith("a wrong"):
        wrong = hashlib.sha256(b"another plan").hexdigest()
        shas = f"tenant-001={wrong} tenant-002={summaries['tenant-002']['tfplan_sha256']}"
    else:
        shas = f"tenant-001={summaries['tenant-001']['tfplan_sha256']}"
    build, log = project.run("initial", ACTION="apply", TENANTS=" ".join(TENANTS), ARTIFACTS_ROOT=RUN["root"],
                             TFPLAN_SHA256S=shas)
    assert build["buildStatus"] == "FAILED", log
    assert phase(build, failed_phase)["phaseStatus"] == "FAILED"
    assert refusal in log, log
    assert "Apply complete" not in log and "Creating..." not in log
    assert services(project.session) == {}
    assert not any(holds_resources(project.session, project.out["state_bucket"], t) for t in TENANTS)


def test_an_apply_build_of_the_approved_plans_creates_the_tenants_services(project):
    summaries = RUN["summaries"]
    shas = " ".join(f"{t}={summaries[t]['tfplan_sha256']}" for t in TENANTS)
    build, log = project.run("initial", ACTION="apply", TENANTS=" ".join(TENANTS), ARTIFACTS_ROOT=RUN["root"],
                             TFPLAN_SHA256S=shas)
    assert build["buildStatus"] == "SUCCEEDED", log
    for tenant in TENANTS:
        assert f"Apply complete! Resources: {CREATES[tenant]} added, 0 changed, 0 destroyed." in log
    # RB-003 §3.2.4 step 7: aws ecs describe-services --cluster bbws-cluster-<env> --services <tenant>-wordpress
    running = services(project.session)
    assert sorted(running) == [f"{t}-wordpress" for t in TENANTS]
    assert all(s["desiredCount"] == 1 for s in running.values())
    # The states are the build's, written with its key.
    s3 = project.session.client("s3", endpoint_url=ENDPOINT)
    for tenant in TENANTS:
        head = s3.head_object(Bucket=project.out["state_bucket"], Key=state_key(tenant))
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", project.out["kms_key_arn"])


@pytest.mark.parametrize("variables, refusal", [
    ({"ACTION": "destroy"}, "buildspec: ACTION 'destroy' must be plan or apply"),
    ({"ACTION": "plan", "ARTIFACTS_ROOT": "tenant/sit/run-1"},
     "buildspec: ARTIFACTS_ROOT 'tenant/sit/run-1' must be tenant/dev/<run>"),
    ({"ACTION": "plan", "TENANTS": "tenant-001 tenant-001"}, "buildspec: TENANTS: tenant-001 is named twice"),
], ids=["destroy", "another-environments-prefix", "a-tenant-twice"])
def test_a_build_that_is_not_a_plan_or_an_apply_of_this_environment_fails_before_any_tenant(project, variables,
                                                                                            refusal):
    given = {"TENANTS": "tenant-001", "ARTIFACTS_ROOT": f"tenant/{ENV}/{unique('refused')}", **variables}
    build, log = project.run("initial", **given)
    assert build["buildStatus"] == "FAILED"
    assert phase(build, "PRE_BUILD")["phaseStatus"] == "FAILED"
    assert [p["phaseType"] for p in build["phases"] if p["phaseType"] == "BUILD"] == []
    assert refusal in log, log


def test_codebuild_may_assume_the_role_for_the_tenant_build_only(project, dev):
    """The role's trust names its project (aws:SourceArn): another project cannot run as it."""
    cb = dev.client("codebuild")
    other = unique("not-the-tenant-build")
    cb.create_project(name=other, source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
                      artifacts={"type": "NO_ARTIFACTS"}, serviceRole=project.out["role_arn"],
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"})
    try:
        with pytest.raises(cb.exceptions.InvalidInputException, match="not authorized to perform: sts:AssumeRole"):
            cb.start_build(projectName=other)
    finally:
        cb.delete_project(name=other)
