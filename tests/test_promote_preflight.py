"""Each preflight failure of RB-003 §2.1 / §3.1.1 on the local estate: DEV -> SIT refused before anyone is
asked to approve, nothing deployed, the lock released and the refusal recorded.

The errors and throttles are real: the source function errors under traffic or is throttled, and the
preflight reads AWS/Lambda Errors and Throttles of the last hour from CloudWatch. Those figures stay in
CloudWatch for the hour, so these two tests use sources no other test promotes from DEV: the ECS event
handler (errors) and the site-management service (throttles). Within that hour a DEV -> SIT promotion of
either on the same estate is refused too, as it would be on AWS.
"""
from __future__ import annotations

import re

import pipeline_helpers as ph

TENANT = "tenant-instance-management"
TENANT_DEV, TENANT_SIT = "bbws-tenant-instance-management-dev", "bbws-tenant-instance-management-sit"
ECS_DEV = "bbws-ecs-event-handler-dev"
PLUGINS_DEV = "dev-bbws-plugins-service"


def _request(service: str, **extra) -> dict:
    return {"service": service, "source_env": "dev", "target_env": "sit", "requested_by": "jane@bbws.io",
            "reason": "Release 1.4.3", **extra}


def _refused_before_approval(arn: str, service: str, before: dict) -> dict:
    """The execution failed with Bbws.PreflightFailed and nothing changed in SIT; the record."""
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PreflightFailed"), d.get("cause")
    states = ph.states_entered("sit", arn)
    assert "Preflight checks" in states and "Request approval" not in states, states
    assert ph.pending_approval("sit", arn) is None, "nobody is asked to approve"
    assert ph.latest_versions("sit", service) == before, "nothing deployed"
    assert ph.lock_of("sit", service) is None, "the lock is released"
    [record] = ph.records_of("sit", arn)
    assert (record["outcome"], record["error"]) == ("failed", "Bbws.PreflightFailed")
    assert record["cause"] == d["cause"] and d["cause"].endswith("; nothing was deployed")
    return d


def test_too_many_errors_in_the_source_fail_the_preflight(release):
    """An errors-under-traffic build in DEV, and DEV's ordinary traffic erroring on it."""
    before = ph.latest_versions("sit", "ecs-event-handler")
    release("dev", "ecs-event-handler", "errors-under-traffic", "1.4.3")
    ph.record_service_gates("dev", "ecs-event-handler")
    already = ph.metric_sum("dev", ECS_DEV, "Errors")
    report = ph.traffic.send_traffic("dev", "ecs-event-handler", requests=12, estate=ph.ESTATE)
    assert report.total.function_errors == 12
    ph.wait_metric("dev", ECS_DEV, "Errors", already + 12)

    arn = ph.start("sit", _request("ecs-event-handler"))
    d = _refused_before_approval(arn, "ecs-event-handler", before)
    m = re.search(rf"{ECS_DEV} errors: errors in the last 1 h: (\d+) \(limit: fewer than 10\)", d["cause"])
    assert m and int(m.group(1)) >= 12, d["cause"]
    assert d["cause"].startswith("1 of 5 preflight checks failed for ecs-event-handler DEV -> SIT (latest-dev)")


def test_throttles_in_the_source_fail_the_preflight(release, reserved_concurrency):
    """Reserved concurrency 0 on one of site-management's DEV functions, and traffic it throttles."""
    before = ph.latest_versions("sit", "site-management")
    ph.record_service_gates("dev", "site-management")
    already = ph.metric_sum("dev", PLUGINS_DEV, "Throttles")
    reserved_concurrency("dev", PLUGINS_DEV, 0)
    assert ph.invoke_until_throttled("dev", PLUGINS_DEV, "latest-dev", 3) == 3
    ph.set_reserved_concurrency("dev", PLUGINS_DEV, None)
    ph.wait_metric("dev", PLUGINS_DEV, "Throttles", already + 3)

    arn = ph.start("sit", _request("site-management"))
    d = _refused_before_approval(arn, "site-management", before)
    m = re.search(rf"{PLUGINS_DEV} throttles: throttles in the last 1 h: (\d+) \(limit: none allowed\)", d["cause"])
    assert m and int(m.group(1)) >= 3, d["cause"]
    assert d["cause"].startswith("1 of 20 preflight checks failed for site-management"), d["cause"]


