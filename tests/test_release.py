"""Coordinated releases (issue 6, RB-003 §5) through bbws-release-sit.

DEV is newer than SIT at the estate's baseline, so a release into SIT promotes every service's DEV build.
The deployed configuration (the windows, monitor periods and health waits are data) shortens the
monitor and the §5.2.1 health waits to seconds and lifts the DEV error limits, which other tests of the
same hour drive up on purpose (tests/test_promote_preflight.py); no execution input changes a rule.
Live failing traffic goes to PROD only: SIT's errors count in every SIT -> PROD preflight for 24 hours.
"""
from __future__ import annotations

import copy

import pipeline_helpers as ph
from evidence_tables import RELEASE_PHASE_FAILED
import pytest

# The catalog in its release order: tenant-instance-management, ecs-event-handler, site-management.
SERVICES = list(ph.SERVICE_NAMES)
LEAD = "lead@bbws.io"


def _config() -> dict:
    catalog = copy.deepcopy(ph.RUNBOOK_CONFIG["catalog"])
    for s in catalog:
        s["health_wait_seconds"] = 2
    return {"catalog": catalog, "monitor": {"sit_seconds": 2, "poll_seconds": 1},
            "stability": {"dev_to_sit": {"errors": {"fewer_than": 100000}, "throttles": {"at_most": 100000}}}}


@pytest.fixture()
def sit_services():
    """latest-sit of the three services as the test found them, put back afterwards."""
    before = {s: ph.latest_versions("sit", s) for s in SERVICES}
    yield before
    for versions in before.values():
        ph.restore_aliases("sit", versions)


def _request(services: list[str], **extra) -> dict:
    return {"target_env": "sit", "services": services, "requested_by": LEAD, "reason": "Release 2026.12",
            **extra}


def _children(arn: str) -> list[dict]:
    """The release's phase executions of bbws-promote-sit, oldest first."""
    name = arn.rsplit(":", 1)[1]
    sfn = ph.client("sit", "stepfunctions")
    found = [e for e in sfn.list_executions(stateMachineArn=ph.state_machine_arn("sit"), maxResults=1000)["executions"]
             if e["name"].startswith(f"{name}-p")]
    return sorted(found, key=lambda e: e["startDate"])


def _approve(arn: str) -> dict:
    links = ph.approval_links(ph.DEV_LEAD[0], arn)
    r = ph.confirm(links["approve"])
    assert r.status_code == 200 and "the release continues" in r.text, r.text
    return links


def test_a_three_service_release_runs_in_dependency_order_under_one_approval(preflight_config, sit_services):
    preflight_config("sit", **_config())
    for s in SERVICES:
        ph.record_service_gates("dev", s)
    dev = {s: {fn: ph.code_sha("dev", fn, "latest-dev") for fn in ph.functions_of(s, "dev")} for s in SERVICES}

    arn = ph.start("sit", _request(list(reversed(SERVICES))), kind="release")
    links = ph.approval_links(ph.DEV_LEAD[0], arn)
    page = ph.open_link(links["approve"])
    assert page.status_code == 200 and "Approve this release?" in page.text
    for i, s in enumerate(SERVICES, 1):
        assert f"{i}. {s}" in page.text, page.text
    assert [s for s in SERVICES if ph.lock_of("sit", s)] == [], "no phase runs before the approval"
    _approve(arn)

    d = ph.wait_execution("sit", arn, timeout=300)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    children = _children(arn)
    name = arn.rsplit(":", 1)[1]
    assert [c["name"] for c in children] == [f"{name}-p1", f"{name}-p2", f"{name}-p3"]
    for child, service in zip(children, SERVICES):
        cd = ph.wait_execution("sit", child["executionArn"])
        assert cd["status"] == "SUCCEEDED", ph.failure_of(cd)
        states = ph.states_entered("sit", child["executionArn"])
        assert "Accept the release's approval" in states and "Request approval" not in states
        assert ph.state_output("sit", child["executionArn"], "Validate input")["promotion"]["service"] == service
        for fn in ph.functions_of(service, "sit"):
            src = fn.replace("-sit", "-dev") if fn.endswith("-sit") else fn.replace("sit-", "dev-", 1)
            assert ph.code_sha("sit", fn, "latest-sit") == dev[service][src], (service, fn)
    assert children[0]["stopDate"] <= children[1]["startDate"] and children[1]["stopDate"] <= children[2]["startDate"]
    approval_mails = [m for m in ph.mailbox(ph.DEV_LEAD[0]) if m["subject"].startswith("Approval wanted")
                      and any(c["executionArn"] in m["body"] for c in children)]
    assert approval_mails == [], "the phases did not ask again"

    states = ph.states_entered("sit", arn)
    assert states[:6] == ["Validate release request", "Lock release", "Preflight checks of every service",
                          "Tenants in the release?", "No tenants in the release", "Request release approval"]
    assert "Phase 4: tenants?" in states and "Apply each tenant" not in states
    assert states.count("Promote the next service") == 3 and "Cross-service verification" in states
    [record] = ph.records_of("sit", arn)
    assert (record["action"], record["outcome"], record["services"]) == ("release", "succeeded", SERVICES)
    assert [(p["index"], p["service"], p["outcome"]) for p in record["phases"]] == [
        (1, SERVICES[0], "succeeded"), (2, SERVICES[1], "succeeded"), (3, SERVICES[2], "succeeded")]
    assert [p["execution_arn"] for p in record["phases"]] == [c["executionArn"] for c in children]
    assert [(a["person"], a["role"]) for a in record["approvers"]] == [ph.DEV_LEAD]
    for s in SERVICES:
        assert record["ended_on"][s] == {f"af-south-1/{fn}": ph.alias_version("sit", fn, "latest-sit")
                                         for fn in ph.functions_of(s, "sit")}
    for i, s in enumerate(SERVICES, 1):
        ph.wait_notification(arn, f"Release phase {i} of 3 done: {s} in SIT")
    ph.wait_notification(arn, f"Released: {', '.join(SERVICES)} into SIT")
    assert ph.lock_of("sit", "release") is None


