"""AWS CodeBuild builds that run: the buildspec's commands as local processes, as the project's role.

moto 5.2.5 stores projects and marks every build SUCCEEDED without running anything. Here StartBuild
runs the build in a background thread, the way CodeBuild runs it in a container:

- DOWNLOAD_SOURCE: a GITHUB source (`https://github.com/<owner>/<repo>.git`) is cloned from the local
  git repository registered for that URL (`POST /_local/codebuild/repositories`), at the requested
  `sourceVersion` (a commit, a branch, `refs/heads/<branch>`); a version that does not exist fails the
  phase with CodeBuild's CLIENT_ERROR. NO_SOURCE builds start in an empty directory. The buildspec is
  `buildspecOverride` or the project's `source.buildspec`: inline YAML, or a file of the source
  (default `buildspec.yml`).
- INSTALL, PRE_BUILD, BUILD, POST_BUILD: each command in bash, in the source directory, one after the
  other; as in buildspec version 0.2, a `cd` or an `export` carries over to the next command. A failing
  command fails its phase (`finally` commands still run). CodeBuild's transitions (AWS CodeBuild User
  Guide, "Build phase transitions"): a failed INSTALL or PRE_BUILD goes to FINALIZING; a failed BUILD
  still runs POST_BUILD (CODEBUILD_BUILD_SUCCEEDING=0) and UPLOAD_ARTIFACTS; `on-failure: CONTINUE`
  goes on to the next phase with the build failed.
- Environment: buildspec `env.variables` < the project's variables < `environmentVariablesOverride`
  (CodeBuild's precedence); PARAMETER_STORE values (and `env.parameter-store`) are read from the
  estate's SSM as the service role (ssm:GetParameters); CodeBuild's own variables last. The process
  gets the service role's temporary credentials (session `AWSCodeBuild-<build uuid>`, as CodeBuild
  names it) and AWS_ENDPOINT_URL of the estate: every call of the build is decided by the estate's
  IAM layer. Nothing of the estate's own environment is passed on.
- Logs: the build's output goes to CloudWatch Logs, group `/aws/codebuild/<project>`, stream `<build
  uuid>`, written with the service role's credentials as CodeBuild writes them: a role that may not
  create the stream fails the build in QUEUED with CodeBuild's ACCESS_DENIED sentence (CodeBuild reports
  "Phase: QUEUED, Code: ACCESS_DENIED, Message: Service role ... does not allow AWS CodeBuild to create
  Amazon CloudWatch Logs log streams for build ... Error message: <IAM's sentence>"). A Parameter Store
  value the role may not read fails DOWNLOAD_SOURCE with "Decrypted Variables Error", as CodeBuild does.

A build that is stopped (StopBuild, the estate stopping) has its process group killed.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

LOG = logging.getLogger("bbws_local.codebuild")

PHASE_KEYS = (("install", "INSTALL"), ("pre_build", "PRE_BUILD"), ("build", "BUILD"), ("post_build", "POST_BUILD"))
DEFAULT_TIMEOUT_MINUTES = 60  # CodeBuild's default build timeout
DEFAULT_BUILDSPEC_FILE = "buildspec.yml"
IMAGE_DEFAULT = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
LOG_FLUSH_SECONDS = 0.5


class BuildspecError(ValueError):
    """A buildspec CodeBuild would refuse (YAML_FILE_ERROR); the message names the field and the rule."""


class SourceError(Exception):
    """The source could not be downloaded (CLIENT_ERROR in DOWNLOAD_SOURCE)."""


# ---------------------------------------------------------------------------------------------------
# The buildspec
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    key: str  # install, pre_build, build, post_build
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str = "ABORT"


@dataclass(frozen=True)
class Buildspec:
    variables: dict[str, str] = field(default_factory=dict)
    parameter_store: dict[str, str] = field(default_factory=dict)
    phases: dict[str, Phase] = field(default_factory=dict)


def _commands(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or any(isinstance(c, (dict, list)) or c is None for c in value):
        raise BuildspecError(f"{where}: a list of commands (strings) is expected")
    return tuple(str(c) for c in value)


def _string_map(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildspecError(f"{where}: a mapping of names to values is expected")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def parse_buildspec(text: str) -> Buildspec:
    """A version 0.2 buildspec (YAML), with the parts the estate runs; anything malformed is refused."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BuildspecError(f"the buildspec is not valid YAML: {e}".replace("\n", " "))
    if not isinstance(doc, dict):
        raise BuildspecError("the buildspec must be a YAML mapping with `version` and `phases`")
    if "version" not in doc:
        raise BuildspecError("missing required field `version` (0.2)")
    if str(doc["version"]) != "0.2":
        raise BuildspecError(f"version: {doc['version']!r} is not supported by the local estate (use 0.2)")
    env = doc.get("env") or {}
    if not isinstance(env, dict):
        raise BuildspecError("env: a mapping is expected")
    unsupported = [k for k in ("secrets-manager", "run-as") if env.get(k) is not None]
    if env.get("shell") not in (None, "bash"):
        unsupported.append("shell")
    if unsupported:
        raise BuildspecError(f"env.{unsupported[0]}: not run by the local estate (commands run in bash as the "
                             f"estate's user; variables come from env.variables and env.parameter-store)")
    phases_doc = doc.get("phases") or {}
    if not isinstance(phases_doc, dict):
        raise BuildspecError("phases: a mapping of install, pre_build, build, post_build is expected")
    known = {k for k, _ in PHASE_KEYS}
    unknown = sorted(set(phases_doc) - known)
    if unknown:
        raise BuildspecError(f"phases: unknown phase {unknown[0]!r} (phases are {', '.join(sorted(known))})")
    phases: dict[str, Phase] = {}
    for key, _ in PHASE_KEYS:
        body = phases_doc.get(key)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise BuildspecError(f"phases.{key}: a mapping with `commands` is expected")
        on_failure = str(body.get("on-failure", "ABORT")).upper()
        if on_failure not in ("ABORT", "CONTINUE"):
            raise BuildspecError(f"phases.{key}.on-failure: {body.get('on-failure')!r} is not ABORT or CONTINUE")
        phases[key] = Phase(key, _commands(f"phases.{key}.commands", body.get("commands")),
                            _commands(f"phases.{key}.finally", body.get("finally")), on_failure)
    return Buildspec(_string_map("env.variables", env.get("variables")),
                     _string_map("env.parameter-store", env.get("parameter-store")), phases)


