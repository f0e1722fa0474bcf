"""The 24-hour watch (RB-003 §4.3.1 "Monitor 24h", §7.2) on the local estate: every promotion that
succeeds starts `bbws-watch-<env>`, whose 1-, 4-, 12- and 24-hour checks (here a few seconds apart, from
the watch function's deployed configuration) judge the promoted versions with the estate's own metrics,
aliases and alarms, and keep each result on the deployment record.

Errors are made on a build no other test promotes (ecs-event-handler 1.4.7) and leave SIT on its earlier
version; they count against the handler's SIT -> PROD stability for 24 hours all the same (summed on the
function), so the tests that promote the handler into PROD set them aside (ph.HANDLER_SIT_ERRORS_ASIDE).
"""
from __future__ import annotations

import json
import re

import pipeline_helpers as ph

HANDLER = "ecs-event-handler"
HANDLER_SIT, HANDLER_PROD = "bbws-ecs-event-handler-sit", "bbws-ecs-event-handler-prod"
TENANT = "tenant-instance-management"
TO_SIT = {**ph.sample_input("promote-dev-to-sit"), "service": HANDLER}
TO_PROD = {**ph.sample_input("promote-sit-to-prod"), "service": HANDLER}
CHECKS = ["1-hour check", "4-hour check", "12-hour check", "24-hour check"]
# The monitor's own minute of traffic-free polls, then the watch: the runbook's checks in seconds.
FAST_MONITOR = {"sit_seconds": 2, "prod_seconds": 2, "poll_seconds": 1}
NO_SMOKE_TESTS = ph.catalog_with(HANDLER, smoke_tests=[])
DEV_ERRORS_ASIDE = {"dev_to_sit": {"errors": {"fewer_than": 1000}}}


def _promoted(env: str, payload: dict, approvers: list) -> tuple[str, dict]:
    """Start a promotion, approve it, wait for it to succeed; its ARN and its deployment record."""
    arn = ph.start(env, payload)
    ph.approve_with_task_token(env, arn, approvers)
    d = ph.wait_execution(env, arn)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    [record] = ph.records_of(env, arn)
    return arn, record


def _watch_of(env: str, record: dict) -> str:
    """The watch the record names, once it runs (and ended by the test's cleanup if still running)."""
    arn = record["watch_execution_arn"]
    assert arn.startswith(f"arn:aws:states:af-south-1:{ph.ACCOUNTS[env]}:execution:bbws-watch-{env}:{record['service']}--")
    ph.wait_for(lambda: _status(env, arn), 30, f"the watch {arn}")
    ph.STARTED.append((env, arn))
    return arn


def _status(env: str, arn: str) -> str | None:
    try:
        return ph.client(env, "stepfunctions").describe_execution(executionArn=arn)["status"]
    except ph.client(env, "stepfunctions").exceptions.ExecutionDoesNotExist:
        return None


def _checks(env: str, deployment_id: str) -> list[dict]:
    item = ph.client(env, "dynamodb").get_item(
        TableName=f"bbws-deployments-{env}", Key={"deployment_id": {"S": deployment_id}}, ConsistentRead=True)
    return ph.plain({"L": item["Item"].get("checks", {"L": []})["L"]}) if "Item" in item else []


def _transitions(env: str, arn: str) -> int:
    return sum(1 for e in ph.history(env, arn) if e["type"].endswith("StateEntered"))


def test_a_promotion_whose_four_checks_pass_leaves_four_passed_checks(preflight_config, watch_config, release):
    preflight_config("sit", monitor=FAST_MONITOR)
    watch_config("sit", check_after_seconds=[2, 4, 6, 8])
    release("dev", TENANT, "healthy", "1.4.6")
    ph.record_service_gates("dev", TENANT)
    ph.reset_service("sit", TENANT)
    arn, record = _promoted("sit", ph.sample_input("promote-dev-to-sit"), [ph.DEV_LEAD])
    watch = _watch_of("sit", record)
    body = ph.wait_notification(arn, f"Promoted: {TENANT} to SIT")
    assert f"24-hour watch (RB-003 §7.2): {watch}\n" in body
    d = ph.wait_execution("sit", watch, timeout=60)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    checks = _checks("sit", record["deployment_id"])
    assert [c["name"] for c in checks] == CHECKS
    assert [c["verdict"] for c in checks] == ["passed"] * 4, checks
    version = record["to_version"][f"af-south-1/bbws-tenant-instance-management-sit"]
    for c in checks:
        [figures] = c["figures"]
        assert (figures["version"], figures["serving"], figures["health"]) == (version, version, 200), c
        assert (figures["errors"], figures["throttles"]) == (0, 0), c
    # The checks' windows follow each other: 2 s after the record, then about 2 s each.
    assert all(1 <= c["window_seconds"] <= 5 for c in checks), [c["window_seconds"] for c in checks]
    states = ph.states_entered("sit", watch)
    for name in CHECKS:
        assert name in states, f"{name} missing from {states}"
    assert states[-1] == "Watched for 24 hours"
    assert _transitions("sit", watch) <= 20, "the budget of one watch"


