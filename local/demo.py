"""`make demo`: promotions of the tenant service on the local estate, step by step: DEV -> SIT,
SIT -> PROD (an emergency with Tech Lead + CTO when outside a maintenance window; both PROD regions),
and a broken DEV build promoted to SIT and rolled back by the health check.

For DEV -> SIT it does what a release workflow and its people do: CI records the quality gates of the DEV package,
ordinary traffic runs against DEV, a workflow starts `bbws-promote-sit` with the AWS CLI's input, the
Dev Lead approves, and the execution deploys, verifies, monitors and records. It prints each state as
it happens and ends with `latest-sit` on the promoted version and the deployment record. The Dev Lead
approves as on a phone: the approval email from the local mailbox, its link opened, then confirmed.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "local"))

from bbws_local.settings import ACCOUNTS, Settings  # noqa: E402

SETTINGS = Settings.from_env()
os.environ["AWS_CONFIG_FILE"] = str(SETTINGS.state_dir / "aws" / "config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(SETTINGS.state_dir / "aws" / "credentials")

import boto3  # noqa: E402

from services import ci  # noqa: E402


def say(text: str) -> None:
    print(text, flush=True)


def session(env: str) -> boto3.Session:
    return boto3.Session(profile_name=f"bbws-{env}")


def record_quality_gates(env: str, function: str, alias: str) -> str:
    """What each service's CI does after its pipeline: one item per gate, keyed by the package's SHA."""
    return ci.record_gates(session(env), env, function, alias, ci_run="local-demo")


def send_traffic(env: str, service: str, requests: int) -> None:
    from services import traffic

    traffic.send_traffic(env, service, requests)


def approve_through_the_link(approver: tuple[str, str], link: str) -> bool:
    """What the approver does on their phone: open the link (a GET changes nothing), then confirm."""
    import re
    import urllib.parse

    email, role = approver
    with urllib.request.urlopen(link, timeout=30) as page:
        html = page.read().decode()
    say(f"      {email} ({role}) opens the email link: {re.search(r'<title>(.*?)</title>', html).group(1)}")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["t"][0]
    form = urllib.parse.urlencode({"t": token, "confirm": "yes"}).encode()
    with urllib.request.urlopen(link.split("?")[0], data=form, timeout=30) as answer:
        said = re.search(r"<p>(.*?)</p>", answer.read().decode())
    say(f"      and confirms: {said.group(1) if said else '(no answer)'}")
    return True


def required_roles(env: str, execution_arn: str) -> list[str]:
    ddb = session(env).client("dynamodb")
    items = ddb.scan(TableName=f"bbws-approvals-{env}", FilterExpression="execution_arn = :e AND #i = :r",
                     ExpressionAttributeNames={"#i": "item"},
                     ExpressionAttributeValues={":e": {"S": execution_arn}, ":r": {"S": "request"}})["Items"]
    if not items:
        return []
    required = items[0]["required"]["M"]
    (_, roles), = required.items()
    return [r["S"] for r in roles["L"]]


def role_link(address: str, role: str, execution_arn: str) -> str | None:
    with urllib.request.urlopen(f"{SETTINGS.endpoint}/_local/mailbox.json?to={address}", timeout=5) as r:
        for m in json.loads(r.read()):
            if execution_arn in m["body"] and f"as {role}." in m["body"]:
                for line in m["body"].splitlines():
                    if line.startswith("Approve: http"):
                        return line.split(": ", 1)[1].strip()
    return None


def approve_all(env: str, execution_arn: str) -> bool:
    """One person per required role (the directory's first), each through their own email link."""
    from bbws_local.pipeline import APPROVERS

    roles = required_roles(env, execution_arn)
    links = [(APPROVERS[r][0], r, role_link(APPROVERS[r][0], r, execution_arn)) for r in roles]
    if not roles or any(link is None for _, _, link in links):
        return False
    for person, role, link in links:
        approve_through_the_link((person, role), link)
    return True


def follow(env: str, execution_arn: str, approver: tuple[str, str] | None = None) -> dict[str, Any]:
    sfn = session(env).client("stepfunctions")
    seen = 0
    approved = waiting = False
    while True:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for ev in events[seen:]:
            if ev["type"].endswith("StateEntered"):
                name = ev["stateEnteredEventDetails"]["name"]
                waiting = waiting or name == "Request approval"
                say(f"   -> {name}")
        seen = len(events)
        d = sfn.describe_execution(executionArn=execution_arn)
        if d["status"] != "RUNNING":
            return d
        if waiting and not approved:
            approved = approve_all(env, execution_arn)
        time.sleep(0.3)


def main() -> int:
    started = time.monotonic()
    service, fn_dev, fn_sit = ("tenant-instance-management", "bbws-tenant-instance-management-dev",
                               "bbws-tenant-instance-management-sit")
    sit = session("sit")
    lam_sit = sit.client("lambda")
    before = lam_sit.get_alias(FunctionName=fn_sit, Name="latest-sit")["FunctionVersion"]
    say(f"== SIT ({ACCOUNTS['sit']}): {fn_sit}:latest-sit is version {before}")

    sha = record_quality_gates("dev", fn_dev, "latest-dev")
    say(f"== DEV CI recorded 5 quality gates for CodeSha256 {sha} in bbws-quality-gates-dev")
    send_traffic("dev", service, 10)
    say("== 10 ordinary requests sent to DEV (its Errors and Throttles metrics are real)")

    event = json.loads((ROOT / "events" / "promote-dev-to-sit.json").read_text())
    name = f"{service}-sit-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    arn = f"arn:aws:states:af-south-1:{ACCOUNTS['sit']}:stateMachine:bbws-promote-sit"
    say(f"== aws stepfunctions start-execution --state-machine-arn {arn} --name {name} "
        "--input file://events/promote-dev-to-sit.json")
    run = sit.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(event))
    d = follow("sit", run["executionArn"])
    say(f"== execution {d['status']}" + (f": {d.get('error')} — {d.get('cause')}" if d["status"] != "SUCCEEDED" else ""))

    after = lam_sit.get_alias(FunctionName=fn_sit, Name="latest-sit")
    cfg = lam_sit.get_function(FunctionName=fn_sit, Qualifier="latest-sit")["Configuration"]
    say(f"== {fn_sit}:latest-sit is now version {after['FunctionVersion']} (was {before}); "
        f"CodeSha256 {cfg['CodeSha256']} {'=' if cfg['CodeSha256'] == sha else '!='} DEV's")
    aliases = lam_sit.list_aliases(FunctionName=fn_sit)["Aliases"]
    for a in aliases:
        if a["Name"].startswith("backup-"):
            say(f"   backup alias {a['Name']} -> version {a['FunctionVersion']} ({a.get('Description', '')})")
    records = sit.client("dynamodb").scan(
        TableName="bbws-deployments-sit", FilterExpression="execution_arn = :e",
        ExpressionAttributeValues={":e": {"S": run["executionArn"]}})["Items"]
    for r in records:
        say("== deployment record in bbws-deployments-sit:")
        say(json.dumps({k: _plain(v) for k, v in sorted(r.items()) if k in (
            "deployment_id", "timestamp", "environment", "action", "service", "from_version", "to_version",
            "actor", "reason", "approvers", "outcome", "execution_arn")}, indent=2))
    prod_ok = promote_to_prod(service)
    rolled_back = rollback_demo(service)
    say(f"== done in {time.monotonic() - started:.1f} s")
    return 0 if d["status"] == "SUCCEEDED" and prod_ok and rolled_back else 1


