"""bbws-run: start a BBWS promotion, release or rollback and follow it to its end, from a terminal or a
GitHub Actions job (the workflows of .github/workflows call it; it behaves the same in both).

    bbws-run promote  --env sit  --input events/promote-dev-to-sit.json
    bbws-run promote  --env prod --service site-management --change-request CHG-2001 --requested-by a@bbws.io --reason "…"
    bbws-run release  --env prod --input events/release-prod.json
    bbws-run rollback --env prod --input events/rollback-prod.json
    bbws-run follow   --env sit  --execution-arn arn:aws:states:…
    bbws-run stop     promote --env sit --service tenant-instance-management   (the run's own execution)
    bbws-run record-gate --env dev --gate unit_tests --coverage 87.5 --package dist/function.zip
    bbws-run role     --env sit      (role_arn=… of bbws-github-actions-role-<env>, for $GITHUB_OUTPUT)

What it does:
- the execution's name carries the GitHub run id (`<service>-<env>-gh<run id>`; a terminal run without
  GITHUB_RUN_ID: a UTC timestamp), so a re-run of the job finds the execution its first attempt
  started (ExecutionAlreadyExists, or AWS's idempotent answer for the same name and input) and follows
  that one instead of starting a second promotion;
- it prints each state as it is entered and left, with the figures the step added to the execution's
  data (checks, versions, CodeSha256, aliases, approvers), and for an approval wait who is waited for
  (the roles the preflight requires and the people the approver directory names for them);
- it writes a summary in Markdown to --summary (default: $GITHUB_STEP_SUMMARY when set): outcome,
  versions, approvers, the checks with their figures, the states with their durations, the execution
  and its deployment record;
- it exits 0 only when the execution SUCCEEDED; otherwise 1, with the `Bbws.*` error and its cause as
  a GitHub error annotation (`::error title=…::…`) inside Actions, plain text elsewhere;
- SIGINT/SIGTERM (a cancelled GitHub run, Ctrl-C) stops the execution (StopExecution) and says what
  that releases: the promotion lock is not deleted, it becomes stale and the next promotion of the
  service takes it over (it checks that the holder no longer runs);
- nothing secret is printed: values of fields named like a token, secret, signature, credential or
  link, and any string that looks like a signed URL or a JWT, are shown as `[redacted]`.

Credentials and region come from the usual AWS configuration (the environment, a profile); the AWS
endpoint too (AWS_ENDPOINT_URL). Only Python's standard library and boto3.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

# RB-003 §1.3.
ACCOUNTS = {"dev": "536580886816", "sit": "815856636111", "prod": "093646564004"}
REGION = "af-south-1"
KINDS = {"promote": ("sit", "prod"), "release": ("sit", "prod"), "rollback": ("dev", "sit", "prod")}
GATES = ("unit_tests", "lint", "type_check", "security_scan", "integration_tests")
GATE_ENVS = ("dev", "sit")  # gates are recorded where the package was built and tested (RB-003 §2.1)
MIN_COVERAGE = 80.0
NAME_MAX = 80
RELEASE_CHILD_SUFFIX = 4  # a release's phases run as <release>-p<n>
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_SECRET_KEY = re.compile(r"(token|secret|password|signature|credential|link|private)", re.I)
_SIGNED = re.compile(r"(X-Amz-Signature|[?&](sig|signature|token|t)=|^eyJ[A-Za-z0-9_-]+\.eyJ)", re.I)
_QUIET_STATES = ("Choice", "Pass", "Succeed", "Fail")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STILL_RUNNING, EXIT_CANCELLED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad input: the message names the field and the rule."""


# ---------------------------------------------------------------------------------------------------
# Names, inputs
# ---------------------------------------------------------------------------------------------------


def state_machine_arn(kind: str, env: str, region: str = REGION) -> str:
    return f"arn:aws:states:{region}:{ACCOUNTS[env]}:stateMachine:bbws-{kind}-{env}"


def execution_arn(kind: str, env: str, name: str, region: str = REGION) -> str:
    return f"arn:aws:states:{region}:{ACCOUNTS[env]}:execution:bbws-{kind}-{env}:{name}"


def role_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[env]}:role/bbws-github-actions-role-{env}"


