"""What the people and tools around the promotion pipeline do on the local estate, through its AWS APIs
and its email links, as a workflow, an approver, an operator and an auditor would: the one module of
helpers that the demos (local/demo.py, local/demo_release.py, local/showcase.py) and the tests (tests/,
through tests/pipeline_helpers.py, and local/tests) import.

Importing it points the AWS SDK's shared files at the estate's profiles bbws-dev, bbws-sit and bbws-prod
(`make env`) and drops AWS_* variables that would override them. The estate must be up (`make up`).
"""
from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import botocore.exceptions
import requests

from services import catalog as fixtures
from services import ci, seed, traffic  # noqa: F401 - traffic: for the tests, as the services' teams use it
from services.estate import Estate, EstateUnavailable

from .settings import ACCOUNTS, PRIMARY_REGION, Settings, runbook_config

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings.from_env()
ESTATE = Estate(SETTINGS)


def use_estate_profiles() -> None:
    """The estate's AWS config and credentials files for every SDK client of this process, with no
    AWS_* variable overriding the profiles."""
    os.environ["AWS_CONFIG_FILE"] = str(SETTINGS.state_dir / "aws" / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(SETTINGS.state_dir / "aws" / "credentials")
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        os.environ.pop(var, None)


use_estate_profiles()

RUNBOOK_CONFIG = runbook_config()
SERVICE_NAMES = fixtures.SERVICE_NAMES  # the runbook's catalog, in its release order
GATES = ci.GATES
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TECH_LEAD = ("tech-lead@bbws.io", "tech_lead")
OPS_LEAD = ("ops-lead@bbws.io", "operations_lead")
CTO = ("cto@bbws.io", "cto")
DEV_LEAD = ("dev-lead@bbws.io", "dev_lead")


# -- the estate and its accounts ----------------------------------------------------------------------

def check_up(pipeline: bool = True) -> str | None:
    """What keeps the estate (and, with `pipeline`, the pipeline applied to it) from being used; None
    when nothing does."""
    try:
        ESTATE.check_up()
    except EstateUnavailable as e:
        return str(e)
    if pipeline:
        try:
            client("sit", "stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn("sit"))
        except Exception as e:  # noqa: BLE001 - any failure here means the pipeline is not applied
            return f"the pipeline is not applied ({e}); run `make up`"
    return None


def session(env: str, region: str = PRIMARY_REGION) -> boto3.Session:
    """A session of the profile bbws-<env>."""
    return ESTATE.session(env, region)


def client(env: str, service: str, region: str = PRIMARY_REGION) -> Any:
    """A client of `service` in the account of `env`, made once (clients are safe to share)."""
    return ESTATE.client(env, service, region)


Where = str | boto3.Session  # an environment (its profile's session), or a session of one's own


def _client(where: Where, service: str) -> Any:
    return client(where, service) if isinstance(where, str) else where.client(service)


def ensure_role(session: boto3.Session, name: str, trust: dict[str, Any]) -> str:
    """The ARN of role `name` in the session's account, created with `trust` if it does not exist."""
    iam = session.client("iam")
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


@contextlib.contextmanager
def reader_also_reads(env: str, function: str) -> Iterator[None]:
    """The source reader of `env` may also read `function` (as when `env`'s Terraform is given a
    catalog naming it), for the duration of the block."""
    iam = client(env, "iam")
    name, policy = "bbws-promotion-source-reader", "read-for-promotion"
    original = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    doc = copy.deepcopy(json.loads(original) if isinstance(original, str) else original)
    arn = f"arn:aws:lambda:af-south-1:{ACCOUNTS[env]}:function:{function}"
    doc["Statement"].append({"Sid": "AlsoReads", "Effect": "Allow", "Action": "lambda:GetFunction",
                             "Resource": [arn, arn + ":*"]})
    iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(doc))
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=name, PolicyName=policy,
                            PolicyDocument=original if isinstance(original, str) else json.dumps(original))


def sample_input(name: str) -> Any:
    """A sample execution input of events/ (`promote-dev-to-sit` for events/promote-dev-to-sit.json)."""
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def state_machine_arn(env: str, kind: str = "promote") -> str:
    """bbws-<kind>-<env>: kind is promote, release, rollback or tenant."""
    return f"arn:aws:states:{PRIMARY_REGION}:{ACCOUNTS[env]}:stateMachine:bbws-{kind}-{env}"


# RB-003 §7.2 "SIT stable for 24 hours" (`sit_stable_seconds`) as PROD's tests and demos deploy it unless
# they name it: off. The seed puts SIT's versions live without a deployment record, and a version a test
# promoted into SIT has served there for seconds; the tests of the rule itself (test_promote_stable.py)
# set it, and so does the demo.
PROD_TESTS_SIT_STABLE_SECONDS = 0


