"""AWS errors that a retry cannot fix end an execution at once under their own name; those a retry may fix
are retried (issue 10; issue 11's unrecorded outcome).

AWS refuses a call for good (AccessDeniedException: a policy lacks the action) or throttles it; moto never
does either on its own, so the estate arms the answer for the next calls of one DynamoDB operation on one
table (local/bbws_local/faults.py):

1. The promotion's lock (PutItem on bbws-promotion-locks-sit) is refused: the execution ends at once with
   Bbws.AwsRefused and AWS's own words (the denied action and the table), the lock step ran once.
2. A manual rollback's lock is throttled through the SDK's own attempts: the state machine retries the step,
   and the rollback succeeds.
3. A promotion deploys and passes its monitoring, then its deployment record cannot be written: the execution
   ends with Bbws.RecordNotWritten, saying the promotion succeeded and why the record is missing.
4. A manual rollback moves the alias, then its record cannot be written: Bbws.RecordNotWritten, the same way.
5. S3 fails every attempt of the preflight's read of its promotion rules as its process starts: the start
   fails with Bbws.AwsUnavailable naming the rules (the Runtime API's init/error), the state machine tries
   the step again, and a new process reads the rules and goes on.
"""
from __future__ import annotations

import json
from collections import Counter

import pipeline_helpers as ph

TENANT = "tenant-instance-management"
TENANT_DEV, TENANT_SIT = "bbws-tenant-instance-management-dev", "bbws-tenant-instance-management-sit"
TO_SIT = ph.sample_input("promote-dev-to-sit")
LOCKS, RECORDS = "bbws-promotion-locks-sit", "bbws-deployments-sit"


def denied(env: str, role: str, action: str, table: str) -> str:
    """AWS's AccessDeniedException message for a call of an assumed role on a table."""
    account = ph.ACCOUNTS[env]
    return (f"User: arn:aws:sts::{account}:assumed-role/{role}/{role} is not authorized to perform: "
            f"dynamodb:{action} on resource: arn:aws:dynamodb:af-south-1:{account}:table/{table} because no "
            f"identity-based policy allows the dynamodb:{action} action")


def arm_dynamodb(env: str, operation: str, table: str, times: int, status: int, code: str, message: str) -> None:
    ph.arm_call_fault(env, "dynamodb", operation, table, times=times, code=code, status=status, message=message)


def scheduled_per_state(env: str, arn: str) -> Counter:
    """How often each state invoked its Lambda (every attempt, retries included)."""
    counts: Counter = Counter()
    state = None
    for e in ph.history(env, arn):
        if e["type"].endswith("StateEntered"):
            state = e["stateEnteredEventDetails"]["name"]
        elif e["type"] in ("LambdaFunctionScheduled", "TaskScheduled"):
            counts[state] += 1
    return counts


def failed_invocations(env: str, arn: str) -> list[dict[str, str]]:
    return [e["lambdaFunctionFailedEventDetails"] for e in ph.history(env, arn)
            if e["type"] == "LambdaFunctionFailed"]


def test_a_refused_lock_ends_the_promotion_at_once_with_aws_s_words(fault):
    message = denied("sit", "bbws-promotion-record-sit", "PutItem", LOCKS)
    arm_dynamodb("sit", "PutItem", LOCKS, times=5, status=400, code="AccessDeniedException", message=message)
    before = ph.alias_version("sit", TENANT_SIT, "latest-sit")

    arn = ph.start("sit", TO_SIT)
    d = ph.wait_execution("sit", arn, timeout=60)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.AwsRefused"), ph.failure_of(d)
    assert d["cause"] == f"PutItem {LOCKS} {TENANT}#sit: AccessDeniedException: {message}", d["cause"]

    assert scheduled_per_state("sit", arn) == {"Validate input": 1, "Lock promotion": 1}, "no retry"
    [armed] = ph.armed_faults()
    assert armed["failed"] == 1, "the SDK did not retry the refusal either"
    assert ph.states_entered("sit", arn)[-1] == "Promotion refused"
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == before
    assert ph.records_of("sit", arn) == [] and ph.lock_of("sit", TENANT) is None


def _rollback_request(backup: str) -> dict:
    return {"service": TENANT, "environment": "sit", "target_version": backup,
            "reason": "API errors after the release", "requested_by": "oncall@bbws.io"}


