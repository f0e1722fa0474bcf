"""Site management's four functions move together or not at all (issue 4, step 8).

Two ways one of the four fails, each with a different amount already done:

1. Before any alias moved. the deploy copies each function's package from SIT by the version
number the preflight resolved. While the promotion waits for its approvers, SIT's plugins service is
redeployed (its `latest-sit` goes back to the previous build) and the version that was approved is
deleted, as a version clean-up would do. After the approval the deploy copies and publishes the sites and
templates services in both PROD regions, then cannot copy the plugins service's package: it fails with
Bbws.DeployFailed before any alias has moved, so all four functions keep serving their old versions in
both regions.

2. After seven of the eight aliases moved. Lambda answers UpdateAlias with ResourceConflictException
while another update of the function is in progress; moto never does, so the estate arms that answer
for the last alias the deploy moves (the plugins service in eu-west-1, local/bbws_local/faults.py).
The seven aliases already moved go back to the versions they served before.
"""
from __future__ import annotations

import pipeline_helpers as ph

SERVICE = "site-management"
PLUGINS_SIT = "sit-bbws-plugins-service"
REQUEST = {"service": SERVICE, "source_env": "sit", "target_env": "prod", "requested_by": "jane@bbws.io",
           "reason": "Site management 1.4.6", "change_request": "CHG-2046"}


def test_one_of_the_four_functions_failing_leaves_all_four_on_their_old_versions(preflight_config, release):
    preflight_config("prod", maintenance_windows=ph.windows_all_week(),
                     monitor={"prod_seconds": 2, "poll_seconds": 1})
    sit_before = release("sit", SERVICE, "healthy", "1.4.6")
    ph.record_service_gates("sit", SERVICE)
    before = ph.latest_versions("prod", SERVICE)
    assert len(before) == 8, "four functions in two regions"

    arn = ph.start("prod", REQUEST)
    ph.approval_request("prod", arn)
    source = {f["name"]: f["version"] for f in ph.state_output("prod", arn, "Preflight checks")["preflight"]["source"]}
    approved = source[PLUGINS_SIT]
    lam = ph.client("sit", "lambda")
    lam.update_alias(FunctionName=PLUGINS_SIT, Name="latest-sit",
                     FunctionVersion=sit_before[("af-south-1", PLUGINS_SIT)])
    lam.delete_function(FunctionName=PLUGINS_SIT, Qualifier=approved)

    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.DeployFailed"), d.get("cause")
    assert d["cause"].startswith("site-management: deploying prod-bbws-plugins-service to PROD failed: the "
                                 f"package to copy, {PLUGINS_SIT}:{approved} in SIT, is gone"), d["cause"]
    assert "No alias was moved: all 4 function(s) still serve their previous versions behind latest-prod" in d["cause"]
    for fn in ("prod-bbws-sites-service", "prod-bbws-templates-service"):
        for region in ph.regions_of("prod"):
            assert f"{fn} " in d["cause"] and f"in {region}" in d["cause"], "published without traffic"

    assert ph.latest_versions("prod", SERVICE) == before, "all four on their old versions, both regions"
    for (region, fn), version in before.items():
        [backup] = ph.aliases_named("prod", fn, "backup-", region, described_with=arn)
        assert backup["FunctionVersion"] == version
    states = ph.states_entered("prod", arn)
    assert "Deploy" in states and "Verify health" not in states and "Roll back" not in states
    [record] = ph.records_of("prod", arn)
    assert (record["outcome"], record["error"], record["cause"]) == ("failed", "Bbws.DeployFailed", d["cause"])
    assert record["to_version"] == {}
    assert ph.lock_of("prod", SERVICE) is None
    body = ph.wait_notification(arn, "Promotion failed: site-management to PROD")
    assert "Error: Bbws.DeployFailed" in body


def test_an_alias_that_cannot_move_puts_the_ones_already_moved_back(preflight_config, release, fault):
    preflight_config("prod", maintenance_windows=ph.windows_all_week(),
                     monitor={"prod_seconds": 2, "poll_seconds": 1})
    release("sit", SERVICE, "healthy", "1.4.7")
    ph.record_service_gates("sit", SERVICE)
    before = ph.latest_versions("prod", SERVICE)
    last_fn, last_region = ph.functions_of(SERVICE, "prod")[-1], ph.regions_of("prod")[-1]

    arn = ph.start("prod", REQUEST)
    ph.approval_request("prod", arn)
    fault("prod", last_fn, "UpdateAlias", last_region, times=3)
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.DeployFailed"), d.get("cause")
    assert ph.armed_faults()[0]["failed"] == 1, "the deploy tried the move once and stopped"
    assert d["cause"].startswith(f"site-management: moving {last_fn}:latest-prod to version "), d["cause"]
    assert f"in {last_region} failed (" in d["cause"] and "ResourceConflictException" in d["cause"]
    assert "the 7 alias(es) already moved are back on their previous versions (" in d["cause"], d["cause"]
    for (region, fn), version in before.items():
        if (region, fn) != (last_region, last_fn):
            assert f"{fn} {version} in {region}" in d["cause"], (fn, region)

    assert ph.latest_versions("prod", SERVICE) == before, "all four back on their old versions, both regions"
    for (region, fn) in before:
        if (region, fn) != (last_region, last_fn):
            alias = ph.client("prod", "lambda", region).get_alias(FunctionName=fn, Name="latest-prod")
            assert alias["Description"] == f"Reverted by {arn}", (fn, region, alias["Description"])
    states = ph.states_entered("prod", arn)
    assert "Deploy" in states and "Verify health" not in states and "Roll back" not in states
    [record] = ph.records_of("prod", arn)
    assert (record["outcome"], record["error"], record["cause"]) == ("failed", "Bbws.DeployFailed", d["cause"])
    assert ph.lock_of("prod", SERVICE) is None
