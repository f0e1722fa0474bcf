"""`make demo-release`: a short coordinated release into SIT and a manual rollback, on the local estate.

1. A release of the ECS event handler and the tenant service (listed out of order) into SIT: the
   preflight of both, one approval by the Dev Lead through the email link, then the tenant service
   (phase 1) and the event handler (phase 2) as child promotions, each followed by its health wait, and
   the cross-service verification. The demo deploys short waits through the deployed configuration
   (RB-003's are 5 minutes per phase) and puts RB-003's back at the end.
2. The on-call engineer rolls the tenant service in SIT back to its newest backup (the one the release's
   phase took) with bbws-rollback-sit: incident alias, latest-sit moved, health, record.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

from demo import (ACCOUNTS, ROOT, _plain, approve_through_the_link, record_quality_gates, role_link, say,
                  session)

SERVICES = ["ecs-event-handler", "tenant-instance-management"]


def follow(env: str, arn: str, approval_state: str | None = None) -> dict[str, Any]:
    """Prints each state as it is entered; the Dev Lead approves when the approval is asked."""
    sfn = session(env).client("stepfunctions")
    seen, approved = 0, False
    while True:
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        for ev in events[seen:]:
            if ev["type"].endswith("StateEntered"):
                say(f"   -> {ev['stateEnteredEventDetails']['name']}")
                if ev["stateEnteredEventDetails"]["name"] == "Promote the next service":
                    phase = json.loads(ev["stateEnteredEventDetails"]["input"])["progress"]["next"]
                    say(f"      phase {phase['index']}: {phase['service']}, child execution "
                        f"bbws-promote-sit:{phase['execution_name']}")
        seen = len(events)
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        if approval_state and not approved:
            link = role_link("dev-lead@bbws.io", "dev_lead", arn)
            if link:
                approved = approve_through_the_link(("dev-lead@bbws.io", "dev_lead"), link)
        time.sleep(0.3)


def main() -> int:
    started = time.monotonic()
    sit = session("sit")
    lam = sit.client("lambda")
    preflight = "bbws-promotion-preflight-sit"
    variables = lam.get_function_configuration(FunctionName=preflight)["Environment"]["Variables"]
    config = json.loads(variables.get("BBWS_CONFIG") or (ROOT / "events" / "config" / "runbook.json").read_text())
    for s in config["catalog"]:
        s["health_wait_seconds"] = 10
    config["monitor"].update({"sit_seconds": 4, "poll_seconds": 2})
    # The integration tests drive DEV's errors and throttles up on purpose; within the hour after
    # `make test` RB-003's limits would (rightly) refuse these sources.
    config["stability"]["dev_to_sit"].update({"errors": {"fewer_than": 1000}, "throttles": {"at_most": 1000}})
    say("== the demo deploys 10 s health waits, a 4 s SIT monitor and DEV error/throttle limits of 1000 through "
        "the deployed configuration (RB-003: 5 minutes per phase, 30 s, fewer than 10 errors and no throttle; "
        "the integration tests drive DEV's figures up on purpose)")
    lam.update_function_configuration(FunctionName=preflight, Environment={"Variables": {
        **variables, "BBWS_CONFIG": json.dumps(config)}})
    try:
        for service, fn in (("tenant-instance-management", "bbws-tenant-instance-management-dev"),
                            ("ecs-event-handler", "bbws-ecs-event-handler-dev")):
            sha = record_quality_gates("dev", fn, "latest-dev")
            say(f"== DEV CI recorded 5 quality gates of {service} (CodeSha256 {sha})")
        release_ok = release(sit)
        rollback_ok = rollback(sit)
    finally:
        lam.update_function_configuration(FunctionName=preflight, Environment={"Variables": variables})
    say(f"== done in {time.monotonic() - started:.1f} s")
    return 0 if release_ok and rollback_ok else 1


def release(sit) -> bool:
    event = {"target_env": "sit", "services": SERVICES, "requested_by": "lead@bbws.io",
             "reason": "Release 2026.12 (demo)"}
    name = f"release-sit-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    arn = f"arn:aws:states:af-south-1:{ACCOUNTS['sit']}:stateMachine:bbws-release-sit"
    say(f"\n== aws stepfunctions start-execution --state-machine-arn {arn} --name {name} --input "
        f"'{json.dumps(event)}'   (services listed out of order)")
    run = sit.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(event))
    d = follow("sit", run["executionArn"], approval_state="Request release approval")
    say(f"== release {d['status']}" + (f": {d.get('error')} — {d.get('cause')}" if d["status"] != "SUCCEEDED" else ""))
    records = sit.client("dynamodb").scan(
        TableName="bbws-deployments-sit", FilterExpression="execution_arn = :e",
        ExpressionAttributeValues={":e": {"S": run["executionArn"]}})["Items"]
    for r in records:
        rec = {k: _plain(v) for k, v in r.items()}
        say("== release record in bbws-deployments-sit:")
        for p in rec.get("phases", []):
            say(f"   phase {p['index']}: {p['service']} {p['outcome']}, {p['to_version']} "
                f"({p['execution_arn'].rsplit(':', 1)[1]})")
        say(f"   ended on: {json.dumps(rec.get('ended_on'))}")
    return d["status"] == "SUCCEEDED"


def rollback(sit) -> bool:
    fn = "bbws-tenant-instance-management-sit"
    lam = sit.client("lambda")
    before = lam.get_alias(FunctionName=fn, Name="latest-sit")["FunctionVersion"]
    event = json.loads((ROOT / "events" / "rollback-sit-newest-backup.json").read_text())
    event["service"] = "tenant-instance-management"
    event["reason"] = "Demo: tenant API errors after the release"
    name = f"tenant-instance-management-rollback-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    arn = f"arn:aws:states:af-south-1:{ACCOUNTS['sit']}:stateMachine:bbws-rollback-sit"
    say(f"\n== on call: aws stepfunctions start-execution --state-machine-arn {arn} --name {name} --input "
        f"'{json.dumps(event)}'   (no target_version: the newest backup)")
    run = sit.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(event))
    d = follow("sit", run["executionArn"])
    say(f"== rollback {d['status']}" + (f": {d.get('error')} — {d.get('cause')}" if d["status"] != "SUCCEEDED" else ""))
    after = lam.get_alias(FunctionName=fn, Name="latest-sit")["FunctionVersion"]
    say(f"   {fn}:latest-sit is version {after} (was {before})")
    for a in lam.list_aliases(FunctionName=fn)["Aliases"]:
        if a["Name"].startswith("incident-") and run["executionArn"] in a.get("Description", ""):
            say(f"   {a['Name']} -> version {a['FunctionVersion']} (kept for the post-mortem)")
    return d["status"] == "SUCCEEDED" and after != before


if __name__ == "__main__":
    sys.exit(main())