def _broken_event_handler(release) -> None:
    """DEV's event handler answers /health with 500 once deployed beyond DEV (its team shipped a build
    that depends on something only DEV has), with its gates."""
    release("dev", "ecs-event-handler", "unhealthy-outside-dev", "1.6.6")


@pytest.mark.parametrize("roll_back", [False, True])
def test_a_failing_second_phase_stops_the_release(preflight_config, sit_services, release, roll_back):
    preflight_config("sit", **_config())
    _broken_event_handler(release)
    for s in SERVICES:
        ph.record_service_gates("dev", s)
    extra = {"rollback_completed_phases": True} if roll_back else {}

    arn = ph.start("sit", _request(SERVICES, **extra), kind="release")
    _approve(arn)
    d = ph.wait_execution("sit", arn, timeout=300)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.ReleaseFailed"), ph.failure_of(d)
    children = _children(arn)
    assert len(children) == 2, "site-management never started"
    assert ph.wait_execution("sit", children[1]["executionArn"])["error"] == "Bbws.RolledBack"
    assert d["cause"].startswith("phase 2 (ecs-event-handler) failed with Bbws.RolledBack: "), d["cause"]
    assert "not started: site-management" in d["cause"]

    tenant = "bbws-tenant-instance-management-sit"
    tenant_now = ph.alias_version("sit", tenant, "latest-sit")
    if roll_back:
        assert "the completed phases were rolled back: tenant-instance-management" in d["cause"]
        assert ph.latest_versions("sit", SERVICES[0]) == sit_services[SERVICES[0]], "tenant back"
    else:
        assert "the completed phases stay on their new versions (fix forward): tenant-instance-management" in d["cause"]
        assert ph.code_sha("sit", tenant, "latest-sit") == ph.code_sha(
            "dev", "bbws-tenant-instance-management-dev", "latest-dev"), "tenant kept"
    assert ph.latest_versions("sit", SERVICES[1]) == sit_services[SERVICES[1]], "the handler rolled itself back"
    assert ph.latest_versions("sit", SERVICES[2]) == sit_services[SERVICES[2]], "site management untouched"
    assert f"bbws-tenant-instance-management-sit {tenant_now} in af-south-1" in d["cause"], d["cause"]

    [record] = ph.records_of("sit", arn)
    assert [(p["service"], p["outcome"]) for p in record["phases"]] == [
        (SERVICES[0], "succeeded"), (SERVICES[1], "failed")]
    assert record["not_started"] == [SERVICES[2]] and record["error"] == "Bbws.ReleaseFailed"
    ph.wait_notification(arn, "Release phase 2 of 3 failed: ecs-event-handler in SIT")
    assert ph.lock_of("sit", "release") is None and ph.lock_of("sit", SERVICES[0]) is None
    # The release notes name each phase's packages from the phase's own record.
    notes = ph.evidence_file("sit", arn, "release-notes.md").decode()
    assert "the phase's own deployment record is not given" not in notes, notes
    assert ph.code_sha("dev", "bbws-tenant-instance-management-dev", "latest-dev") in notes, notes
    ph.assert_verdicts(ph.evidence_verdicts("sit", arn), {
        **RELEASE_PHASE_FAILED,
        "Coordinated Release Checklist: Completed phases rolled back after a failed phase":
            "ticked" if roll_back else "not_applicable"})