def execution_name(kind: str, env: str, payload: dict[str, Any], run_id: str | None,
                   now: dt.datetime | None = None) -> str:
    """`<service>-<env>-gh<run id>` (a promotion), `<service>-rollback-<env>-gh<run id>`,
    `release-<env>-gh<run id>`; a timestamp instead of the run id outside GitHub Actions."""
    if kind == "release":
        prefix = f"release-{env}"
    else:
        service = payload.get("service")
        if not isinstance(service, str) or not _SERVICE.match(service):
            raise UsageError(f"service: required, a catalog service name (lower-case letters, digits and '-'), "
                             f"got {str(service)[:60]!r}")
        prefix = f"{service}-{env}" if kind == "promote" else f"{service}-rollback-{env}"
    if run_id:
        if not run_id.isdigit():
            raise UsageError(f"GITHUB_RUN_ID: digits only, got {run_id[:40]!r}")
        suffix = f"gh{run_id}"
    else:
        suffix = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    name = f"{prefix}-{suffix}"
    limit = NAME_MAX - (RELEASE_CHILD_SUFFIX if kind == "release" else 0)
    if len(name) > limit:
        raise UsageError(f"execution name: at most {limit} characters, {name!r} has {len(name)}")
    return name


def build_input(kind: str, env: str, args: argparse.Namespace) -> dict[str, Any]:
    """The execution input: --input's JSON object, then the fields given as options over it."""
    payload: dict[str, Any] = {}
    if args.input:
        path = Path(args.input)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"--input: no such file {args.input}") from None
        except ValueError as e:
            raise UsageError(f"--input: {args.input} is not JSON ({e})") from None
        if not isinstance(doc, dict):
            raise UsageError(f"--input: {args.input} must hold a JSON object")
        payload.update(doc)
    fields = {"service": args.service, "requested_by": args.requested_by, "reason": args.reason,
              "change_request": args.change_request}
    if kind == "promote":
        fields["version"] = args.version
    if kind == "rollback":
        fields["target_version"] = args.version
        fields["incident"] = args.incident
    for k, v in fields.items():
        if v not in (None, ""):
            payload[k] = v
    if kind == "promote":
        payload.setdefault("target_env", env)
        payload.setdefault("source_env", {"sit": "dev", "prod": "sit"}[env])
        if args.skip_quality_gates:
            payload["skip_quality_gates"] = True
        if args.incident:
            payload["emergency"] = {"incident": args.incident}
    elif kind == "release":
        payload.setdefault("target_env", env)
        if args.services:
            payload["services"] = [s.strip() for s in args.services.split(",") if s.strip()]
        if args.rollback_completed_phases:
            payload["rollback_completed_phases"] = True
        if args.incident:
            payload["emergency"] = {"incident": args.incident}
    else:
        payload.setdefault("environment", env)
        if args.force:
            payload["force"] = True
    where = payload.get("target_env", payload.get("environment"))
    if where != env:
        key = "environment" if kind == "rollback" else "target_env"
        raise UsageError(f"{key}: the input says {where!r} but --env is {env!r} (bbws-{kind}-{env})")
    return payload


# ---------------------------------------------------------------------------------------------------
# Output: redaction, annotations, figures
# ---------------------------------------------------------------------------------------------------


def redact(value: Any, key: str = "") -> Any:
    """`value` with every secret-looking field or string replaced by "[redacted]"."""
    if key and _SECRET_KEY.search(key):
        return "[redacted]"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SIGNED.search(value):
        return "[redacted]"
    return value


def annotation_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def property_escape(text: str) -> str:
    return annotation_escape(text).replace(":", "%3A").replace(",", "%2C")


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def say(line: str = "") -> None:
    print(line, flush=True)


def error_annotation(title: str, message: str) -> None:
    if in_actions():
        say(f"::error title={property_escape(title)}::{annotation_escape(message)}")
    else:
        say(f"ERROR {title}: {message}")


def _short(v: Any, width: int = 140) -> str:
    text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def added_figures(before: Any, after: Any) -> dict[str, Any]:
    """What a state added to or changed in the execution's data (its ResultPath), by top-level key."""
    if not isinstance(after, dict):
        return {"result": after} if after is not None else {}
    before = before if isinstance(before, dict) else {}
    return {k: v for k, v in after.items() if before.get(k) != v and k != "error"}


