"""`make demo`: promotions of the tenant service on the local estate, step by step: DEV -> SIT,
SIT -> PROD (refused first: the version has served in SIT for seconds, not RB-003's 24 hours; then as an
emergency, which skips that rule and says so, with Tech Lead + CTO when outside a maintenance window; both
PROD regions), and a broken DEV build promoted to SIT and rolled back by the health check.

For DEV -> SIT it does what a release workflow and its people do: CI records the quality gates of the DEV package,
ordinary traffic runs against DEV, a workflow starts `bbws-promote-sit` with the AWS CLI's input, the
Dev Lead approves, and the execution deploys, verifies, monitors and records. It prints each state as
it happens and ends with `latest-sit` on the promoted version and the deployment record. The Dev Lead
approves as on a phone: the approval email from the local mailbox, its link opened, then confirmed.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # local/: bbws_local and services

from bbws_local import pipeline_client as pc  # noqa: E402
from bbws_local.pipeline import APPROVERS  # noqa: E402
from bbws_local.settings import ACCOUNTS  # noqa: E402

CI_RUN = "local-demo"  # the CI run the demo's quality gates name
# The states in which an execution waits for its approvers.
APPROVAL_STATES = ("Request approval", "Request release approval", "Request rollback approval",
                   "Request tenant approval")


def say(text: str) -> None:
    print(text, flush=True)


def stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def record_quality_gates(env: str, function: str, alias: str) -> str:
    """What each service's CI does after its pipeline: one item per gate, keyed by the package's SHA."""
    return pc.record_gates(env, function, alias, ci_run=CI_RUN)


def approve_through_the_link(person: str, role: str, link: str) -> None:
    """What the approver does on their phone: open the link (a GET changes nothing), then confirm."""
    page = pc.open_link(link)
    say(f"      {person} ({role}) opens the email link: {re.search(r'<title>(.*?)</title>', page.text).group(1)}")
    said = re.search(r'<p class="outcome">(.*?)</p>', pc.confirm(link).text)
    say(f"      and confirms: {said.group(1) if said else '(no answer)'}")


def approve_all(env: str, execution_arn: str) -> bool:
    """One person per required role (the directory's first), each through their own email link; False
    while a request or an email has not arrived yet."""
    roles = pc.required_roles(env, execution_arn)
    people = [(APPROVERS[role][0], role) for role in roles]
    links = [pc.find_approval_links(person, execution_arn, role) for person, role in people]
    if not roles or None in links:
        return False
    for (person, role), found in zip(people, links):
        approve_through_the_link(person, role, found["approve"])
    return True


def follow(env: str, execution_arn: str, also: Callable[[dict[str, Any]], str | None] = lambda _: None
           ) -> dict[str, Any]:
    """Prints each state as it is entered (and what `also` says of it); once an approval is asked, the
    approvers answer through their email links. The execution's description once it has ended."""
    asked = approved = False

    def entered(details: dict[str, Any]) -> None:
        nonlocal asked
        asked = asked or details["name"] in APPROVAL_STATES
        say(f"   -> {details['name']}")
        if extra := also(details):
            say(extra)

    def approve() -> None:
        nonlocal approved
        if asked and not approved:
            approved = approve_all(env, execution_arn)

    return pc.follow(env, execution_arn, entered, approve)


# Every execution the demo started, (environment, ARN): their evidence is listed at the end.
STARTED: list[tuple[str, str]] = []


def start(env: str, name: str, event: Any, shown_input: str, kind: str = "promote", lead: str = "==",
          note: str = "") -> str:
    """Starts an execution as a workflow or an engineer does with the AWS CLI, and prints the command."""
    say(f"{lead} aws stepfunctions start-execution --state-machine-arn {pc.state_machine_arn(env, kind)} "
        f"--name {name} --input {shown_input}{note}")
    arn = pc.start(env, event, kind, name=name)
    STARTED.append((env, arn))
    return arn


def show_evidence() -> None:
    """Where each execution's evidence is (RB-003 §7 checklists), with a local copy of each HTML report
    to open by hand; nothing is opened."""
    say("\n== evidence of each execution (checklist, sign-off, timeline), as an auditor reads it with "
        "`bbws-report show`:")
    copies = pc.SETTINGS.state_dir / "evidence"
    copies.mkdir(parents=True, exist_ok=True)
    for env, arn in STARTED:
        records = pc.records_of(env, arn)
        place = records[0].get("evidence") if records else None
        if not place:
            say(f"   {arn}: no record with evidence")
            continue
        name = arn.rsplit(":", 1)[1]
        try:
            html = pc.evidence_file(env, arn, "report.html")
        except Exception as e:  # a report that was not written: the email said why
            say(f"   {name}: s3://{place['bucket']}/{place['prefix']} is not there ({e})")
            continue
        local = copies / f"{name}.html"
        local.write_bytes(html)
        say(f"   {name} ({records[0].get('outcome')}): s3://{place['bucket']}/{place['prefix']}report.html\n"
            f"      copy: {local}")
    say(f"   e.g. target/x86_64-unknown-linux-gnu/release/bbws-report show --env {STARTED[-1][0]} "
        f"--profile bbws-{STARTED[-1][0]} {STARTED[-1][1]}" if STARTED else "   (no execution)")


def ended(what: str, d: dict[str, Any]) -> None:
    failure = f": {d.get('error')} — {d.get('cause')}" if d["status"] != "SUCCEEDED" else ""
    say(f"== {what} {d['status']}{failure}")


def main() -> int:
    started = time.monotonic()
    service, fn_dev, fn_sit = ("tenant-instance-management", "bbws-tenant-instance-management-dev",
                               "bbws-tenant-instance-management-sit")
    before = pc.alias_version("sit", fn_sit, "latest-sit")
    say(f"== SIT ({ACCOUNTS['sit']}): {fn_sit}:latest-sit is version {before}")

    sha = record_quality_gates("dev", fn_dev, "latest-dev")
    say(f"== DEV CI recorded 5 quality gates for CodeSha256 {sha} in bbws-quality-gates-dev")
    pc.traffic.send_traffic("dev", service, 10)
    say("== 10 ordinary requests sent to DEV (its Errors and Throttles metrics are real)")

    arn = start("sit", f"{service}-sit-{stamp()}", pc.sample_input("promote-dev-to-sit"),
                "file://events/promote-dev-to-sit.json")
    d = follow("sit", arn)
    ended("execution", d)

    after = pc.alias_version("sit", fn_sit, "latest-sit")
    promoted = pc.code_sha("sit", fn_sit, "latest-sit")
    say(f"== {fn_sit}:latest-sit is now version {after} (was {before}); "
        f"CodeSha256 {promoted} {'=' if promoted == sha else '!='} DEV's")
    for a in pc.aliases_named("sit", fn_sit, "backup-"):
        say(f"   backup alias {a['Name']} -> version {a['FunctionVersion']} ({a.get('Description', '')})")
    for r in pc.records_of("sit", arn):
        say("== deployment record in bbws-deployments-sit:")
        say(json.dumps({k: v for k, v in sorted(r.items()) if k in (
            "deployment_id", "timestamp", "environment", "action", "service", "from_version", "to_version",
            "actor", "reason", "approvers", "outcome", "execution_arn")}, indent=2))
    prod_ok = promote_to_prod(service)
    rolled_back = rollback_demo(service)
    show_evidence()
    say(f"== done in {time.monotonic() - started:.1f} s")
    return 0 if d["status"] == "SUCCEEDED" and prod_ok and rolled_back else 1


def promote_to_prod(service: str) -> bool:
    """SIT -> PROD; outside a maintenance window it goes as an emergency (Tech Lead + CTO)."""
    fn_sit, fn_prod = f"bbws-{service}-sit", f"bbws-{service}-prod"
    sha = record_quality_gates("sit", fn_sit, "latest-sit")
    say("\n== SIT -> PROD (the demo deploys a 30 s PROD monitor through the deployed configuration; "
        "RB-003's is 5 minutes; the 24 hours in SIT are RB-003's)")
    previous = pc.set_config("prod", {"monitor": {"prod_seconds": 30}, "sit_stable_seconds": 86400})
    try:
        say("== first as a release: SIT's version was promoted there moments ago")
        refused = start("prod", f"{service}-prod-{stamp()}", pc.sample_input("promote-sit-to-prod"),
                        "file://events/promote-sit-to-prod.json")
        r = follow("prod", refused)
        ended("execution", r)
        say("== then as an emergency (an incident), which may skip the 24 hours in SIT")
        arn = start("prod", f"{service}-prod-{stamp()}", pc.sample_input("promote-sit-to-prod-emergency"),
                    "file://events/promote-sit-to-prod-emergency.json")
        d = follow("prod", arn, lambda s: served_in_sit("prod", arn, s))
    finally:
        pc.restore_config("prod", previous)
    ended("execution", d)
    for region in pc.regions_of("prod"):
        cfg = pc.client("prod", "lambda", region).get_function(
            FunctionName=fn_prod, Qualifier="latest-prod")["Configuration"]
        say(f"   {fn_prod}:latest-prod in {region}: version {cfg['Version']}, CodeSha256 "
            f"{'= SIT' if cfg['CodeSha256'] == sha else cfg['CodeSha256']}")
    return d["status"] == "SUCCEEDED" and r.get("error") == "Bbws.PreflightFailed"


def served_in_sit(env: str, arn: str, state: dict[str, Any]) -> str | None:
    """Once preflight is left: its 'stable in SIT' checks, as the approvers see them."""
    if state["name"] != "Request approval":
        return None
    checks = pc.state_output(env, arn, "Preflight checks")["preflight"]["checks"]
    return "\n".join(f"      {c['check']}: {c['detail']}" for c in checks if c["check"].endswith(" stable in SIT"))


def rollback_demo(service: str) -> bool:
    """A DEV build whose /health answers 500 is promoted to SIT: the health check rolls it back."""
    fn_dev, fn_sit = f"bbws-{service}-dev", f"bbws-{service}-sit"
    say("\n== DEV gets a build that is healthy only in DEV; it is promoted to SIT, answers /health with 500 "
        "there, and is rolled back")
    good = pc.deploy_build("dev", service, "unhealthy-outside-dev", "1.4.3")
    try:
        record_quality_gates("dev", fn_dev, "latest-dev")
        before = pc.alias_version("sit", fn_sit, "latest-sit")
        arn = start("sit", f"{service}-sit-{stamp()}", pc.sample_input("promote-dev-to-sit"),
                    "file://events/promote-dev-to-sit.json")
        d = follow("sit", arn)
    finally:
        pc.restore_aliases("dev", good)
    ended("execution", d)
    after = pc.alias_version("sit", fn_sit, "latest-sit")
    say(f"   {fn_sit}:latest-sit is back on version {after} (was {before} before the promotion)")
    for a in pc.aliases_named("sit", fn_sit, "incident-", described_with=arn):
        say(f"   {a['Name']} -> version {a['FunctionVersion']} (the bad build, kept for the post-mortem)")
    return d["status"] == "FAILED" and d.get("error") == "Bbws.RolledBack" and after == before


if __name__ == "__main__":
    sys.exit(main())