def test_a_promotion_cannot_borrow_a_release_approval(preflight_config, sit_services):
    """Someone starts bbws-promote-sit by hand naming a release that was approved: refused."""
    preflight_config("sit", **_config())
    ph.record_service_gates("dev", SERVICES[0])
    arn = ph.start("sit", _request([SERVICES[0]]), kind="release")
    _approve(arn)
    assert ph.wait_execution("sit", arn, timeout=180)["status"] == "SUCCEEDED"

    forged = ph.start("sit", {"service": SERVICES[0], "source_env": "dev", "target_env": "sit",
                              "requested_by": "mallory@bbws.io", "reason": "ride along",
                              "release": {"execution_arn": arn, "phase": 1}})
    d = ph.wait_execution("sit", forged)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.ApprovalRejected"), ph.failure_of(d)
    assert "the release's approval does not cover this promotion" in d["cause"], d["cause"]
    assert "is not the release's phase execution" in d["cause"] or "was already run by" in d["cause"]


@pytest.mark.parametrize("payload, starts", [
    (_request(["tenant-instance-management", "billing"]), "services: "),
    (_request(["site-management", "site-management"]), "services: "),
    (_request([]), "services: must name at least one service"),
    ({**_request(SERVICES), "target_env": "prod", "change_request": "CHG-1"}, "target_env: this state machine releases into SIT"),
])
def test_bad_release_requests_are_refused(payload, starts):
    arn = ph.start("sit", payload, kind="release")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), ph.failure_of(d)
    assert d["cause"].startswith(starts), d["cause"]
    assert ph.records_of("sit", arn) == []


def test_an_error_spike_during_a_health_wait_rolls_that_phase_back(preflight_config, release):
    """A release into PROD (whose errors no other test reads: PROD is never a source). The tenant phase
    passes its own promotion's checks (its build answers /health; the deployed catalog has no smoke test
    for it, so nothing calls the failing path yet); then, during the release's health wait, live
    traffic on latest-prod fails 8 times: the release's poll rolls the phase back in both regions."""
    config = _config()
    for s in config["catalog"]:
        if s["name"] == SERVICES[0]:
            s["smoke_tests"] = []
            s["health_wait_seconds"] = 60
    config["monitor"] = {"prod_seconds": 2, "poll_seconds": 2}
    config["maintenance_windows"] = ph.windows_all_week()
    del config["stability"]
    preflight_config("prod", **config)
    before = ph.latest_versions("prod", SERVICES[0])
    release("sit", SERVICES[0], "errors-under-traffic", "1.6.7")
    ph.record_service_gates("sit", SERVICES[0])

    arn = ph.start("prod", {**_request([SERVICES[0]]), "target_env": "prod", "change_request": "CHG-2001"},
                   kind="release")
    for person, role in (ph.TECH_LEAD, ph.OPS_LEAD):
        link = ph.wait_for(lambda: _role_link(person, role, arn), 30, f"the {role} link")
        assert ph.confirm(link).status_code == 200
    ph.wait_state_entered("prod", arn, "Wait before the next health check", timeout=120)
    name = arn.rsplit(":", 1)[1]
    child = f"arn:aws:states:af-south-1:{ph.ACCOUNTS['prod']}:execution:bbws-promote-prod:{name}-p1"
    assert ph.wait_execution("prod", child)["status"] == "SUCCEEDED"
    report = ph.traffic.send_traffic("prod", SERVICES[0], requests=8, estate=ph.ESTATE)
    assert report.total.function_errors == 8

    d = ph.wait_execution("prod", arn, timeout=120)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.ReleaseFailed"), ph.failure_of(d)
    assert d["cause"].startswith("phase 1 (tenant-instance-management) failed its health wait: monitor poll "), d["cause"]
    assert "errors in the last 2 min" in d["cause"] and "tenant-instance-management is back on backup-" in d["cause"]
    assert "Roll the phase back" in ph.states_entered("prod", arn)
    assert ph.latest_versions("prod", SERVICES[0]) == before, "back on the versions before, both regions"
    [record] = ph.records_of("prod", arn)
    assert [(p["service"], p["outcome"]) for p in record["phases"]] == [(SERVICES[0], "rolled_back")]


def _role_link(address: str, role: str, arn: str) -> str | None:
    for m in ph.mailbox(address):
        if arn in m["body"] and f"as {role}." in m["body"]:
            for line in m["body"].splitlines():
                if line.startswith("Approve: http"):
                    return line.split(": ", 1)[1].strip()
    return None