def test_a_throttled_lock_is_retried_by_the_state_machine_and_the_rollback_succeeds(release, aliases, fault):
    previous = release("sit", TENANT, "healthy", "1.5.1")
    old = previous[("af-south-1", TENANT_SIT)]
    backup = ph.backup_stamp()
    aliases("sit", TENANT_SIT, backup, old, description="Backup before promotion")
    # The SDK makes 3 attempts per call: the first invocation of the lock step fails on all three.
    arm_dynamodb("sit", "PutItem", LOCKS, times=3, status=400, code="ThrottlingException",
                 message="Rate of requests exceeds the allowed throughput.")

    arn = ph.start("sit", _rollback_request(backup), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.armed_faults() == [], "all three throttled answers were used"
    assert scheduled_per_state("sit", arn)["Lock service"] == 2, "one retry of the step"
    [failure] = failed_invocations("sit", arn)
    assert failure["error"] == "Bbws.AwsUnavailable"
    assert f"PutItem {LOCKS} {TENANT}#sit: ThrottlingException: Rate of requests" in failure["cause"]
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == old
    [record] = ph.records_of("sit", arn)
    assert record["outcome"] == "succeeded"
    assert ph.lock_of("sit", TENANT) is None
    _drop_incident_alias(arn)


def test_a_promotion_whose_record_cannot_be_written_says_it_succeeded(preflight_config, fault):
    preflight_config("sit", monitor={"sit_seconds": 2, "poll_seconds": 1})
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    # SIT on its baseline build (older than DEV's), whatever an earlier test promoted into it: the
    # promotion has a new package to deploy.
    before = ph.reset_service("sit", TENANT)
    message = denied("sit", "bbws-promotion-record-sit", "PutItem", RECORDS)
    arm_dynamodb("sit", "PutItem", RECORDS, times=1, status=400, code="AccessDeniedException", message=message)
    try:
        arn = ph.start("sit", TO_SIT)
        ph.approve_with_task_token("sit", arn, [("dev-lead@bbws.io", "dev_lead")])
        d = ph.wait_execution("sit", arn)
        after = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    finally:
        ph.restore_aliases("sit", before)

    assert (d["status"], d["error"]) == ("FAILED", "Bbws.RecordNotWritten"), ph.failure_of(d)
    assert after != before[("af-south-1", TENANT_SIT)], "the deploy stands"
    assert d["cause"] == (
        "the promotion succeeded: latest-sit serves the promoted versions, which passed the monitoring; but "
        f"its deployment record could not be written (Bbws.AwsRefused: PutItem {RECORDS}: "
        f"AccessDeniedException: {message})"), d["cause"]
    states = ph.states_entered("sit", arn)
    assert "Record success" in states and "Roll back" not in states
    assert scheduled_per_state("sit", arn)["Record success"] == 1, "a refusal is not retried"
    assert ph.records_of("sit", arn) == []
    assert ph.lock_of("sit", TENANT) is None, "the lock is released"


def test_a_rollback_whose_record_cannot_be_written_says_it_succeeded(release, aliases, fault):
    previous = release("sit", TENANT, "healthy", "1.5.2")
    old = previous[("af-south-1", TENANT_SIT)]
    backup = ph.backup_stamp()
    aliases("sit", TENANT_SIT, backup, old, description="Backup before promotion")
    message = denied("sit", "bbws-promotion-record-sit", "PutItem", RECORDS)
    arm_dynamodb("sit", "PutItem", RECORDS, times=1, status=400, code="AccessDeniedException", message=message)

    arn = ph.start("sit", _rollback_request(backup), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.RecordNotWritten"), ph.failure_of(d)
    assert d["cause"] == (
        "the rollback succeeded: every alias is on the target version, which answers its health check; but "
        f"its rollback record could not be written (Bbws.AwsRefused: PutItem {RECORDS}: "
        f"AccessDeniedException: {message})"), d["cause"]
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == old, "the rollback stands"
    assert scheduled_per_state("sit", arn)["Record rollback"] == 1
    assert ph.records_of("sit", arn) == [] and ph.lock_of("sit", TENANT) is None
    _drop_incident_alias(arn)


def _drop_incident_alias(arn: str) -> None:
    lam = ph.client("sit", "lambda")
    for a in lam.list_aliases(FunctionName=TENANT_SIT)["Aliases"]:
        if a["Name"].startswith("incident-") and arn in a.get("Description", ""):
            lam.delete_alias(FunctionName=TENANT_SIT, Name=a["Name"])


def test_rules_that_cannot_be_read_as_a_function_starts_are_read_again_by_the_next_start(preflight_config, fault):
    # A new version of the rules: the preflight's next invocation starts a new process, which reads them.
    preflight_config("sit")
    rules = ph.client("sit", "lambda").get_function_configuration(
        FunctionName="bbws-promotion-preflight-sit")["Environment"]["Variables"]
    ph.arm_call_fault("sit", "s3", "GetObject", rules["BBWS_CONFIG_OBJECT"], caller="bbws-promotion-preflight-sit",
                      times=3, code="SlowDown", status=503, message="Please reduce your request rate.")
    # Input the rules refuse: the execution ends in the step it retried, under the handler's own name.
    arn = ph.start("sit", {**TO_SIT, "service": "no-such-service"})
    d = ph.wait_execution("sit", arn)

    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), ph.failure_of(d)
    assert "no-such-service" in d["cause"], d["cause"]
    start_failed, refused = failed_invocations("sit", arn)
    assert refused["error"] == "Bbws.InvalidInput"
    assert start_failed["error"] == "Bbws.AwsUnavailable"
    assert json.loads(start_failed["cause"]) == {"errorType": "Bbws.AwsUnavailable", "errorMessage": (
        "the promotion rules: s3:GetObjectVersion "
        f"s3://bbws-promotion-evidence-{ph.ACCOUNTS['sit']}/{rules['BBWS_CONFIG_OBJECT']} "
        f"version {rules['BBWS_CONFIG_VERSION']}: SlowDown: Please reduce your request rate.")}, start_failed
    assert scheduled_per_state("sit", arn)["Validate input"] == 2, "the start failed once, the step ran again"
    assert ph.armed_faults() == [], "the three attempts of the first start took the three faults"
