"""The 24-hour watch's failed check in SIT (RB-003 §7.2): errors after the first check fail the next one, the
watch tells the platform team and, SIT being configured to (the runbook's default), rolls SIT back to the
promotion's backup.

The errors are made on a build no other test promotes (ecs-event-handler 1.4.7), and SIT ends on its earlier
version; yet they count against the handler's SIT -> PROD stability for 24 hours (summed on the function, as
RB-003's CLI sums them). So this file runs on the second estate of `make test` (PIPELINE_TESTS_2), after its
other tests, and the tests and scenarios that promote the handler into PROD set those errors aside
(ph.HANDLER_SIT_ERRORS_ASIDE): a later run on the same estate within the day is not refused by them.
"""
from __future__ import annotations

import re

import pipeline_helpers as ph
from test_watch import FAST_MONITOR, HANDLER, HANDLER_SIT, NO_SMOKE_TESTS, TO_SIT, _checks, _promoted, _watch_of

# DEV's errors of the event handler (test_promote_preflight.py makes them on purpose) are not this test's.
DEV_ERRORS_ASIDE = {"dev_to_sit": {"errors": {"fewer_than": 1000}}}


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
