"""SIT -> PROD on the local estate (RB-003 §4): inside a maintenance window, outside one, and the
emergency path. Whether "now" is inside a window is decided only by the deployed configuration."""
from __future__ import annotations

import pipeline_helpers as ph
from evidence_tables import PROD_PROMOTED

SERVICE = "tenant-instance-management"
TENANT_SIT, TENANT_PROD = "bbws-tenant-instance-management-sit", "bbws-tenant-instance-management-prod"
EVENT = ph.sample_input("promote-sit-to-prod")
FAST_MONITOR = {"prod_seconds": 2, "poll_seconds": 1}


def _sit_release(release) -> str:
    """PROD runs its baseline build and SIT a newer one, with the gates its CI recorded; SIT's
    CodeSha256."""
    ph.reset_service("prod", SERVICE)
    release("sit", SERVICE, "healthy", "1.4.2")
    return ph.record_service_gates("sit", SERVICE)


def test_sit_to_prod_inside_a_window_deploys_both_regions(preflight_config, release):
    preflight_config("prod", maintenance_windows=ph.windows_all_week(), monitor=FAST_MONITOR)
    sha = _sit_release(release)
    sit_version = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    before = ph.latest_versions("prod", SERVICE)
    assert ph.code_sha("prod", TENANT_PROD, "latest-prod") != sha, "PROD runs an older build"

    arn = ph.start("prod", EVENT)
    request = ph.approval_request("prod", arn)
    assert request["required"] == {"all_of": ["tech_lead", "operations_lead"]}
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)

    after = ph.latest_versions("prod", SERVICE)
    for region in ("af-south-1", "eu-west-1"):
        assert after[(region, TENANT_PROD)] != before[(region, TENANT_PROD)], region
        assert ph.code_sha("prod", TENANT_PROD, "latest-prod", region) == sha, f"{region} runs SIT's package"
        [backup] = ph.aliases_named("prod", TENANT_PROD, "backup-", region, described_with=arn)
        assert backup["FunctionVersion"] == before[(region, TENANT_PROD)]

    preflight = ph.state_output("prod", arn, "Preflight checks")["preflight"]
    checks = {c["check"]: c for c in preflight["checks"]}
    ready = checks[f"{TENANT_SIT} is ready"]
    assert ready["passed"] and "State Active, LastUpdateStatus Successful" in ready["detail"]
    assert checks[f"{TENANT_SIT} errors"]["detail"] == "errors in the last 24 h: 0 (limit: fewer than 5)"
    health = checks[f"{TENANT_SIT} /health"]
    assert health == {"check": f"{TENANT_SIT} /health", "passed": True,
                      "detail": f"{TENANT_SIT}:{sit_version} answered GET /health with 200"}, health
    assert preflight["window"]["outcome"] == "in_window" and preflight["emergency"] is False
    verify = ph.state_output("prod", arn, "Verify health")["verify"]
    smoke = [c for c in verify["checks"] if c["check"].startswith("smoke test GET /tenants")]
    assert len(smoke) == 2 and all(c["passed"] for c in smoke), verify["checks"]

    [record] = ph.records_of("prod", arn)
    assert record["outcome"] == "succeeded" and record["environment"] == "prod"
    assert record["change_request"] == "CHG-1234"
    assert record["from_version"] == {f"{r}/{TENANT_PROD}": before[(r, TENANT_PROD)] for r in ph.regions_of("prod")}
    assert record["to_version"] == {f"{r}/{TENANT_PROD}": after[(r, TENANT_PROD)] for r in ph.regions_of("prod")}
    assert record["code_sha256"] == [{"function": TENANT_SIT, "version": sit_version, "code_sha256": sha,
                                      "target": TENANT_PROD}]
    assert [(a["person"], a["role"]) for a in record["approvers"]] == [ph.TECH_LEAD, ph.OPS_LEAD]
    assert ph.lock_of("prod", SERVICE) is None
    assert "task_token" not in d["output"]
    started = ph.wait_notification(arn, "Promotion started: tenant-instance-management SIT -> PROD")
    assert "Change request: CHG-1234" in started and "Requested by: jane@bbws.io" in started
    done = ph.wait_notification(arn, "Promoted: tenant-instance-management to PROD")
    assert f"Source versions: {TENANT_SIT} {sit_version} (CodeSha256 {sha})" in done
    assert f'"af-south-1/{TENANT_PROD}":"{after[("af-south-1", TENANT_PROD)]}"' in done
    ph.assert_verdicts(ph.evidence_verdicts("prod", arn), PROD_PROMOTED)


