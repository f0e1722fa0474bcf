"""Manual rollbacks (issue 6, RB-003 §6.2.1, §6.3.2, §6.4, §7.3) through bbws-rollback-<env>.

Each test puts a service where an on-call engineer finds it: a newer build live behind latest-<env>
(as the service's own pipeline or a promotion leaves it, `release`) and the backup aliases a promotion
leaves (`aliases`, named backup-YYYYMMDD-HHMMSS like the backup-alias step names them). The rollback
then runs as a workflow starts it, and the test reads the aliases, the record and the notification.
"""
from __future__ import annotations

import datetime as dt
import random

import pipeline_helpers as ph
from evidence_tables import PROD_ROLLBACK
import pytest

TENANT = "tenant-instance-management"
TENANT_SIT, TENANT_PROD = "bbws-tenant-instance-management-sit", "bbws-tenant-instance-management-prod"
SITES = "site-management"


def _request(service: str, env: str, **extra) -> dict:
    return {"service": service, "environment": env, "reason": "API errors after the release",
            "requested_by": "oncall@bbws.io", **extra}


def _unique_build() -> str:
    return f"9.{random.randrange(100, 999)}.{random.randrange(100, 999)}"


def test_a_rollback_to_a_named_backup_in_sit(release, aliases):
    previous = release("sit", TENANT, "healthy", "1.4.9")
    old = previous[("af-south-1", TENANT_SIT)]
    bad = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    assert bad != old
    backup = ph.backup_stamp()
    aliases("sit", TENANT_SIT, backup, old, description="Backup before promotion")
    assert ph.put_latest_on("sit", TENANT_SIT, bad) != ph.code_sha("sit", TENANT_SIT, old), "$LATEST is the bad build"

    arn = ph.start("sit", _request(TENANT, "sit", target_version=backup), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)

    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == old
    lam = ph.client("sit", "lambda")
    live = lam.get_alias(FunctionName=TENANT_SIT, Name="latest-sit")
    [incident] = [a for a in lam.list_aliases(FunctionName=TENANT_SIT)["Aliases"]
                  if a["Name"].startswith("incident-") and arn in a.get("Description", "")]
    aliases_made = ph.state_output("sit", arn, "Roll back to target")["result"]
    assert incident["FunctionVersion"] == bad and incident["Name"] == aliases_made["incident_alias"]
    assert live["Description"] == f"Rollback from {incident['Name']} by {arn}"
    lam.delete_alias(FunctionName=TENANT_SIT, Name=incident["Name"])
    # The unqualified function (RB-003 §3.3's check) runs the package the alias is back on (issue 11).
    assert lam.get_function(FunctionName=TENANT_SIT)["Configuration"]["CodeSha256"] == ph.code_sha(
        "sit", TENANT_SIT, old)
    assert aliases_made["functions"][0]["latest"]["action"] == "restore"

    states = ph.states_entered("sit", arn)
    assert states[:4] == ["Validate rollback request", "Lock service", "Resolve target version",
                          "Approval needed?"]
    assert "No approval needed" in states and "Request rollback approval" not in states
    [record] = ph.records_of("sit", arn)
    assert (record["action"], record["environment"], record["outcome"]) == ("rollback", "sit", "succeeded")
    assert record["from_version"] == {f"af-south-1/{TENANT_SIT}": bad}
    assert record["to_version"] == {f"af-south-1/{TENANT_SIT}": old}
    assert (record["actor"], record["reason"], record["target"]) == (
        "oncall@bbws.io", "API errors after the release", backup)
    assert record["approvers"] == [] and record["health"][0]["health"] == 200
    assert ph.lock_of("sit", TENANT) is None
    body = ph.wait_notification(arn, "Rolled back: tenant-instance-management in SIT")
    assert f'To: {{"af-south-1/{TENANT_SIT}":"{old}"}}' in body, body