def figure_lines(figures: dict[str, Any], limit: int = 14) -> list[str]:
    """Readable lines of a step's figures: checks as passed/failed with their detail, other values flat."""
    lines: list[str] = []

    def walk(prefix: str, v: Any, depth: int) -> None:
        if len(lines) >= limit:
            return
        if isinstance(v, dict) and isinstance(v.get("check"), str) and "passed" in v:
            mark = "ok  " if v.get("passed") else "FAIL"
            lines.append(f"{mark} {v['check']}: {_short(v.get('detail', ''), 110)}")
            return
        if isinstance(v, dict) and depth < 3:
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x, depth + 1)
            return
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and depth < 3:
            for i, x in enumerate(v[:8]):
                if any(isinstance(y, (dict, list)) for y in x.values()) or "check" in x:
                    walk(f"{prefix}[{i}]", x, depth + 1)
                else:  # one line per item: function=…, version=…
                    lines.append(f"{prefix}[{i}]: " + _short(", ".join(f"{k}={_short(y, 60)}" for k, y in x.items()), 200))
            if len(v) > 8:
                lines.append(f"{prefix}: … {len(v) - 8} more")
            return
        lines.append(f"{prefix}: {_short(v)}")

    walk("", redact(figures), 0)
    if len(lines) >= limit:
        lines = lines[:limit] + ["…"]
    return lines


def find_requirement(doc: Any) -> tuple[str, list[str]] | None:
    """The approval requirement in an execution's data ({"all_of": [...]} or {"any_of": [...]})."""
    if isinstance(doc, dict):
        appr = doc.get("approval")
        if isinstance(appr, dict):
            for k in ("all_of", "any_of"):
                if isinstance(appr.get(k), list):
                    return k, [str(r) for r in appr[k]]
        for v in doc.values():
            found = find_requirement(v)
            if found:
                return found
    return None


