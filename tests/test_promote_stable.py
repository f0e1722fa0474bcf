"""RB-003 §7.1 / §7.2 "SIT stable for 24 hours" on the local estate: SIT -> PROD refuses a version that has
not served in SIT long enough, judged from SIT's deployment records, which PROD's preflight reads through
SIT's source reader role (a Query of the service-timestamp index of bbws-deployments-sit).

Each test first promotes DEV's build into SIT through bbws-promote-sit, so a record says since when it
serves there; the duration is the deployed configuration's `sit_stable_seconds` (RB-003: 86400 s), an
hour here where the rule must refuse (as a day would), a few seconds where it must pass.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

import pipeline_helpers as ph

SERVICE = "tenant-instance-management"
TENANT_DEV, TENANT_SIT, TENANT_PROD = (f"bbws-{SERVICE}-{e}" for e in ("dev", "sit", "prod"))
TO_PROD = ph.sample_input("promote-sit-to-prod")
FAST_MONITOR = {"sit_seconds": 2, "prod_seconds": 2, "poll_seconds": 1}
TECH_LEAD = "tech-lead@bbws.io"


@pytest.fixture()
def promoted_into_sit(preflight_config):
    """DEV's build promoted into SIT a moment ago (approved, monitored, recorded), PROD on its baseline;
    SIT's version, its CodeSha256 and the record's time. SIT and PROD go back to their baselines after."""
    ph.reset_service("prod", SERVICE)
    ph.reset_service("sit", SERVICE)
    preflight_config("sit", monitor=FAST_MONITOR)
    ph.record_service_gates("dev", SERVICE)
    arn = ph.start("sit", ph.sample_input("promote-dev-to-sit"))
    ph.approve_with_task_token("sit", arn, [("dev-lead@bbws.io", "dev_lead")])
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    [record] = ph.records_of("sit", arn)
    version = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    assert record["to_version"] == {f"af-south-1/{TENANT_SIT}": version}
    assert record["code_sha256"][0]["target"] == TENANT_SIT
    sha = ph.record_service_gates("sit", SERVICE)
    yield version, sha, dt.datetime.fromisoformat(record["timestamp"])
    ph.reset_service("sit", SERVICE)
    ph.reset_service("prod", SERVICE)


def _prod_config(preflight_config, seconds: int) -> None:
    preflight_config("prod", maintenance_windows=ph.windows_all_week(), monitor=FAST_MONITOR,
                     sit_stable_seconds=seconds)


def _served_check(arn: str) -> dict:
    """The preflight's check of the time in SIT, once the approval is asked."""
    ph.wait_state_entered("prod", arn, "Request approval")
    checks = ph.state_output("prod", arn, "Preflight checks")["preflight"]["checks"]
    [check] = [c for c in checks if c["check"] == f"{TENANT_SIT} stable in SIT"]
    return check


def test_a_version_promoted_into_sit_moments_ago_cannot_go_to_prod(preflight_config, promoted_into_sit):
    version, sha, since = promoted_into_sit
    _prod_config(preflight_config, 3600)
    before = ph.latest_versions("prod", SERVICE)

    arn = ph.start("prod", TO_PROD)
    d = ph.wait_execution("prod", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PreflightFailed"), d.get("cause")
    served = (f"{TENANT_SIT} stable in SIT: version {version} (CodeSha256 {sha}) has served in SIT since "
              f"{since:%Y-%m-%d %H:%M:%S} UTC (promote ")
    assert served in d["cause"], d["cause"]
    # The time it has served, and the time required, with when it may go.
    m = re.search(r":succeeded\), for (\d+) s; required: 1 h in SIT before PROD \(sit_stable_seconds 3600\): "
                  r"start the promotion again after (\S+ \S+) UTC \(or declare an emergency\)", d["cause"])
    assert m, d["cause"]
    assert int(m.group(1)) < 120
    assert m.group(2) == f"{since + dt.timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    assert d["cause"].startswith("1 of 6 preflight checks failed for tenant-instance-management SIT -> PROD"), \
        d["cause"]
    # Refused before anyone is asked; nothing changed in PROD; the refusal recorded.
    assert "Request approval" not in ph.states_entered("prod", arn)
    assert ph.pending_approval("prod", arn) is None
    assert ph.latest_versions("prod", SERVICE) == before, "nothing deployed in either region"
    assert ph.lock_of("prod", SERVICE) is None
    [record] = ph.records_of("prod", arn)
    assert (record["outcome"], record["error"]) == ("failed", "Bbws.PreflightFailed")


def test_an_emergency_may_skip_it_and_the_approval_page_says_so(preflight_config, promoted_into_sit):
    version, sha, since = promoted_into_sit
    _prod_config(preflight_config, 3600)
    before = ph.latest_versions("prod", SERVICE)

    arn = ph.start("prod", {**TO_PROD, "emergency": {"incident": "INC-4242"}})
    check = _served_check(arn)
    assert check["passed"], check
    assert check["detail"].startswith(
        f"skipped: emergency declared (incident INC-4242): 1 h in SIT is not required; version {version} "
        f"(CodeSha256 {sha}) has served in SIT since {since:%Y-%m-%d %H:%M:%S} UTC (promote "), check
    page = ph.open_link(ph.approval_links(TECH_LEAD, arn)["approve"])
    assert page.status_code == 200
    assert '<li class="warn">“SIT stable for 24 hours” skipped (emergency)</li>' in page.text, page.text
    assert "skipped: emergency declared (incident INC-4242): 1 h in SIT is not required" in page.text

    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    for region in ph.regions_of("prod"):
        assert ph.code_sha("prod", TENANT_PROD, "latest-prod", region) == sha, region
    assert ph.latest_versions("prod", SERVICE) != before
    [record] = ph.records_of("prod", arn)
    assert record["incident"] == "INC-4242"
    assert any(c["check"] == f"{TENANT_SIT} stable in SIT" and c["detail"].startswith("skipped: emergency")
               for c in record["preflight"])


def test_once_the_version_has_served_long_enough_it_goes_to_prod(preflight_config, promoted_into_sit):
    version, sha, since = promoted_into_sit
    _prod_config(preflight_config, 5)
    # Five seconds of SIT's clock (the record's time) must pass.
    time.sleep(max(0.0, 6 - (ph.utc_now() - since).total_seconds()))

    arn = ph.start("prod", TO_PROD)
    check = _served_check(arn)
    assert check["passed"], check
    m = re.fullmatch(rf"version {version} \(CodeSha256 {re.escape(sha)}\) has served in SIT since "
                     rf"{since:%Y-%m-%d %H:%M:%S} UTC \(promote \S+:succeeded\), for (\d+) s \(required: 5 s\)",
                     check["detail"])
    assert m and int(m.group(1)) >= 5, check["detail"]
    ph.approve_with_task_token("prod", arn, [ph.TECH_LEAD, ph.OPS_LEAD])
    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.code_sha("prod", TENANT_PROD, "latest-prod") == sha
    assert json.loads(d["output"])["promotion"]["rules"]["sit_stable_seconds"] == 5
