"""Tenants through bbws-tenant-<env> (issue 16; RB-003 §3.2.4, §4.3.4, §6.2.3): each tenant's Terraform
planned in CodeBuild, reviewed, approved through the signed links, applied exactly as approved, its ECS
service verified, one record per tenant.

The tenants repository is the fixture of local/tenants (commits "initial", "change": tenant-001 runs more
tasks and a larger PHP memory limit, "destroy": tenant-002 also retires its legacy-redirects parameter),
registered on the estate as the CodeBuild project's GitHub source. The module's first step puts SIT and
PROD at "initial" with the tenant build itself (only the tenants whose Terraform state changed since the
module last passed in full: LEFT_AT_INITIAL); the tests then run in order, as the tenants move:
SIT's tenant-001 recorded at "initial" (an empty plan), SIT to "destroy" (tenant-001 changed, tenant-002's
deletion called out), PROD from SIT's commit for tenant-001, PROD refusing tenant-002's deletion, a rejected
and a tampered rollback in SIT that change nothing, the rollback itself, a release whose phase 4 brings
tenant-002 back to "initial", and a verification that fails. SIT ends where it started, so on an estate
where the module last passed in full, the first step plans and applies PROD's tenant-001 only.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor


import pipeline_helpers as ph
import pytest

T1, T2 = "tenant-001", "tenant-002"
CONFIG = {"tenants": {"verify_timeout_seconds": 8, "verify_poll_seconds": 1},
          "maintenance_windows": ph.windows_all_week()}
LEGACY = "aws_ssm_parameter.legacy_redirects"
SERVICE = "module.wordpress_instance.aws_ecs_service.wordpress"


# What the module leaves at "initial" when every one of its tests ran and passed: SIT's two tenants (the
# last test plans tenant-001 at "initial" and finds nothing to change; the release applies tenant-002 at
# "initial") and PROD's tenant-002 (its destroy is refused, nothing applied). The versions of their state
# objects are then kept in the estate's state directory, and the next run's first step puts at "initial"
# only the tenants whose state has another version by then (any apply writes one; a new estate has none).
LEFT_AT_INITIAL = {"sit": (T1, T2), "prod": (T2,)}
AT_INITIAL = ph.SETTINGS.state_dir / "test_tenant-left-at-initial.json"
_PASSED: set[str] = set()


def _stale(env: str, known: dict[str, dict[str, str]]) -> tuple[str, ...]:
    current = ph.tenant_state_versions(env)
    return tuple(t for t in (T1, T2) if current[t] is None or known.get(env, {}).get(t) != current[t])


@pytest.fixture(scope="module", autouse=True)
def tenants_at_initial():
    """SIT and PROD at the fixture's first commit (`make up-3` applies them there; on an estate without
    them they are created); the tenant function with a short verification and PROD's window open all
    week."""
    previous = {env: ph.set_config(env, CONFIG, function="tenant") for env in ("sit", "prod")}
    try:
        known = json.loads(AT_INITIAL.read_text())
    except (OSError, ValueError):
        known = {}
    AT_INITIAL.unlink(missing_ok=True)
    stale = {env: _stale(env, known) for env in ("sit", "prod")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda env: ph.put_tenants_at(env, "initial", stale[env]), [e for e in stale if stale[e]]))
    yield
    for env, variables in previous.items():
        ph.restore_config(env, variables, function="tenant")
    if _PASSED == {name for name in globals() if name.startswith("test_")}:
        AT_INITIAL.write_text(json.dumps({env: {t: v for t, v in ph.tenant_state_versions(env, tenants).items()}
                                          for env, tenants in LEFT_AT_INITIAL.items()}))


@pytest.fixture(autouse=True)
def _record_passed(request):
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed == failed:  # the call's report is counted before this teardown
        _PASSED.add(request.node.name)


def _request(env: str, tenants: list[str], **extra) -> dict:
    return {"environment": env, "tenants": tenants, "reason": "PHP memory limit 512M",
            "requested_by": "platform@bbws.io", **extra}


def _parameter(env: str, name: str) -> str | None:
    try:
        return ph.client(env, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ph.client(env, "ssm").exceptions.ParameterNotFound:
        return None


def _legacy_parameter(env: str) -> str | None:
    names = [p["Name"] for p in ph.client(env, "ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": [f"{T2}"]}])["Parameters"]]
    return next((n for n in names if "legacy" in n), None)


def _records(env: str, arn: str) -> dict[str, dict]:
    return {r["tenant_id"]: r for r in ph.records_of(env, arn)}


def _wait_approval(env: str, arn: str) -> dict:
    """The execution's approval request once stored; the execution's failure if it ended first."""
    def asked():
        request = ph.pending_approval(env, arn)
        if request:
            return request
        d = ph.client(env, "stepfunctions").describe_execution(executionArn=arn)
        assert d["status"] == "RUNNING", ph.failure_of(d)
        return None
    return ph.wait_for(asked, 240, "the approval request")


def test_an_unchanged_tenant_is_verified_and_recorded_without_an_approval():
    """SIT's tenant-001 is at "initial": its plan changes nothing, so nobody is asked and nothing is
    applied; the service is verified and the commit recorded (the tenant's history starts here)."""
    commits = ph.tenant_commits()
    arn = ph.start("sit", _request("sit", [T1], commit=commits["initial"]), kind="tenant")
    d = ph.wait_execution("sit", arn, timeout=240)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    states = ph.states_entered("sit", arn)
    assert "Request tenant approval" not in states and "Apply each tenant" not in states
    assert "Verify tenant services" in states
    record = _records("sit", arn)[T1]
    assert (record["commit"], record["applied"], record["plan"]["change"]) == (commits["initial"], False, 0)
    assert record["verification"] == f"{T1}-wordpress: ACTIVE, 1 of 1 running, rollout COMPLETED"


def test_sit_plans_both_tenants_calls_out_the_deletion_and_applies_what_the_dev_lead_approved():
    commits = ph.tenant_commits()
    assert ph.ecs_service("sit", T1)["desiredCount"] == 1
    legacy = _legacy_parameter("sit")
    assert legacy, "tenant-002's legacy redirects parameter exists at the initial commit"

    arn = ph.start("sit", _request("sit", [T1, T2], commit=commits["destroy"]), kind="tenant")
    links = ph.approval_links(ph.DEV_LEAD[0], arn, timeout=240)
    mail = ph.mailbox(ph.DEV_LEAD[0], arn)[-1]["body"]
    assert "DESTROYS" in mail and "legacy_redirects" in mail, mail
    page = ph.open_link(links["approve"])
    assert page.status_code == 200
    assert SERVICE in page.text and LEGACY in page.text
    review = ph.state_output("sit", arn, "Review plans")["review"]
    assert [p["tenant_id"] for p in review["plans"]] == [T1, T2]
    assert review["plans"][0]["tfplan_sha256"] in page.text
    assert review["callouts"] == [f"{T2}: {LEGACY} (delete)"]
    assert ph.confirm(links["approve"]).status_code == 200

    d = ph.wait_execution("sit", arn, timeout=300)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    service = ph.ecs_service("sit", T1)
    assert (service["desiredCount"], service["runningCount"], service["status"]) == (2, 2, "ACTIVE")
    assert _legacy_parameter("sit") is None
    records = _records("sit", arn)
    assert records[T1]["commit"] == commits["destroy"] and records[T1]["applied"] is True
    assert records[T1]["previous_commit"] == commits["initial"]
    assert records[T1]["tfplan_sha256"] == review["plans"][0]["tfplan_sha256"]
    assert records[T2]["plan"]["destroy"] == 1
    assert records[T1]["approvers"][0]["person"] == ph.DEV_LEAD[0]
    states = ph.states_entered("sit", arn)
    assert states.index("Review plans") < states.index("Request tenant approval") < states.index(
        "Apply each tenant") < states.index("Verify tenant services") < states.index("Record tenants")
    subjects = [s for s, _ in ph.notifications_of(arn)]
    assert f"Tenants applied: {T1}, {T2} in SIT" in subjects, subjects


def test_prod_applies_the_commit_sit_applied_after_the_two_leads_approve():
    commits = ph.tenant_commits()
    arn = ph.start("prod", _request("prod", [T1], change_request="CHG-4411"), kind="tenant")
    _wait_approval("prod", arn)
    assert sorted(ph.required_roles("prod", arn)) == ["operations_lead", "tech_lead"]
    plan = ph.state_output("prod", arn, "Validate tenant request")["tenant"]
    assert plan["targets"][0]["commit"] == commits["destroy"]
    assert plan["targets"][0]["commit_source"] == "sit"
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn, timeout=300)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.ecs_service("prod", T1)["desiredCount"] == 3
    record = _records("prod", arn)[T1]
    assert (record["commit"], record["commit_source"], record["change_request"]) == (
        commits["destroy"], "sit", "CHG-4411")


