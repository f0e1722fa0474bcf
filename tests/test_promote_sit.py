"""DEV -> SIT on the local estate through the real Lambdas: the walking skeleton of RB-003 §3."""
from __future__ import annotations

import json

import pipeline_helpers as ph

TENANT_DEV, TENANT_SIT = "bbws-tenant-instance-management-dev", "bbws-tenant-instance-management-sit"
EVENT = ph.sample_input("promote-dev-to-sit")


def test_dev_to_sit_promotes_the_tenant_service(preflight_config):
    preflight_config("sit", monitor={"sit_seconds": 2, "poll_seconds": 1})
    sha = ph.record_gates("dev", TENANT_DEV, "latest-dev")
    dev_version = ph.alias_version("dev", TENANT_DEV, "latest-dev")
    # From SIT's baseline build: an earlier test may have promoted DEV's build already (nothing to deploy).
    ph.reset_service("sit", "tenant-instance-management")
    before = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    arn = ph.start("sit", EVENT)
    ph.approve_with_task_token("sit", arn, [("dev-lead@bbws.io", "dev_lead")])
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))

    after = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    assert after != before
    assert ph.code_sha("sit", TENANT_SIT, "latest-sit") == sha, "SIT runs DEV's package, byte for byte"
    aliases = ph.session("sit").client("lambda").list_aliases(FunctionName=TENANT_SIT)["Aliases"]
    backups = [a for a in aliases if a["Name"].startswith("backup-") and arn in a.get("Description", "")]
    assert len(backups) == 1 and backups[0]["FunctionVersion"] == before
    states = ph.states_entered("sit", arn)
    for step in ("Validate input", "Lock promotion", "Preflight checks", "Request approval",
                 "Re-check maintenance window", "Create backup alias", "Deploy", "Verify health",
                 "Check health, errors and throttles", "Record success", "Release lock"):
        assert step in states, f"{step} missing from {states}"
    [record] = ph.records_of("sit", arn)
    assert record["outcome"] == "succeeded" and record["action"] == "promote"
    assert record["environment"] == "sit" and record["service"] == "tenant-instance-management"
    assert record["from_version"] == {f"af-south-1/{TENANT_SIT}": before}
    assert record["to_version"] == {f"af-south-1/{TENANT_SIT}": after}
    assert record["code_sha256"][0]["code_sha256"] == sha
    assert record["code_sha256"][0]["version"] == dev_version
    assert record["actor"] == "jane@bbws.io"
    assert record["approvers"][0]["person"] == "dev-lead@bbws.io"
    assert ph.lock_of("sit", "tenant-instance-management") is None, "the lock is released"
    output = json.loads(d["output"])
    assert "task_token" not in json.dumps(output)
    assert output["promotion"]["rules"]["stability"]["lookback_seconds"] == 3600


def test_bad_input_is_refused_before_anything_changes():
    before = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    arn = ph.start("sit", {"service": "tenant-instance-management", "source_env": "dev", "target_env": "prod",
                           "requested_by": "not-an-email", "reason": " "})
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "FAILED" and d["error"] == "Bbws.InvalidInput"
    for words in ("target_env", "requested_by", "reason"):
        assert words in d["cause"], d["cause"]
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == before
    assert ph.records_of("sit", arn) == [] and ph.lock_of("sit", "tenant-instance-management") is None