def promote_to_prod(service: str) -> bool:
    """SIT -> PROD; outside a maintenance window it goes as an emergency (Tech Lead + CTO)."""
    fn_sit, fn_prod = f"bbws-{service}-sit", f"bbws-{service}-prod"
    sha = record_quality_gates("sit", fn_sit, "latest-sit")
    event = json.loads((ROOT / "events" / "promote-sit-to-prod-emergency.json").read_text())
    lam = session("prod").client("lambda")
    name = "bbws-promotion-preflight-prod"
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    config = json.loads(variables.get("BBWS_CONFIG") or (ROOT / "events" / "config" / "runbook.json").read_text())
    config["monitor"]["prod_seconds"] = 30
    say("\n== SIT -> PROD (the demo deploys a 30 s PROD monitor through the deployed configuration; "
        "RB-003's is 5 minutes)")
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {
        **variables, "BBWS_CONFIG": json.dumps(config)}})
    try:
        run = start("prod", service, event, "events/promote-sit-to-prod-emergency.json")
        d = follow("prod", run)
    finally:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    say(f"== execution {d['status']}" + (f": {d.get('error')} — {d.get('cause')}" if d["status"] != "SUCCEEDED" else ""))
    for region in ("af-south-1", "eu-west-1"):
        prod = session("prod").client("lambda", region_name=region)
        cfg = prod.get_function(FunctionName=fn_prod, Qualifier="latest-prod")["Configuration"]
        say(f"   {fn_prod}:latest-prod in {region}: version {cfg['Version']}, CodeSha256 "
            f"{'= SIT' if cfg['CodeSha256'] == sha else cfg['CodeSha256']}")
    return d["status"] == "SUCCEEDED"


