"""Runs one job of a workflow of .github/workflows as GitHub's runner would, on this machine, against the
local estate: the job's `run:` steps in bash (`bash --noprofile --norc -eo pipefail`) with the GITHUB_*
variables, GITHUB_ENV, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, the `${{ }}` expressions of `env:`,
`with:` and `if:` evaluated (contexts github, inputs, steps, env, vars, matrix; the status functions),
and the steps' status rules (a failed step skips the rest but `if: failure()` / `always()`; a
cancelled run runs only `if: cancelled()` / `always()` steps).

The `uses:` steps it knows:
- `actions/checkout`, `actions/setup-python`: nothing to do (the repository is the working directory,
  the project's virtualenv is first on PATH);
- `aws-actions/configure-aws-credentials`: what that action does with `role-to-assume`: it asks
  ACTIONS_ID_TOKEN_REQUEST_URL for an ID token (audience sts.amazonaws.com), calls
  sts:AssumeRoleWithWebIdentity with it (unsigned) and exports the session's credentials and region to
  the job; the estate issues the token for the job's context (repository, environment, run id, ...),
  as GitHub would, and its STS verifies it;
- `./.github/actions/<name>`: a composite action, its steps run the same way with its `inputs`.
Any other `uses:` fails the step. Every remote action must be pinned to a full commit SHA.

Cancellation is GitHub's: SIGINT to the running step's process group, SIGTERM 7.5 s later, then
SIGKILL; the run is then cancelled.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>\|\||&&|==|!=|<=|>=|[!()<>,.\[\]])"
                    r"|(?P<id>[A-Za-z_][A-Za-z0-9_-]*))")


class Expr:
    """GitHub Actions' expression language, as far as the workflows use it."""

    def __init__(self, text: str, ctx: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise HarnessError(f"cannot parse expression {text!r} at {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.ctx = ctx

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise HarnessError(f"expected {value!r}, got {tok!r}")
        self.i += 1
        return tok

    def value(self) -> Any:
        v = self.or_()
        if self.peek() is not None:
            raise HarnessError(f"trailing tokens: {self.tokens[self.i:]}")
        return v

    def or_(self) -> Any:
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            w = self.and_()
            v = v if truthy(v) else w
        return v

    def and_(self) -> Any:
        v = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            w = self.cmp()
            v = w if truthy(v) else v
        return v

    def cmp(self) -> Any:
        v = self.unary()
        tok = self.peek()
        if tok and tok[1] in ("==", "!="):
            self.take()
            w = self.unary()
            eq = loose_eq(v, w)
            return eq if tok[1] == "==" else not eq
        return v

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if text == "(":
            v = self.or_()
            self.take(")")
            return v
        if kind != "id":
            raise HarnessError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(text, args)
        if text not in self.ctx:
            raise HarnessError(f"unknown context {text!r}")
        v: Any = self.ctx[text]
        while self.peek() in (("op", "."), ("op", "[")):
            _, op = self.take()
            if op == ".":
                key = self.take()[1]
            else:
                key = self.or_()
                self.take("]")
            v = v.get(key) if isinstance(v, dict) else None
        return v

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.ctx.get("__status", "success")
        if name == "success":
            return status == "success"
        if name == "failure":
            return status == "failure"
        if name == "cancelled":
            return status == "cancelled"
        if name == "always":
            return True
        if name == "format":
            fmt = str(args[0])
            for i, a in enumerate(args[1:]):
                fmt = fmt.replace("{" + str(i) + "}", to_str(a))
            return fmt
        if name == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(loose_eq(x, needle) for x in hay)
            return to_str(needle).lower() in to_str(hay).lower()
        if name == "startsWith":
            return to_str(args[0]).lower().startswith(to_str(args[1]).lower())
        if name == "fromJSON":
            return json.loads(to_str(args[0]))
        if name == "toJSON":
            return json.dumps(args[0])
        raise HarnessError(f"unknown function {name}()")


def truthy(v: Any) -> bool:
    return v not in (None, False, 0, "", 0.0)


def loose_eq(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def to_str(v: Any) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def interpolate(value: Any, ctx: dict[str, Any]) -> str:
    text = to_str(value)
    out, pos = [], 0
    for m in re.finditer(r"\$\{\{(.*?)\}\}", text, re.S):
        out.append(text[pos:m.start()])
        out.append(to_str(Expr(m.group(1), ctx).value()))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def condition(expr: Any, ctx: dict[str, Any]) -> bool:
    if expr is None:
        return ctx.get("__status", "success") == "success"
    text = to_str(expr).strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    text = m.group(1) if m else text
    uses_status = re.search(r"\b(success|failure|cancelled|always)\s*\(", text)
    v = truthy(Expr(text, ctx).value())
    if not uses_status:  # GitHub adds success() && to an if without a status function
        return v and ctx.get("__status", "success") == "success"
    return v


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped | cancelled
    output: str = ""
    seconds: float = 0.0


@dataclass
class JobResult:
    status: str  # success | failure | cancelled
    steps: list[StepResult]
    summary: str
    log: str
    env: dict[str, str] = field(default_factory=dict)

    def step(self, name_part: str) -> StepResult:
        for s in self.steps:
            if name_part in s.name:
                return s
        raise KeyError(name_part)

    def annotations(self) -> list[tuple[str, str, str]]:
        """(level, title, message) of every `::error|warning|notice title=…::…` line."""
        out = []
        for m in re.finditer(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$", self.log, re.M):
            props = dict(p.split("=", 1) for p in (m.group(2) or "").split(",") if "=" in p)
            title = props.get("title", "").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")
            msg = m.group(3).replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
            out.append((m.group(1), title, msg))
        return out


@dataclass
class Context:
    repository: str
    run_id: int
    run_attempt: int = 1
    actor: str = "octocat"
    ref: str = "refs/heads/main"
    sha: str = "0" * 40
    event_name: str = "workflow_dispatch"
    vars: dict[str, str] = field(default_factory=dict)


class Runner:
    """Runs one job of one workflow file, as GitHub's hosted runner would, against `endpoint`."""

    def __init__(self, endpoint: str, aws_env: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.aws_env = aws_env or {}

    def run(self, workflow: str | dict[str, Any], job: str, inputs: dict[str, Any], context: Context,
            cancel_when: Callable[[], bool] | None = None, timeout: float = 300,
            job_overrides: dict[str, Any] | None = None) -> JobResult:
        """`workflow`: a file of .github/workflows, or a workflow as a dict (a service's CI job);
        `job_overrides`: keys of the job replaced (e.g. its `environment`, as an edited workflow would).
        The job's runner temp directory goes when the job ends, as a hosted runner's does."""
        try:
            return self._run_job(workflow, job, inputs, context, cancel_when, timeout, job_overrides)
        finally:
            work, self.work = getattr(self, "work", None), None
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)

    def _run_job(self, workflow: str | dict[str, Any], job: str, inputs: dict[str, Any], context: Context,
                     cancel_when: Callable[[], bool] | None, timeout: float,
                 job_overrides: dict[str, Any] | None) -> JobResult:
        if isinstance(workflow, dict):
            doc, workflow = workflow, str(workflow.get("name", "adhoc.yml"))
        else:
            doc = yaml.safe_load((WORKFLOWS / workflow).read_text())
        on = doc.get("on", doc.get(True))
        spec_inputs = ((on or {}).get("workflow_dispatch") or {}).get("inputs") or {}
        given = {}
        for name, spec in spec_inputs.items():
            if name in inputs:
                given[name] = inputs[name]
            elif spec.get("required") and "default" not in spec:
                raise HarnessError(f"input {name} is required by {workflow}")
            else:
                given[name] = spec.get("default", "" if spec.get("type") != "boolean" else False)
            if spec.get("type") == "choice" and given[name] not in spec.get("options", []):
                raise HarnessError(f"input {name}: {given[name]!r} is not one of {spec['options']}")
        unknown = set(inputs) - set(spec_inputs)
        if unknown:
            raise HarnessError(f"{workflow} has no inputs {sorted(unknown)}")
        job_spec = {**doc["jobs"][job], **(job_overrides or {})}
        self.work = Path(tempfile.mkdtemp(prefix="gha-"))
        github = {"repository": context.repository, "repository_owner": context.repository.split("/")[0],
                  "run_id": str(context.run_id), "run_attempt": str(context.run_attempt), "actor": context.actor,
                  "ref": context.ref, "sha": context.sha, "event_name": context.event_name,
                  "workflow": doc.get("name", workflow), "server_url": "https://github.com", "job": job,
                  "event": {"inputs": given}}
        ctx: dict[str, Any] = {"github": github, "inputs": given, "vars": dict(context.vars), "steps": {},
                               "env": {}, "matrix": {}, "secrets": {}, "runner": {"os": "Linux", "temp": str(self.work)},
                               "job": {"status": "success"}, "strategy": {}, "__status": "success"}
        environment = job_spec.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        env_name = interpolate(environment, ctx) if environment else None
        token_vars = self._register_job(context, env_name, doc.get("name", workflow), workflow)
        base_env = {
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": context.repository,
            "GITHUB_REPOSITORY_OWNER": context.repository.split("/")[0],
            "GITHUB_RUN_ID": str(context.run_id),
            "GITHUB_RUN_ATTEMPT": str(context.run_attempt),
            "GITHUB_RUN_NUMBER": str(context.run_id),
            "GITHUB_ACTOR": context.actor,
            "GITHUB_REF": context.ref,
            "GITHUB_SHA": context.sha,
            "GITHUB_EVENT_NAME": context.event_name,
            "GITHUB_WORKFLOW": str(doc.get("name", workflow)),
            "GITHUB_JOB": job,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_WORKSPACE": str(ROOT),
            "RUNNER_TEMP": str(self.work),
            "RUNNER_OS": "Linux",
            # A hosted runner has no AWS configuration: credentials come from configure-aws-credentials.
            "AWS_CONFIG_FILE": str(self.work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            **token_vars,
            **self.aws_env,
        }
        env: dict[str, str] = dict(base_env)
        for scope in (doc.get("env") or {}, job_spec.get("env") or {}):
            for k, v in scope.items():
                env[k] = interpolate(v, {**ctx, "env": env})
        self.log: list[str] = []
        self.summary: list[str] = []
        self.cancel_when = cancel_when
        self.run_cancelled = False
        self.deadline = time.monotonic() + timeout
        results = self._steps(job_spec.get("steps") or [], ctx, env, action_path=None)
        status = ctx["__status"]
        return JobResult(status, results, "".join(self.summary), "".join(self.log), env)

    # -- the job's context at the estate's issuer ----------------------------------------------------
    def _register_job(self, c: Context, environment: str | None, workflow_name: str, path: str) -> dict[str, str]:
        body = {"repository": c.repository, "run_id": c.run_id, "run_attempt": c.run_attempt, "actor": c.actor,
                "ref": c.ref, "sha": c.sha, "event_name": c.event_name, "workflow": workflow_name,
                "workflow_path": f".github/workflows/{path}"}
        if environment:
            body["environment"] = environment
        r = requests.post(f"{self.endpoint}/_local/github-oidc/jobs", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    # -- steps ---------------------------------------------------------------------------------------
    def _steps(self, steps: list[dict[str, Any]], ctx: dict[str, Any], env: dict[str, str],
               action_path: Path | None) -> list[StepResult]:
        results = []
        for i, step in enumerate(steps):
            name = str(step.get("name") or step.get("uses") or (step.get("run") or "").split("\n")[0])
            step_ctx = {**ctx, "env": env}
            if not condition(step.get("if"), step_ctx):
                results.append(StepResult(name, "skipped"))
                continue
            self.log.append(f"##[step] {name}\n")
            step_env = dict(env)
            for k, v in (step.get("env") or {}).items():
                step_env[k] = interpolate(v, {**ctx, "env": step_env})
            t0 = time.monotonic()
            if "uses" in step:
                outcome, out, outputs = self._uses(step, ctx, step_env, env)
            else:
                outcome, out, outputs = self._run(interpolate(step["run"], {**ctx, "env": step_env}), step_env, env,
                                                  action_path, step.get("shell"))
            if step.get("id"):
                ctx["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome,
                                            "conclusion": "success" if outcome == "success" else outcome}
            results.append(StepResult(name, outcome, out, time.monotonic() - t0))
            if outcome == "cancelled":
                ctx["__status"] = "cancelled"
            elif outcome == "failure" and not step.get("continue-on-error") and ctx["__status"] == "success":
                ctx["__status"] = "failure"
        return results

    def _files(self) -> dict[str, Path]:
        files = {}
        for k in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_PATH"):
            fd, p = tempfile.mkstemp(prefix=k.lower() + "-", dir=self.work)
            os.close(fd)
            files[k] = Path(p)
        return files

    def _collect(self, files: dict[str, Path], job_env: dict[str, str]) -> dict[str, str]:
        job_env.update(parse_env_file(files["GITHUB_ENV"].read_text()))
        self.summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
        return parse_env_file(files["GITHUB_OUTPUT"].read_text())

    def _run(self, script: str, step_env: dict[str, str], job_env: dict[str, str], action_path: Path | None,
             shell: str | None) -> tuple[str, str, dict[str, str]]:
        if shell not in (None, "bash"):
            raise HarnessError(f"shell {shell!r}: only bash is run here")
        files = self._files()
        env = {**step_env, **{k: str(v) for k, v in files.items()}}
        if action_path is not None:
            env["GITHUB_ACTION_PATH"] = str(action_path)
        script_path = self.work / f"step-{time.monotonic_ns()}.sh"
        script_path.write_text(script)
        proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        chunks: list[str] = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        cancelled = False
        while proc.poll() is None:
            if not self.run_cancelled and self.cancel_when is not None and self.cancel_when():
                cancelled = self.run_cancelled = True  # the run is cancelled once; later steps run on
                self._cancel(proc)
            if time.monotonic() > self.deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise HarnessError(f"step still running after the harness's timeout:\n{''.join(chunks)[-3000:]}")
            time.sleep(0.1)
        reader.join(timeout=5)
        out = "".join(chunks)
        self.log.append(out)
        outputs = self._collect(files, job_env)
        if cancelled:
            return "cancelled", out, outputs
        return ("success" if proc.returncode == 0 else "failure"), out, outputs

    @staticmethod
    def _cancel(proc: subprocess.Popen) -> None:
        """GitHub's cancellation of a running step: SIGINT, SIGTERM after 7.5 s, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, 7.5), (signal.SIGTERM, 2.5), (signal.SIGKILL, 0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait or None)
                return
            except subprocess.TimeoutExpired:
                continue

    def _uses(self, step: dict[str, Any], ctx: dict[str, Any], step_env: dict[str, str],
              job_env: dict[str, str]) -> tuple[str, str, dict[str, str]]:
        uses = str(step["uses"])
        with_ = {k: interpolate(v, {**ctx, "env": step_env}) for k, v in (step.get("with") or {}).items()}
        if uses.startswith("./"):
            return self._composite(ROOT / uses[2:], with_, ctx, step_env, job_env)
        if not _PINNED.match(uses):
            raise HarnessError(f"{uses}: a remote action must be pinned to a full commit SHA")
        action = uses.split("@", 1)[0]
        if action in ("actions/checkout", "actions/setup-python"):
            return "success", "", {}
        if action == "aws-actions/configure-aws-credentials":
            return self._configure_aws_credentials(with_, step_env, job_env)
        raise HarnessError(f"{action}: this harness does not run it")

    def _configure_aws_credentials(self, with_: dict[str, str], step_env: dict[str, str],
                                   job_env: dict[str, str]) -> tuple[str, str, dict[str, str]]:
        import boto3
        import botocore
        from botocore import UNSIGNED
        from botocore.config import Config

        role = with_.get("role-to-assume", "")
        region = with_.get("aws-region", "")
        audience = with_.get("audience", "sts.amazonaws.com")
        url, bearer = step_env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), step_env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not url or not bearer:
            return "failure", "Error: Could not get ID token: the job has no id-token: write permission\n", {}
        r = requests.get(f"{url}&audience={audience}", headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
        if r.status_code != 200:
            return "failure", f"Error: Could not get ID token ({r.status_code})\n", {}
        token = r.json()["value"]
        sts = boto3.client("sts", region_name=region, endpoint_url=step_env.get("AWS_ENDPOINT_URL"),
                           config=Config(signature_version=UNSIGNED))
        try:
            got = sts.assume_role_with_web_identity(
                RoleArn=role, RoleSessionName=with_.get("role-session-name", "GitHubActions"), WebIdentityToken=token,
                DurationSeconds=int(with_.get("role-duration-seconds", "3600")))
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            out = f"Error: Could not assume role with OIDC: {err.get('Code')}: {err.get('Message')}\n"
            self.log.append(out)
            return "failure", out, {}
        c = got["Credentials"]
        job_env.update({"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": c["SessionToken"], "AWS_REGION": region, "AWS_DEFAULT_REGION": region})
        out = f"Authenticated as assumedRoleId {got['AssumedRoleUser']['AssumedRoleId']}\n"
        self.log.append(out)
        return "success", out, {"aws-account-id": role.split(":")[4]}

    def _composite(self, path: Path, with_: dict[str, str], ctx: dict[str, Any], step_env: dict[str, str],
                   job_env: dict[str, str]) -> tuple[str, str, dict[str, str]]:
        meta = yaml.safe_load((path / "action.yml").read_text())
        if (meta.get("runs") or {}).get("using") != "composite":
            raise HarnessError(f"{path}: not a composite action")
        inputs = {}
        for name, spec in (meta.get("inputs") or {}).items():
            if name in with_:
                inputs[name] = with_[name]
            elif spec.get("required") and "default" not in spec:
                return "failure", f"Error: Input required and not supplied: {name}\n", {}
            else:
                inputs[name] = str(spec.get("default", ""))
        inner = {**ctx, "inputs": inputs, "steps": {}, "__status": "success"}
        results = self._steps(meta["runs"]["steps"], inner, job_env, action_path=path)
        outputs = {k: interpolate(v.get("value", ""), {**inner, "env": job_env})
                   for k, v in (meta.get("outputs") or {}).items()}
        out = "".join(r.output for r in results)
        if inner["__status"] == "cancelled":
            return "cancelled", out, outputs
        return ("success" if inner["__status"] == "success" else "failure"), out, outputs


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines and KEY<<DELIMITER heredocs, as GITHUB_ENV and GITHUB_OUTPUT take them."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out