def is_inline_buildspec(value: str) -> bool:
    """CodeBuild takes `buildspec` as the YAML itself or as a path in the source."""
    return "\n" in value or value.lstrip().startswith("version")


# ---------------------------------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------------------------------


def check_variables(where: str, variables: Any) -> list[dict[str, str]]:
    """CodeBuild's EnvironmentVariable list, each with name, value and a type the estate runs."""
    if variables is None:
        return []
    if not isinstance(variables, list):
        raise ValueError(f"{where}: a list of {{name, value, type}} is expected")
    out = []
    for i, var in enumerate(variables):
        if not isinstance(var, dict) or not isinstance(var.get("name"), str) or not var["name"]:
            raise ValueError(f"{where}[{i}].name: a non-empty string is required")
        kind = var.get("type") or "PLAINTEXT"
        if kind not in ("PLAINTEXT", "PARAMETER_STORE"):
            raise ValueError(f"{where}[{i}].type: {kind!r} is not run by the local estate "
                             f"(PLAINTEXT and PARAMETER_STORE are)")
        out.append({"name": var["name"], "value": str(var.get("value", "")), "type": kind})
    return out


def merge_variables(buildspec: dict[str, str], project: list[dict[str, str]],
                    override: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    """name -> (type, value): the start-build override wins over the project, the project over the
    buildspec (AWS CodeBuild User Guide, environment variables precedence)."""
    merged: dict[str, tuple[str, str]] = {k: ("PLAINTEXT", v) for k, v in buildspec.items()}
    for var in project + override:
        merged[var["name"]] = (var["type"], var["value"])
    return merged


# ---------------------------------------------------------------------------------------------------
# Source repositories the estate serves for GitHub URLs
# ---------------------------------------------------------------------------------------------------


def github_key(url: str) -> str | None:
    """`owner/repo` (lower case) of an https://github.com URL, or None."""
    m = _GITHUB.match(url.strip())
    return f"{m.group(1)}/{m.group(2)}".lower() if m else None


class Repositories:
    """GitHub URL -> local git repository, kept in `<state>/codebuild/repositories.json`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "codebuild" / "repositories.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def add(self, url: str, path: str) -> str:
        key = github_key(url)
        if key is None:
            raise ValueError(f"url: {url!r} is not https://github.com/<owner>/<repo>(.git)")
        if not (Path(path) / ".git").exists() and not (Path(path) / "HEAD").exists():
            raise ValueError(f"path: {path!r} is not a git repository")
        with self._lock:
            doc = self._read()
            doc[key] = str(Path(path).resolve())
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(doc, indent=1, sort_keys=True))
        return key

    def all(self) -> dict[str, str]:
        with self._lock:
            return self._read()

    def local_path(self, url: str) -> str | None:
        key = github_key(url)
        return self.all().get(key) if key else None


def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd or "/tmp"), "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", *args], cwd=str(cwd) if cwd else None, env=env, capture_output=True, text=True,
                          timeout=300)


def checkout(repo_path: str, version: str | None, dest: Path) -> str:
    """Clone `repo_path` into `dest` at `version` (commit, branch or refs/heads/<branch>; None: the
    default branch). Returns the resolved commit; SourceError with CodeBuild's words if it is not there."""
    shown = version or "HEAD"
    cloned = _git(["clone", "--quiet", "--no-hardlinks", repo_path, str(dest)])
    if cloned.returncode != 0:
        raise SourceError(f"repository not found for primary source and source version {shown}")
    if version:
        name = version[len("refs/heads/"):] if version.startswith("refs/heads/") else version
        resolved = None
        for candidate in (f"origin/{name}", name):
            r = _git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], dest)
            if r.returncode == 0:
                resolved = r.stdout.strip()
                break
        if resolved is None:
            raise SourceError(f"reference not found for primary source and source version {version}")
        if _git(["checkout", "--quiet", "--detach", resolved], dest).returncode != 0:
            raise SourceError(f"reference not found for primary source and source version {version}")
    return _git(["rev-parse", "HEAD"], dest).stdout.strip()


