"""One promotion per service and target environment (issue 4, step 2): of two started together, one
takes the lock and the other is refused with Bbws.PromotionInProgress, changing nothing."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pipeline_helpers as ph

SERVICE = "tenant-instance-management"
EVENT = ph.sample_input("promote-dev-to-sit")


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
    assert running in d["cause"] and "takes over the lock of an execution that no longer runs" in d["cause"], \
        d["cause"]
    assert "Preflight checks" not in ph.states_entered("sit", refused)
    assert ph.records_of("sit", refused) == [], "a refusal before the lock writes no record"
    assert ph.lock_of("sit", SERVICE)["execution_arn"] == running, "the refusal left the holder's lock"

    ph.reject_with_task_token("sit", running, cause="dev-lead@bbws.io: one at a time")
    assert ph.wait_execution("sit", running)["error"] == "Bbws.ApprovalRejected"
    assert ph.lock_of("sit", SERVICE) is None
    assert ph.latest_versions("sit", SERVICE) == before


def test_a_stopped_promotions_lock_is_taken_over_by_exactly_one_of_the_next_two():
    """Issue 11: a promotion stopped by hand (StopExecution) while it waits for approval keeps its lock
    item. The next lock attempt sees that its holder no longer runs and takes the lock over by a
    conditional write: of two promotions started together, exactly one takes it, the other is refused
    because the winner runs; the takeover is in the lock, the step's output and the record."""
    ph.record_gates("dev", "bbws-tenant-instance-management-dev", "latest-dev")
    before = ph.latest_versions("sit", SERVICE)
    sfn = ph.client("sit", "stepfunctions")
    stopped = ph.start("sit", EVENT)
    ph.wait_for(lambda: ph.pending_approval("sit", stopped), 60, "the first promotion waiting for approval")
    sfn.stop_execution(executionArn=stopped, error="Operator.Stopped", cause="stopped by hand")
    assert ph.wait_execution("sit", stopped)["status"] == "ABORTED"
    assert ph.lock_of("sit", SERVICE)["execution_arn"] == stopped, "a stopped execution leaves its lock"

    with ThreadPoolExecutor(2) as pool:
        arns = list(pool.map(lambda _: ph.start("sit", EVENT), range(2)))

    def one_refused():
        ended = [a for a in arns if sfn.describe_execution(executionArn=a)["status"] != "RUNNING"]
        return ended if len(ended) == 1 and ph.pending_approval("sit", *(set(arns) - set(ended))) else None

    [refused] = ph.wait_for(one_refused, 60, "one refused and one waiting for approval")
    [winner] = [a for a in arns if a != refused]
    d = ph.wait_execution("sit", refused)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PromotionInProgress"), ph.failure_of(d)
    assert winner in d["cause"], "refused because the winner runs"

    lock = ph.lock_of("sit", SERVICE)
    assert lock["execution_arn"] == winner
    assert (lock["took_over_from"]["execution_arn"], lock["took_over_from"]["status"]) == (stopped, "ABORTED")
    took = ph.state_output("sit", winner, "Lock promotion")["lock"]["took_over"]
    assert (took["execution_arn"], took["status"]) == (stopped, "ABORTED")

    # A lock whose holder runs is still refused.
    late = ph.start("sit", EVENT)
    d = ph.wait_execution("sit", late)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PromotionInProgress"), ph.failure_of(d)
    assert winner in d["cause"]
    assert ph.lock_of("sit", SERVICE)["execution_arn"] == winner

    ph.reject_with_task_token("sit", winner, cause="dev-lead@bbws.io: not today")
    assert ph.wait_execution("sit", winner)["error"] == "Bbws.ApprovalRejected"
    [record] = ph.records_of("sit", winner)
    assert record["lock_taken_over_from"]["execution_arn"] == stopped
    assert ph.lock_of("sit", SERVICE) is None
    assert ph.latest_versions("sit", SERVICE) == before
