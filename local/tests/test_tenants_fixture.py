"""Tenant Terraform on the estate (RB-003 §3.2.4, §4.3.4): the fixture repository, planned and applied by
infra/tenant-build/plan.sh and apply.sh, as a tenant's build will run them, against DEV.

The tests are the steps of one story and run in file order: plan tenant-001 at "initial" (creates), apply
the approved plan, plan and apply "change" (updates only), refuse a tampered plan, and fail a plan whose
state is locked by another run. Every script run works in a fresh checkout of the commit, as a build does.
(tenant-002's "destroy" commit, a plan that deletes one address, is planned, called out, approved and
applied in SIT and refused in PROD through the whole pipeline: tests/test_tenant.py.)

The scripts run here as an administrator, with a state bucket (versioned, encrypted), lock table and plans
bucket of their own, created here; the account's own (bbws-tenant-state-<account>, bbws-tenant-locks-<env>,
bbws-tenant-plans-<account>, from the pipeline module) are used by the deployed build, test_tenant_build.py.
At the end the tenants' resources are destroyed with Terraform directly (the scripts have
no destroy: RB-003 blocks DESTROY in PROD, and a tenant build never needs one).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from bbws_local.pipeline import estate_log_since
from bbws_local.settings import PRIMARY_REGION, terraform_plugin_args
from conftest import ENDPOINT, ROOT, STATE, unique
from services import catalog, seed
from services.estate import Estate
from tenants import fixture

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None or shutil.which("aws") is None,
                                reason="terraform and the AWS CLI are needed")

SCRIPTS = ROOT / "infra" / "tenant-build"
ENV = "dev"
CLUSTER = f"bbws-cluster-{ENV}"
SERVER_LOG = STATE / "server.log"
LOCK_INFO_ID = re.compile(r"Lock Info:\s+ID:\s+([0-9a-f-]{36})")


@dataclass
class Backend:
    """The state bucket and lock table of the account, and the bucket plans are published to."""

    state_bucket: str
    lock_table: str
    artifacts_bucket: str

    def state_key(self, tenant: str) -> str:
        return f"tenants/{tenant}/terraform.tfstate"

    def lock_id(self, tenant: str) -> str:
        """The LockID Terraform's S3 backend writes to the lock table: <bucket>/<key>."""
        return f"{self.state_bucket}/{self.state_key(tenant)}"


@dataclass
class Run:
    """One run of plan.sh or apply.sh, with what the estate's log said about it when it failed."""

    script: str
    tenant: str
    label: str
    prefix: str
    result: subprocess.CompletedProcess
    seconds: float
    estate_log: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def ok(self) -> "Run":
        told = "\nthe estate's log during it:\n" + "\n".join(self.estate_log) if self.estate_log else ""
        assert self.result.returncode == 0, f"{self.script} {self.tenant} at {self.label} failed:\n{self.output}{told}"
        return self

    def lost_own_lock(self) -> str | None:
        """The ID of the state lock this run took itself and then failed on, else None.

        Terraform's lock is a conditional PutItem. When the estate answers it but the client never gets the
        answer (the SDK's retry of a call answered 200 OK, in the estate's log), the retry finds the lock the
        first attempt took and Terraform fails with "Error acquiring the state lock" on its own lock, which
        stays. On AWS that lock would need `terraform force-unlock` by an operator.
        """
        if self.result.returncode == 0 or "Error acquiring the state lock" not in self.output:
            return None
        if not any("SDK retry" in line and "PutItem" in line and "answered 200" in line for line in self.estate_log):
            return None
        found = LOCK_INFO_ID.search(self.output)
        return found.group(1) if found else None