def checks_of(doc: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if isinstance(doc.get("check"), str) and "passed" in doc:
            return [doc]
        for v in doc.values():
            out += checks_of(v)
    elif isinstance(doc, list):
        for v in doc:
            out += checks_of(v)
    return out


def _fmt_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def console_link(arn: str) -> str:
    region = arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


# ---------------------------------------------------------------------------------------------------
# Following an execution
# ---------------------------------------------------------------------------------------------------


class Follower:
    def __init__(self, sfn: Any, arn: str, poll: float, ssm: Any = None, approvers_parameter: str | None = None):
        self.sfn, self.arn, self.poll = sfn, arn, poll
        self.ssm, self.approvers_parameter = ssm, approvers_parameter
        self.last_id = 0
        self.entered: dict[str, tuple[dt.datetime, Any]] = {}
        self.states: list[dict[str, Any]] = []  # {name, seconds, figures}
        self.data: dict[str, Any] = {}  # the execution's data, as the states left it
        self.waiting_for: list[str] = []
        self.cancel_requested = False
        self._directory: dict[str, list[str]] | None = None

    def events(self) -> list[dict[str, Any]]:
        out, token = [], None
        while True:
            kw: dict[str, Any] = {"executionArn": self.arn, "maxResults": 1000}
            if token:
                kw["nextToken"] = token
            page = self.sfn.get_execution_history(**kw)
            out += page["events"]
            token = page.get("nextToken")
            if not token:
                return out

    def directory(self) -> dict[str, list[str]]:
        if self._directory is None:
            self._directory = {}
            if self.ssm is not None and self.approvers_parameter:
                try:
                    value = self.ssm.get_parameter(Name=self.approvers_parameter)["Parameter"]["Value"]
                    doc = json.loads(value)
                    self._directory = {str(k): [str(p) for p in v] for k, v in doc.items() if isinstance(v, list)}
                except Exception as e:  # noqa: BLE001 - who is waited for is shown by role then
                    say(f"   (the approver directory could not be read: {type(e).__name__}; roles only)")
        return self._directory

    def _entered(self, ev: dict[str, Any]) -> None:
        d = ev["stateEnteredEventDetails"]
        name = d["name"]
        try:
            data = json.loads(d.get("input") or "null")
        except ValueError:
            data = None
        self.entered[name] = (ev["timestamp"], data)
        say(f"▶ {name}")
        if name.lower().startswith("request") and "approval" in name.lower():
            req = find_requirement(data)
            if req:
                kind, roles = req
                people = self.directory()
                who = [f"{r.replace('_', ' ')} ({', '.join(people.get(r, [])) or 'no one in the directory'})"
                       for r in roles]
                joined = (" and " if kind == "all_of" else " or ").join(who)
                self.waiting_for = who
                limits = (data or {}).get("promotion", {}).get("limits", {}) if isinstance(data, dict) else {}
                timeout = limits.get("approval_timeout_seconds") if isinstance(limits, dict) else None
                deadline = ""
                if isinstance(timeout, (int, float)):
                    end = ev["timestamp"] + dt.timedelta(seconds=timeout)
                    deadline = f"; the request expires at {end.astimezone(dt.timezone.utc):%H:%M UTC %a %d %b}"
                say(f"   waiting for approval by {joined} (signed links sent by email){deadline}")

    def _exited(self, ev: dict[str, Any]) -> None:
        d = ev["stateExitedEventDetails"]
        name = d["name"]
        try:
            data = json.loads(d.get("output") or "null")
        except ValueError:
            data = None
        start, before = self.entered.get(name, (ev["timestamp"], None))
        seconds = (ev["timestamp"] - start).total_seconds()
        figures = added_figures(before, data)
        say(f"✔ {name} ({_fmt_duration(seconds)})")
        for line in figure_lines(figures):
            say(f"   {line}")
        self.states.append({"name": name, "seconds": seconds, "figures": redact(figures)})
        if isinstance(data, dict):
            self.data.update(data)  # what every state added, even where a later one narrows its output

    def step(self) -> None:
        for ev in self.events():
            if ev["id"] <= self.last_id:
                continue
            self.last_id = ev["id"]
            t = ev["type"]
            if t.startswith(_QUIET_STATES):
                continue  # the definition's own branching and endings: no step of the runbook
            if t.endswith("StateEntered"):
                self._entered(ev)
            elif t.endswith("StateExited"):
                self._exited(ev)
            elif t in ("TaskFailed", "LambdaFunctionFailed"):
                det = ev.get("taskFailedEventDetails") or ev.get("lambdaFunctionFailedEventDetails") or {}
                say(f"   ✖ {det.get('error', 'failed')}: {_short(redact(det.get('cause', '')), 300)}")

    def run(self, max_wait: float | None) -> dict[str, Any]:
        started = time.monotonic()
        while True:
            self.step()
            d = self.sfn.describe_execution(executionArn=self.arn)
            if d["status"] != "RUNNING":
                self.step()
                return d
            if self.cancel_requested:
                return d
            if max_wait and time.monotonic() - started > max_wait:
                return d
            deadline = time.monotonic() + self.poll
            while time.monotonic() < deadline and not self.cancel_requested:
                time.sleep(min(0.2, self.poll))


# ---------------------------------------------------------------------------------------------------
# The summary
# ---------------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(kind: str, env: str, d: dict[str, Any], f: Follower, payload: dict[str, Any],
                     record: dict[str, Any] | None, note: str | None = None) -> str:
    status = d["status"]
    icon = {"SUCCEEDED": "✅", "RUNNING": "⏳"}.get(status, "❌")
    what = {"promote": "Promotion", "release": "Release", "rollback": "Rollback"}[kind]
    subject = payload.get("service") or ", ".join(payload.get("services") or []) or "?"
    route = {"promote": f"{str(payload.get('source_env', '')).upper()} → {env.upper()}",
             "release": f"into {env.upper()}", "rollback": f"in {env.upper()}"}[kind]
    title = f"{icon} {what} of {subject} {route}: {status}"
    if status not in ("SUCCEEDED", "RUNNING") and d.get("error"):
        title += f" ({d['error']})"
    out = [f"## {title}", ""]
    if status not in ("SUCCEEDED", "RUNNING") and (d.get("error") or d.get("cause")):
        out += [f"> **{_md(d.get('error', status))}**: {_md(redact(d.get('cause', '')))}", ""]
    if note:
        out += [note, ""]
    started = d.get("startDate")
    ended = d.get("stopDate")
    rows = [("Execution", f"[{d['name']}]({console_link(d['executionArn'])})"),
            ("State machine", f"`{d['stateMachineArn'].rsplit(':', 1)[-1]}`"),
            ("Requested by", payload.get("requested_by", "")), ("Reason", payload.get("reason", ""))]
    if payload.get("change_request"):
        rows.append(("Change request", payload["change_request"]))
    if started:
        span = f"{started:%Y-%m-%d %H:%M:%S} UTC"
        if ended:
            span += f" → {ended:%H:%M:%S} UTC ({_fmt_duration((ended - started).total_seconds())})"
        rows.append(("Started", span))
    data = f.data or {}
    versions = versions_of(data) if status == "SUCCEEDED" else []  # otherwise the cause says where they are
    if versions:
        rows.append(("Versions", "<br>".join(_md(v) for v in versions)))
    approvers = approvers_of(data)
    if approvers:
        rows.append(("Approvers", "<br>".join(_md(a) for a in approvers)))
    elif f.waiting_for and status == "RUNNING":
        rows.append(("Waiting for", " and ".join(_md(w) for w in f.waiting_for)))
    out += ["| | |", "|---|---|"] + [f"| {k} | {_md(v) if k not in ('Execution', 'Versions', 'Approvers') else v} |"
                                     for k, v in rows] + [""]
    checks = checks_of(redact(data))
    if checks:
        out += ["### Checks", "", "| Check | Result | Figure |", "|---|---|---|"]
        out += [f"| {_md(c['check'])} | {'passed' if c.get('passed') else '**failed**'} | {_md(c.get('detail', ''))} |"
                for c in checks] + [""]
    if f.states:
        out += ["### States", "", "| State | Took |", "|---|---|"]
        out += [f"| {_md(s['name'])} | {_fmt_duration(s['seconds'])} |" for s in f.states] + [""]
    out += ["### Evidence", ""]
    out.append(f"- Execution history: `aws stepfunctions get-execution-history --execution-arn {d['executionArn']}`")
    if record:
        out.append(f"- Deployment record `{_md(record.get('deployment_id', '?'))}` in `bbws-deployments-{env}`: "
                   f"outcome {_md(record.get('outcome', '?'))}, action {_md(record.get('action', '?'))}")
    out.append("")
    return "\n".join(out)