# ---------------------------------------------------------------------------------------------------
# One build
# ---------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _container_line(text: str) -> str:
    return f"[Container] {_now().strftime('%Y/%m/%d %H:%M:%S.%f')} {text}"


@dataclass
class StartRequest:
    """What StartBuild asked for, checked."""
    source_version: str | None
    buildspec_override: str | None
    variables_override: list[dict[str, str]]
    timeout_minutes: int | None
    initiator: str


class Stopped(Exception):
    pass


class Build:
    """A build's record (BatchGetBuilds' shape) and the thread that runs it."""

    def __init__(self, builds: "Builds", account: str, region: str, project: dict[str, Any],
                 request: StartRequest, number: int) -> None:
        self.builds = builds
        self.account, self.region = account, region
        self.project = copy.deepcopy(project)  # what StartBuild saw: a later UpdateProject does not reach it
        self.request = request
        self.uuid = str(uuid.uuid4())
        name = project["name"]
        self.id = f"{name}:{self.uuid}"
        self.arn = f"arn:aws:codebuild:{region}:{account}:build/{self.id}"
        self.group = f"/aws/codebuild/{name}"
        self.workdir = builds.state_dir / "codebuild" / "builds" / self.uuid
        self.src = self.workdir / "src"
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.done = threading.Event()
        self._pending_lines: list[tuple[int, str]] = []
        self._flush_lock = threading.Lock()  # one PutLogEvents at a time, in order
        self._last_flush = 0.0
        self._logs_client: Any = None
        self._failed = False
        self.record = self._initial_record(number)

    # -- the record -------------------------------------------------------------------------------
    def _initial_record(self, number: int) -> dict[str, Any]:
        p, now = self.project, _now()
        environment = copy.deepcopy(p.get("environment") or {})
        overridden = {v["name"] for v in self.request.variables_override}
        environment["environmentVariables"] = [v for v in environment.get("environmentVariables") or []
                                               if v.get("name") not in overridden] + self.request.variables_override
        timeout = self.request.timeout_minutes or p.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES
        source = copy.deepcopy(p.get("source") or {})
        if self.request.buildspec_override is not None:
            source["buildspec"] = self.request.buildspec_override
        record: dict[str, Any] = {
            "id": self.id, "arn": self.arn, "buildNumber": number, "startTime": now,
            "currentPhase": "SUBMITTED", "buildStatus": "IN_PROGRESS", "projectName": p["name"],
            "phases": [], "source": source, "secondarySources": [], "secondarySourceVersions": [],
            "artifacts": {"location": ""}, "cache": p.get("cache") or {"type": "NO_CACHE"},
            "environment": environment, "serviceRole": p.get("serviceRole"),
            "logs": {"groupName": self.group, "streamName": self.uuid,
                     "deepLink": (f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}"
                                  f"#logEvent:group={self.group};stream={self.uuid}"),
                     "cloudWatchLogsArn": (f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.group}"
                                           f":log-stream:{self.uuid}"),
                     "cloudWatchLogs": {"status": "ENABLED"},
                     "s3Logs": {"status": "DISABLED", "encryptionDisabled": False}},
            "timeoutInMinutes": int(timeout), "queuedTimeoutInMinutes": p.get("queuedTimeoutInMinutes") or 480,
            "buildComplete": False, "initiator": self.request.initiator,
            "encryptionKey": p.get("encryptionKey"),
        }
        version = self.request.source_version or p.get("sourceVersion")
        if version:
            record["sourceVersion"] = version
        self._phases_done_at_start(record, now)
        return record

    @staticmethod
    def _phases_done_at_start(record: dict[str, Any], now: datetime) -> None:
        record["phases"].append({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": now,
                                 "endTime": now, "durationInSeconds": 0})
        record["phases"].append({"phaseType": "QUEUED", "startTime": now})
        record["currentPhase"] = "QUEUED"

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.record)

    def _begin(self, phase: str) -> None:
        with self.lock:
            self.record["currentPhase"] = phase
            self.record["phases"].append({"phaseType": phase, "startTime": _now()})
        if phase != "COMPLETED":
            self.log(_container_line(f"Entering phase {phase}"))

    def _end(self, status: str, code: str = "", message: str = "") -> None:
        now = _now()
        with self.lock:
            phase = self.record["phases"][-1]
            phase["phaseStatus"] = status
            phase["endTime"] = now
            phase["durationInSeconds"] = int(round((now - phase["startTime"]).total_seconds()))
            phase["contexts"] = [{"statusCode": code, "message": message}]
            kind = phase["phaseType"]
        self.log(_container_line(f"Phase complete: {kind} State: {status}"))
        self.log(_container_line(f"Phase context status code: {code} Message: {message}"))

    def _finish(self, status: str) -> None:
        now = _now()
        with self.lock:
            self.record["phases"].append({"phaseType": "COMPLETED", "startTime": now})
            self.record["currentPhase"] = "COMPLETED"
            self.record["buildStatus"] = status
            self.record["endTime"] = now
            self.record["buildComplete"] = True

    # -- logs -------------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        if not line:
            return  # CloudWatch Logs takes no empty message (PutLogEvents would refuse the whole batch)
        with self.lock:
            self._pending_lines.append((int(time.time() * 1000), line))
        if time.time() - self._last_flush >= LOG_FLUSH_SECONDS:
            self.flush_logs()

    def flush_logs(self) -> None:
        with self._flush_lock:
            self._flush_logs()

    def _flush_logs(self) -> None:
        with self.lock:
            lines, self._pending_lines = self._pending_lines, []
        self._last_flush = time.time()
        if not lines or self._logs_client is None:
            return
        for i in range(0, len(lines), 5000):
            chunk = [{"timestamp": t, "message": m} for t, m in lines[i:i + 5000]]
            try:
                self._logs_client.put_log_events(logGroupName=self.group, logStreamName=self.uuid, logEvents=chunk)
            except Exception as e:  # the role lost the permission mid-build: AWS loses those lines too
                LOG.warning("build %s: log events not written: %s", self.id, e)
                return

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Stopped:
            self._stopped()
        except Exception:
            LOG.exception("build %s failed in the estate", self.id)
            with self.lock:
                in_phase = "phaseStatus" not in self.record["phases"][-1]
            if in_phase:
                self._end("FAILED", "CLIENT_ERROR", "the local estate could not run this phase (see server.log)")
            self._finish("FAILED")
        finally:
            self.flush_logs()
            shutil.rmtree(self.src, ignore_errors=True)
            self.done.set()

    def _stopped(self) -> None:
        with self.lock:
            in_phase = "phaseStatus" not in self.record["phases"][-1]
        if in_phase:
            self._end("STOPPED")
        self._begin("FINALIZING")
        self._end("SUCCEEDED")
        self._finish("STOPPED")

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise Stopped()

    def _run(self) -> None:
        env = self._queue()
        if env is None:
            return
        self._end("SUCCEEDED")
        self._check_stop()
        self._begin("PROVISIONING")
        self._end("SUCCEEDED")
        self._check_stop()
        self._begin("DOWNLOAD_SOURCE")
        spec = self._download_source(env)
        if spec is None:
            return
        self._end("SUCCEEDED")
        self._run_phases(spec, env)

    def _fail_early(self, code: str, message: str) -> None:
        """A failure before the buildspec runs: the phase fails, FINALIZING, the build FAILED."""
        self._end("FAILED", code, message)
        self._begin("FINALIZING")
        self._end("SUCCEEDED")
        self._finish("FAILED")

    def _queue(self) -> dict[str, str] | None:
        """QUEUED: CodeBuild assumes the service role and opens the build's log stream with it; a role it
        cannot use fails the build there (ACCESS_DENIED, then COMPLETED, as CodeBuild reports it)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.src.mkdir(parents=True, exist_ok=True)
        role = self.project.get("serviceRole") or ""
        try:
            self.creds = self.builds.credentials(self.account, self.region, role, f"AWSCodeBuild-{self.uuid}")
            problem = self._open_logs(role)
        except Exception as e:
            problem = f"Service role {role} could not be assumed by AWS CodeBuild: {e}"
        if problem:
            self._end("FAILED", "ACCESS_DENIED", problem)
            self._finish("FAILED")
            return None
        return self._base_env()

    def _open_logs(self, role: str) -> str | None:
        from botocore.exceptions import ClientError

        client = self.builds.client("logs", self.region, self.creds)
        try:
            client.create_log_group(logGroupName=self.group)
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("ResourceAlreadyExistsException", "AccessDeniedException"):
                raise
        try:
            client.create_log_stream(logGroupName=self.group, logStreamName=self.uuid)
        except ClientError as e:
            # CodeBuild's words (ACCESS_DENIED in the build's first phase) with the IAM sentence.
            return (f"Service role {role} does not allow AWS CodeBuild to create Amazon CloudWatch Logs log "
                    f"streams for build {self.arn}. Error message: {e.response['Error'].get('Message', '')}")
        self._logs_client = client
        return None

    def _base_env(self) -> dict[str, str]:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        config = self.workdir / "aws-config"
        # The estate answers S3 path-style on one host name.
        config.write_text(f"[default]\nregion = {self.region}\ns3 =\n    addressing_style = path\n")
        bin_dir = str(Path(sys.executable).parent)
        return {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
            "HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(self.workdir),
            "AWS_ENDPOINT_URL": self.builds.endpoint, "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.creds["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": self.creds["AWS_SECRET_ACCESS_KEY"],
            "AWS_SESSION_TOKEN": self.creds["AWS_SESSION_TOKEN"],
        }

    def _download_source(self, env: dict[str, str]) -> tuple[Buildspec, dict[str, str]] | None:
        source = self.record["source"]
        kind = source.get("type")
        version = self.record.get("sourceVersion")
        resolved = ""
        if kind == "GITHUB":
            local = self.builds.repositories.local_path(str(source.get("location", "")))
            if local is None:
                self._fail_early("CLIENT_ERROR", f"repository not found for primary source and source version "
                                                 f"{version or 'HEAD'}")
                return None
            try:
                resolved = checkout(local, version, self.src)
            except SourceError as e:
                self._fail_early("CLIENT_ERROR", str(e))
                return None
            with self.lock:
                self.record["resolvedSourceVersion"] = resolved
        elif kind != "NO_SOURCE":
            self._fail_early("CLIENT_ERROR", f"source type {kind} is not run by the local estate "
                                             f"(GITHUB and NO_SOURCE are)")
            return None
        text = self._buildspec_text(source)
        if text is None:
            return None
        try:
            spec = parse_buildspec(text)
            variables = self._variables(spec, env, resolved)
        except BuildspecError as e:
            self._fail_early("YAML_FILE_ERROR", str(e))
            return None
        except ParameterError as e:
            self._fail_early("Decrypted Variables Error", str(e))
            return None
        return spec, variables

    def _buildspec_text(self, source: dict[str, Any]) -> str | None:
        value = source.get("buildspec") or ""
        if value and is_inline_buildspec(value):
            return value
        path = self.src / (value or DEFAULT_BUILDSPEC_FILE)
        try:
            return path.read_text()
        except OSError:
            self._fail_early("YAML_FILE_ERROR", f"stat {path}: no such file or directory")
            return None

    def _variables(self, spec: Buildspec, env: dict[str, str], resolved: str) -> dict[str, str]:
        project_vars = (self.project.get("environment") or {}).get("environmentVariables") or []
        merged = merge_variables(spec.variables, project_vars, self.request.variables_override)
        for name, parameter in spec.parameter_store.items():
            merged[name] = ("PARAMETER_STORE", parameter)
        wanted = sorted({v for t, v in merged.values() if t == "PARAMETER_STORE"})
        self.log(_container_line("Processing environment variables"))
        values = {}
        if wanted:
            self.log(_container_line("Decrypting parameter store environment variables"))
            values = self._parameters(wanted)
        out = dict(env)
        for name, (kind, value) in merged.items():
            out[name] = values[value] if kind == "PARAMETER_STORE" else value
        p = self.project
        out.update({
            "CODEBUILD_BUILD_ID": self.id, "CODEBUILD_BUILD_ARN": self.arn,
            "CODEBUILD_BUILD_NUMBER": str(self.record["buildNumber"]),
            "CODEBUILD_BUILD_IMAGE": (p.get("environment") or {}).get("image") or IMAGE_DEFAULT,
            "CODEBUILD_BUILD_SUCCEEDING": "1", "CODEBUILD_INITIATOR": self.request.initiator,
            "CODEBUILD_KMS_KEY_ID": p.get("encryptionKey") or "",
            "CODEBUILD_LOG_PATH": self.uuid, "CODEBUILD_SRC_DIR": str(self.src),
            "CODEBUILD_RESOLVED_SOURCE_VERSION": resolved,
            "CODEBUILD_SOURCE_VERSION": self.record.get("sourceVersion") or "",
            "CODEBUILD_SOURCE_REPO_URL": str(self.record["source"].get("location") or ""),
            "CODEBUILD_START_TIME": str(int(self.record["startTime"].timestamp() * 1000)),
            "CODEBUILD_PUBLIC_BUILD_URL": "",
        })
        return out

    def _parameters(self, names: list[str]) -> dict[str, str]:
        """Parameter Store values, read as the service role (CodeBuild calls ssm:GetParameters)."""
        from botocore.exceptions import ClientError

        client = self.builds.client("ssm", self.region, self.creds)
        values: dict[str, str] = {}
        for i in range(0, len(names), 10):
            try:
                got = client.get_parameters(Names=names[i:i + 10], WithDecryption=True)
            except ClientError as e:
                raise ParameterError(f"{e.response['Error']['Code']}: {e.response['Error'].get('Message', '')}")
            if got.get("InvalidParameters"):
                raise ParameterError(f"parameter does not exist: {got['InvalidParameters'][0]}")
            values.update({p["Name"]: p["Value"] for p in got["Parameters"]})
        return values

    def _run_phases(self, prepared: tuple[Buildspec, dict[str, str]], env: dict[str, str]) -> None:
        spec, variables = prepared
        shell = ShellState(self.workdir / "shell", self.src, variables)
        failed = False
        for key, phase_type in PHASE_KEYS:
            if failed and phase_type != "POST_BUILD":
                continue
            self._check_stop()
            phase = spec.phases.get(key, Phase(key))
            self._begin(phase_type)
            error = self._run_commands(shell, phase)
            if error is None:
                self._end("SUCCEEDED")
                continue
            status, code, message = error
            self._end(status, code, message)
            if status == "TIMED_OUT":
                self._close("TIMED_OUT")
                return
            self._failed = True
            shell.set("CODEBUILD_BUILD_SUCCEEDING", "0")
            if phase.on_failure == "CONTINUE":
                continue
            # A failed INSTALL or PRE_BUILD ends the build; a failed BUILD still runs POST_BUILD.
            failed = True
            if phase_type in ("INSTALL", "PRE_BUILD", "POST_BUILD"):
                self._close("FAILED")
                return
        self._begin("UPLOAD_ARTIFACTS")
        self._end("SUCCEEDED")
        self._close("FAILED" if self._failed else "SUCCEEDED")

    def _close(self, status: str) -> None:
        self._begin("FINALIZING")
        self._end("SUCCEEDED")
        self._finish(status)

    def _run_commands(self, shell: "ShellState", phase: Phase) -> tuple[str, str, str] | None:
        error = None
        for command in phase.commands:
            error = self._command(shell, command)
            if error is not None:
                break
        for command in phase.finally_commands:
            if error is not None and error[0] == "TIMED_OUT":
                break
            late = self._command(shell, command)
            error = error or late
        return error

    def _command(self, shell: "ShellState", command: str) -> tuple[str, str, str] | None:
        self._check_stop()
        self.log(_container_line(f"Running command {command}"))
        deadline = self.record["startTime"].timestamp() + self.record["timeoutInMinutes"] * 60
        proc = subprocess.Popen(["bash", "-c", shell.script(command)], cwd=str(self.src), env=shell.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.proc = proc
        reader = threading.Thread(target=self._read_output, args=(proc,), daemon=True)
        reader.start()
        while proc.poll() is None:
            if self.stop_requested.is_set():
                self.kill()
                reader.join(timeout=5)
                raise Stopped()
            if time.time() > deadline:
                self.kill()
                reader.join(timeout=5)
                return ("TIMED_OUT", "BUILD_TIMED_OUT",
                        f"Build has timed out. Build timeout: {self.record['timeoutInMinutes']} minutes")
            if self._pending_lines and time.time() - self._last_flush >= LOG_FLUSH_SECONDS:
                self.flush_logs()  # a quiet command's first lines reach the log while it runs
            time.sleep(0.05)
        reader.join(timeout=5)
        self.proc = None
        if self.stop_requested.is_set():
            raise Stopped()  # killed by StopBuild before this loop saw the request
        if proc.returncode == 0:
            return None
        return ("FAILED", "COMMAND_EXECUTION_ERROR",
                f"Error while executing command: {command}. Reason: exit status {proc.returncode}")

    def _read_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self.log(raw.decode("utf-8", "replace").rstrip("\n"))

    def kill(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ParameterError(Exception):
    """A Parameter Store variable could not be read as the service role."""


class ShellState:
    """Buildspec 0.2 runs every command in the same shell: a `cd` or an `export` of one command holds
    for the next. Each command here is its own bash process that starts from, and saves, that state."""

    def __init__(self, directory: Path, src: Path, variables: dict[str, str]) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.exports = self.dir / "exports.sh"
        self.cwd = self.dir / "cwd"
        self.exports.write_text("")
        self.cwd.write_text(str(src))
        self._env = dict(variables)

    def set(self, name: str, value: str) -> None:
        self._env[name] = value
        with open(self.exports, "a") as f:
            f.write(f"export {name}={json.dumps(value)}\n")

    def env(self) -> dict[str, str]:
        return dict(self._env)

    def script(self, command: str) -> str:
        exports, cwd = self.exports, self.cwd
        return (f". {exports} 2>/dev/null; cd \"$(cat {cwd})\" 2>/dev/null\n"
                f"{command}\n"
                f"__bbws_rc=$?; export -p > {exports}.new && mv {exports}.new {exports}; pwd > {cwd}; "
                f"exit $__bbws_rc\n")


# ---------------------------------------------------------------------------------------------------
# Every build of the estate
# ---------------------------------------------------------------------------------------------------


class Builds:
    """The builds of every account and region, by build id."""

    def __init__(self, state_dir: Path, endpoint: str,
                 credentials: Callable[[str, str, str, str], dict[str, str]]) -> None:
        self.state_dir = state_dir
        self.endpoint = endpoint
        self.credentials = credentials
        self.repositories = Repositories(state_dir)
        self._lock = threading.Lock()
        self._builds: dict[tuple[str, str, str], Build] = {}
        self._numbers: dict[tuple[str, str, str], int] = {}

    def client(self, service: str, region: str, creds: dict[str, str]) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=creds["AWS_SESSION_TOKEN"],
                            config=Config(retries={"max_attempts": 2}))

    def start(self, account: str, region: str, project: dict[str, Any], request: StartRequest) -> Build:
        key = (account, region, project["name"])
        with self._lock:
            self._numbers[key] = self._numbers.get(key, 0) + 1
            build = Build(self, account, region, project, request, self._numbers[key])
            self._builds[(account, region, build.id)] = build
        threading.Thread(target=build.run, name=f"codebuild-{build.id}", daemon=True).start()
        return build

    def get(self, account: str, region: str, build_id: str) -> Build | None:
        with self._lock:
            return self._builds.get((account, region, build_id))

    def stop(self, build: Build, wait: float = 10.0) -> None:
        build.stop_requested.set()
        build.kill()
        build.done.wait(timeout=wait)

    def stop_all(self) -> None:
        with self._lock:
            running = [b for b in self._builds.values() if not b.done.is_set()]
        for build in running:
            build.stop_requested.set()
            build.kill()
        for build in running:
            build.done.wait(timeout=5)


def trusts_codebuild(trust_policy: Any) -> bool:
    """Whether a role's trust policy lets codebuild.amazonaws.com assume it (an Allow, no Deny)."""
    doc = trust_policy
    if isinstance(doc, str):
        try:
            doc = json.loads(unquote(doc))
        except ValueError:
            return False
    statements = (doc or {}).get("Statement") or [] if isinstance(doc, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements
    allowed = False
    for st in statements:
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        principal = st.get("Principal") or {}
        services = principal.get("Service") if isinstance(principal, dict) else None
        services = [services] if isinstance(services, str) else (services or [])
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        if "codebuild.amazonaws.com" not in services and principal != "*":
            continue
        if st.get("Effect") == "Deny":
            return False
        allowed = allowed or st.get("Effect") == "Allow"
    return allowed
