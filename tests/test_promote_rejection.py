"""The approval step's two ways of ending without a deploy (RB-003 §2.2, §4.2): a rejection answered on
the task token, and no answer before the deployed approval timeout."""
from __future__ import annotations

import time

import pipeline_helpers as ph
from evidence_tables import REJECTED

SERVICE = "tenant-instance-management"
TENANT_SIT = "bbws-tenant-instance-management-sit"
EVENT = ph.sample_input("promote-dev-to-sit")


def _nothing_deployed(arn: str, before: dict) -> None:
    states = ph.states_entered("sit", arn)
    for step in ("Create backup alias", "Deploy", "Verify health"):
        assert step not in states, f"{step} ran: {states}"
    assert ph.latest_versions("sit", SERVICE) == before
    assert ph.aliases_named("sit", TENANT_SIT, "backup-", described_with=arn) == []
    assert ph.lock_of("sit", SERVICE) is None, "the lock is released"


def test_a_rejection_ends_the_promotion_before_anything_is_deployed():
    ph.record_gates("dev", "bbws-tenant-instance-management-dev", "latest-dev")
    before = ph.latest_versions("sit", SERVICE)
    arn = ph.start("sit", EVENT)
    ph.reject_with_task_token("sit", arn, cause="dev-lead@bbws.io: the tenant quota fix needs a migration first")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.ApprovalRejected"), d.get("cause")
    assert d["cause"] == ("the promotion was rejected: dev-lead@bbws.io: the tenant quota fix needs a "
                          "migration first; nothing was deployed")
    _nothing_deployed(arn, before)
    [record] = ph.records_of("sit", arn)
    assert (record["outcome"], record["error"], record["cause"]) == ("failed", "Bbws.ApprovalRejected", d["cause"])
    assert record["to_version"] == {} and record["actor"] == "jane@bbws.io"
    body = ph.wait_notification(arn, "Promotion rejected: tenant-instance-management to SIT")
    assert f"Error: Bbws.ApprovalRejected\nCause: {d['cause']}" in body
    ph.assert_verdicts(ph.evidence_verdicts("sit", arn), REJECTED)


def test_no_answer_within_the_deployed_approval_timeout_ends_it(preflight_config):
    preflight_config("sit", approval_timeout_seconds=8)
    ph.record_gates("dev", "bbws-tenant-instance-management-dev", "latest-dev")
    before = ph.latest_versions("sit", SERVICE)
    started = time.monotonic()
    arn = ph.start("sit", EVENT)
    request = ph.approval_request("sit", arn)
    assert request["status"] == "pending"
    d = ph.wait_execution("sit", arn, timeout=120)
    waited = time.monotonic() - started
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.ApprovalTimedOut"), d.get("cause")
    assert 7 <= waited < 70, f"the wait lasted {waited:.0f} s, the deployed timeout is 8 s"
    assert d["cause"].startswith("no approval decision within 8 s (8 s)"), d["cause"]
    _nothing_deployed(arn, before)
    [record] = ph.records_of("sit", arn)
    assert (record["outcome"], record["error"]) == ("failed", "Bbws.ApprovalTimedOut")
    ph.wait_notification(arn, "Approval timed out: tenant-instance-management to SIT")