def versions_of(data: dict[str, Any]) -> list[str]:
    """`function (region): from → to, CodeSha256 …` from a deploy's or rollback's figures."""
    out = []
    # A promotion's deploy ($.deploy.functions), a rollback's moves ($.target.moves).
    for key, items in (("deploy", "functions"), ("target", "moves")):
        part = data.get(key)
        if not isinstance(part, dict) or not isinstance(part.get(items), list):
            continue
        for item in part[items]:
            if not isinstance(item, dict):
                continue
            fn = item.get("function") or item.get("target") or "?"
            region = item.get("region", "")
            frm = item.get("from_version", item.get("previous_version", "?"))
            to = item.get("to_version", item.get("version", "?"))
            sha = item.get("code_sha256", "")
            out.append(f"{fn}{f' ({region})' if region else ''}: {frm} → {to}"
                       f"{f', CodeSha256 {sha[:12]}…' if sha else ''}")
    return out[:20]


def approvers_of(data: dict[str, Any]) -> list[str]:
    appr = data.get("approval")
    if not isinstance(appr, dict):
        return []
    return [f"{a.get('person', '?')} ({str(a.get('role', '?')).replace('_', ' ')}) at {a.get('at', '?')}"
            for a in appr.get("approvers", []) if isinstance(a, dict)]


def deployment_record(ddb: Any, env: str, service: str | None, arn: str) -> dict[str, Any] | None:
    """The deployment record this execution wrote (bbws-deployments-<env>, index service-timestamp)."""
    if ddb is None or not service:
        return None
    try:
        items = ddb.query(TableName=f"bbws-deployments-{env}", IndexName="service-timestamp",
                          KeyConditionExpression="service = :s", ExpressionAttributeValues={":s": {"S": service}},
                          ScanIndexForward=False, Limit=25)["Items"]
    except Exception as e:  # noqa: BLE001 - the summary says so
        say(f"   (the deployment record could not be read: {type(e).__name__})")
        return None
    for item in items:
        if item.get("execution_arn", {}).get("S") == arn:
            return {k: next(iter(v.values())) for k, v in item.items() if isinstance(v, dict) and v}
    return None


def write_summary(path: str | None, text: str) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")


# ---------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.session.Session(region_name=args.region)


def _check_account(session: Any, env: str) -> None:
    account = session.client("sts").get_caller_identity()["Account"]
    if account != ACCOUNTS[env]:
        raise UsageError(f"--env {env}: the credentials are for account {account}, {env.upper()} is "
                         f"{ACCOUNTS[env]} (RB-003 §1.3); assume {role_arn(env)}")


def _approvers_parameter(env: str) -> str:
    return f"/bbws/promotion/{env}/approvers"