def rollback_demo(service: str) -> bool:
    """A DEV build whose /health answers 500 is promoted to SIT: the health check rolls it back."""
    from services import seed

    fn_dev, fn_sit = f"bbws-{service}-dev", f"bbws-{service}-sit"
    lam_dev = session("dev").client("lambda")
    good = lam_dev.get_alias(FunctionName=fn_dev, Name="latest-dev")["FunctionVersion"]
    say("\n== DEV gets a broken build (health 500); it is promoted to SIT and rolled back")
    seed.deploy_variant("dev", service, "broken-health", "1.4.3")
    try:
        record_quality_gates("dev", fn_dev, "latest-dev")
        before = session("sit").client("lambda").get_alias(FunctionName=fn_sit, Name="latest-sit")["FunctionVersion"]
        run = start("sit", service, json.loads((ROOT / "events" / "promote-dev-to-sit.json").read_text()),
                    "events/promote-dev-to-sit.json")
        d = follow("sit", run)
    finally:
        lam_dev.update_alias(FunctionName=fn_dev, Name="latest-dev", FunctionVersion=good)
    say(f"== execution {d['status']}: {d.get('error')} — {d.get('cause')}")
    lam_sit = session("sit").client("lambda")
    after = lam_sit.get_alias(FunctionName=fn_sit, Name="latest-sit")["FunctionVersion"]
    incidents = [a for a in lam_sit.list_aliases(FunctionName=fn_sit)["Aliases"]
                 if a["Name"].startswith("incident-") and run in a.get("Description", "")]
    say(f"   {fn_sit}:latest-sit is back on version {after} (was {before} before the promotion)")
    for a in incidents:
        say(f"   {a['Name']} -> version {a['FunctionVersion']} (the bad build, kept for the post-mortem)")
    return d["status"] == "FAILED" and d.get("error") == "Bbws.RolledBack" and after == before


def start(env: str, service: str, event: dict[str, Any], file: str) -> str:
    name = f"{service}-{env}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    arn = f"arn:aws:states:af-south-1:{ACCOUNTS[env]}:stateMachine:bbws-promote-{env}"
    say(f"== aws stepfunctions start-execution --state-machine-arn {arn} --name {name} --input file://{file}")
    return session(env).client("stepfunctions").start_execution(
        stateMachineArn=arn, name=name, input=json.dumps(event))["executionArn"]


_plain = ci.plain

if __name__ == "__main__":
    sys.exit(main())