# The SIT errors of the ECS event handler that tests/test_watch.py makes on purpose (a failed check of the
# 24-hour watch in SIT) count against the handler's SIT -> PROD stability for 24 hours (RB-003 §4.1.1, summed
# on the function as the runbook's CLI sums them): a test or scenario that promotes the handler into PROD
# and is not about that rule deploys this to the PROD preflight.
HANDLER_SIT_ERRORS_ASIDE = {"sit_to_prod": {"errors": {"fewer_than": 1000}}}


def set_config(env: str, overrides: dict[str, Any], function: str = "preflight") -> dict[str, str]:
    """Deploy a configuration (RB-003's, with `overrides` merged in) to `function` of `env` as
    Terraform deploys one (infra/modules/pipeline/config.tf): a version of a rules document in the
    evidence bucket (config/<env>/<function>.json), named by the function's environment. The preflight (the default) builds
    every execution's plan; the watch reads its own. For PROD, `sit_stable_seconds` is
    PROD_TESTS_SIT_STABLE_SECONDS unless `overrides` names it. Returns the function's previous
    environment variables."""
    lam = client(env, "lambda")
    name = f"bbws-promotion-{function}-{env}"
    variables = lam.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
    config = copy.deepcopy(RUNBOOK_CONFIG)
    if env == "prod":
        config["sit_stable_seconds"] = PROD_TESTS_SIT_STABLE_SECONDS
    _merge(config, overrides)
    # A document of its own (Terraform's, config/<env>/promotion-config.json, stays as applied).
    key = f"config/{env}/{function}.json"
    stored = client(env, "s3").put_object(
        Bucket=variables["BBWS_EVIDENCE_BUCKET"], Key=key,
        Body=json.dumps(config, separators=(",", ":")).encode(), ContentType="application/json")
    lam.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {**variables, "BBWS_CONFIG_OBJECT": key, "BBWS_CONFIG_VERSION": stored["VersionId"]}})
    return variables


def restore_config(env: str, variables: dict[str, str], function: str = "preflight") -> None:
    client(env, "lambda").update_function_configuration(
        FunctionName=f"bbws-promotion-{function}-{env}", Environment={"Variables": variables})


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def record_gates(env: str, function: str, qualifier: str, gates=None, ci_run: str | None = None,
                 into: str | None = None) -> str:
    """What a service's CI does: one item per gate, keyed by the package's CodeSha256 (returned); in
    the table of `into` when given (that environment's CI ran them on the package ahead of time)."""
    return ci.record_gates(session(env), env, function, qualifier, GATES if gates is None else gates, ci_run,
                           (session(into), into) if into else None)


STARTED: list[tuple[str, str]] = []  # (env, execution ARN) of every execution a test started


def start(env: str, payload: Any, kind: str = "promote", name: str | None = None) -> str:
    """Start bbws-<kind>-<env> with `payload` as its input (any JSON value); the execution's ARN."""
    if name is None:
        service = payload.get("service", "x") if isinstance(payload, dict) else "x"
        if isinstance(payload, dict) and isinstance(payload.get("tenants"), list) and "service" not in payload:
            service = "-".join(t for t in payload["tenants"][:2] if isinstance(t, str)) or "tenants"
        name = f"{service if isinstance(service, str) else 'x'}-{env}-{uuid.uuid4().hex[:8]}"
    arn = client(env, "stepfunctions").start_execution(
        stateMachineArn=state_machine_arn(env, kind), name=name, input=json.dumps(payload))["executionArn"]
    STARTED.append((env, arn))
    return arn


def end_leftover_executions() -> list[str]:
    """What an operator does with a promotion a failed test left running: answer its approval with a
    rejection (so it releases its lock on the way out), else stop it and delete the lock it holds."""
    ended = []
    while STARTED:
        env, arn = STARTED.pop()
        sfn = client(env, "stepfunctions")
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            continue
        req = pending_approval(env, arn)
        if req:
            try:
                sfn.send_task_failure(taskToken=req["task_token"]["S"], error="Bbws.ApprovalRejected",
                                      cause="left running by a failed test")
                wait_execution(env, arn, timeout=30)
                ended.append(arn)
                continue
            except Exception:  # noqa: BLE001 - fall back to stopping it
                pass
        sfn.stop_execution(executionArn=arn, error="Test.Cleanup", cause="left running by a failed test")
        ddb = client(env, "dynamodb")
        for item in ddb.scan(TableName=f"bbws-promotion-locks-{env}")["Items"]:
            if item.get("execution_arn", {}).get("S") == arn:
                ddb.delete_item(TableName=f"bbws-promotion-locks-{env}", Key={"lock_id": item["lock_id"]})
        ended.append(arn)
    return ended


def approval_request_id(execution_arn: str, kind: str) -> str:
    """The id the approval function gives an execution's request (bbws_domain::naming::approval_request_id)."""
    name = execution_arn.rsplit(":", 1)[-1]
    return f"{name}-{kind}-{hashlib.sha256(execution_arn.encode()).hexdigest()[:8]}"