def start(kind: str, args: argparse.Namespace) -> int:
    env = args.env
    if env not in KINDS[kind]:
        raise UsageError(f"--env: bbws-{kind} runs in {', '.join(KINDS[kind])}, not {env!r}")
    payload = build_input(kind, env, args)
    run_id = os.environ.get("GITHUB_RUN_ID") or None
    if args.name and not _NAME.match(args.name):
        raise UsageError("--name: 1 to 80 letters, digits, '-' or '_'")
    name = args.name or execution_name(kind, env, payload, run_id)
    session = _session(args)
    _check_account(session, env)
    sfn = session.client("stepfunctions")
    body = json.dumps(payload, sort_keys=True)
    arn = execution_arn(kind, env, name, args.region)
    asked = dt.datetime.now(dt.timezone.utc)
    try:
        got = sfn.start_execution(stateMachineArn=state_machine_arn(kind, env, args.region), name=name, input=body)
        arn = got["executionArn"]
        if got["startDate"] < asked - dt.timedelta(seconds=30):
            # Step Functions answers a StartExecution with the name and input of a running execution with
            # that execution: a re-run of a job whose first attempt stopped following it.
            say(f"{name} is already running (started {got['startDate']:%Y-%m-%d %H:%M:%S} UTC): this is a "
                f"re-run of the same run, so no second {kind} is started; following that execution")
        else:
            say(f"started {name} on bbws-{kind}-{env}")
    except sfn.exceptions.ExecutionAlreadyExists:
        d = sfn.describe_execution(executionArn=arn)
        same = json.loads(d.get("input") or "null") == payload
        say(f"{name} already exists ({d['status']}, started {d['startDate']:%Y-%m-%d %H:%M:%S} UTC): this is a "
            f"re-run of the same run, so no second {kind} is started; following that execution")
        if not same:
            say("   note: its input differs from this run's; the existing execution is the one followed")
    _output("execution_arn", arn)
    _output("execution_name", name)
    return follow_and_report(kind, env, session, arn, payload, args)


