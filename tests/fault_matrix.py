"""The fault matrix: every AWS call each step of an execution makes fails once, and every execution still
ends in a safe state (issue 11; RB-003's promise that PROD is never left half-changed).

How it is built, without a hand-written list of calls:
1. Each scenario (a DEV -> SIT promotion, a SIT -> PROD promotion, a manual rollback, a release) runs once
   without a fault. The estate's call journal (`GET /_local/calls`) says which AWS calls the pipeline's
   roles made; the execution history says which Task state was running when each was made. Every distinct
   (state, call) is a row: the account, region, service, operation and resource of the call, and the role
   that made it.
2. Each row is run again with one fault armed on that call (faults.py; `caller` narrows it to the role):
   - transient: the call is throttled on every attempt of the SDK once (3 answers), so the step's
     invocation fails with Bbws.AwsUnavailable and the state machine's Retry runs it again
     (a call of the Step Functions interpreter itself is throttled once: its own retry absorbs it);
   - permanent: the call is refused for good (AccessDenied, as IAM refuses it) for the whole execution;
   - crash: the call succeeds, then the process of the step's Lambda is killed before it answers, so the
     task is retried with the work already done.
3. Expected, per cell:
   - transient and crash: the execution ends as it did without the fault (SUCCEEDED), and nothing is done
     twice: at most one backup alias and one incident alias per function and region, at most one new
     version per function and region, one record, one approval email per approver, one SendTaskSuccess;
   - permanent: FAILED with a `Bbws.*` error whose cause names the call (or, for a step whose failure the
     runbook tolerates, listed in TOLERATED with the reason, the execution's own outcome);
   - every cell: a safe state. Every `latest-<env>` alias of the service, in every region, on a known-good
     version (the one it was on, or the new one only once the monitoring passed), the unqualified
     function's code the package of that version, no lock held by an execution that has ended unless the
     next lock attempt takes it over (it is stale: the holder is no longer RUNNING), the outcome recorded
     (or the execution's error saying it could not be), and a notification attempted (an SNS Publish).

`make faults` runs every cell and prints the table; `make test` runs the short form (one cell per step,
tests/test_fault_matrix.py). Scenarios run in three lanes at once (SIT, PROD, DEV accounts), one
execution at a time in each, so one lane's fault never meets another lane's call.
"""
from __future__ import annotations

import argparse
import collections
import copy
import datetime as dt
import json
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

import pipeline_helpers as ph

KINDS = ("transient", "permanent", "crash")

# Throttling and refusal as each service words them (status, code), by IAM service prefix.
THROTTLED = {"lambda": (429, "TooManyRequestsException"), "dynamodb": (400, "ThrottlingException"),
             "sns": (400, "Throttling"), "cloudwatch": (400, "Throttling"), "sts": (400, "Throttling"),
             "ssm": (400, "ThrottlingException"), "states": (400, "ThrottlingException"),
             "kms": (400, "ThrottlingException"), "events": (400, "ThrottlingException"), "s3": (503, "SlowDown")}
REFUSED = {"lambda": (403, "AccessDeniedException"), "dynamodb": (400, "AccessDeniedException"),
           "sns": (403, "AuthorizationError"), "cloudwatch": (403, "AccessDenied"), "sts": (403, "AccessDenied"),
           "ssm": (400, "AccessDeniedException"), "states": (400, "AccessDeniedException"),
           "kms": (400, "AccessDeniedException"), "events": (400, "AccessDeniedException"),
           "s3": (403, "AccessDenied")}
# Attempts the AWS SDK for Rust makes per call (standard retry mode).
SDK_ATTEMPTS = 3

# Calls whose permanent failure the pipeline tolerates by design: the execution keeps the outcome it has
# without the fault. (role name prefix, service:operation) -> why.
TOLERATED: dict[tuple[str, str], str] = {
    ("bbws-promotion-record-", "sns:Publish"):
        "a notification that cannot be sent is logged (notify_failed) and reported in the step's output "
        "(notified: false); it never turns the outcome into another one nor keeps a lock "
        "(functions/record: announce)",
    ("bbws-promotion-record-", "states:StartExecution"):
        "a 24-hour watch that cannot start never changes the outcome: the versions serve, the step's output "
        "says watch.started: false with the error, and the completion email gives the command that starts it "
        "(functions/record: start_watch)",
    ("bbws-promotion-record-", "s3:PutObject"):
        "evidence that cannot be written never changes the outcome: the step's output says evidence.written: "
        "false with the error, the completion email says the report was not written and why, and the record "
        "and the execution history keep every fact (functions/record: evidence::write)",
    ("bbws-promotion-record-", "states:GetExecutionHistory"):
        "read for the evidence only: the report is not written (as for s3:PutObject), the outcome stands",
    ("bbws-promotion-record-", "dynamodb:Query"):
        "the approvals read for the evidence only: the report is not written (as for s3:PutObject), the outcome "
        "stands",
    ("bbws-promotion-record-", "ssm:GetParameter"):
        "the approval URL read for the evidence link only: the email gives the report's S3 location without "
        "the link, the outcome stands",
    ("bbws-promotion-record-", "dynamodb:DeleteItem"):
        "a lock that cannot be released after the outcome is recorded does not change that outcome: its holder "
        "has ended, so the lock is stale and the next lock attempt takes it over after DescribeExecution of "
        "the holder (tests/test_promote_lock.py); the failed release stays in the execution history",
}


