"""Automatic rollback (RB-003 §6.3.1, §6.3.2) on the local estate: a broken build is promoted for real,
fails the way it would in production, and `latest-<target>` goes back to the backup version while the bad
version keeps an `incident-*` alias. Each ends FAILED with Bbws.RolledBack, a record and no lock.

Errors and throttles are made in PROD (the monitor's own lookback is 2 minutes on the new version) so no
promotion's source environment carries them afterwards; the unhealthy-outside-dev build makes no errors at all.
"""
from __future__ import annotations

import json
import re

import pipeline_helpers as ph
from evidence_tables import ROLLED_BACK

TENANT = "tenant-instance-management"
TENANT_DEV, TENANT_SIT, TENANT_PROD = (f"bbws-tenant-instance-management-{e}" for e in ("dev", "sit", "prod"))
TO_SIT = ph.sample_input("promote-dev-to-sit")
TO_PROD = ph.sample_input("promote-sit-to-prod")


def _rolled_back(env: str, arn: str, before: dict, bad: dict) -> dict:
    """The execution rolled back: latest-<env> is on the backup version everywhere, each bad version has
    an incident alias, the record says rolled_back, the lock is released. Returns the record."""
    d = ph.wait_execution(env, arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.RolledBack"), d.get("cause")
    assert ph.latest_versions(env, TENANT) == before, "latest is back on the backup versions"
    for (region, fn), version in bad.items():
        [backup] = ph.aliases_named(env, fn, "backup-", region, described_with=arn)
        assert backup["FunctionVersion"] == before[(region, fn)]
        [incident] = ph.aliases_named(env, fn, "incident-", region, described_with=arn)
        assert incident["FunctionVersion"] == version, f"the bad version keeps a name in {region}"
        assert f"{fn} {before[(region, fn)]} in {region}" in d["cause"]
        assert f"{fn} {version} in {region}" in d["cause"]
    assert "Roll back" in ph.states_entered(env, arn) and "Record rollback" in ph.states_entered(env, arn)
    [record] = ph.records_of(env, arn)
    assert (record["outcome"], record["error"], record["cause"]) == ("rolled_back", "Bbws.RolledBack", d["cause"])
    assert record["to_version"] == {f"{r}/{fn}": v for (r, fn), v in bad.items()}
    assert record["rollback"]["incident_alias"].startswith("incident-")
    assert ph.lock_of(env, TENANT) is None
    body = ph.wait_notification(arn, f"Rolled back: {TENANT} to {env.upper()}")
    assert f"Error: Bbws.RolledBack\nCause: {d['cause']}" in body
    return d


def _deployed_versions(env: str, arn: str) -> dict:
    ph.wait_state_entered(env, arn, "Verify health")
    deploy = ph.state_output(env, arn, "Deploy")["deploy"]
    return {(f["region"], f["function"]): f["version"] for f in deploy["functions"]}


def test_a_build_whose_health_check_fails_is_rolled_back(preflight_config, release):
    """A build healthy in DEV but not beyond it, its gates recorded, promoted to SIT: /health answers
    500 there."""
    preflight_config("sit", monitor={"sit_seconds": 30, "poll_seconds": 5})
    release("dev", TENANT, "unhealthy-outside-dev", "1.4.3")
    ph.record_service_gates("dev", TENANT)
    before = ph.latest_versions("sit", TENANT)
    arn = ph.start("sit", TO_SIT)
    ph.approve_with_task_token("sit", arn, [ph.DEV_LEAD])
    bad = _deployed_versions("sit", arn)
    d = _rolled_back("sit", arn, before, bad)
    assert d["cause"].startswith("verification failed right after the deploy (1 of 2 checks): "
                                 f"{TENANT_SIT}:latest-sit /health in af-south-1: statusCode 500 (expected 200)")
    assert "Start monitoring" not in ph.states_entered("sit", arn), "rolled back at once, no monitoring"
    verify = ph.state_output("sit", arn, "Verify health")["verify"]
    assert [c["passed"] for c in verify["checks"]] == [False, True], "the smoke test itself passed"
    ph.assert_verdicts(ph.evidence_verdicts("sit", arn), ROLLED_BACK)


def test_a_build_failing_its_smoke_tests_is_rolled_back(preflight_config, release):
    """The errors-under-traffic build answers /health but fails GET /tenants, the catalog's smoke test,
    in both PROD regions (read-only requests only)."""
    preflight_config("prod", maintenance_windows=ph.windows_all_week(),
                     monitor={"prod_seconds": 30, "poll_seconds": 5})
    release("sit", TENANT, "errors-under-traffic", "1.4.3")
    ph.record_service_gates("sit", TENANT)
    before = ph.latest_versions("prod", TENANT)
    arn = ph.start("prod", TO_PROD)
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    bad = _deployed_versions("prod", arn)
    d = _rolled_back("prod", arn, before, bad)
    assert d["cause"].startswith("verification failed right after the deploy (2 of 4 checks)"), d["cause"]
    for region in ph.regions_of("prod"):
        assert (f"smoke test GET /tenants on {TENANT_PROD}:latest-prod in {region}: function error "
                "ServiceFault (expected 200)") in d["cause"]


def test_an_error_spike_during_monitoring_rolls_back(preflight_config, release):
    """The errors-under-traffic build, with a deployed catalog that has no smoke test for the service (so
    it reaches the monitor), and live traffic on latest-prod while it is watched: more than 5 errors in
    2 minutes on the new version."""
    preflight_config("prod", maintenance_windows=ph.windows_all_week(),
                     monitor={"prod_seconds": 60, "poll_seconds": 4},
                     catalog=ph.catalog_with(TENANT, smoke_tests=[]))
    release("sit", TENANT, "errors-under-traffic", "1.4.3")
    ph.record_service_gates("sit", TENANT)
    before = ph.latest_versions("prod", TENANT)
    arn = ph.start("prod", TO_PROD)
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    bad = _deployed_versions("prod", arn)
    ph.wait_state_entered("prod", arn, "Wait before next check")
    report = ph.traffic.send_traffic("prod", TENANT, requests=8, estate=ph.ESTATE)
    assert report.total.function_errors == 8
    d = _rolled_back("prod", arn, before, bad)
    version = bad[("af-south-1", TENANT_PROD)]
    m = re.search(rf"{TENANT_PROD} version {version} in af-south-1: errors in the last 2 min: (\d+) "
                  r"\(limit: at most 5\)", d["cause"])
    assert m and int(m.group(1)) >= 8, d["cause"]
    assert d["cause"].startswith(f"monitor poll "), d["cause"]
    assert ph.state_output("prod", arn, "Verify health")["verify"]["healthy"] is True


def test_a_throttle_spike_during_monitoring_rolls_back(preflight_config, release, reserved_concurrency):
    """A healthy build; while it is watched, PROD's tenant function has no concurrency left (reserved
    concurrency 0) and 12 requests to latest-prod are throttled: more than 10 in 2 minutes."""
    preflight_config("prod", maintenance_windows=ph.windows_all_week(),
                     monitor={"prod_seconds": 60, "poll_seconds": 4})
    release("sit", TENANT, "healthy", "1.4.2")
    ph.record_service_gates("sit", TENANT)
    before = ph.latest_versions("prod", TENANT)
    arn = ph.start("prod", TO_PROD)
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    bad = _deployed_versions("prod", arn)
    ph.wait_state_entered("prod", arn, "Wait before next check")
    reserved_concurrency("prod", TENANT_PROD, 0)
    assert ph.invoke_until_throttled("prod", TENANT_PROD, "latest-prod", 12) == 12
    ph.set_reserved_concurrency("prod", TENANT_PROD, None)
    d = _rolled_back("prod", arn, before, bad)
    version = bad[("af-south-1", TENANT_PROD)]
    m = re.search(rf"{TENANT_PROD} version {version} in af-south-1: throttles in the last 2 min: (\d+) "
                  r"\(limit: at most 10\)", d["cause"])
    assert m and int(m.group(1)) >= 12, d["cause"]
    assert "errors in the last" not in d["cause"]


def test_after_a_rollback_the_unqualified_function_runs_the_good_build_again(preflight_config, release):
    """Issue 11 (RB-003 §3.3's check has no qualifier): the deploy published the broken build, which made
    it the function's `$LATEST` too. After the automatic rollback, `$LATEST` has the package of the
    version `latest-sit` is back on again (no version published for it), so an unqualified invoke answers
    as the good build does."""
    preflight_config("sit", monitor={"sit_seconds": 30, "poll_seconds": 5})
    release("dev", TENANT, "unhealthy-outside-dev", "1.4.3")
    ph.record_service_gates("dev", TENANT)
    before = ph.latest_versions("sit", TENANT)
    arn = ph.start("sit", TO_SIT)
    ph.approve_with_task_token("sit", arn, [ph.DEV_LEAD])
    bad = _deployed_versions("sit", arn)
    lam = ph.client("sit", "lambda")
    published = lambda: sorted(v["Version"] for v in lam.list_versions_by_function(  # noqa: E731
        FunctionName=TENANT_SIT, MaxItems=1000)["Versions"])
    versions_deployed = published()
    _rolled_back("sit", arn, before, bad)
    good = before[("af-south-1", TENANT_SIT)]
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == good
    latest_sha = lam.get_function(FunctionName=TENANT_SIT)["Configuration"]["CodeSha256"]
    assert latest_sha == ph.code_sha("sit", TENANT_SIT, good), "$LATEST has the good version's package"
    assert latest_sha != ph.code_sha("sit", TENANT_SIT, bad[("af-south-1", TENANT_SIT)])
    out = lam.invoke(FunctionName=TENANT_SIT, Payload=json.dumps(
        {"httpMethod": "GET", "path": "/health", "headers": {}}).encode())
    assert "FunctionError" not in out, out
    assert json.loads(out["Payload"].read())["statusCode"] == 200, "the unqualified function is healthy"
    [restored] = ph.state_output("sit", arn, "Roll back")["rollback"]["functions"]
    assert (restored["latest"]["action"], restored["latest"]["version"]) == ("restore", good)
    assert published() == versions_deployed, "no version was published for the restore"