def test_prod_refuses_a_plan_that_destroys_and_names_the_address():
    arn = ph.start("prod", _request("prod", [T2], change_request="CHG-4412"), kind="tenant")
    d = ph.wait_execution("prod", arn, timeout=300)
    assert d["status"] == "FAILED" and d["error"] == "Bbws.DestroyBlocked", ph.failure_of(d)
    assert "DESTROY is blocked in PROD" in d["cause"] and LEGACY in d["cause"], d["cause"]
    assert "Request tenant approval" not in ph.states_entered("prod", arn)
    assert _legacy_parameter("prod"), "nothing was applied"
    assert _records("prod", arn)[T2]["error"] == "Bbws.DestroyBlocked"
    assert ph.lock_of("prod", f"tenant:{T2}") is None


def test_a_tenant_execution_stopped_during_its_plan_stops_the_build_and_the_next_takes_its_lock():
    commits = ph.tenant_commits()
    arn = ph.start("sit", _request("sit", [T1], commit=commits["initial"]), kind="tenant")
    ph.wait_state_entered("sit", arn, "Run plan build", timeout=60)
    cb = ph.client("sit", "codebuild")
    root = f"tenant/sit/{arn.rsplit(':', 1)[1]}"

    def this_build() -> dict | None:
        ids = cb.list_builds_for_project(projectName="bbws-tenant-build-sit")["ids"][:5]  # newest first
        builds = cb.batch_get_builds(ids=ids)["builds"] if ids else []
        return next((b for b in builds if {"name": "ARTIFACTS_ROOT", "value": root, "type": "PLAINTEXT"}
                     in b["environment"].get("environmentVariables", [])), None)

    assert ph.wait_for(this_build, 30, "the execution's plan build")["buildStatus"] == "IN_PROGRESS"
    ph.client("sit", "stepfunctions").stop_execution(executionArn=arn, error="Bbws.Cancelled",
                                                     cause="the workflow run was cancelled")
    build = ph.wait_for(lambda: (b := this_build()) and b["buildStatus"] != "IN_PROGRESS" and b, 60,
                        "the stopped build")
    assert build["buildStatus"] == "STOPPED"
    assert ph.lock_of("sit", f"tenant:{T1}")["execution_arn"] == arn, "a stopped execution's lock stays"
    assert ph.ecs_service("sit", T1)["desiredCount"] == 2, "nothing applied"


