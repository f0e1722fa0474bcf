"""The GitHub Actions workflows of .github/workflows run on the local estate (tests/gha_harness.py runs
their steps as GitHub's runner would, with an ID token the estate issues for the job as GitHub's OIDC
issuer would): bbws-github-actions-role-<env> assumed by OIDC, the execution started under the run id
and followed, the job summary, the failure annotation, a cancelled run, a re-run, a refused token; and
the record-quality-gate action whose gates a following promotion accepts."""
from __future__ import annotations

import itertools
import threading
import time

import pipeline_helpers as ph
import pytest

from gha_harness import Context, Runner

ORG = "BigBeardWebSolutions"
TENANT_REPO = f"{ORG}/2_bbws_tenants_instances_lambda"
SERVICE = "tenant-instance-management"
TENANT_DEV, TENANT_SIT = "bbws-tenant-instance-management-dev", "bbws-tenant-instance-management-sit"
PROMOTE_INPUTS = {"service": SERVICE, "requested_by": "jane@bbws.io", "reason": "Release 1.4.2: tenant quota fix"}
# Run ids unique to this test session (GitHub's are unique across GitHub).
_RUN_IDS = itertools.count(int(time.time() * 1000) % 10**12)


def runner() -> Runner:
    # bbws-run looks at the execution every half second here (5 s by default).
    return Runner(ph.SETTINGS.endpoint, {"AWS_ENDPOINT_URL": ph.SETTINGS.endpoint, "BBWS_RUN_POLL_SECONDS": "0.5"})


def context(run_id: int | None = None, attempt: int = 1, repository: str = TENANT_REPO) -> Context:
    return Context(repository=repository, run_id=run_id or next(_RUN_IDS), run_attempt=attempt, actor="jane-bbws")


_RUNS: list[str] = []


def execution_arn(run_id: int) -> str:
    """The execution a run of promote-to-sit starts."""
    arn = (f"arn:aws:states:af-south-1:{ph.ACCOUNTS['sit']}:execution:bbws-promote-sit:"
           f"{SERVICE}-sit-gh{run_id}")
    _RUNS.append(arn)
    return arn


@pytest.fixture(autouse=True)
def _runs_left_running():
    """An execution a workflow started and a failed test left waiting goes to the suite's cleanup
    (conftest's _no_execution_left_running), as any execution a test started."""
    yield
    sfn = ph.client("sit", "stepfunctions")
    while _RUNS:
        arn = _RUNS.pop()
        try:
            running = sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
        if running:
            ph.STARTED.append(("sit", arn))