# Calls made when an approver answers a link (the approval function's URL face), not by the execution:
# refused for good, no decision can be recorded, so the execution waits until the approval deadline and
# ends Bbws.ApprovalTimedOut (lock released, outcome recorded, people told). The scenarios' deployed
# approval timeout is APPROVAL_TIMEOUT_SECONDS for that. (A retried ask reads the request too, but a
# permanent cell has no retry.)
APPROVER_FACING: dict[tuple[str, str], str] = {
    ("bbws-promotion-approval-", "dynamodb:GetItem"): "the link's request read when the approver opens it",
    ("bbws-promotion-approval-", "dynamodb:Query"): "the request's approvals read for the page",
    ("bbws-promotion-approval-", "dynamodb:TransactWriteItems"): "the approval written with the request",
    ("bbws-promotion-approval-", "states:SendTaskSuccess"): "the quorum given to the waiting execution",
}
APPROVAL_TIMEOUT_SECONDS = 40


def approver_facing(call: Call) -> str | None:
    return next((why for (role, op), why in APPROVER_FACING.items()
                 if call.role.startswith(role) and op == f"{call.service}:{call.operation}"), None)


# Cells not run, each with the reason (reported by `make faults`): (role prefix, service:operation, kind).
_SYNC_POLL = (
    "the estate's interpreter follows a startExecution.sync:2 child by calling DescribeExecution as the "
    "state machine's role and fails the parent's task when that call fails; AWS follows the child with "
    "its managed EventBridge rule and how it surfaces a failure of its own polling is not documented, so "
    "the matrix would judge an estate artefact (with a fault there, the task's Retry starts the phase "
    "again and meets ExecutionAlreadyExists for the phase that ran)")
NOT_RUN: dict[tuple[str, str, str], str] = {
    ("bbws-promotion-states-", "states:DescribeExecution", "transient"): _SYNC_POLL,
    ("bbws-promotion-states-", "states:DescribeExecution", "permanent"): _SYNC_POLL,
}


def not_run(call: "Call", kind: str) -> str | None:
    return next((why for (role, op, k), why in NOT_RUN.items()
                 if call.role.startswith(role) and op == f"{call.service}:{call.operation}" and k == kind), None)


def tolerated(call: "Call") -> str | None:
    return next((why for (role, op), why in TOLERATED.items()
                 if call.role.startswith(role) and op == f"{call.service}:{call.operation}"), None)


@dataclass(frozen=True)
class Call:
    account: str
    region: str
    service: str
    operation: str
    target: str | None
    role: str  # role name

    def label(self) -> str:
        env = next((e for e, a in ph.ACCOUNTS.items() if a == self.account), self.account)
        target = (self.target or "").rsplit(":", 1)[-1] if self.service != "lambda" else (self.target or "")
        return f"{self.service}:{self.operation} {target} ({env} {self.region}, {self.role})"


@dataclass(frozen=True)
class Cell:
    scenario: str
    state: str
    call: Call
    kind: str

    def label(self) -> str:
        return f"{self.scenario} | {self.state} | {self.call.label()} | {self.kind}"


@dataclass
class Result:
    cell: Cell
    status: str = ""
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    hit: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------------
# The estate's journal and faults
# ---------------------------------------------------------------------------------------------------

