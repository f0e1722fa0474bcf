"""One promotion per service and target environment (issue 4, step 2): of two started together, one
takes the lock and the other is refused with Bbws.PromotionInProgress, changing nothing."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pipeline_helpers as ph

SERVICE = "tenant-instance-management"
EVENT = json.loads((ph.ROOT / "events" / "promote-dev-to-sit.json").read_text())


def test_two_concurrent_promotions_of_the_same_service_one_is_refused():
    ph.record_gates("dev", "bbws-tenant-instance-management-dev", "latest-dev")
    before = ph.latest_versions("sit", SERVICE)
    with ThreadPoolExecutor(2) as pool:
        arns = list(pool.map(lambda _: ph.start("sit", EVENT), range(2)))

    def one_refused():
        ended = [a for a in arns if ph.client("sit", "stepfunctions").describe_execution(
            executionArn=a)["status"] != "RUNNING"]
        return ended if len(ended) == 1 and ph.pending_approval("sit", *(set(arns) - set(ended))) else None

    [refused] = ph.wait_for(one_refused, 60, "one refused and one waiting for approval")
    [running] = [a for a in arns if a != refused]
    d = ph.wait_execution("sit", refused)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PromotionInProgress"), ph.failure_of(d)
    assert running in d["cause"] and "its lock expires by itself" in d["cause"], d["cause"]
    assert "Preflight checks" not in ph.states_entered("sit", refused)
    assert ph.records_of("sit", refused) == [], "a refusal before the lock writes no record"
    assert ph.lock_of("sit", SERVICE)["execution_arn"] == running, "the refusal left the holder's lock"

    ph.reject_with_task_token("sit", running, cause="dev-lead@bbws.io: one at a time")
    assert ph.wait_execution("sit", running)["error"] == "Bbws.ApprovalRejected"
    assert ph.lock_of("sit", SERVICE) is None
    assert ph.latest_versions("sit", SERVICE) == before
