"""`make demo-release`: a short coordinated release into SIT and a manual rollback, on the local estate.

1. A release of the ECS event handler and the tenant service (listed out of order) into SIT: the
   preflight of both, one approval by the Dev Lead through the email link, then the tenant service
   (phase 1) and the event handler (phase 2) as child promotions, each followed by its health wait, and
   the cross-service verification. The demo deploys short waits through the deployed configuration
   (RB-003's are 5 minutes per phase) and puts RB-003's back at the end.
   Phase 4 (RB-003 §5.2.1, last to avoid race conditions): tenant-001's Terraform at the tenants
   repository's "change" commit, planned in the account's CodeBuild project before the approval (the
   approval email and page show the plan beside the packages), applied exactly as approved after the
   services, and its ECS service tenant-001-wordpress verified.
2. The on-call engineer rolls the tenant service in SIT back to its newest backup (the one the release's
   phase took) with bbws-rollback-sit: incident alias, latest-sit moved, health, record.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

from demo import CI_RUN, ended, follow, pc, say, stamp, start

SERVICES = ["ecs-event-handler", "tenant-instance-management"]


def phase_started(details: dict[str, Any]) -> str | None:
    """The line the release's phases add: which service, which child execution."""
    if details["name"] != "Promote the next service":
        return None
    phase = json.loads(details["input"])["progress"]["next"]
    return (f"      phase {phase['index']}: {phase['service']}, child execution "
            f"bbws-promote-sit:{phase['execution_name']}")


def main() -> int:
    started = time.monotonic()
    # The integration tests drive DEV's errors and throttles up on purpose; within the hour after
    # `make test` RB-003's limits would (rightly) refuse these sources.
    short = {"catalog": [{**s, "health_wait_seconds": 10} for s in pc.RUNBOOK_CONFIG["catalog"]],
             "monitor": {"sit_seconds": 4, "poll_seconds": 2},
             "stability": {"dev_to_sit": {"errors": {"fewer_than": 1000}, "throttles": {"at_most": 1000}}}}
    say("== the demo deploys 10 s health waits, a 4 s SIT monitor and DEV error/throttle limits of 1000 through "
        "the deployed configuration (RB-003: 5 minutes per phase, 30 s, fewer than 10 errors and no throttle; "
        "the integration tests drive DEV's figures up on purpose)")
    previous = pc.set_config("sit", short)
    tenant_previous = pc.set_config("sit", {"tenants": {"verify_timeout_seconds": 60, "verify_poll_seconds": 2}},
                                    function="tenant")
    try:
        for service in ("tenant-instance-management", "ecs-event-handler"):
            sha = pc.record_service_gates("dev", service, ci_run=CI_RUN)
            say(f"== DEV CI recorded 5 quality gates of {service} (CodeSha256 {sha})")
        release_ok = release()
        rollback_ok = rollback()
    finally:
        pc.restore_config("sit", previous)
        pc.restore_config("sit", tenant_previous, function="tenant")
    say(f"== done in {time.monotonic() - started:.1f} s")
    return 0 if release_ok and rollback_ok else 1


def release() -> bool:
    event = {"target_env": "sit", "services": SERVICES, "requested_by": "lead@bbws.io",
             "reason": "Release 2026.12 (demo)", "tenants": ["tenant-001"],
             "tenants_commit": pc.tenant_commits()["change"]}
    arn = start("sit", f"release-sit-{stamp()}", event, f"'{json.dumps(event)}'", kind="release", lead="\n==",
                note="   (services listed out of order)")
    d = follow("sit", arn, also=phase_started)
    ended("release", d)
    for rec in pc.records_of("sit", arn):
        if rec.get("action") == "tenant":
            say(f"== phase 4 record of {rec['tenant_id']}: commit {rec['commit'][:12]}, plan SHA-256 "
                f"{rec.get('tfplan_sha256')}, applied {rec.get('applied')}, {rec.get('verification')}")
            continue
        say("== release record in bbws-deployments-sit:")
        for p in rec.get("phases", []):
            say(f"   phase {p['index']}: {p['service']} {p['outcome']}, {p['to_version']} "
                f"({p['execution_arn'].rsplit(':', 1)[1]})")
        say(f"   ended on: {json.dumps(rec.get('ended_on'))}")
    service = pc.ecs_service("sit", "tenant-001")
    say(f"   aws ecs describe-services --cluster bbws-cluster-sit --services tenant-001-wordpress: "
        f"{service.get('status')}, desired {service.get('desiredCount')}, running {service.get('runningCount')}")
    return d["status"] == "SUCCEEDED"


def rollback() -> bool:
    fn = "bbws-tenant-instance-management-sit"
    before = pc.alias_version("sit", fn, "latest-sit")
    event = pc.sample_input("rollback-sit-newest-backup")
    event["service"] = "tenant-instance-management"
    event["reason"] = "Demo: tenant API errors after the release"
    arn = start("sit", f"tenant-instance-management-rollback-{stamp()}", event, f"'{json.dumps(event)}'",
                kind="rollback", lead="\n== on call:", note="   (no target_version: the newest backup)")
    d = follow("sit", arn)
    ended("rollback", d)
    after = pc.alias_version("sit", fn, "latest-sit")
    say(f"   {fn}:latest-sit is version {after} (was {before})")
    for a in pc.aliases_named("sit", fn, "incident-", described_with=arn):
        say(f"   {a['Name']} -> version {a['FunctionVersion']} (kept for the post-mortem)")
    return d["status"] == "SUCCEEDED" and after != before


if __name__ == "__main__":
    sys.exit(main())