def pending_approval(env: str, execution_arn: str) -> dict[str, Any] | None:
    """The approval request of an execution (its DynamoDB item), once the pipeline has stored it. Read by
    its key, one for each kind of request, in one BatchGetItem, as tests poll it: a scan of the table
    grows with the run."""
    table = f"bbws-approvals-{env}"
    kinds = ("promotion", "rollback", "release", "tenant")
    keys = [{"request_id": {"S": approval_request_id(execution_arn, kind)}, "item": {"S": "request"}} for kind in kinds]
    found = client(env, "dynamodb").batch_get_item(
        RequestItems={table: {"Keys": keys, "ConsistentRead": True}})["Responses"].get(table, [])
    by_id = {item["request_id"]["S"]: item for item in found}
    return next((by_id[k["request_id"]["S"]] for k in keys if k["request_id"]["S"] in by_id), None)


def required_roles(env: str, execution_arn: str) -> list[str]:
    """The roles whose approval the execution waits for (none before its request is stored)."""
    req = pending_approval(env, execution_arn)
    if not req:
        return []
    (_, roles), = plain(req["required"]).items()  # all_of or any_of
    return roles


def approve_with_task_token(env: str, execution_arn: str, approvers: list[tuple[str, str]],
                            timeout: float = 60) -> None:
    """`aws stepfunctions send-task-success` with the token the pipeline keeps server-side."""
    req = wait_for(lambda: pending_approval(env, execution_arn), timeout, "the approval request")
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    client(env, "stepfunctions").send_task_success(
        taskToken=req["task_token"]["S"],
        output=json.dumps({"approvers": [{"person": p, "role": r, "at": now} for p, r in approvers]}))