def test_errors_after_the_first_check_fail_the_next_notify_and_sit_rolls_back(
        preflight_config, watch_config, release):
    """A build that errors under traffic passes its promotion and the first check (nobody calls it);
    then traffic errors on it, and the 4-hour check fails: the watch tells the platform team and,
    SIT being configured to (the runbook's default), rolls SIT back to the promotion's backup."""
    # DEV's errors of the event handler (an earlier test makes them on purpose) are not this test's.
    preflight_config("sit", monitor=FAST_MONITOR, catalog=NO_SMOKE_TESTS, stability=DEV_ERRORS_ASIDE)
    watch_config("sit", check_after_seconds=[2, 12, 14, 16])
    release("dev", HANDLER, "errors-under-traffic", "1.4.7")
    ph.record_service_gates("dev", HANDLER)
    before = ph.latest_versions("sit", HANDLER)
    arn, record = _promoted("sit", TO_SIT, [ph.DEV_LEAD])
    watch = _watch_of("sit", record)
    ph.wait_for(lambda: len(_checks("sit", record["deployment_id"])) == 1, 30, "the 1-hour check")
    [first] = _checks("sit", record["deployment_id"])
    assert first["verdict"] == "passed", first
    report = ph.traffic.send_traffic("sit", HANDLER, requests=3, estate=ph.ESTATE)
    assert report.total.function_errors == 3
    d = ph.wait_execution("sit", watch, timeout=60)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.WatchCheckFailed"), d.get("cause")
    version = record["to_version"][f"af-south-1/{HANDLER_SIT}"]
    assert re.match(rf"4-hour check of {re.escape(record['deployment_id'])} failed: {HANDLER_SIT} version "
                    rf"{version} in af-south-1: errors in the last \d+ s: 3 \(limit: none allowed\)", d["cause"]), d["cause"]
    second = _checks("sit", record["deployment_id"])[1]
    assert (second["name"], second["verdict"]) == ("4-hour check", "failed")
    assert second["figures"][0]["errors"] == 3
    # The rollback the watch started, named after it, back to the promotion's backup alias.
    started = ph.state_output("sit", watch, "Start the rollback")["rollback_started"]
    rollback = started["ExecutionArn"]
    assert rollback.endswith(":" + watch.rsplit(":", 1)[1][:71] + "-rollback")
    ph.STARTED.append(("sit", rollback))
    r = ph.wait_execution("sit", rollback, timeout=60)
    assert r["status"] == "SUCCEEDED", (r.get("error"), r.get("cause"))
    assert ph.latest_versions("sit", HANDLER) == before
    [rolled] = ph.records_of("sit", rollback)
    assert (rolled["action"], rolled["target"], rolled["actor"]) == (
        "rollback", record["backup_alias"], record["actor"])
    body = ph.wait_notification(record["deployment_id"], f"4-hour check failed: {HANDLER} in SIT")
    assert f"The rollback started by itself (SIT rolls back on a failed check): {rollback}" in body
    assert f"- {HANDLER_SIT} {version} in af-south-1: health 200, errors 3, throttles 0" in body
    # The rollback is watched in its turn; the failed watch had ended already.
    assert rolled["watch_execution_arn"] != watch
    ph.STARTED.append(("sit", rolled["watch_execution_arn"]))
    assert ph.states_entered("sit", watch)[-3:] == ["Start the rollback", "Tell people", "Check failed"]