def _output(key: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{key}={value}\n")


def follow_and_report(kind: str, env: str, session: Any, arn: str, payload: dict[str, Any] | None,
                      args: argparse.Namespace) -> int:
    sfn = session.client("stepfunctions")
    say(f"   execution: {arn}")
    say(f"   console:   {console_link(arn)}")
    follower = Follower(sfn, arn, args.poll, session.client("ssm"), _approvers_parameter(env))

    def on_signal(signum: int, _frame: Any) -> None:
        follower.cancel_requested = True
        say(f"received {signal.Signals(signum).name}: stopping the execution")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        d = follower.run(args.max_wait or None)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if payload is None:
        try:
            payload = json.loads(d.get("input") or "{}")
        except ValueError:
            payload = {}
    payload = payload if isinstance(payload, dict) else {}
    summary_path = args.summary if args.summary is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    if follower.cancel_requested and d["status"] == "RUNNING":
        d = stop_execution(sfn, arn, _cancel_cause())
        write_summary(summary_path, summary_markdown(kind, env, d, follower, payload, None,
                                                     "The run was cancelled: the execution was stopped."))
        error_annotation("Cancelled", f"the run was cancelled; {d['name']} was stopped ({d['status']})")
        return EXIT_CANCELLED
    if d["status"] == "RUNNING":
        note = (f"Still running after {_fmt_duration(args.max_wait)} (the job's limit): the execution goes on; "
                f"follow it with `bbws-run follow --env {env} --execution-arn {arn}`.")
        write_summary(summary_path, summary_markdown(kind, env, d, follower, payload, None, note))
        error_annotation("Still running", note)
        return EXIT_STILL_RUNNING
    record = None
    if kind in ("promote", "rollback"):
        record = deployment_record(session.client("dynamodb"), env, payload.get("service"), arn)
    write_summary(summary_path, summary_markdown(kind, env, d, follower, payload, record))
    if d["status"] == "SUCCEEDED":
        say(f"SUCCEEDED: {d['name']}")
        return EXIT_OK
    error = d.get("error") or d["status"]
    error_annotation(error, str(redact(d.get("cause") or f"the execution ended {d['status']}")))
    return EXIT_FAILED


def _cancel_cause() -> str:
    run = ""
    if os.environ.get("GITHUB_RUN_ID"):
        run = (f" {os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/"
               f"{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{os.environ['GITHUB_RUN_ID']}")
    return f"the run{run} was cancelled"


def stop_execution(sfn: Any, arn: str, cause: str) -> dict[str, Any]:
    d = sfn.describe_execution(executionArn=arn)
    if d["status"] != "RUNNING":
        say(f"{d['name']} is {d['status']}: nothing to stop")
        return d
    sfn.stop_execution(executionArn=arn, error="Bbws.Cancelled", cause=cause[:1000])
    say(f"stopped {d['name']} (StopExecution): nothing more is deployed or rolled back by it. Its promotion "
        f"lock is not deleted: it is stale from now on, and the next promotion or rollback of the service "
        f"takes it over after checking that this execution no longer runs (README, Lock). An approval "
        f"request it sent stays in the approvers' mail; its links answer that it is no longer waiting.")
    return sfn.describe_execution(executionArn=arn)


def cmd_stop(args: argparse.Namespace) -> int:
    kind, env = args.kind, args.env
    if env not in KINDS[kind]:
        raise UsageError(f"--env: bbws-{kind} runs in {', '.join(KINDS[kind])}, not {env!r}")
    session = _session(args)
    if args.execution_arn:
        arn = args.execution_arn
    else:
        payload = build_input(kind, env, args)
        run_id = os.environ.get("GITHUB_RUN_ID") or None
        if not run_id and not args.name:
            raise UsageError("--name or --execution-arn: required outside GitHub Actions (no GITHUB_RUN_ID)")
        arn = execution_arn(kind, env, args.name or execution_name(kind, env, payload, run_id), args.region)
    sfn = session.client("stepfunctions")
    try:
        stop_execution(sfn, arn, _cancel_cause())
    except sfn.exceptions.ExecutionDoesNotExist:
        say(f"{arn.rsplit(':', 1)[-1]} was never started: nothing to stop")
    return EXIT_OK


def cmd_follow(args: argparse.Namespace) -> int:
    arn = args.execution_arn
    parts = arn.split(":")
    if len(parts) < 8 or parts[2] != "states" or parts[5] != "execution":
        raise UsageError("--execution-arn: arn:aws:states:<region>:<account>:execution:<state machine>:<name>")
    sm = parts[6]
    m = re.match(r"^bbws-(promote|release|rollback)-(dev|sit|prod)$", sm)
    if not m:
        raise UsageError(f"--execution-arn: not an execution of a bbws state machine ({sm})")
    kind, env = m.group(1), m.group(2)
    session = _session(args)
    return follow_and_report(kind, env, session, arn, None, args)


def package_sha256(path: str) -> str:
    """Lambda's CodeSha256 of a .zip package: base64 of its SHA-256."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"--package: cannot read {path} ({e.strerror})") from None
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def gate_item(gate: str, passed: str, coverage: str | None, sha: str, ci_run: str | None,
              now: dt.datetime | None = None) -> dict[str, Any]:
    """The quality-gate item of README's put-item, after the rules of RB-003 §2.1."""
    if gate not in GATES:
        raise UsageError(f"gate: one of {', '.join(GATES)}, got {gate[:60]!r}")
    if passed not in ("true", "false"):
        raise UsageError(f"passed: true or false, got {passed[:20]!r}")
    if not re.match(r"^[A-Za-z0-9+/]{43}=$", sha):
        raise UsageError(f"code_sha256: a Lambda CodeSha256 (44 characters of base64), got {sha[:60]!r}")
    item: dict[str, Any] = {"code_sha256": {"S": sha}, "gate": {"S": gate}, "passed": {"BOOL": passed == "true"},
                            "recorded_at": {"S": (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    if gate == "unit_tests":
        if coverage in (None, ""):
            raise UsageError("coverage: required for unit_tests (a percentage, 0 to 100)")
        try:
            cov = float(str(coverage).strip().rstrip("%"))
        except ValueError:
            raise UsageError(f"coverage: a number from 0 to 100, got {str(coverage)[:20]!r}") from None
        if not (0.0 <= cov <= 100.0) or cov != cov:
            raise UsageError(f"coverage: a number from 0 to 100, got {coverage}")
        if passed == "true" and cov < MIN_COVERAGE:
            raise UsageError(f"coverage: {cov:g} is below {MIN_COVERAGE:g}, the minimum for a passed unit_tests "
                             f"gate (RB-003 §2.1); record it with passed=false")
        item["coverage_percent"] = {"N": f"{cov:g}"}
    elif coverage not in (None, ""):
        raise UsageError(f"coverage: only for unit_tests, not {gate}")
    if ci_run:
        item["ci_run"] = {"S": ci_run[:500]}
    return item


def cmd_record_gate(args: argparse.Namespace) -> int:
    if args.env not in GATE_ENVS:
        raise UsageError(f"--env: gates are recorded in {' or '.join(GATE_ENVS)} (RB-003 §2.1), not {args.env!r}")
    given = [x for x in (args.code_sha256, args.package, args.function) if x]
    if len(given) != 1:
        raise UsageError("code_sha256, package or function (with qualifier): exactly one says which package")
    session = _session(args)
    if args.package:
        sha = package_sha256(args.package)
    elif args.function:
        kw = {"FunctionName": args.function}
        if args.qualifier:
            kw["Qualifier"] = args.qualifier
        sha = session.client("lambda").get_function_configuration(**kw)["CodeSha256"]
    else:
        sha = args.code_sha256
    ci_run = args.ci_run
    if not ci_run and os.environ.get("GITHUB_RUN_ID"):
        ci_run = (f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ.get('GITHUB_REPOSITORY', '')}"
                  f"/actions/runs/{os.environ['GITHUB_RUN_ID']}")
    item = gate_item(args.gate, args.passed, args.coverage, sha, ci_run)
    _check_account(session, args.env)
    session.client("dynamodb").put_item(TableName=f"bbws-quality-gates-{args.env}", Item=item)
    cov = f", coverage {item['coverage_percent']['N']}%" if "coverage_percent" in item else ""
    say(f"recorded {args.gate} = {'passed' if args.passed == 'true' else 'failed'}{cov} for CodeSha256 {sha} "
        f"in bbws-quality-gates-{args.env}")
    _output("code_sha256", sha)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    write_summary(summary, f"- Quality gate `{args.gate}`: {'passed' if args.passed == 'true' else 'failed'}{cov} "
                           f"for `{sha}` in `bbws-quality-gates-{args.env}`")
    return EXIT_OK


def cmd_role(args: argparse.Namespace) -> int:
    say(f"role_arn={role_arn(args.env)}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bbws-run", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--env", required=True, choices=sorted(ACCOUNTS))
        sp.add_argument("--region", default=os.environ.get("BBWS_REGION", REGION))
        sp.add_argument("--poll", type=float, default=float(os.environ.get("BBWS_RUN_POLL_SECONDS", "5")),
                        help="seconds between two looks at the execution (default 5)")
        sp.add_argument("--max-wait", type=float, default=float(os.environ.get("BBWS_RUN_MAX_WAIT_SECONDS", "0")),
                        help="stop following (exit 3, the execution goes on) after this many seconds; 0 = never")
        sp.add_argument("--summary", default=None, help="append the Markdown summary here (default $GITHUB_STEP_SUMMARY)")

    def request(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--input", help="a JSON file with the execution input (events/*.json); options override its fields")
        sp.add_argument("--name", help="the execution's name (default: from the service, environment and GITHUB_RUN_ID)")
        sp.add_argument("--service")
        sp.add_argument("--version", help="promote: version or alias of the source; rollback: target version")
        sp.add_argument("--requested-by")
        sp.add_argument("--reason")
        sp.add_argument("--change-request")
        sp.add_argument("--incident", help="INC-<digits>: an emergency (promote, release) or the rollback's incident")
        sp.add_argument("--skip-quality-gates", action="store_true")
        sp.add_argument("--services", help="release: comma-separated catalog services")
        sp.add_argument("--rollback-completed-phases", action="store_true")
        sp.add_argument("--force", action="store_true", help="rollback: allow a version that never served")

    for kind in KINDS:
        sp = sub.add_parser(kind, help=f"start bbws-{kind}-<env> and follow it")
        common(sp)
        request(sp)
    sp = sub.add_parser("follow", help="follow an execution that is already running")
    common(sp)
    sp.add_argument("--execution-arn", required=True)
    sp = sub.add_parser("stop", help="stop this run's execution (a cancelled run)")
    sp.add_argument("kind", choices=sorted(KINDS))
    common(sp)
    request(sp)
    sp.add_argument("--execution-arn")
    sp = sub.add_parser("record-gate", help="record one quality gate for a package (bbws-quality-gates-<env>)")
    common(sp)
    sp.add_argument("--gate", required=True)
    sp.add_argument("--passed", default="true")
    sp.add_argument("--coverage")
    sp.add_argument("--code-sha256")
    sp.add_argument("--package")
    sp.add_argument("--function")
    sp.add_argument("--qualifier")
    sp.add_argument("--ci-run")
    sp = sub.add_parser("role", help="print role_arn=<bbws-github-actions-role-<env>>")
    sp.add_argument("--env", required=True, choices=sorted(ACCOUNTS))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command in KINDS:
            return start(args.command, args)
        if args.command == "follow":
            return cmd_follow(args)
        if args.command == "stop":
            return cmd_stop(args)
        if args.command == "record-gate":
            return cmd_record_gate(args)
        return cmd_role(args)
    except UsageError as e:
        error_annotation("bbws-run: invalid input", str(e))
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - an AWS refusal, said once, with AWS's own words
        resp = getattr(e, "response", None)
        if isinstance(resp, dict) and "Error" in resp:
            err = resp["Error"]
            error_annotation(f"AWS {err.get('Code', 'error')}", str(redact(err.get("Message", ""))))
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