def wait_execution(where: Where, arn: str, timeout: float = 180, poll: float = 0.3) -> dict[str, Any]:
    """The execution's description once it has ended."""
    sfn = _client(where, "stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(poll)
    raise AssertionError(f"{arn} still running after {timeout} s")


def history(where: Where, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution so far, in order (GetExecutionHistory's pages of up to 1,000)."""
    pages = _client(where, "stepfunctions").get_paginator("get_execution_history").paginate(
        executionArn=arn, PaginationConfig={"PageSize": 1000})
    return [e for page in pages for e in page["events"]]


def states_entered(where: Where, arn: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history(where, arn) if e["type"].endswith("StateEntered")]


def follow(env: str, arn: str, on_state: Callable[[dict[str, Any]], None],
           while_running: Callable[[], None] | None = None, poll: float = 0.3) -> dict[str, Any]:
    """Watch an execution as the console does: `on_state` is given each state's details (name, input)
    as it is entered, `while_running` is called between polls; the execution's description once it
    has ended."""
    seen = 0
    while True:
        events = history(env, arn)
        for ev in events[seen:]:
            if ev["type"].endswith("StateEntered"):
                on_state(ev["stateEnteredEventDetails"])
        seen = len(events)
        d = client(env, "stepfunctions").describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        if while_running:
            while_running()
        time.sleep(poll)


def alias_version(env: str, function: str, alias: str, region: str = "af-south-1") -> str:
    return client(env, "lambda", region).get_alias(FunctionName=function, Name=alias)["FunctionVersion"]


def code_sha(env: str, function: str, qualifier: str, region: str = "af-south-1") -> str:
    return client(env, "lambda", region).get_function(
        FunctionName=function, Qualifier=qualifier)["Configuration"]["CodeSha256"]


def records_of(env: str, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's records: every page of a Scan (a page stops at 1 MB of the table read, before the
    filter, so an estate that ran many times has several)."""
    pages = client(env, "dynamodb").get_paginator("scan").paginate(
        TableName=f"bbws-deployments-{env}", FilterExpression="execution_arn = :e",
        ExpressionAttributeValues={":e": {"S": execution_arn}})
    return [{k: plain(v) for k, v in item.items()} for page in pages for item in page["Items"]]


def auditor_environment(directory: Path) -> dict[str, str]:
    """The process environment of an auditor's AWS CLI: the estate's profiles plus `auditor-<env>` for each
    account, which assume `bbws-promotion-auditor-<env>` from that account's profile (as an auditor's
    profile assumes the role from their sign-in), written to an AWS config file in `directory`."""
    base = Path(os.environ.get("AWS_CONFIG_FILE", SETTINGS.state_dir / "aws" / "config")).read_text()
    extra = "".join(
        f"\n[profile auditor-{env}]\nrole_arn = arn:aws:iam::{ACCOUNTS[env]}:role/bbws-promotion-auditor-{env}\n"
        f"source_profile = bbws-{env}\nrole_session_name = auditor\nregion = {PRIMARY_REGION}\n"
        f"endpoint_url = {SETTINGS.endpoint}\n" for env in ("dev", "sit", "prod"))
    config = directory / "config"
    config.write_text(base + extra)
    return {**os.environ, "AWS_CONFIG_FILE": str(config)}


def evidence_file(env: str, execution_arn: str, name: str = "report.json", session: Any = None) -> bytes:
    """One file of an execution's evidence, found where its deployment record says it is."""
    records = records_of(env, execution_arn)
    assert records, f"no deployment record for {execution_arn}"
    place = records[0]["evidence"]
    s3 = (session.client("s3", endpoint_url=SETTINGS.endpoint) if session is not None
          else client(env, "s3"))
    return s3.get_object(Bucket=place["bucket"], Key=place["prefix"] + name)["Body"].read()


def evidence_verdicts(env: str, execution_arn: str) -> dict[str, str]:
    """`{"<checklist title>: <item>": verdict}` of an execution's evidence report (report.json)."""
    report = json.loads(evidence_file(env, execution_arn))
    return {f"{c['title']}: {i['item']}": i["verdict"] for c in report["checklists"] for i in c["items"]}


def assert_verdicts(verdicts: dict[str, str], expected: dict[str, str]) -> None:
    """Each item of `expected` (a title prefix may be left out: the item's words suffice when only one
    checklist has them) stands at its verdict in `verdicts`, and `expected` names every item."""
    wrong = {}
    for item, verdict in expected.items():
        hits = [k for k in verdicts if k == item or k.endswith(": " + item)]
        assert len(hits) == 1, f"{item!r} matches {hits} in {sorted(verdicts)}"
        if verdicts[hits[0]] != verdict:
            wrong[item] = (verdicts[hits[0]], "expected", verdict)
    assert not wrong, wrong
    named = {k for k in verdicts for item in expected if k == item or k.endswith(": " + item)}
    assert named == set(verdicts), f"items the table does not name: {sorted(set(verdicts) - named)}"


def lock_of(env: str, service: str) -> dict[str, Any] | None:
    item = client(env, "dynamodb").get_item(
        TableName=f"bbws-promotion-locks-{env}", Key={"lock_id": {"S": f"{service}#{env}"}}).get("Item")
    return {k: plain(v) for k, v in item.items()} if item else None


def plain(v: dict[str, Any]) -> Any:
    return ci.plain(v)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition", poll: float = 0.3) -> Any:
    """The first truthy value of `predicate`, asked every `poll` seconds for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


# -- approvals by email link ------------------------------------------------------------------------

def mailbox(address: str, contains: str | None = None) -> list[dict[str, Any]]:
    """The messages to `address` (those mentioning `contains` when given), oldest first."""
    query = urlencode({"to": address, **({"contains": contains} if contains else {})})
    with urllib.request.urlopen(f"{SETTINGS.endpoint}/_local/mailbox.json?{query}", timeout=30) as r:
        return json.loads(r.read())


def find_approval_links(address: str, execution_arn: str, role: str | None = None) -> dict[str, str] | None:
    """The Approve and Reject links of the approval email `address` received for an execution (as
    `role`, for someone who holds several), if it has arrived."""
    for m in mailbox(address, execution_arn):
        if (execution_arn in m["body"] and m["subject"].startswith("Approval wanted")
                and (role is None or f"as {role}." in m["body"])):
            links = {}
            for line in m["body"].splitlines():
                for label in ("Approve", "Reject"):
                    if line.startswith(f"{label}: http"):
                        links[label.lower()] = line.split(": ", 1)[1].strip()
            return links if len(links) == 2 else None
    return None


def approval_links(address: str, execution_arn: str, timeout: float = 30, role: str | None = None) -> dict[str, str]:
    """The Approve and Reject links of the approval email `address` received for an execution, once
    it has arrived."""
    return wait_for(lambda: find_approval_links(address, execution_arn, role), timeout,
                    f"the approval email to {address}")


def signing_key(env: str) -> bytes:
    """The approval signing key, read as an operator with SSM rights would (to forge test links)."""
    ssm = client(env, "ssm")
    return ssm.get_parameter(Name=f"/bbws/promotion/{env}/approval-key", WithDecryption=True)[
        "Parameter"]["Value"].encode()


def sign_link(key: bytes, base_url: str, claims: dict[str, Any]) -> str:
    """A link signed as the approval function signs them (HMAC-SHA-256 over the claims JSON)."""
    body = json.dumps(claims, separators=(",", ":")).encode()
    sig = hmac.new(key, body, hashlib.sha256).digest()
    enc = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"{base_url}decide?t={enc(body)}.{enc(sig)}"


def claims_of(link: str) -> dict[str, Any]:
    token = parse_qs(urlsplit(link).query)["t"][0]
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def open_link(link: str) -> requests.Response:
    """What a browser does when a link is opened: GET."""
    return requests.get(link, headers={"User-Agent": "Mozilla/5.0 (iPhone) test-browser"}, timeout=30)


def confirm(link: str, reason: str | None = None) -> requests.Response:
    """What a browser does when the page's form is sent: POST the hidden token (and the reason)."""
    parts = urlsplit(link)
    form = {"t": parse_qs(parts.query)["t"][0], "confirm": "yes"}
    if reason is not None:
        form["reason"] = reason
    return requests.post(f"{parts.scheme}://{parts.netloc}/decide", data=form,
                         headers={"User-Agent": "Mozilla/5.0 (iPhone) test-browser"}, timeout=30)


def approval_items(env: str, execution_arn: str) -> list[dict[str, Any]]:
    req = pending_approval(env, execution_arn)
    if not req:
        return []
    items = client(env, "dynamodb").query(
        TableName=f"bbws-approvals-{env}", KeyConditionExpression="request_id = :r",
        ExpressionAttributeValues={":r": req["request_id"]}, ConsistentRead=True)["Items"]
    return [{k: plain(v) for k, v in i.items()} for i in items]


def task_callbacks(env: str, execution_arn: str) -> list[str]:
    """History events that answered the approval wait (TaskSucceeded / TaskFailed / TaskTimedOut)."""
    return [e["type"] for e in history(env, execution_arn)
            if e["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut")
            and "waitForTaskToken" in json.dumps(e, default=str)]


def inside_every_window() -> dict[str, Any]:
    """A deployed configuration whose maintenance windows cover every day (for PROD tests)."""
    return {"maintenance_windows": windows_all_week()}


# -- the BBWS services (fixtures of the estate), as their teams and on-call engineers touch them -----


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def windows_all_week() -> list[dict[str, str]]:
    """Maintenance windows that make every moment of the week "inside a window"."""
    return [{"day": d, "start": "00:00", "end": "24:00"} for d in DAYS]


def windows_not_today(now: dt.datetime | None = None) -> tuple[list[dict[str, str]], dt.datetime]:
    """One window, the whole day after tomorrow (UTC), so "now" is outside every window even if the
    test crosses midnight; with the moment that window opens."""
    now = now or utc_now()
    opens = dt.datetime.combine(now.date() + dt.timedelta(days=2), dt.time(0, 0), dt.timezone.utc)
    return [{"day": DAYS[opens.weekday()], "start": "00:00", "end": "24:00"}], opens


def functions_of(service: str, env: str) -> list[str]:
    return fixtures.service(service).function_names(env)


def regions_of(env: str) -> tuple[str, ...]:
    return fixtures.REGIONS_OF_ENV[env]


def latest_versions(env: str, service: str) -> dict[tuple[str, str], str]:
    """Where `latest-<env>` of every function of the service points, per (region, function)."""
    return {(region, fn): alias_version(env, fn, f"latest-{env}", region)
            for region in regions_of(env) for fn in functions_of(service, env)}


def deploy_build(env: str, service: str, variant: str, build: str,
                 functions: list[str] | None = None) -> dict[tuple[str, str], str]:
    """What a service's own pipeline does (local/services/seed.py deploy-variant): publish `build` of
    `variant` and move `latest-<env>` to it. Returns where the aliases pointed before."""
    previous = latest_versions(env, service)
    seed.deploy_variant(env, service, variant, build, ESTATE, functions=functions)
    return previous


def reset_service(env: str, service: str) -> dict[tuple[str, str], str]:
    """Put the service back on its baseline build in `env` (seed.py --reset, for one service)."""
    svc = fixtures.service(service)
    packages = seed.Packages(ESTATE.state_dir)
    for region in regions_of(env):
        account = seed.Account(ESTATE, env, region, [])
        role_arn = account.ensure_role()
        for fn in svc.functions:
            seed.seed_function(account, packages, svc, fn, role_arn, reset=True)
    return latest_versions(env, service)


def restore_aliases(env: str, versions: dict[tuple[str, str], str]) -> None:
    for (region, fn), version in versions.items():
        client(env, "lambda", region).update_alias(
            FunctionName=fn, Name=f"latest-{env}", FunctionVersion=version)


def record_service_gates(env: str, service: str, gates=GATES, ci_run: str | None = None) -> str:
    """CI's gate results for the package behind `latest-<env>` of every function of the service."""
    shas = {record_gates(env, fn, f"latest-{env}", gates, ci_run) for fn in functions_of(service, env)}
    assert len(shas) == 1, f"{service} runs one package in {env}: {shas}"
    return shas.pop()


def metric_sum(env: str, function: str, metric: str, lookback_seconds: int = 3600,
               region: str = "af-south-1") -> float:
    """Sum of AWS/Lambda `metric` of the function (FunctionName only) over the look-back, as the
    preflight reads it."""
    now = utc_now()
    points = client(env, "cloudwatch", region).get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - dt.timedelta(seconds=lookback_seconds), EndTime=now, Period=lookback_seconds,
        Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points)


def wait_metric(env: str, function: str, metric: str, at_least: float, lookback_seconds: int = 3600) -> float:
    """Wait until CloudWatch shows the datapoints (as on AWS, they are visible a little after the
    invocations that made them)."""
    return wait_for(lambda: (lambda v: v if v >= at_least else None)(
        metric_sum(env, function, metric, lookback_seconds)), 120, f"{metric} >= {at_least} of {function}")


def delete_gate(env: str, sha: str, gate: str) -> None:
    client(env, "dynamodb").delete_item(
        TableName=f"bbws-quality-gates-{env}", Key={"code_sha256": {"S": sha}, "gate": {"S": gate}})


def reject_with_task_token(env: str, execution_arn: str, cause: str,
                           error: str = "Bbws.ApprovalRejected", timeout: float = 60) -> None:
    """`aws stepfunctions send-task-failure` with the token the pipeline keeps server-side."""
    req = wait_for(lambda: pending_approval(env, execution_arn), timeout, "the approval request")
    client(env, "stepfunctions").send_task_failure(
        taskToken=req["task_token"]["S"], error=error, cause=cause)


def state_output(env: str, arn: str, state: str) -> Any:
    """The output of the last exit from `state` (what the next state received), decoded."""
    outputs = [e["stateExitedEventDetails"].get("output") for e in history(env, arn)
               if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state]
    if not outputs or outputs[-1] is None:
        return None
    return json.loads(outputs[-1])


def wait_state_entered(env: str, arn: str, state: str, timeout: float = 60) -> None:
    def entered() -> bool:
        # The status first: an execution that passes through the state and ends between a read of the
        # history and a read of the status has entered it (the history read after the status has it).
        status = client(env, "stepfunctions").describe_execution(executionArn=arn)["status"]
        if state in states_entered(env, arn):
            return True
        assert status == "RUNNING", f"{arn} ended {status} before entering '{state}'"
        return False
    wait_for(entered, timeout, f"state '{state}'")


def aliases_named(env: str, function: str, prefix: str, region: str = "af-south-1",
                  described_with: str | None = None) -> list[dict[str, Any]]:
    aliases = client(env, "lambda", region).list_aliases(FunctionName=function)["Aliases"]
    return [a for a in aliases if a["Name"].startswith(prefix)
            and (described_with is None or described_with in a.get("Description", ""))]


def approval_request(env: str, execution_arn: str) -> dict[str, Any]:
    item = wait_for(lambda: pending_approval(env, execution_arn), 60, "the approval request")
    return {k: plain(v) for k, v in item.items()}


def set_reserved_concurrency(env: str, function: str, concurrency: int | None,
                             region: str = "af-south-1") -> None:
    lam = client(env, "lambda", region)
    if concurrency is None:
        lam.delete_function_concurrency(FunctionName=function)
    else:
        lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=concurrency)