def test_a_failed_check_in_prod_only_tells_people_with_the_rollback_command(
        preflight_config, watch_config, release, reserved_concurrency):
    """In PROD the runbook leaves rollbacks after the monitor to people: a check that finds throttles
    tells the platform team the exact command, and nothing moves."""
    preflight_config("prod", maintenance_windows=ph.windows_all_week(), monitor=FAST_MONITOR,
                     catalog=NO_SMOKE_TESTS, stability=ph.HANDLER_SIT_ERRORS_ASIDE)
    watch_config("prod", check_after_seconds=[8, 10, 12, 14])
    release("sit", HANDLER, "healthy", "1.4.8")
    ph.record_service_gates("sit", HANDLER)
    before = ph.latest_versions("prod", HANDLER)
    try:
        arn, record = _promoted("prod", TO_PROD, [ph.TECH_LEAD, ph.OPS_LEAD])
        watch = _watch_of("prod", record)
        reserved_concurrency("prod", HANDLER_PROD, 0)
        assert ph.invoke_until_throttled("prod", HANDLER_PROD, "latest-prod", 2) == 2
        ph.set_reserved_concurrency("prod", HANDLER_PROD, None)
        d = ph.wait_execution("prod", watch, timeout=60)
        assert (d["status"], d["error"]) == ("FAILED", "Bbws.WatchCheckFailed"), d.get("cause")
        assert "throttles in the last" in d["cause"] and ": 2 (limit: none allowed)" in d["cause"], d["cause"]
        promoted = {(k.split("/")[0], k.split("/")[1]): v for k, v in record["to_version"].items()}
        assert ph.latest_versions("prod", HANDLER) == promoted, "nothing moved"
        assert "Start the rollback" not in ph.states_entered("prod", watch)
        body = ph.wait_notification(record["deployment_id"], f"1-hour check failed: {HANDLER} in PROD")
        assert "Nothing was rolled back. To roll back to " + record["backup_alias"] in body
        assert ("aws stepfunctions start-execution --region af-south-1 --state-machine-arn "
                "arn:aws:states:af-south-1:093646564004:stateMachine:bbws-rollback-prod --input '") in body
        assert f'"target_version":"{record["backup_alias"]}"' in body
    finally:
        ph.restore_aliases("prod", before)


def test_a_second_promotion_of_the_service_ends_the_first_watch_as_superseded(
        preflight_config, watch_config, release):
    preflight_config("sit", monitor=FAST_MONITOR)
    watch_config("sit", check_after_seconds=[600, 1200, 1800, 2400])
    ph.record_service_gates("dev", TENANT)
    ph.reset_service("sit", TENANT)
    release("dev", TENANT, "healthy", "1.4.4")
    ph.record_service_gates("dev", TENANT)
    _, first = _promoted("sit", ph.sample_input("promote-dev-to-sit"), [ph.DEV_LEAD])
    first_watch = _watch_of("sit", first)
    ph.wait_state_entered("sit", first_watch, "Wait for the 1-hour check")
    release("dev", TENANT, "healthy", "1.4.5")
    ph.record_service_gates("dev", TENANT)
    _, second = _promoted("sit", ph.sample_input("promote-dev-to-sit"), [ph.DEV_LEAD])
    second_watch = _watch_of("sit", second)
    d = ph.wait_execution("sit", first_watch, timeout=30)
    assert (d["status"], d["error"]) == ("ABORTED", "Bbws.Superseded"), d
    assert d["cause"] == (f"superseded by {second_watch}: a newer deployment of {TENANT} in SIT "
                          f"({second['deployment_id']}) is watched now")
    assert _status("sit", second_watch) == "RUNNING"
    assert _checks("sit", first["deployment_id"]) == [], "the superseded watch judged nothing"


def test_a_watch_of_an_unknown_or_failed_deployment_is_refused_with_the_field():
    sfn = ph.client("sit", "stepfunctions")
    machine = ph.state_machine_arn("sit", "watch")
    for payload, words in [
        ({"deployment_id": "no-such-deployment:succeeded"},
         "deployment_id: there is no record 'no-such-deployment:succeeded' in bbws-deployments-sit"),
        ({"deployment": "x"}, "deployment_id: is required (the deployment record to watch); "
                              "deployment: unknown field (only deployment_id is accepted)"),
    ]:
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
        ph.STARTED.append(("sit", arn))
        d = ph.wait_execution("sit", arn, timeout=30)
        assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), d
        assert d["cause"] == words