def test_prod_outside_a_window_is_refused_with_the_next_window(preflight_config, release):
    windows, opens = ph.windows_not_today()
    preflight_config("prod", maintenance_windows=windows, monitor=FAST_MONITOR)
    _sit_release(release)
    before = ph.latest_versions("prod", SERVICE)

    arn = ph.start("prod", EVENT)
    d = ph.wait_execution("prod", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.OutsideMaintenanceWindow"), d.get("cause")
    assert f"the next window opens {opens:%a %Y-%m-%d} 00:00 UTC" in d["cause"], d["cause"]
    assert "PROD deploys only inside a maintenance window" in d["cause"]
    assert "emergency" in d["cause"] and "tech_lead, cto" in d["cause"]
    assert "Request approval" not in ph.states_entered("prod", arn), "nobody is asked to approve"
    assert ph.pending_approval("prod", arn) is None
    assert ph.latest_versions("prod", SERVICE) == before, "nothing deployed"
    [record] = ph.records_of("prod", arn)
    assert record["outcome"] == "failed" and record["error"] == "Bbws.OutsideMaintenanceWindow"
    assert ph.lock_of("prod", SERVICE) is None


def test_emergency_outside_a_window_needs_tech_lead_and_cto(preflight_config, release):
    windows, _ = ph.windows_not_today()
    preflight_config("prod", maintenance_windows=windows, monitor=FAST_MONITOR)
    sha = _sit_release(release)
    before = ph.latest_versions("prod", SERVICE)
    emergency = ph.sample_input("promote-sit-to-prod-emergency")
    assert emergency["emergency"]["incident"].startswith("INC-")

    arn = ph.start("prod", emergency)
    request = ph.approval_request("prod", arn)
    assert request["required"] == {"all_of": ["tech_lead", "cto"]}, "RB-003 §4.1.2"
    assert request["emergency"] is True
    preflight = ph.state_output("prod", arn, "Preflight checks")["preflight"]
    assert preflight["emergency"] is True and preflight["window"]["outcome"] == "emergency_override"
    assert preflight["approval"] == {"all_of": ["tech_lead", "cto"]}

    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.CTO])
    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.state_output("prod", arn, "Re-check maintenance window")["window"]["outcome"] == "emergency_override"
    for region in ph.regions_of("prod"):
        assert ph.code_sha("prod", TENANT_PROD, "latest-prod", region) == sha
    [record] = ph.records_of("prod", arn)
    assert record["outcome"] == "succeeded" and record["incident"] == emergency["emergency"]["incident"]
    assert [(a["person"], a["role"]) for a in record["approvers"]] == [ph.TECH_LEAD, ph.CTO]
    assert record["from_version"] == {f"{r}/{TENANT_PROD}": before[(r, TENANT_PROD)] for r in ph.regions_of("prod")}
    assert ph.lock_of("prod", SERVICE) is None


def test_the_event_handler_is_verified_with_its_eventbridge_rules(preflight_config, release):
    """RB-003 §4.3.3: after the deploy, the ECS event handler's rules exist and are enabled, in both
    PROD regions, next to its /health and its read-only smoke test."""
    preflight_config("prod", maintenance_windows=ph.windows_all_week(), monitor=FAST_MONITOR,
                     stability=ph.HANDLER_SIT_ERRORS_ASIDE)
    ph.reset_service("prod", "ecs-event-handler")
    release("sit", "ecs-event-handler", "healthy", "1.4.2")
    sha = ph.record_service_gates("sit", "ecs-event-handler")
    arn = ph.start("prod", {**EVENT, "service": "ecs-event-handler", "reason": "ECS event handler 1.4.2"})
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    checks = {c["check"]: c for c in ph.state_output("prod", arn, "Verify health")["verify"]["checks"]}
    for region in ph.regions_of("prod"):
        rules = checks[f"EventBridge rules 'ecs-event-handler-prod' in {region}"]
        assert rules["passed"], rules
        assert "bbws-ecs-event-handler-prod-task-state" in rules["detail"]
        assert "bbws-ecs-event-handler-prod-service-action" in rules["detail"]
        assert checks[f"smoke test GET /events on bbws-ecs-event-handler-prod:latest-prod in {region}"]["passed"]
        assert ph.code_sha("prod", "bbws-ecs-event-handler-prod", "latest-prod", region) == sha
    assert ph.lock_of("prod", "ecs-event-handler") is None
    [record] = ph.records_of("prod", arn)
    assert record["outcome"] == "succeeded" and record["service"] == "ecs-event-handler"