def invoke_until_throttled(env: str, function: str, qualifier: str, times: int,
                           region: str = "af-south-1") -> int:
    """Invoke `times` times without retries (live traffic); how many were throttled."""
    lam = ESTATE.client(env, "lambda", region, retries=False)
    throttled = 0
    for _ in range(times):
        try:
            lam.invoke(FunctionName=function, Qualifier=qualifier,
                       Payload=json.dumps(fixtures.http_get("/health")).encode())
        except lam.exceptions.TooManyRequestsException:
            throttled += 1
    return throttled


def catalog_with(service: str, **changes: Any) -> list[dict[str, Any]]:
    """RB-003's catalog with one service's entry changed (a deployed configuration's catalog)."""
    catalog = copy.deepcopy(RUNBOOK_CONFIG["catalog"])
    for spec in catalog:
        if spec["name"] == service:
            spec.update(changes)
    return catalog


def failure_of(d: dict[str, Any]) -> tuple[str | None, str | None]:
    return d.get("error"), d.get("cause")


def notifications_of(execution_arn: str, to: str = "platform-team@bbws.io") -> list[tuple[str, str]]:
    """(subject, body) of the events-topic emails about one execution, oldest first."""
    mails = sorted(mailbox(to, execution_arn), key=lambda m: m["file"])
    return [(m["subject"], m["body"].replace("\r\n", "\n")) for m in mails
            if execution_arn in m["body"].replace("\r\n", "\n")]