@dataclass
class Builds:
    """Runs the scripts as a tenant's build does: a fresh checkout of the commit, the account's inputs."""

    repo: Path
    shas: dict[str, str]
    backend: Backend
    workdir: Path
    s3: Any
    ddb: Any
    runs: list[Run] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)

    def checkout(self, label: str) -> Path:
        return fixture.checkout(self.repo, self.shas[label], self.workdir / unique(f"checkout-{label}"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_CONFIG_FILE=str(STATE / "aws" / "config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(STATE / "aws" / "credentials"),
                   AWS_PROFILE=f"bbws-{ENV}", AWS_REGION=PRIMARY_REGION, AWS_ENDPOINT_URL=ENDPOINT)
        return env

    def run(self, script: str, tenant: str, label: str, prefix: str, again_after_lost_lock: bool = True,
            **extra: str) -> Run:
        """Run `script` in a fresh checkout of `label`. Once only, a run that failed on the lock it took
        itself (Run.lost_own_lock: an answer the estate gave and the client lost) has that lock removed and
        runs again; the first run stays in `runs`, so the report shows it."""
        checkout = self.checkout(label)
        inputs = {"TENANT_ID": tenant, "ENV": ENV, "REPO_DIR": str(checkout), "COMMIT": self.shas[label],
                  "STATE_BUCKET": self.backend.state_bucket, "STATE_LOCK_TABLE": self.backend.lock_table,
                  "STATE_REGION": PRIMARY_REGION, "ARTIFACTS_BUCKET": self.backend.artifacts_bucket,
                  "ARTIFACTS_PREFIX": prefix, **extra}
        offset = SERVER_LOG.stat().st_size if SERVER_LOG.exists() else 0
        started = time.monotonic()
        r = subprocess.run(["bash", str(SCRIPTS / script)], cwd=checkout, env={**self.env(), **inputs},
                           capture_output=True, text=True, timeout=600)
        run = Run(script, tenant, label, prefix, r, time.monotonic() - started,
                  estate_log_since(SERVER_LOG, offset) if r.returncode else [])
        self.runs.append(run)
        lock_id = run.lost_own_lock()
        if lock_id and again_after_lost_lock and self.release_lock(tenant, lock_id):
            print(f"\n{script} {tenant}@{label} failed on its own state lock {lock_id} (a lost answer, the "
                  "estate's log:\n" + "\n".join(run.estate_log) + "\n); lock removed, run again")
            return self.run(script, tenant, label, prefix, again_after_lost_lock=False, **extra)
        return run

    def release_lock(self, tenant: str, lock_id: str) -> bool:
        """Remove the tenant's state lock if it is the lock `lock_id` (whether it was)."""
        key = {"LockID": {"S": self.backend.lock_id(tenant)}}
        item = self.ddb.get_item(TableName=self.backend.lock_table, Key=key).get("Item")
        if not item or json.loads(item["Info"]["S"]).get("ID") != lock_id:
            return False
        self.ddb.delete_item(TableName=self.backend.lock_table, Key=key)
        return True

    def plan(self, tenant: str, label: str) -> tuple[Run, dict[str, Any], dict[str, Any]]:
        """plan.sh; its run, the published plan-summary.json and plan.json (checked against their SHA-256s)."""
        prefix = f"tenants/{tenant}/{ENV}/{unique('run')}"
        run = self.run("plan.sh", tenant, label, prefix).ok()
        summary = json.loads(self.get(f"{prefix}/plan-summary.json"))
        plan_json = self.get(f"{prefix}/plan.json")
        assert hashlib.sha256(self.get(f"{prefix}/tfplan")).hexdigest() == summary["tfplan_sha256"]
        assert hashlib.sha256(plan_json).hexdigest() == summary["plan_json_sha256"]
        assert (summary["tenant_id"], summary["env"], summary["commit"]) == (tenant, ENV, self.shas[label])
        return run, summary, json.loads(plan_json)

    def apply(self, tenant: str, label: str, summary: dict[str, Any], prefix: str) -> Run:
        run = self.run("apply.sh", tenant, label, prefix, EXPECTED_TFPLAN_SHA256=summary["tfplan_sha256"])
        self.applied.add(tenant)
        return run

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.backend.artifacts_bucket, Key=key)["Body"].read()

    def destroy(self, tenant: str) -> subprocess.CompletedProcess:
        """Terraform destroy of a tenant (clean-up only: the scripts never destroy)."""
        root = self.checkout("destroy") / "tenants" / tenant
        env = {**self.env(), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
        b = self.backend
        for args in (["init", "-no-color", f"-backend-config=bucket={b.state_bucket}",
                      f"-backend-config=key={b.state_key(tenant)}", f"-backend-config=region={PRIMARY_REGION}",
                      f"-backend-config=dynamodb_table={b.lock_table}", "-backend-config=encrypt=true",
                      *terraform_plugin_args()],
                     ["destroy", "-no-color", "-auto-approve", f"-var-file=env/{ENV}.tfvars"]):
            r = subprocess.run(["terraform", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                return r
        return r


def actions(plan_json: dict[str, Any]) -> dict[str, list[str]]:
    """Address -> actions of every resource the plan changes (no-ops and reads left out)."""
    return {rc["address"]: rc["change"]["actions"] for rc in plan_json.get("resource_changes", [])
            if rc["change"]["actions"] not in (["no-op"], ["read"])}


def service(dev: boto3.Session, name: str) -> dict[str, Any]:
    found = dev.client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"]
    assert found, f"{name} is not in {CLUSTER}"
    return found[0]


def state_versions(dev: boto3.Session, backend: Backend, tenant: str) -> list[str]:
    versions = dev.client("s3").list_object_versions(Bucket=backend.state_bucket, Prefix=backend.state_key(tenant))
    return [v["VersionId"] for v in versions.get("Versions", [])]


# Fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def platform() -> list[seed.Change]:
    """The platform pieces of every account, as the seed makes them (`make up` seeds; a bare estate not)."""
    estate = Estate()
    changes: list[seed.Change] = []
    for env in catalog.ENVS:
        seed.Account(estate, env, PRIMARY_REGION, changes).ensure_tenant_platform()
    return changes


@pytest.fixture(scope="module")
def backend(dev: boto3.Session) -> Backend:
    s3, ddb = dev.client("s3"), dev.client("dynamodb")
    backend = Backend(unique("bbws-tfstate-dev"), unique("bbws-tfstate-lock-dev"), unique("bbws-tenant-plans-dev"))
    for bucket in (backend.state_bucket, backend.artifacts_bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": PRIMARY_REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    ddb.create_table(TableName=backend.lock_table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])
    return backend


@pytest.fixture(scope="module")
def builds(dev: boto3.Session, backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    ecs = dev.client("ecs")
    left = [s["serviceName"] for s in ecs.describe_services(
        cluster=CLUSTER, services=[f"{t}-wordpress" for t in fixture.TENANTS])["services"] if s["status"] == "ACTIVE"]
    if left:
        pytest.fail(f"{', '.join(left)} already in {CLUSTER}: left by an earlier run whose clean-up failed; "
                    "start a new estate")
    parent = tmp_path_factory.mktemp("tenants")
    shas = fixture.create(parent)
    b = Builds(parent / fixture.REPO_NAME, shas, backend, tmp_path_factory.mktemp("builds"), dev.client("s3"),
               dev.client("dynamodb"))
    yield b
    problems = []
    for tenant in sorted(b.applied):
        r = b.destroy(tenant)
        if r.returncode != 0:
            problems.append(f"destroy of {tenant} failed:\n{r.stdout}{r.stderr}")
    print("\nscript runs (seconds): " + ", ".join(f"{r.script} {r.tenant}@{r.label} {r.seconds:.1f}" for r in b.runs))
    assert not problems, "\n".join(problems)


# The platform ---------------------------------------------------------------------------------------


def test_the_platform_seed_changes_nothing_the_second_time(platform):
    estate = Estate()
    again: list[seed.Change] = []
    for env in catalog.ENVS:
        seed.Account(estate, env, PRIMARY_REGION, again).ensure_tenant_platform()
    assert again == []


@pytest.mark.parametrize("env", ["dev", "sit", "prod"])
def test_each_account_has_the_platform_the_tenants_run_in(env, request):
    session = request.getfixturevalue(env)
    clusters = session.client("ecs").describe_clusters(clusters=[f"bbws-cluster-{env}"])["clusters"]
    assert [c["status"] for c in clusters] == ["ACTIVE"]
    ec2 = session.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"bbws-vpc-{env}"]}])["Vpcs"]
    assert len(vpcs) == 1
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
                                            {"Name": "tag:bbws:tier", "Values": ["private"]}])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
                                                   {"Name": "group-name", "Values": [f"bbws-tenants-{env}"]}])
    assert len(groups["SecurityGroups"]) == 1