def test_a_rollback_without_a_target_takes_the_newest_backup_of_all_four_functions(release, aliases):
    baseline = release("sit", SITES, "healthy", "1.5.1")
    first = ph.latest_versions("sit", SITES)
    release("sit", SITES, "healthy", "1.5.2")
    bad = ph.latest_versions("sit", SITES)
    older, newer = ph.backup_stamp(ph.utc_now() - dt.timedelta(hours=2)), ph.backup_stamp()
    for (region, fn), version in baseline.items():
        aliases("sit", fn, older, version, region)
        aliases("sit", fn, newer, first[(region, fn)], region)

    arn = ph.start("sit", _request(SITES, "sit"), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.latest_versions("sit", SITES) == first, "the newest backup, in all four functions"
    target = ph.state_output("sit", arn, "Resolve target version")["target"]
    assert target["target"] == newer
    assert [(m["function"], m["from_version"], m["to_version"]) for m in target["moves"]] == [
        (fn, bad[(r, fn)], first[(r, fn)]) for (r, fn) in bad]
    [record] = ph.records_of("sit", arn)
    assert record["target"] == newer and record["requested_target"] == "the newest backup"
    assert len(record["to_version"]) == 4


def test_a_version_that_was_never_live_is_refused_and_can_be_forced_with_an_incident(release):
    release("sit", TENANT, "healthy", "1.4.9")
    live = ph.alias_version("sit", TENANT_SIT, "latest-sit")
    never = ph.publish_build("sit", TENANT, "healthy", _unique_build())[("af-south-1", TENANT_SIT)]

    arn = ph.start("sit", _request(TENANT, "sit", target_version=never), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.RollbackRefused"), ph.failure_of(d)
    assert d["cause"] == (
        f"tenant-instance-management in SIT: version {never} was never live in SIT: {TENANT_SIT} {never} in "
        "af-south-1 (no backup alias and no deployment record points at it); name a backup alias, or add "
        "\"force\": true with the incident; nothing was changed"), d["cause"]
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == live, "nothing changed"
    [record] = ph.records_of("sit", arn)
    assert (record["outcome"], record["error"], record["to_version"]) == ("failed", "Bbws.RollbackRefused", {})
    assert ph.lock_of("sit", TENANT) is None
    ph.wait_notification(arn, "Rollback refused: tenant-instance-management in SIT")

    arn = ph.start("sit", _request(TENANT, "sit", target_version=never, force=True), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), ph.failure_of(d)
    assert d["cause"].startswith("incident: is required with force")

    arn = ph.start("sit", _request(TENANT, "sit", target_version=never, force=True, incident="INC-104"),
                   kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.alias_version("sit", TENANT_SIT, "latest-sit") == never
    [record] = ph.records_of("sit", arn)
    assert record["forced"] is True and record["incident"] == "INC-104"


def test_a_prod_rollback_waits_for_a_tech_lead_or_operations_lead_and_moves_both_regions(release, aliases):
    previous = release("prod", TENANT, "healthy", "1.4.9")
    bad = ph.latest_versions("prod", TENANT)
    backup = ph.backup_stamp()
    for (region, fn), version in previous.items():
        aliases("prod", fn, backup, version, region)

    arn = ph.start("prod", _request(TENANT, "prod", target_version=backup, incident="INC-91"), kind="rollback")
    links = ph.approval_links(ph.OPS_LEAD[0], arn)
    assert ph.latest_versions("prod", TENANT) == bad, "nothing moves before the approval"
    page = ph.open_link(links["approve"])
    assert page.status_code == 200 and "Approve this rollback?" in page.text
    for (region, fn), version in previous.items():
        assert f"{fn}: version {bad[(region, fn)]} -&gt; {version} in {region}" in page.text, page.text
    r = ph.confirm(links["approve"])
    assert r.status_code == 200 and "the rollback continues" in r.text, r.text

    d = ph.wait_execution("prod", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    assert ph.latest_versions("prod", TENANT) == previous, "both regions back on the backup"
    [record] = ph.records_of("prod", arn)
    assert [(a["person"], a["role"]) for a in record["approvers"]] == [ph.OPS_LEAD]
    assert record["incident"] == "INC-91" and set(record["to_version"]) == {
        f"{region}/{fn}" for (region, fn) in previous}
    assert "Request rollback approval" in ph.states_entered("prod", arn)
    body = ph.wait_notification(arn, "Rolled back: tenant-instance-management in PROD")
    assert f"Approved by: {ph.OPS_LEAD[0]} (operations_lead)" in body, body
    ph.assert_verdicts(ph.evidence_verdicts("prod", arn), PROD_ROLLBACK)
    for region in ph.regions_of("prod"):
        lam = ph.client("prod", "lambda", region)
        for a in lam.list_aliases(FunctionName=TENANT_PROD)["Aliases"]:
            if a["Name"].startswith("incident-") and arn in a.get("Description", ""):
                lam.delete_alias(FunctionName=TENANT_PROD, Name=a["Name"])


def test_a_rollback_while_a_promotion_of_the_service_runs_is_refused(release):
    ph.record_gates("dev", "bbws-tenant-instance-management-dev", "latest-dev")
    before = ph.latest_versions("sit", TENANT)
    promotion = ph.start("sit", {"service": TENANT, "source_env": "dev", "target_env": "sit",
                                 "requested_by": "jane@bbws.io", "reason": "Release 1.4.3"})
    ph.approval_request("sit", promotion)

    arn = ph.start("sit", _request(TENANT, "sit"), kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.PromotionInProgress"), ph.failure_of(d)
    assert d["cause"].startswith(f"tenant-instance-management in SIT cannot be rolled back now: it is being "
                                 f"promoted by {promotion}"), d["cause"]
    assert "Resolve target version" not in ph.states_entered("sit", arn)
    assert ph.records_of("sit", arn) == [] and ph.lock_of("sit", TENANT)["execution_arn"] == promotion
    assert ph.latest_versions("sit", TENANT) == before

    ph.reject_with_task_token("sit", promotion, cause="dev-lead@bbws.io: the rollback comes first")
    assert ph.wait_execution("sit", promotion)["error"] == "Bbws.ApprovalRejected"


@pytest.mark.parametrize("payload, starts", [
    ({"service": "billing", "environment": "sit", "reason": "x", "requested_by": "a@bbws.io"}, "service: "),
    (_request(TENANT, "sit", target_version="latest-dev"), "target_version: 'latest-dev' must be a version"),
    (_request(TENANT, "prod", target_version="7", incident="INC-1"), "environment: this state machine rolls back in SIT"),
    (_request(TENANT, "sit", reason=" "), "reason: must not be blank"),
    (_request(TENANT, "sit", force="yes", incident="INC-1"), "force: must be true or false"),
    (_request(TENANT, "sit", ticket="INC-1"), "ticket: unknown field"),
])
def test_bad_rollback_requests_are_refused_with_the_field_and_change_nothing(payload, starts):
    before = ph.latest_versions("sit", TENANT)
    arn = ph.start("sit", payload, kind="rollback")
    d = ph.wait_execution("sit", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), ph.failure_of(d)
    assert d["cause"].startswith(starts), d["cause"]
    assert ph.states_entered("sit", arn)[-1] == "Rollback refused"
    assert ph.latest_versions("sit", TENANT) == before and ph.records_of("sit", arn) == []


def test_prod_requires_an_incident():
    arn = ph.start("prod", _request(TENANT, "prod", target_version="3"), kind="rollback")
    d = ph.wait_execution("prod", arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput")
    assert d["cause"] == "incident: is required for a rollback in prod (INC-<digits>, RB-003 §7.3)"