def wait_notification(execution_arn: str, subject: str, timeout: float = 30) -> str:
    """The body of the email with `subject` about the execution, once it has arrived."""
    def arrived():
        return next((body for s, body in notifications_of(execution_arn) if s == subject), None)
    return wait_for(arrived, timeout, f"the '{subject}' notification")


def arm_fault(env: str, function: str, operation: str, region: str = "af-south-1", times: int = 1,
              code: str = "ResourceConflictException", status: int = 409) -> None:
    """Make the next `times` calls of `operation` on `function` fail as AWS can (local/bbws_local/faults.py)."""
    _arm({
        "account": ACCOUNTS[env], "region": region, "operation": operation, "function": function,
        "times": times, "code": code, "status": status,
        "message": f"An update is in progress for resource: {function}"})


def arm_publish_fault(env: str, topic: str, times: int = 1, code: str = "KMSThrottling", status: int = 400,
                      message: str = "Request was denied due to request throttling (KMS)") -> None:
    """Make the next `times` SNS Publish calls to `topic` (a name or ARN) in `env` fail as AWS can."""
    _arm({
        "service": "sns", "account": ACCOUNTS[env], "region": "af-south-1", "operation": "Publish",
        "target": topic, "times": times, "code": code, "status": status, "message": message})


def arm_call_fault(env: str, service: str, operation: str, target: str = "*", caller: str | None = None,
                   times: int = 1, code: str = "ThrottlingException", status: int = 400,
                   message: str = "Rate exceeded") -> None:
    """Make the next `times` calls of `service:operation` on `target` in `env` (by the role `caller`,
    if given) fail as AWS can: throttled, by default."""
    doc = {"service": service, "account": ACCOUNTS[env], "region": "af-south-1", "operation": operation,
           "target": target, "times": times, "code": code, "status": status, "message": message}
    if caller:
        doc["caller"] = caller
    _arm(doc)