def test_a_new_ecs_service_reports_its_az_rebalancing_as_ecs_does(dev):
    ecs = dev.client("ecs")
    family = unique("az-probe")
    arn = ecs.register_task_definition(family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                       cpu="256", memory="512", containerDefinitions=[
                                           {"name": "c", "image": "busybox", "essential": True}],
                                       )["taskDefinition"]["taskDefinitionArn"]
    ec2 = dev.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["bbws-vpc-dev-private-a"]}])["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["bbws-tenants-dev"]}])
    net = {"awsvpcConfiguration": {"subnets": [subnet["SubnetId"]], "assignPublicIp": "DISABLED",
                                   "securityGroups": [group["SecurityGroups"][0]["GroupId"]]}}
    try:
        default = ecs.create_service(cluster=CLUSTER, serviceName=f"{family}-a", taskDefinition=arn, desiredCount=0,
                                     launchType="FARGATE", networkConfiguration=net)["service"]
        given = ecs.create_service(cluster=CLUSTER, serviceName=f"{family}-b", taskDefinition=arn, desiredCount=0,
                                   launchType="FARGATE", networkConfiguration=net,
                                   availabilityZoneRebalancing="DISABLED")["service"]
        assert default["availabilityZoneRebalancing"] == "ENABLED"
        assert given["availabilityZoneRebalancing"] == "DISABLED"
        described = ecs.describe_services(cluster=CLUSTER, services=[f"{family}-a", f"{family}-b"])["services"]
        assert [s["availabilityZoneRebalancing"] for s in described] == ["ENABLED", "DISABLED"]
    finally:
        for suffix in ("a", "b"):
            try:
                ecs.delete_service(cluster=CLUSTER, service=f"{family}-{suffix}", force=True)
            except ecs.exceptions.ServiceNotFoundException:
                pass
        ecs.deregister_task_definition(taskDefinition=arn)


# The story of tenant-001 in DEV ---------------------------------------------------------------------

PUBLISHED: dict[str, tuple[Run, dict[str, Any]]] = {}

T1_RESOURCES = {
    "module.wordpress_instance.aws_ecs_service.wordpress",
    "module.wordpress_instance.aws_ecs_task_definition.wordpress",
    "module.wordpress_instance.aws_cloudwatch_log_group.wordpress",
    "module.wordpress_instance.aws_ssm_parameter.settings",
    "module.wordpress_instance.aws_iam_role.execution",
    "module.wordpress_instance.aws_iam_role_policy.execution",
}


def test_plan_of_tenant_001_at_initial_creates_its_resources_and_publishes_the_plan(builds, dev):
    run, summary, plan_json = builds.plan("tenant-001", "initial")
    assert actions(plan_json) == {address: ["create"] for address in T1_RESOURCES}
    assert summary["changes"] == {"create": len(T1_RESOURCES)}
    assert f"sha256 {summary['tfplan_sha256']}" in run.output
    assert state_versions(dev, builds.backend, "tenant-001") == []  # a plan writes no state
    PUBLISHED["initial"] = (run, summary)


def test_apply_of_the_approved_plan_creates_the_wordpress_service(builds, dev):
    run, summary = PUBLISHED["initial"]
    # The approved bytes, given to another environment's apply, are refused: the plan is DEV's.
    elsewhere = builds.run("apply.sh", "tenant-001", "initial", run.prefix, ENV="sit",
                           EXPECTED_TFPLAN_SHA256=summary["tfplan_sha256"])
    assert elsewhere.result.returncode != 0, elsewhere.output
    assert (f"its plan-summary.json is for tenant tenant-001, env dev, commit {builds.shas['initial']}, "
            f"tfplan {summary['tfplan_sha256']}, not for TENANT_ID tenant-001, ENV sit") in elsewhere.result.stderr

    applied = builds.apply("tenant-001", "initial", summary, run.prefix).ok()
    assert "Apply complete! Resources: 6 added, 0 changed, 0 destroyed." in applied.output
    # RB-003 §3.2.4 step 7: aws ecs describe-services --cluster bbws-cluster-<env> --services <tenant>-wordpress
    svc = service(dev, "tenant-001-wordpress")
    assert svc["status"] == "ACTIVE" and svc["desiredCount"] == 1
    assert svc["taskDefinition"].split("/")[-1].startswith("tenant-001-wordpress:")
    groups = dev.client("logs").describe_log_groups(logGroupNamePrefix="/bbws/tenants/dev/tenant-001")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/bbws/tenants/dev/tenant-001"]
    # The state is in the bucket, encrypted, and the lock table holds its digest (the backend used both).
    b = builds.backend
    head = dev.client("s3").head_object(Bucket=b.state_bucket, Key=b.state_key("tenant-001"))
    assert head["ServerSideEncryption"] == "AES256"
    digest_id = f"{b.lock_id('tenant-001')}-md5"
    digest = dev.client("dynamodb").get_item(TableName=b.lock_table, Key={"LockID": {"S": digest_id}})
    assert "Item" in digest


def test_plan_at_change_only_updates_in_place_and_its_apply_sets_the_new_desired_count(builds, dev):
    run, summary, plan_json = builds.plan("tenant-001", "change")
    assert actions(plan_json) == {"module.wordpress_instance.aws_ecs_service.wordpress": ["update"],
                                  "module.wordpress_instance.aws_ssm_parameter.settings": ["update"]}
    assert summary["changes"] == {"update": 2}
    builds.apply("tenant-001", "change", summary, run.prefix).ok()
    assert service(dev, "tenant-001-wordpress")["desiredCount"] == 2
    settings = dev.client("ssm").get_parameter(Name="/bbws/tenants/dev/tenant-001/settings")["Parameter"]["Value"]
    assert json.loads(settings)["php_memory_limit"] == "512M"


@pytest.fixture(scope="module")
def approved_back_to_initial(builds) -> tuple[Run, dict[str, Any], bytes]:
    """A plan of tenant-001 back to "initial" (one task), approved by its summary's SHA-256, and its bytes:
    the plan each tamper test replaces before apply runs."""
    run, summary, _ = builds.plan("tenant-001", "initial")
    return run, summary, builds.get(f"{run.prefix}/tfplan")


@pytest.mark.parametrize("tamper", ["one byte changed", "another valid plan"])
def test_apply_refuses_a_tfplan_that_is_not_the_approved_one_and_changes_nothing(builds, dev, tamper,
                                                                                 approved_back_to_initial):
    run, summary, original = approved_back_to_initial
    key = f"{run.prefix}/tfplan"
    if tamper == "one byte changed":
        body = original[:-1] + bytes([original[-1] ^ 0x01])
    else:  # the first plan of the same tenant at the same commit, made when nothing existed
        first, _ = PUBLISHED["initial"]
        body = builds.get(f"{first.prefix}/tfplan")
    assert body != original, "the tampered object must differ from the approved one"
    builds.s3.put_object(Bucket=builds.backend.artifacts_bucket, Key=key, Body=body)
    versions_before = state_versions(dev, builds.backend, "tenant-001")

    refused = builds.apply("tenant-001", "initial", summary, run.prefix)

    assert refused.result.returncode != 0, refused.output
    actual = hashlib.sha256(body).hexdigest()
    assert (f"apply.sh: refusing to apply s3://{builds.backend.artifacts_bucket}/{key}: its SHA-256 is {actual}, "
            f"the approved plan's is {summary['tfplan_sha256']}") in refused.result.stderr
    assert "terraform" not in refused.result.stdout.lower()  # neither init nor apply ran
    assert state_versions(dev, builds.backend, "tenant-001") == versions_before
    assert service(dev, "tenant-001-wordpress")["desiredCount"] == 2



def test_apply_of_a_prefix_where_no_plan_was_published_fails_and_runs_nothing(builds, dev, approved_back_to_initial):
    """apply.sh copies the plan and its summary with one recursive copy, which succeeds when it finds
    nothing: the absence is apply.sh's own error."""
    run, summary, _ = approved_back_to_initial
    prefix = f"{run.prefix}-never-planned"
    versions_before = state_versions(dev, builds.backend, "tenant-001")

    refused = builds.apply("tenant-001", "initial", summary, prefix)

    assert refused.result.returncode != 0, refused.output
    assert (f"apply.sh: there is no s3://{builds.backend.artifacts_bucket}/{prefix}/tfplan: nothing to apply"
            in refused.result.stderr), refused.output
    assert "terraform" not in refused.result.stdout.lower()  # neither init nor apply ran
    assert state_versions(dev, builds.backend, "tenant-001") == versions_before

def test_a_state_lock_held_by_another_run_fails_the_plan_with_terraforms_lock_error(builds, dev):
    b = builds.backend
    ddb = dev.client("dynamodb")
    lock_id = b.lock_id("tenant-001")
    info = {"ID": "2b6a1f0e-5c1d-4f43-9d51-6f1f0c8e0b7a", "Operation": "OperationTypeApply",
            "Who": "codebuild@another-run", "Version": "1.11.4", "Created": "2026-01-19T12:40:00Z",
            "Path": lock_id, "Info": ""}
    ddb.put_item(TableName=b.lock_table, Item={"LockID": {"S": lock_id}, "Info": {"S": json.dumps(info)}},
                 ConditionExpression="attribute_not_exists(LockID)")
    try:
        prefix = f"tenants/tenant-001/{ENV}/{unique('run')}"
        run = builds.run("plan.sh", "tenant-001", "change", prefix, again_after_lost_lock=False)
    finally:
        ddb.delete_item(TableName=b.lock_table, Key={"LockID": {"S": lock_id}})
    assert run.result.returncode != 0, run.output
    assert "Error acquiring the state lock" in run.output, run.output
    assert "codebuild@another-run" in run.output and info["ID"] in run.output
    listed = builds.s3.list_objects_v2(Bucket=b.artifacts_bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0  # nothing published

    # The lock released, the same plan runs.
    builds.plan("tenant-001", "change")