def test_a_rejected_plan_and_a_tampered_plan_change_nothing():
    rejected = ph.start("sit", _request("sit", [T1], action="rollback"), kind="tenant")
    _wait_approval("sit", rejected)
    taken = ph.state_output("sit", rejected, "Lock tenants")["lock"]["took_over"]
    assert taken["status"] == "ABORTED", "the stopped execution's lock was taken over"
    ph.reject_with_task_token("sit", rejected, "the plan also resets the PHP limit")
    d = ph.wait_execution("sit", rejected, timeout=60)
    assert d["status"] == "FAILED" and d["error"] == "Bbws.ApprovalRejected", ph.failure_of(d)
    assert "nothing was applied" in d["cause"]
    assert ph.ecs_service("sit", T1)["desiredCount"] == 2

    tampered = ph.start("sit", _request("sit", [T1], action="rollback"), kind="tenant")
    _wait_approval("sit", tampered)
    review = ph.state_output("sit", tampered, "Review plans")["review"]
    bucket = f"bbws-tenant-plans-{ph.ACCOUNTS['sit']}"
    key = f"{review['plans'][0]['artifacts_prefix']}/tfplan"
    original = ph.tenant_plan_file("sit", key)
    # An administrator replaces the approved plan file (one byte longer) while the approval waits.
    ph.client("sit", "s3").put_object(Bucket=bucket, Key=key, Body=original + b"\n")
    ph.approve_with_task_token("sit", tampered, [ph.DEV_LEAD])
    d = ph.wait_execution("sit", tampered, timeout=300)
    assert d["status"] == "FAILED" and d["error"] == "Bbws.TenantBuildFailed", ph.failure_of(d)
    assert "the apply ran" in d["cause"], d["cause"]
    assert ph.ecs_service("sit", T1)["desiredCount"] == 2, "the tampered plan was not applied"