def approval_mails(address: str, execution_arn: str) -> list[dict[str, Any]]:
    """The approval emails `address` received for an execution."""
    return [m for m in mailbox(address, execution_arn)
            if execution_arn in m["body"] and m["subject"].startswith("Approval wanted")]


def put_latest_on(env: str, function: str, version: str, region: str = "af-south-1") -> str:
    """Upload the package of `version` as the function's `$LATEST` (what a deploy of that version leaves,
    without publishing anything); its CodeSha256."""
    lam = client(env, "lambda", region)
    location = lam.get_function(FunctionName=function, Qualifier=version)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as r:
        package = r.read()
    sha = lam.update_function_code(FunctionName=function, ZipFile=package, Publish=False)["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    return sha


def recycle(env: str, function: str) -> int:
    """Stop the function's idle processes, as AWS recycles execution environments: its next invocation
    starts cold (reads its configuration, assumes its roles again). How many were stopped."""
    r = requests.post(f"{SETTINGS.endpoint}/_local/recycle", timeout=10,
                      json={"account": ACCOUNTS[env], "function": function})
    assert r.status_code == 200, r.text
    return r.json()["stopped"]


# The faults this process armed: the estate's own tests arm theirs on the same estate meanwhile, and
# neither suite may see or disarm the other's.
ARMED_FAULTS: list[int] = []


def _arm(doc: dict[str, Any]) -> int:
    r = requests.post(f"{SETTINGS.endpoint}/_local/faults", timeout=5, json=doc)
    assert r.status_code == 200, r.text
    fault_id = r.json()["armed"]["id"]
    ARMED_FAULTS.append(fault_id)
    return fault_id


def armed_faults() -> list[dict[str, Any]]:
    """The faults this process armed that are still armed."""
    return [f for f in requests.get(f"{SETTINGS.endpoint}/_local/faults", timeout=5).json()
            if f["id"] in ARMED_FAULTS]


def disarm_faults() -> None:
    """Disarms the faults this process armed."""
    while ARMED_FAULTS:
        requests.delete(f"{SETTINGS.endpoint}/_local/faults", params={"id": ARMED_FAULTS.pop()}, timeout=5)


def set_function_state(env: str, function: str, state: str, region: str = "af-south-1") -> None:
    """AWS's State of a function (e.g. Inactive after weeks idle), which the estate never changes itself."""
    r = requests.post(f"{SETTINGS.endpoint}/_local/function-state", timeout=5, json={
        "account": ACCOUNTS[env], "region": region, "function": function, "state": state})
    assert r.status_code == 200, r.text


def publish_build(env: str, service: str, variant: str, build: str) -> dict[tuple[str, str], str]:
    """A build of the service published in every function and region of `env` without moving any
    alias (what a pipeline that stopped before its alias move leaves): {(region, function): version}."""
    packages = seed.Packages(ESTATE.state_dir)
    package = packages.get(service, variant, build)
    published = {}
    for region in regions_of(env):
        account = seed.Account(ESTATE, env, region, [])
        for fn in functions_of(service, env):
            published[(region, fn)] = account.ensure_published(fn, package)
    return published


def backup_stamp(at: dt.datetime | None = None) -> str:
    return f"backup-{(at or utc_now()).strftime('%Y%m%d-%H%M%S')}"


def rollback_records(env: str, service: str) -> list[dict[str, Any]]:
    items = client(env, "dynamodb").query(
        TableName=f"bbws-deployments-{env}", IndexName="service-timestamp",
        KeyConditionExpression="service = :s", ExpressionAttributeValues={":s": {"S": service}})["Items"]
    return [{k: plain(v) for k, v in item.items()} for item in items if item["action"]["S"] == "rollback"]


# ---------------------------------------------------------------------------------------------------
# Tenants (bbws-tenant-<env>): the fixture repository's commits, the tenant build run by hand, ECS holds
# ---------------------------------------------------------------------------------------------------

_TENANT_COMMITS: dict[str, str] = {}


def tenant_commits() -> dict[str, str]:
    """label -> SHA of the tenants fixture (local/tenants: initial, change, destroy); the same SHAs the
    estate's registered repository has (the fixture's commits are reproducible)."""
    if not _TENANT_COMMITS:
        import tempfile

        from tenants import fixture
        with tempfile.TemporaryDirectory(prefix="tenants-") as tmp:
            _TENANT_COMMITS.update(fixture.create(Path(tmp)))
    return dict(_TENANT_COMMITS)


def tenant_build(env: str, action: str, tenants: list[str], commit: str, root: str,
                 sha256s: str | None = None, timeout: float = 300) -> dict[str, Any]:
    """Run the account's tenant build (bbws-tenant-build-<env>) as an operator would with
    `aws codebuild start-build`, and wait for it: the build as BatchGetBuilds shows it."""
    cb = client(env, "codebuild")
    variables = [{"name": "ACTION", "value": action, "type": "PLAINTEXT"},
                 {"name": "TENANTS", "value": " ".join(tenants), "type": "PLAINTEXT"},
                 {"name": "COMMIT", "value": commit, "type": "PLAINTEXT"},
                 {"name": "ARTIFACTS_ROOT", "value": root, "type": "PLAINTEXT"}]
    if sha256s is not None:
        variables.append({"name": "TFPLAN_SHA256S", "value": sha256s, "type": "PLAINTEXT"})
    build_id = cb.start_build(projectName=f"bbws-tenant-build-{env}", sourceVersion=commit,
                              environmentVariablesOverride=variables)["build"]["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildStatus"] != "IN_PROGRESS":
            return build
        time.sleep(0.5)
    raise AssertionError(f"tenant build {build_id} still running after {timeout} s")


def as_auditor(env: str, service: str) -> Any:
    """A client acting as bbws-promotion-auditor-<env> (assumed from the account's profile): one of the
    principals the plans bucket lets read plans (administrators may not)."""
    creds = client(env, "sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNTS[env]}:role/bbws-promotion-auditor-{env}",
                                           RoleSessionName="auditor")["Credentials"]
    return boto3.client(service, region_name=PRIMARY_REGION, endpoint_url=SETTINGS.endpoint,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def tenant_plan_file(env: str, key: str) -> bytes:
    """An object of the plans bucket, read as the auditor."""
    return as_auditor(env, "s3").get_object(Bucket=f"bbws-tenant-plans-{ACCOUNTS[env]}", Key=key)["Body"].read()


def tenant_plan_summary(env: str, root: str, tenant: str) -> dict[str, Any]:
    """The plan-summary.json a plan build left for `tenant` under `root`."""
    return json.loads(tenant_plan_file(env, f"{root}/{tenant}/plan-summary.json"))


def put_tenants_at(env: str, label: str, tenants: tuple[str, ...] = ("tenant-001", "tenant-002")) -> None:
    """Bring tenants to a fixture commit with the tenant build itself (plan, then apply of that plan where
    it changes anything), as an operator repairing an environment would."""
    commit = tenant_commits()[label]
    root = f"tenant/{env}/baseline-{uuid.uuid4().hex[:8]}"
    plan = tenant_build(env, "plan", list(tenants), commit, root)
    assert plan["buildStatus"] == "SUCCEEDED", plan.get("phases")
    changed = [t for t in tenants if tenant_plan_summary(env, root, t)["changes"]]
    if changed:
        sha256s = " ".join(f"{t}={tenant_plan_summary(env, root, t)['tfplan_sha256']}" for t in changed)
        applied = tenant_build(env, "apply", changed, commit, root, sha256s)
        assert applied["buildStatus"] == "SUCCEEDED", applied.get("phases")


def tenant_state_versions(env: str, tenants: tuple[str, ...] = ("tenant-001", "tenant-002")) -> dict[str, str | None]:
    """The version of each tenant's Terraform state object in `env` (bbws-tenant-state-<account>, a versioned
    bucket: every apply writes a new one); None where the tenant has no state."""
    s3 = client(env, "s3")
    versions: dict[str, str | None] = {}
    for tenant in tenants:
        try:
            versions[tenant] = s3.head_object(Bucket=f"bbws-tenant-state-{ACCOUNTS[env]}",
                                              Key=f"tenants/{tenant}/terraform.tfstate")["VersionId"]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise
            versions[tenant] = None
    return versions


def ecs_service(env: str, tenant: str) -> dict[str, Any]:
    """`aws ecs describe-services --cluster bbws-cluster-<env> --services <tenant>-wordpress`."""
    services = client(env, "ecs").describe_services(cluster=f"bbws-cluster-{env}",
                                                   services=[f"{tenant}-wordpress"])["services"]
    return services[0] if services else {}


def hold_ecs_service(env: str, tenant: str, running: int | None) -> None:
    """Keep `<tenant>-wordpress` at `running` tasks whatever its desired count (the estate's hold:
    tasks that fail to start); None releases the hold."""
    key = {"account": ACCOUNTS[env], "region": PRIMARY_REGION, "cluster": f"bbws-cluster-{env}",
           "service": f"{tenant}-wordpress"}
    if running is None:
        requests.delete(f"{SETTINGS.endpoint}/_local/ecs/hold", json=key, timeout=5)
    else:
        r = requests.post(f"{SETTINGS.endpoint}/_local/ecs/hold", json={**key, "running": running}, timeout=5)
        assert r.status_code == 200, r.text
