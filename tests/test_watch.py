"""The 24-hour watch (RB-003 §4.3.1 "Monitor 24h", §7.2) on the local estate: every promotion that
succeeds starts `bbws-watch-<env>`, whose 1-, 4-, 12- and 24-hour checks (here a few seconds apart, from
the watch function's deployed configuration) judge the promoted versions with the estate's own metrics,
aliases and alarms, and keep each result on the deployment record.

A failed check in SIT, and the rollback it starts, are in test_watch_rollback.py: its errors count against the
service's SIT -> PROD stability for 24 hours, so it runs last on the second estate of `make test`.
"""
from __future__ import annotations

import json

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
    # Each check was added to the deployment's evidence, as its facts.
    facts = json.loads(ph.evidence_file("sit", arn, "facts.json"))
    assert [(w["after_hours"], w["verdict"]) for w in facts["watch"]] == [(1, "passed"), (4, "passed"),
                                                                         (12, "passed"), (24, "passed")]


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
        # The PROD checklist (§7.2) shows the watch's failed 1-hour check, the others still open.
        ph.assert_verdicts({k: v for k, v in ph.evidence_verdicts("prod", arn).items() if "-hour check" in k}, {
            "1-hour check: No errors": "failed", "4-hour check: No errors": "open",
            "12-hour check: No errors": "open", "24-hour check: No errors": "open"})
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