def executions_of(run_id: int) -> list[dict]:
    sfn = ph.client("sit", "stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=ph.state_machine_arn("sit"))
    return [e for p in pages for e in p["executions"] if e["name"].endswith(f"-gh{run_id}")]


def as_approver(arn: str, decide) -> threading.Thread:
    """An approver who answers once the request is there (in the background, while the job follows)."""
    def answer() -> None:
        ph.wait_for(lambda: ph.pending_approval("sit", arn), 60, "the approval request")
        decide()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    return t


def gate_job(steps: list[dict]) -> dict:
    """A service's CI job (the example's style): assume DEV's role, then the action's steps."""
    return {"name": "service CI", "jobs": {"gates": {"runs-on": "ubuntu-latest", "steps": [
        {"uses": "aws-actions/configure-aws-credentials@ececac1a45f3b08a01d2dd070d28d111c5fe6722",
         "with": {"role-to-assume": f"arn:aws:iam::{ph.ACCOUNTS['dev']}:role/bbws-github-actions-role-dev",
                  "aws-region": "af-south-1"}},
        *steps]}}}


def gate_step(gate: str, **extra: str) -> dict:
    return {"name": f"gate {gate}", "uses": "./.github/actions/record-quality-gate",
            "with": {"environment": "dev", "gate": gate, "function-name": TENANT_DEV, "qualifier": "latest-dev",
                     **extra}}


@pytest.fixture()
def short_monitor(preflight_config):
    preflight_config("sit", monitor={"sit_seconds": 2, "poll_seconds": 1})


def test_gates_recorded_by_the_action_let_a_sit_promotion_succeed_with_its_summary(short_monitor):
    sha = ph.code_sha("dev", TENANT_DEV, "latest-dev")
    for gate in ph.GATES:
        ph.delete_gate("dev", sha, gate[0])
    gates = runner().run(gate_job([gate_step("unit_tests", coverage="87.5")]
                                  + [gate_step(g) for g in ("lint", "type_check", "security_scan", "integration_tests")]),
                         "gates", {}, context())
    assert gates.status == "success", gates.log
    item = ph.client("dev", "dynamodb").get_item(TableName="bbws-quality-gates-dev",
                                                 Key={"code_sha256": {"S": sha}, "gate": {"S": "unit_tests"}})["Item"]
    assert item["coverage_percent"] == {"N": "87.5"} and item["passed"] == {"BOOL": True}
    assert item["ci_run"]["S"].startswith(f"https://github.com/{TENANT_REPO}/actions/runs/")

    ctx = context()
    arn = execution_arn(ctx.run_id)
    approver = as_approver(arn, lambda: ph.approve_with_task_token("sit", arn, [ph.DEV_LEAD]))
    job = runner().run("promote-to-sit.yml", "promote", PROMOTE_INPUTS, ctx)
    approver.join(5)
    assert job.status == "success", job.log
    d = ph.client("sit", "stepfunctions").describe_execution(executionArn=arn)
    assert d["status"] == "SUCCEEDED"
    after = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    assert ph.code_sha("sit", TENANT_SIT, "latest-sit") == sha, "SIT runs the package whose gates the action recorded"
    # The log: each state entered and left with its figures; who the approval waits for.
    for line in ("▶ Preflight checks", "✔ Preflight checks", "▶ Deploy", "✔ Record success",
                 "waiting for approval by dev lead (dev-lead@bbws.io)", f"SUCCEEDED: {SERVICE}-sit-gh{ctx.run_id}"):
        assert line in job.log, line
    assert "quality gates" in job.log.lower()
    # The summary: outcome, versions, approver, the checks, the execution and its record.
    s = job.summary
    assert f"✅ Promotion of {SERVICE} DEV → SIT: SUCCEEDED" in s, s
    assert f"{TENANT_SIT}" in s and f"→ {after}" in s, s
    assert "dev-lead@bbws.io (dev lead)" in s, s
    assert "### Checks" in s and "| passed |" in s and "### States" in s, s
    assert arn in s and "Deployment record" in s, s
    # Nothing secret in the log or the summary.
    for text in (job.log, s):
        assert "task_token" not in text and "eyJ" not in text and "AWS_SECRET" not in text


def test_a_rejection_fails_the_job_with_the_error_and_a_rerun_starts_no_second_execution():
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    ctx = context()
    arn = execution_arn(ctx.run_id)
    as_approver(arn, lambda: ph.reject_with_task_token("sit", arn, cause="dev-lead@bbws.io: needs a migration first"))
    job = runner().run("promote-to-sit.yml", "promote", PROMOTE_INPUTS, ctx)
    assert job.status == "failure", job.log
    [(level, title, message)] = [a for a in job.annotations() if a[0] == "error"]
    assert (level, title) == ("error", "Bbws.ApprovalRejected"), job.annotations()
    assert message.startswith("the promotion was rejected: dev-lead@bbws.io: needs a migration first"), message
    assert "❌ Promotion of tenant-instance-management DEV → SIT: FAILED (Bbws.ApprovalRejected)" in job.summary
    assert job.step("Stop the execution").outcome == "skipped"

    again = runner().run("promote-to-sit.yml", "promote", PROMOTE_INPUTS, context(ctx.run_id, attempt=2))
    assert again.status == "failure"
    assert "already exists (FAILED" in again.log and "no second promote is started" in again.log, again.log
    assert [e["executionArn"] for e in executions_of(ctx.run_id)] == [arn]
    assert again.annotations()[-1][1] == "Bbws.ApprovalRejected"


def test_cancelling_the_run_stops_its_execution():
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    ctx = context()
    arn = execution_arn(ctx.run_id)
    job = runner().run("promote-to-sit.yml", "promote", PROMOTE_INPUTS, ctx,
                       cancel_when=lambda: ph.pending_approval("sit", arn) is not None)
    try:
        assert job.status == "cancelled", job.log
        d = ph.client("sit", "stepfunctions").describe_execution(executionArn=arn)
        assert (d["status"], d["error"]) == ("ABORTED", "Bbws.Cancelled"), d
        assert f"actions/runs/{ctx.run_id} was cancelled" in d["cause"]
        assert job.step("Promote and follow").outcome == "cancelled"
        stop = job.step("Stop the execution")
        assert stop.outcome == "success" and "is ABORTED: nothing to stop" in stop.output, stop.output
        assert "lock is not deleted: it is stale" in job.log
        assert "The run was cancelled: the execution was stopped." in job.summary
    finally:  # the stale lock would be taken over by the next promotion; an operator may delete it
        lock = ph.lock_of("sit", SERVICE)
        if lock and lock.get("execution_arn") == arn:
            ph.client("sit", "dynamodb").delete_item(TableName="bbws-promotion-locks-sit",
                                                     Key={"lock_id": {"S": lock["lock_id"]}})


def test_sts_refuses_a_token_of_another_environment_or_repository():
    # promote-to-prod's job, edited to run in the GitHub environment "sit" (whose rules are weaker):
    # the token's sub is repo:…:environment:sit, which PROD's role does not trust.
    prod_ctx = context()
    prod = runner().run("promote-to-prod.yml", "promote",
                        {**PROMOTE_INPUTS, "change_request": "CHG-2001", "maintenance_window": True}, prod_ctx,
                        job_overrides={"environment": "sit"})
    assert prod.status == "failure"
    assume = prod.step("Assume the role")
    assert assume.outcome == "failure"
    assert "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity" in assume.output, assume.output
    assert prod.step("Promote and follow").outcome == "skipped"
    # A repository the role does not name, with the right environment.
    other_ctx = context(repository=f"{ORG}/someone-elses-repository")
    other = runner().run("promote-to-sit.yml", "promote", PROMOTE_INPUTS, other_ctx)
    assert other.step("Assume the role").outcome == "failure"
    assert "AccessDenied" in other.step("Assume the role").output
    assert executions_of(other_ctx.run_id) == []
    prod_runs = ph.client("prod", "stepfunctions").list_executions(stateMachineArn=ph.state_machine_arn("prod"))
    assert not [e for e in prod_runs["executions"] if e["name"].endswith(f"-gh{prod_ctx.run_id}")]


def test_the_gate_action_refuses_a_bad_gate_name_or_coverage():
    sha = ph.code_sha("dev", TENANT_DEV, "latest-dev")
    job = runner().run(gate_job([gate_step("unit-tests", coverage="90")]), "gates", {}, context())
    assert job.status == "failure"
    assert ("error", "bbws-run: invalid input",
            "gate: one of unit_tests, lint, type_check, security_scan, integration_tests, got 'unit-tests'") \
        in job.annotations(), job.log
    low = runner().run(gate_job([gate_step("unit_tests", coverage="75")]), "gates", {}, context())
    assert low.status == "failure"
    assert any(t == "bbws-run: invalid input" and m.startswith("coverage: 75 is below 80")
               for _, t, m in low.annotations()), low.log
    assert "Item" not in ph.client("dev", "dynamodb").get_item(
        TableName="bbws-quality-gates-dev", Key={"code_sha256": {"S": sha}, "gate": {"S": "unit-tests"}})