def _local(method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{ph.SETTINGS.endpoint}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def journal_seq() -> int:
    return _local("GET", "/_local/calls?since=999999999")["seq"]


def calls_since(seq: int) -> list[dict[str, Any]]:
    return _local("GET", f"/_local/calls?since={seq}")["calls"]


def arm(cell: Cell, crash_function: str | None) -> int:
    c = cell.call
    target = c.target or "*"
    if c.service == "states" and ":execution:" in target:
        # An execution the scenario starts (a release's phase) is named anew in every run: the fault
        # is narrowed by the role and the operation instead.
        target = "*"
    doc: dict[str, Any] = {"service": c.service, "account": c.account, "region": c.region,
                           "operation": c.operation, "target": target, "caller": c.role}
    if cell.kind == "transient" and c.service == "lambda" and c.operation == "Invoke" \
            and not c.role.startswith("bbws-promotion-states-"):
        # A health check or smoke test of a service function: a throttle there is the function's own
        # concurrency used up, which the monitor counts as unhealthy (RB-003); Lambda's own 5xx is not.
        doc.update(times=SDK_ATTEMPTS, status=500, code="ServiceException", message="Service unavailable")
    elif cell.kind == "transient":
        status, code = THROTTLED[c.service]
        # The interpreter's own calls (Invoke, SendTask*) are retried by Step Functions itself.
        doc.update(times=SDK_ATTEMPTS, status=status, code=code, message="Rate exceeded")
    elif cell.kind == "permanent":
        status, code = REFUSED[c.service]
        doc.update(times=100, status=status, code=code, message=(
            f"User: arn:aws:sts::{c.account}:assumed-role/{c.role}/{c.role} is not authorized to perform: "
            f"{c.service}:{c.operation} on resource: {c.target or '*'} because no identity-based policy "
            f"allows the {c.service}:{c.operation} action"))
    else:
        doc.update(kind="crash", times=1, crash_function=crash_function)
    return _local("POST", "/_local/faults", doc)["armed"]["id"]


def disarm(fault_id: int) -> int:
    """Disarm one fault; how many calls it failed (or let through, for a crash)."""
    hit = next((f["failed"] for f in _local("GET", "/_local/faults") if f["id"] == fault_id), None)
    _local("DELETE", f"/_local/faults?id={fault_id}")
    return hit if hit is not None else -1  # -1: used up


# ---------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------

def _when(event: dict[str, Any]) -> float:
    ts = event["timestamp"]
    return ts.timestamp() if isinstance(ts, dt.datetime) else float(ts)


def task_windows(env: str, arn: str) -> list[tuple[str, float, float]]:
    """(state, entered, exited) of every Task state of an execution, in order."""
    windows, open_ = [], {}
    tasks = set()
    for e in ph.history(env, arn):
        t = e["type"]
        if t == "TaskStateEntered":
            name = e["stateEnteredEventDetails"]["name"]
            open_[name] = _when(e)
            tasks.add(name)
        elif t == "TaskStateExited":
            name = e["stateExitedEventDetails"]["name"]
            if name in open_:
                windows.append((name, open_.pop(name), _when(e)))
    now = time.time()
    windows += [(n, t0, now) for n, t0 in open_.items()]
    return sorted(windows, key=lambda w: w[1])


class Scenario:
    """One way through a state machine, run in one lane, repeatable: `prepare` puts the service where the
    runbook's user finds it, `run` starts and drives one execution to its end."""

    name = ""
    env = ""           # where the state machine runs
    machine = "promote"
    service = ""
    approvers: list[tuple[str, str]] = []
    config: dict[str, Any] = {}

    def __init__(self) -> None:
        self.previous_config: dict[str, str] | None = None
        self.roles = self._roles()

    # the lane's roles: whose calls this scenario owns
    def _roles(self) -> set[tuple[str, str]]:
        iam = ph.client(self.env, "iam")
        names = {r["RoleName"] for page in iam.get_paginator("list_roles").paginate()
                 for r in page["Roles"] if r["RoleName"].startswith("bbws-promotion-")}
        names.discard("bbws-promotion-source-reader")
        roles = {(ph.ACCOUNTS[self.env], n) for n in names}
        source = {"sit": "dev", "prod": "sit"}.get(self.env)
        if source and self.machine in ("promote", "release"):
            roles.add((ph.ACCOUNTS[source], "bbws-promotion-source-reader"))
        return roles

    def owns(self, call: dict[str, Any]) -> bool:
        return (call["account"], call["role"].rsplit("/", 1)[-1]) in self.roles

    def function_of(self, state: str) -> str | None:
        """The Lambda function behind a Task state (the deployed definition's Resource)."""
        return self._functions().get(state)

    def _functions(self) -> dict[str, str]:
        if not hasattr(self, "_fn_cache"):
            sfn = ph.client(self.env, "stepfunctions")
            doc = json.loads(sfn.describe_state_machine(
                stateMachineArn=ph.state_machine_arn(self.env, self.machine))["definition"])
            found: dict[str, str] = {}

            def walk(states: dict[str, Any]) -> None:
                for n, s in states.items():
                    if s.get("Type") != "Task":
                        continue
                    resource = s.get("Resource", "")
                    fn = (s.get("Parameters") or {}).get("FunctionName") if resource.startswith(
                        "arn:aws:states:::lambda:invoke") else resource
                    if isinstance(fn, str) and ":function:" in fn:
                        found[n] = fn.split(":function:")[1].split(":")[0]
            walk(doc["States"])
            self._fn_cache = found
        return self._fn_cache

    # set up and tear down ------------------------------------------------------------------------
    def begin(self) -> None:
        if self.config:
            self.previous_config = ph.set_config(self.env, self.config)

    def end(self) -> None:
        if self.previous_config is not None:
            ph.restore_config(self.env, self.previous_config)

    def prepare(self) -> dict[str, Any]:
        raise NotImplementedError

    def request(self, ctx: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def cleanup(self, ctx: dict[str, Any]) -> None:
        pass

    # one execution ---------------------------------------------------------------------------------
    def run(self, ctx: dict[str, Any], timeout: float = 240) -> tuple[str, dict[str, Any]]:
        arn = ph.start(self.env, self.request(ctx), kind=self.machine)
        ctx["arn"] = arn
        sfn = ph.client(self.env, "stepfunctions")
        deadline = time.monotonic() + timeout
        approved = not self.approvers
        while time.monotonic() < deadline:
            d = sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                if (self.env, arn) in ph.STARTED:
                    ph.STARTED.remove((self.env, arn))
                return arn, d
            if not approved and ph.pending_approval(self.env, arn):
                approved = self._approve(arn)
            time.sleep(0.3)
        sfn.stop_execution(executionArn=arn, error="Bbws.Test", cause="the fault matrix's time limit")
        return arn, sfn.describe_execution(executionArn=arn)

    def _approve(self, arn: str) -> bool:
        """Each approver opens the email's Approve link and confirms, as on a phone; a page that does
        not say the approval counted (the approval function died, or AWS refused it a call), or that
        says it is recorded but not yet passed on (503), is met by pressing again, as a person does."""
        for address, role in self.approvers:
            try:
                links = ph.approval_links(address, arn, timeout=20)
            except AssertionError:
                return False
            for _ in range(3):
                page = ph.confirm(links["approve"])
                given = [i for i in ph.approval_items(self.env, arn) if i["item"] == f"approval#{role}"]
                if given and page.status_code != 503:
                    break
                time.sleep(1)
        return True

    # what must hold ------------------------------------------------------------------------------
    def safe_state(self, ctx: dict[str, Any], arn: str, d: dict[str, Any], calls: list[dict[str, Any]]) -> list[str]:
        problems = []
        states = ph.states_entered(self.env, arn)
        # A release's phases are promotions of their own (child executions named <release>-p<n>).
        children = [e["executionArn"] for e in ph.client(self.env, "stepfunctions").list_executions(
            stateMachineArn=ph.state_machine_arn(self.env), maxResults=100)["executions"]
            if e["name"].startswith(arn.rsplit(":", 1)[1] + "-p")] if self.machine == "release" else []
        passed = {"Record success", "Record release", "Record rollback"}
        monitored = bool(passed & set(states)) or any(
            passed & set(ph.states_entered(self.env, child)) for child in children)
        for (region, fn), before in ctx["before"].items():
            lam = ph.client(self.env, "lambda", region)
            live = lam.get_alias(FunctionName=fn, Name=f"latest-{self.env}")["FunctionVersion"]
            live_sha = lam.get_function(FunctionName=fn, Qualifier=live)["Configuration"]["CodeSha256"]
            # Known-good: where it was, or the new package once the monitoring passed (a manual
            # rollback's target is known-good by the on-call engineer's choice).
            new_ok = monitored or self.machine == "rollback"
            if live != before and not (new_ok and live_sha in ctx.get("new_shas", set())):
                problems.append(f"latest-{self.env} of {fn} in {region} on {live} ({live_sha[:12]}), not a "
                                f"known-good version (was {before}; monitored: {monitored})")
            latest_sha = lam.get_function(FunctionName=fn)["Configuration"]["CodeSha256"]
            # Only where AWS refused the upload itself may $LATEST keep another package, and then the
            # execution must say so, naming the function.
            said = "$LATEST" in (d.get("cause") or "") and fn in (d.get("cause") or "")
            if latest_sha != live_sha and not said:
                problems.append(f"$LATEST of {fn} in {region} is not the package of version {live}")
        for lock in self._locks():
            holder = lock.get("execution_arn")
            if holder and ph.client(self.env, "stepfunctions").describe_execution(
                    executionArn=holder)["status"] == "RUNNING":
                problems.append(f"lock {lock['lock_id']} held by a running execution {holder}")
        recorded = [s for s in states if s.startswith("Record ")]
        unrecorded_named = d.get("error") == "Bbws.RecordNotWritten" or "could not be written" in (d.get("cause") or "")
        if recorded and not ph.records_of(self.env, arn) and not unrecorded_named:
            problems.append(f"no record, and the execution does not say so ({d.get('error')}: "
                            f"{(d.get('cause') or '')[:200]})")
        if recorded and not any(c["service"] == "sns" and c["operation"] == "Publish" for c in calls):
            problems.append("no notification attempted (no SNS Publish)")
        return problems

    def _locks(self) -> list[dict[str, Any]]:
        items = ph.client(self.env, "dynamodb").scan(TableName=f"bbws-promotion-locks-{self.env}")["Items"]
        return [{k: ph.plain(v) for k, v in i.items()} for i in items
                if ph.plain(i["lock_id"]).startswith(f"{self.service}#") or self.machine == "release"]

    def duplicates(self, ctx: dict[str, Any], arn: str, calls: list[dict[str, Any]]) -> list[str]:
        problems = []
        for (region, fn), count in ctx["versions"].items():
            now = _version_count(self.env, fn, region)
            if now - count > 1:
                problems.append(f"{now - count} versions of {fn} published in {region}")
            for prefix in ("backup-", "incident-"):
                made = ph.aliases_named(self.env, fn, prefix, region, described_with=arn)
                if len(made) > 1:
                    problems.append(f"{len(made)} {prefix}aliases of {fn} in {region} for one execution")
        records = ph.records_of(self.env, arn)
        if len(records) > 1:
            problems.append(f"{len(records)} records of one execution")
        for address, _role in self.approvers:
            mails = ph.approval_mails(address, arn)
            if len(mails) > 1:
                problems.append(f"{len(mails)} approval emails to {address}")
        successes = [c for c in calls if c["operation"] == "SendTaskSuccess" and c["status"] == 200]
        if len(successes) > 1:
            problems.append(f"{len(successes)} successful SendTaskSuccess calls")
        return problems


def _version_count(env: str, fn: str, region: str) -> int:
    lam = ph.client(env, "lambda", region)
    return len(lam.list_versions_by_function(FunctionName=fn)["Versions"])


def _baseline_of(env: str, service: str) -> dict[str, Any]:
    before = ph.latest_versions(env, service)
    return {"before": before,
            "versions": {(r, fn): _version_count(env, fn, r) for (r, fn) in before}}


class SitPromotion(Scenario):
    name, env, machine, service = "promote dev->sit", "sit", "promote", "tenant-instance-management"
    approvers = [ph.DEV_LEAD]
    config = {"monitor": {"sit_seconds": 2, "poll_seconds": 1},
              "approval_timeout_seconds": APPROVAL_TIMEOUT_SECONDS,
              "stability": {"dev_to_sit": {"errors": {"fewer_than": 100000}, "throttles": {"at_most": 100000}}}}

    def begin(self) -> None:
        super().begin()
        ph.record_service_gates("dev", self.service)

    def prepare(self) -> dict[str, Any]:
        """The target back on its baseline build; the source's live packages are what may arrive."""
        source = {"sit": "dev", "prod": "sit"}[self.env]
        ph.reset_service(self.env, self.service)
        ctx = _baseline_of(self.env, self.service)
        ctx["new_shas"] = {ph.code_sha(source, fn, f"latest-{source}") for fn in ph.functions_of(self.service, source)}
        return ctx

    def request(self, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"service": self.service, "source_env": "dev", "target_env": "sit",
                "requested_by": "jane@bbws.io", "reason": "fault matrix"}


class ProdPromotion(Scenario):
    name, env, machine, service = "promote sit->prod", "prod", "promote", "ecs-event-handler"
    approvers = [ph.TECH_LEAD, ph.OPS_LEAD]
    config = {"maintenance_windows": ph.windows_all_week(), "monitor": {"prod_seconds": 2, "poll_seconds": 1},
              "approval_timeout_seconds": APPROVAL_TIMEOUT_SECONDS, "stability": ph.HANDLER_SIT_ERRORS_ASIDE}

    def begin(self) -> None:
        super().begin()
        self._sit = ph.deploy_build("sit", self.service, "healthy", "1.4.2")
        ph.record_service_gates("sit", self.service)

    def end(self) -> None:
        ph.restore_aliases("sit", self._sit)
        super().end()

    prepare = SitPromotion.prepare

    def request(self, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"service": self.service, "source_env": "sit", "target_env": "prod",
                "requested_by": "jane@bbws.io", "reason": "fault matrix", "change_request": "CHG-4242"}


class DevRollback(Scenario):
    name, env, machine, service = "rollback dev", "dev", "rollback", "ecs-event-handler"

    def prepare(self) -> dict[str, Any]:
        previous = ph.deploy_build("dev", self.service, "healthy", f"7.{int(time.time()) % 100000}.0")
        backup = ph.backup_stamp()
        for (region, fn), version in previous.items():
            ph.client("dev", "lambda", region).create_alias(
                FunctionName=fn, Name=backup, FunctionVersion=version, Description="Backup before promotion")
        ctx = _baseline_of("dev", self.service)
        ctx["backup"], ctx["previous"] = backup, previous
        ctx["new_shas"] = {ph.code_sha("dev", fn, version, region) for (region, fn), version in previous.items()}
        return ctx

    def request(self, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"service": self.service, "environment": "dev", "target_version": ctx["backup"],
                "reason": "fault matrix", "requested_by": "oncall@bbws.io"}

    def cleanup(self, ctx: dict[str, Any]) -> None:
        ph.restore_aliases("dev", ctx["previous"])
        for (region, fn) in ctx["previous"]:
            lam = ph.client("dev", "lambda", region)
            for a in lam.list_aliases(FunctionName=fn)["Aliases"]:
                if a["Name"] == ctx["backup"] or (a["Name"].startswith("incident-")
                                                  and ctx.get("arn", "-") in a.get("Description", "")):
                    lam.delete_alias(FunctionName=fn, Name=a["Name"])


class SitRelease(SitPromotion):
    name, env, machine, service = "release sit", "sit", "release", "tenant-instance-management"
    approvers = [ph.DEV_LEAD]

    @property
    def config(self) -> dict[str, Any]:  # type: ignore[override]
        catalog = copy.deepcopy(ph.RUNBOOK_CONFIG["catalog"])
        for s in catalog:
            s["health_wait_seconds"] = 2
        return {**SitPromotion.config, "catalog": catalog}

    def request(self, ctx: dict[str, Any]) -> dict[str, Any]:
        return {"target_env": "sit", "services": [self.service], "requested_by": "lead@bbws.io",
                "reason": "fault matrix"}


LANES: list[list[type[Scenario]]] = [[SitPromotion, SitRelease], [ProdPromotion], [DevRollback]]

# The short form runs one cell per step of each state machine definition: a step that a scenario of the
# same definition listed here first also makes (the PROD promotion makes every step of the SIT one, with
# two regions and two approvers) is not run again. `make faults` runs every scenario's every cell.
SHORT_FIRST: dict[type[Scenario], type[Scenario]] = {SitPromotion: ProdPromotion}
_DISCOVERED: dict[str, set[str]] = {}  # scenario name -> the states its discovery run made calls in
_DISCOVERED_CHANGED = threading.Condition()


def _states_of(kind: type[Scenario], timeout: float = 300) -> set[str]:
    """The states the discovery run of `kind` found (waiting for it, in another lane)."""
    with _DISCOVERED_CHANGED:
        if not _DISCOVERED_CHANGED.wait_for(lambda: kind.name in _DISCOVERED, timeout):
            return set()
        return _DISCOVERED[kind.name]


# ---------------------------------------------------------------------------------------------------
# Discovery and the run of a cell
# ---------------------------------------------------------------------------------------------------

def discover(scenario: Scenario) -> tuple[list[tuple[str, Call]], list[str]]:
    """Run the scenario without a fault: the (state, call) rows, and problems of the run itself."""
    ctx = scenario.prepare()
    seq = journal_seq()
    arn, d = scenario.run(ctx)
    time.sleep(0.5)
    calls = [c for c in calls_since(seq) if scenario.owns(c)]
    problems = [] if d["status"] == "SUCCEEDED" else [f"without a fault it ended {d['status']} {ph.failure_of(d)}"]
    problems += scenario.safe_state(ctx, arn, d, calls) + scenario.duplicates(ctx, arn, calls)
    rows: list[tuple[str, Call]] = []
    seen = set()
    windows = task_windows(scenario.env, arn)
    for c in calls:
        call = Call(c["account"], c["region"], c["service"], c["operation"], c["target"],
                    c["role"].rsplit("/", 1)[-1])
        state = _state_at(windows, c["time"], call, scenario)
        if state is None:
            continue
        if (state, call) not in seen:
            seen.add((state, call))
            rows.append((state, call))
    scenario.cleanup(ctx)
    return rows, problems


def _state_at(windows: list[tuple[str, float, float]], t: float, call: Call, scenario: Scenario) -> str | None:
    """The Task state that made `call` at `t`: the state running then whose Lambda runs as the call's role
    (a function's role has the function's name); the states role's and a source reader's calls belong to
    whichever state was running, except the states role's invocations of the watch function: those are
    the 24-hour watch's, another execution the success starts, which runs as the same role."""
    role = call.role
    inside = [w for w in windows if w[1] <= t <= w[2]]
    own = [w for w in inside if scenario.function_of(w[0]) == role]
    if own:
        return own[0][0]
    if role.startswith("bbws-promotion-states-"):
        invoked = (call.target or "").split(":function:")[-1]
        if call.service == "lambda" and invoked.startswith("bbws-promotion-watch-"):
            return None
        return inside[0][0] if inside else None
    if role == "bbws-promotion-source-reader":  # assumed by the Lambda of the state (preflight, deploy)
        with_fn = [w for w in inside if scenario.function_of(w[0])]
        return with_fn[0][0] if with_fn else None
    return None


def run_cell(scenario: Scenario, cell: Cell) -> Result:
    t0 = time.monotonic()
    result = Result(cell)
    ctx = scenario.prepare()
    crash_fn = scenario.function_of(cell.state) if cell.kind == "crash" else None
    fn = scenario.function_of(cell.state)
    if fn:
        # A function reads its configuration (SSM parameters) and assumes the source role once per
        # process: a cold process makes every call of the step, so each cell can hit its call.
        ph.recycle(scenario.env, fn)
    seq = journal_seq()
    fault_id = arm(cell, crash_fn)
    try:
        arn, d = scenario.run(ctx)
    finally:
        result.hit = disarm(fault_id)
    time.sleep(0.3)
    calls = [c for c in calls_since(seq) if scenario.owns(c)]
    result.status, result.error = d["status"], d.get("error")
    problems = result.problems
    if cell.kind in ("transient", "crash"):
        if d["status"] != "SUCCEEDED":
            problems.append(f"ended {d['status']} {d.get('error')}: {(d.get('cause') or '')[:300]}")
        problems += scenario.duplicates(ctx, arn, calls)
    elif approver_facing(cell.call):
        if (d["status"], d.get("error")) != ("FAILED", "Bbws.ApprovalTimedOut"):
            problems.append(f"ended {d['status']} {d.get('error')}, not FAILED Bbws.ApprovalTimedOut at the "
                            f"approval deadline ({approver_facing(cell.call)} was refused for good)")
    else:
        if tolerated(cell.call):
            if d["status"] != "SUCCEEDED":
                problems.append(f"ended {d['status']} {d.get('error')}; this call's failure is tolerated: "
                                f"{tolerated(cell.call)}")
        else:
            if d["status"] != "FAILED" or not (d.get("error") or "").startswith("Bbws."):
                problems.append(f"ended {d['status']} {d.get('error')}, not FAILED with a Bbws.* error")
            elif cell.call.operation not in (d.get("cause") or ""):
                problems.append(f"the cause does not name {cell.call.operation}: {(d.get('cause') or '')[:300]}")
    problems += scenario.safe_state(ctx, arn, d, calls)
    if result.hit == 0:
        problems.append("the call was not made (the fault was never hit)")
    scenario.cleanup(ctx)
    result.seconds = time.monotonic() - t0
    return result


def cells_of(scenario: Scenario, rows: list[tuple[str, Call]], short: bool) -> list[Cell]:
    """Every (row, kind); or, short, one cell per state: its first write (else its first call), the
    kinds taken in turn so that each kind is run."""
    def can_crash(state: str, call: Call) -> bool:  # a Lambda of the state made the call
        return scenario.function_of(state) is not None and not call.role.startswith("bbws-promotion-states-")

    def runs(state: str, call: Call, kind: str) -> bool:
        return (kind != "crash" or can_crash(state, call)) and not not_run(call, kind)

    if not short:
        return [Cell(scenario.name, state, call, kind) for state, call in rows for kind in KINDS
                if runs(state, call, kind)]
    by_state: dict[str, list[Call]] = collections.OrderedDict()
    for state, call in rows:
        by_state.setdefault(state, []).append(call)
    cells = []
    for i, (state, calls) in enumerate(by_state.items()):
        own = [c for c in calls if not c.role.startswith("bbws-promotion-states-")] or calls
        writes = [c for c in own if not c.operation.startswith(("Get", "List", "Describe", "Query", "Scan"))]
        call = (writes or own)[0]
        kind = next(k for k in (KINDS[(i + j) % len(KINDS)] for j in range(len(KINDS))) if runs(state, call, k))
        cells.append(Cell(scenario.name, state, call, kind))
    return cells


def run_lane(lane: list[type[Scenario]], short: bool, results: list[Result], lock: threading.Lock,
             progress: Callable[[str], None], only: str | None = None) -> None:
    for kind in lane:
        scenario = kind()
        scenario.begin()
        try:
            rows, problems = discover(scenario)
            with _DISCOVERED_CHANGED:
                _DISCOVERED[scenario.name] = {state for state, _ in rows}
                _DISCOVERED_CHANGED.notify_all()
            if problems:
                with lock:
                    results.append(Result(Cell(scenario.name, "(without a fault)", Call("", "", "", "", None, ""),
                                               "none"), problems=problems))
                continue
            if short and kind in SHORT_FIRST:
                covered = _states_of(SHORT_FIRST[kind])
                rows = [(state, call) for state, call in rows if state not in covered]
            for cell in cells_of(scenario, rows, short):
                if only and only not in cell.label():
                    continue
                try:
                    r = run_cell(scenario, cell)
                except Exception as e:  # noqa: BLE001 - a cell that breaks the harness is a failed cell
                    r = Result(cell, problems=[f"the cell could not run: {type(e).__name__}: {e}"])
                with lock:
                    results.append(r)
                progress(f"{'ok  ' if r.passed else 'FAIL'} {r.seconds:5.1f}s {cell.label()}"
                         + ("" if r.passed else "\n       " + "\n       ".join(r.problems)))
        finally:
            scenario.end()


def clean_slate() -> None:
    """What an interrupted run may have left: its faults (they name a pipeline role as caller) and
    executions of the pipeline's state machines still running (stopped; the next lock attempt takes
    over a lock whose holder no longer runs)."""
    for f in _local("GET", "/_local/faults"):
        if (f.get("caller") or "").startswith("bbws-promotion-"):
            _local("DELETE", f"/_local/faults?id={f['id']}")
    for env in ph.ACCOUNTS:
        sfn = ph.client(env, "stepfunctions")
        for machine in ("promote", "release", "rollback"):
            try:
                running = sfn.list_executions(stateMachineArn=ph.state_machine_arn(env, machine),
                                              statusFilter="RUNNING")["executions"]
            except sfn.exceptions.StateMachineDoesNotExist:
                continue
            for e in running:
                sfn.stop_execution(executionArn=e["executionArn"], error="Bbws.Test",
                                   cause="left running when the fault matrix started")


def run(short: bool, progress: Callable[[str], None] = print, only: str | None = None) -> list[Result]:
    results: list[Result] = []
    lock = threading.Lock()
    with _DISCOVERED_CHANGED:
        _DISCOVERED.clear()
    clean_slate()
    ph.seed.seed(ph.ESTATE, reset=True)
    threads = [threading.Thread(target=run_lane, args=(lane, short, results, lock, progress, only), daemon=True)
               for lane in LANES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ph.seed.seed(ph.ESTATE, reset=True)
    return results


def table(results: list[Result]) -> str:
    rows = collections.Counter()
    for r in results:
        rows[(r.cell.scenario, r.cell.kind, r.passed)] += 1
    lines = [f"{'scenario':<20} {'kind':<10} {'cells':>5} {'passed':>6}"]
    for scenario in sorted({r.cell.scenario for r in results}):
        for kind in (*KINDS, "none"):
            n = rows[(scenario, kind, True)] + rows[(scenario, kind, False)]
            if n:
                lines.append(f"{scenario:<20} {kind:<10} {n:>5} {rows[(scenario, kind, True)]:>6}")
    failed = [r for r in results if not r.passed]
    lines.append(f"{'total':<31} {len(results):>5} {len(results) - len(failed):>6}")
    for (role, op, kind), why in NOT_RUN.items():
        lines.append(f"not run: {kind} {op} of {role}*: {why}")
    for r in failed:
        lines.append(f"FAILED {r.cell.label()}")
        lines += [f"    {p}" for p in r.problems]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="one cell per step (what make test runs)")
    parser.add_argument("--only", metavar="TEXT",
                        help="only the cells whose line contains TEXT, e.g. '| Deploy |' or 'UpdateAlias'")
    args = parser.parse_args(argv)
    problem = ph.check_up()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    results = run(args.short, progress=lambda line: print(line, flush=True), only=args.only)
    print()
    print(table(results))
    print(f"\n{len(results)} cells in {time.monotonic() - t0:.0f} s")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