def test_a_rollback_applies_the_commit_before_the_latest_apply():
    commits = ph.tenant_commits()
    arn = ph.start("sit", _request("sit", [T1], action="rollback"), kind="tenant")
    _wait_approval("sit", arn)
    ph.approve_with_task_token("sit", arn, [ph.DEV_LEAD])
    d = ph.wait_execution("sit", arn, timeout=300)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.ecs_service("sit", T1)["desiredCount"] == 1
    record = _records("sit", arn)[T1]
    assert (record["tenant_action"], record["commit"], record["commit_source"]) == (
        "rollback", commits["initial"], "previous")


def test_a_release_applies_its_tenants_last_under_its_one_approval(preflight_config):
    """RB-003 §5.2.1 phase 4: the tenant's plan is made and shown before the release's one approval,
    and applied after the services' phases and their verification. SIT's tenant-002 is at "destroy"
    (its legacy redirects parameter retired): the release takes it back to "initial", which creates the
    parameter again."""
    commits = ph.tenant_commits()
    services = list(ph.SERVICE_NAMES)
    before = {s: ph.latest_versions("sit", s) for s in services}
    catalog = [{**s, "health_wait_seconds": 1} for s in ph.RUNBOOK_CONFIG["catalog"]]
    preflight_config("sit", catalog=catalog, monitor={"sit_seconds": 2, "poll_seconds": 1},
                     stability={"dev_to_sit": {"errors": {"fewer_than": 100000}, "throttles": {"at_most": 100000}}})
    for s in services:
        ph.record_service_gates("dev", s)
    try:
        arn = ph.start("sit", {"target_env": "sit", "services": services, "requested_by": "lead@bbws.io",
                               "reason": "Release 2026.12", "tenants": [T2], "tenants_commit": commits["initial"]},
                       kind="release")
        links = ph.approval_links(ph.DEV_LEAD[0], arn, timeout=240)
        page = ph.open_link(links["approve"]).text
        assert "Approve this release?" in page
        assert all(f"{i}. {s}" in page for i, s in enumerate(services, 1)), page
        review = ph.state_output("sit", arn, "Review plans")["review"]
        assert review["to_apply"] == [T2] and review["plans"][0]["tfplan_sha256"] in page
        assert _legacy_parameter("sit") is None, "nothing applied before the approval"
        assert ph.confirm(links["approve"]).status_code == 200
        d = ph.wait_execution("sit", arn, timeout=400)
        assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    finally:
        for versions in before.values():
            ph.restore_aliases("sit", versions)
    states = ph.states_entered("sit", arn)
    assert states.count("Promote the next service") == 3, "phases 1 to 3: the services"
    last_service = len(states) - 1 - states[::-1].index("Promote the next service")
    assert states.index("Review plans") < states.index("Request release approval") < last_service < states.index(
        "Cross-service verification") < states.index("Apply each tenant") < states.index(
        "Verify tenant services") < states.index("Record release")
    assert _legacy_parameter("sit"), "phase 4 created tenant-002's legacy redirects parameter again"
    records = {r["action"]: r for r in ph.records_of("sit", arn)}
    assert records["release"]["outcome"] == "succeeded"
    assert (records["tenant"]["tenant_id"], records["tenant"]["commit"], records["tenant"]["applied"]) == (
        T2, commits["initial"], True)
    assert (records["tenant"]["plan"]["add"], records["tenant"]["plan"]["destroy"]) == (1, 0)
    assert ph.lock_of("sit", f"tenant:{T2}") is None


def test_a_service_that_stays_below_its_desired_count_fails_the_verification():
    """SIT's tenant-001 is at "initial" (the rollback applied it): a plan of that commit changes nothing,
    so the execution goes straight to the verification, which the held service fails."""
    commits = ph.tenant_commits()
    ph.hold_ecs_service("sit", T1, 0)
    try:
        arn = ph.start("sit", _request("sit", [T1], commit=commits["initial"]), kind="tenant")
        d = ph.wait_execution("sit", arn, timeout=300)
    finally:
        ph.hold_ecs_service("sit", T1, None)
    assert d["status"] == "FAILED" and d["error"] == "Bbws.TenantNotVerified", ph.failure_of(d)
    assert f"{T1}-wordpress: ACTIVE, 0 of 1 running" in d["cause"], d["cause"]
    assert "Request tenant approval" not in ph.states_entered("sit", arn), "an empty plan asks nobody"
    assert _records("sit", arn)[T1]["error"] == "Bbws.TenantNotVerified"