def test_a_missing_quality_gate_fails_the_preflight():
    """Version 1 of DEV (build 1.4.1) named by number; CI recorded four of the five gates for it."""
    versions = ph.client("dev", "lambda").list_versions_by_function(FunctionName=TENANT_DEV)["Versions"]
    # The newest: an estate whose service fixtures were rebuilt since it was seeded keeps the older too.
    v1 = max((v for v in versions if v["Description"].startswith("build 1.4.1 ")), key=lambda v: int(v["Version"]))
    sha = v1["CodeSha256"]
    ph.record_gates("dev", TENANT_DEV, v1["Version"], [g for g in ph.GATES if g[0] != "security_scan"])
    ph.delete_gate("dev", sha, "security_scan")
    before = ph.latest_versions("sit", TENANT)

    arn = ph.start("sit", _request(TENANT, version=v1["Version"]))
    d = _refused_before_approval(arn, TENANT, before)
    assert (f"{TENANT_DEV} quality gates: quality gates not met: security_scan: no result recorded "
            f"for CodeSha256 {sha} in bbws-quality-gates-dev") in d["cause"], d["cause"]
    assert f"({v1['Version']})" in d["cause"] and d["cause"].startswith("1 of 5 preflight checks failed")


def test_a_dev_version_whose_health_check_fails_cannot_go_to_sit(release):
    """RB-003 §7.1 "DEV Lambda health check returns 200": DEV's team shipped a build whose /health answers
    500; its gates are recorded. The preflight invokes that version through the source reader role."""
    release("dev", TENANT, "broken-health", "1.4.3")
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    version = ph.alias_version("dev", TENANT_DEV, "latest-dev")
    before = ph.latest_versions("sit", TENANT)

    arn = ph.start("sit", _request(TENANT))
    d = _refused_before_approval(arn, TENANT, before)
    assert (f"{TENANT_DEV} /health: {TENANT_DEV}:{version} answered GET /health with 500, not 200: a version "
            f"that is not healthy in DEV is not promoted; fix and redeploy it in DEV first") in d["cause"], d["cause"]
    assert d["cause"].startswith("1 of 5 preflight checks failed"), d["cause"]


def test_a_source_function_that_is_not_there_fails_the_preflight(preflight_config):
    """Readiness is checked per source function: a deployed catalog naming a second tenant function that
    was never deployed to DEV."""
    catalog = ph.catalog_with(TENANT, functions=["bbws-tenant-instance-management-{env}",
                                                 "bbws-tenant-instance-worker-{env}"])
    preflight_config("sit", catalog=catalog)
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    before = ph.latest_versions("sit", TENANT)

    # DEV's Terraform, given the same catalog, would grant its source reader the new function too: without
    # that grant AWS answers AccessDenied before it looks for the function.
    with ph.reader_also_reads("dev", "bbws-tenant-instance-worker-dev"):
        arn = ph.start("sit", _request(TENANT))
        d = _refused_before_approval(arn, TENANT, before)
    assert ("bbws-tenant-instance-worker-dev exists: bbws-tenant-instance-worker-dev:latest-dev not found in "
            "DEV") in d["cause"], d["cause"]
    assert d["cause"].startswith("1 of 6 preflight checks failed"), d["cause"]
    promotion = ph.state_output("sit", arn, "Validate input")["promotion"]
    assert [f["source"] for f in promotion["functions"]] == [TENANT_DEV, "bbws-tenant-instance-worker-dev"]


def test_an_unknown_version_fails_the_preflight():
    before = ph.latest_versions("sit", TENANT)
    arn = ph.start("sit", _request(TENANT, version="999"))
    d = _refused_before_approval(arn, TENANT, before)
    assert f"{TENANT_DEV}:999 not found in DEV: give a published version number or an alias" in d["cause"]

    arn = ph.start("sit", _request(TENANT, version="latest-qa"))
    d = _refused_before_approval(arn, TENANT, before)
    assert f"{TENANT_DEV}:latest-qa not found in DEV" in d["cause"], d["cause"]


def test_an_inactive_source_function_fails_the_preflight(function_state):
    """Lambda deactivates a function idle for weeks (State Inactive); the estate sets that state as AWS
    would (local/bbws_local/faults.py). Pending, Failed and InProgress are worded by bbws-domain's
    readiness rule and covered by its unit tests."""
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    before = ph.latest_versions("sit", TENANT)
    function_state("dev", TENANT_DEV, "Inactive")

    arn = ph.start("sit", _request(TENANT))
    d = _refused_before_approval(arn, TENANT, before)
    version = ph.alias_version("dev", TENANT_DEV, "latest-dev")
    assert (f"{TENANT_DEV} is ready: version {version}: State Inactive, LastUpdateStatus Successful: Lambda "
            "deactivated the idle function; invoke or update it in DEV and wait until it is Active, then "
            "start the promotion again") in d["cause"], d["cause"]
    assert d["cause"].startswith("1 of "), d["cause"]
