"""Lambda execution for the local estate: a Runtime API per process, a warm pool, invocation semantics.

What AWS does and this reproduces:
- the function's package runs as a process behind the Lambda Runtime API (`/2018-06-01/runtime/...`):
  `bootstrap` for provided.* runtimes, `awslambdaric` with the handler for python3.*;
- the process gets the function's environment variables, credentials of its execution role in its own
  account, and the AWS endpoint of the emulator (AWS_ENDPOINT_URL) — nothing of the emulator's own env;
- a warm process is reused by the next invocation of the same version and configuration;
- a process that does not reach `next` within the init timeout, exceeds the function's Timeout, or exits
  mid-invocation is killed and replaced; the invocation fails like AWS's (`Sandbox.Timedout`,
  `Runtime.ExitError`, `Runtime.InitError`) with FunctionError set;
- reserved concurrency is honoured: an invocation beyond it is throttled (HTTP 429, TooManyRequestsException);
- every invocation emits AWS/Lambda metrics (Invocations, Errors, Duration) with the FunctionName,
  Resource and (through an alias or version) ExecutedVersion dimensions; a throttled one emits Throttles
  with FunctionName and Resource only: AWS documents ExecutedVersion for invocations that ran a version
  through an alias, and a throttled request never ran one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from . import settings as settings_mod

LOG = logging.getLogger("bbws_local.runtime")

RUNTIME_PREFIX = "/2018-06-01/runtime"


# ---------------------------------------------------------------------------------------------------
# Invocations
# ---------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one invocation ended. `function_error` is None on success, else the X-Amz-Function-Error value."""

    payload: bytes
    function_error: str | None
    duration_ms: float

    @property
    def failed(self) -> bool:
        return self.function_error is not None


class Invocation:
    def __init__(self, payload: bytes, invoked_arn: str, timeout_s: float):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.invoked_arn = invoked_arn
        self.timeout_s = timeout_s
        self.trace_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
        self.picked = threading.Event()
        self.done = threading.Event()
        self.picked_at = 0.0
        self.deadline_ms = 0
        self.body = b""
        self.error: str | None = None
        self.finished_at = 0.0
        self._lock = threading.Lock()

    def pick(self) -> None:
        self.picked_at = time.monotonic()
        self.deadline_ms = int((time.time() + self.timeout_s) * 1000)
        self.picked.set()

    def finish(self, body: bytes, error: str | None) -> bool:
        """Record the result once; later results (a late response after a timeout) are ignored."""
        with self._lock:
            if self.done.is_set():
                return False
            self.body = body
            self.error = error
            self.finished_at = time.monotonic()
            self.done.set()
            self.picked.set()
            return True

    def fail(self, error_type: str, detail: str) -> bool:
        message = f"RequestId: {self.request_id} Error: {detail}"
        body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        return self.finish(body, "Unhandled")


def normalise_error_body(body: bytes, header_type: str | None) -> bytes:
    """A runtime's /error body as AWS returns it: JSON with errorType and errorMessage."""
    try:
        doc = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        doc = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(doc, dict):
        doc = {"errorMessage": str(doc)}
    if not doc.get("errorType"):
        doc["errorType"] = header_type or "Unhandled"
    doc.setdefault("errorMessage", "")
    return json.dumps(doc).encode()


# ---------------------------------------------------------------------------------------------------
# The Runtime API of one process
# ---------------------------------------------------------------------------------------------------


class _RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # awslambdaric's client hangs on HTTP/1.0 answers
    # Headers and body go out in separate writes: with Nagle's algorithm on, the client's delayed
    # ACK held every warm Python invocation for ~80 ms.
    disable_nagle_algorithm = True
    server: "_RuntimeServer"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", (headers or {}).get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            self._reply(404, b'{"errorType":"NotFound"}')
            return
        inv = self.server.worker.next_invocation()
        if inv is None:  # the worker is shutting down
            self._reply(410, b'{"errorType":"Gone"}')
            return
        self._reply(
            200,
            inv.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.invoked_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
                "Content-Type": "application/json",
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        parts = self.path[len(RUNTIME_PREFIX):].strip("/").split("/")
        worker = self.server.worker
        if parts[:2] == ["init", "error"]:
            worker.init_failed(normalise_error_body(body, self.headers.get("Lambda-Runtime-Function-Error-Type")))
            self._reply(202, b'{"status":"OK"}')
            return
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            inv = worker.inflight(parts[1])
            if inv is None:
                self._reply(400, b'{"errorType":"InvalidRequestID","errorMessage":"unknown request id"}')
                return
            if worker.crash_before_answer():
                LOG.info("%s:%s pid %s killed before it answered (armed crash)", worker.spec.account,
                         worker.spec.name, worker.pid)
                worker.kill()
                self.close_connection = True
                return
            if parts[2] == "response":
                inv.finish(body, None)
            else:
                err = normalise_error_body(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
                inv.finish(err, "Unhandled")
            self._reply(202, b'{"status":"OK"}')
            return
        self._reply(404, b'{"errorType":"NotFound"}')


class _RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True
    # How often an idle server wakes to look for shutdown() (socketserver's default is 0.5 s: with about
    # 130 warm processes per estate after a `make test`, 260 wakes a second, each taking the GIL from the
    # requests being served). A request wakes it at once whatever this is; only shutdown(), called when
    # the process has exited, waits up to this long (in the process's own watcher thread).
    IDLE_POLL_SECONDS = 5.0

    def __init__(self, worker: "Worker"):
        self.worker = worker
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)


# ---------------------------------------------------------------------------------------------------
# Function specs and processes
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """What decides whether a warm process can serve an invocation: version, code and configuration."""

    account: str
    region: str
    name: str
    version: str
    runtime: str
    handler: str
    role: str
    timeout: float
    memory: int
    code_sha: str
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def key(self) -> tuple:
        return (self.account, self.region, self.name, self.version, self.code_sha, self.runtime,
                self.handler, self.role, self.timeout, self.memory, self.env)


def code_dir_for(code: bytes, state_dir: Path) -> Path:
    """Unpack a function's zip once per content hash; keep the files' exec bits (bootstrap needs +x)."""
    digest = hashlib.sha256(code).hexdigest()
    target = state_dir / "code" / digest
    if target.is_dir():
        return target
    tmp = target.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir(parents=True)
    import io

    with zipfile.ZipFile(io.BytesIO(code)) as zf:
        for info in zf.infolist():
            dest = (tmp / info.filename).resolve()
            if not str(dest).startswith(str(tmp.resolve())):
                raise ValueError(f"zip entry escapes the package: {info.filename}")
            zf.extract(info, tmp)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(dest, mode)
    boot = tmp / "bootstrap"
    if boot.exists():
        boot.chmod(boot.stat().st_mode | 0o755)
    try:
        tmp.rename(target)
    except OSError:  # another thread won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class Worker:
    """One process of one function version, with its own Runtime API."""

    def __init__(self, spec: FunctionSpec, command: list[str], env: dict[str, str], cwd: Path,
                 log_path: Path, settings: settings_mod.Settings,
                 crash_armed: Callable[[FunctionSpec], bool] | None = None):
        self.spec = spec
        self._crash_armed = crash_armed
        self.settings = settings
        self._queue: "queue.Queue[Invocation | None]" = queue.Queue()
        self._inflight: dict[str, Invocation] = {}
        self._current: Invocation | None = None
        self._lock = threading.Lock()
        self.dead = threading.Event()
        self.last_used = time.monotonic()
        self.invocations = 0
        self._init_error: bytes | None = None
        # From the process's start to its first `next` (AWS's "Init Duration"), once it has asked.
        self.init_ms: float | None = None
        self.started_at = time.monotonic()
        self._server = _RuntimeServer(self)
        host, port = self._server.server_address[:2]
        threading.Thread(target=self._server.serve_forever, args=(self._server.IDLE_POLL_SECONDS,), daemon=True,
                         name="runtime-api").start()
        env = dict(env)
        env["AWS_LAMBDA_RUNTIME_API"] = f"{host}:{port}"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab", buffering=0)
        self.proc = subprocess.Popen(
            command, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._watch, daemon=True, name=f"watch-{self.pid}").start()
        LOG.info("started %s:%s version %s pid %s", spec.account, spec.name, spec.version, self.pid)

    # Runtime API side ------------------------------------------------------------------------------
    def next_invocation(self) -> Invocation | None:
        if self.init_ms is None:
            self.init_ms = (time.monotonic() - self.started_at) * 1000.0
        inv = self._queue.get()
        if inv is None or self.dead.is_set():
            return None
        with self._lock:
            self._inflight[inv.request_id] = inv
        inv.pick()
        return inv

    def max_rss_kb(self) -> int | None:
        """The process's peak resident memory so far (Linux VmHWM; AWS's "Max Memory Used")."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return None

    def crash_before_answer(self) -> bool:
        return self._crash_armed is not None and self._crash_armed(self.spec)

    def inflight(self, request_id: str) -> Invocation | None:
        with self._lock:
            return self._inflight.get(request_id)

    def init_failed(self, body: bytes) -> None:
        self._init_error = body
        cur = self._current
        if cur is not None:
            cur.finish(body, "Unhandled")
        self.kill()

    # Emulator side ---------------------------------------------------------------------------------
    def run(self, inv: Invocation) -> None:
        """Hand `inv` to the process and wait for its end, enforcing the init and run timeouts."""
        self._current = inv
        self.invocations += 1
        self._queue.put(inv)
        if not inv.picked.wait(self.settings.init_timeout):
            inv.fail("Runtime.InitError",
                     f"the runtime did not ask for its first event within {self.settings.init_timeout:.0f} s")
            self.kill()
        elif not inv.done.wait(max(0.0, inv.timeout_s - (time.monotonic() - inv.picked_at))):
            if inv.fail("Sandbox.Timedout", f"Task timed out after {inv.timeout_s:.2f} seconds"):
                LOG.info("%s:%s timed out after %.2f s; killing pid %s", self.spec.account,
                         self.spec.name, inv.timeout_s, self.pid)
            self.kill()
        with self._lock:
            self._inflight.pop(inv.request_id, None)
        self._current = None
        self.last_used = time.monotonic()

    def _watch(self) -> None:
        code = self.proc.wait()
        self.dead.set()
        cur = self._current
        if cur is not None and not cur.done.is_set():
            if self._init_error is not None:
                cur.finish(self._init_error, "Unhandled")
            else:
                # As AWS words it (Go's names of the signals).
                names = {6: "aborted", 9: "killed", 11: "segmentation fault", 15: "terminated"}
                how = f"signal: {names.get(-code, str(-code))}" if code < 0 else f"exit status {code}"
                cur.fail("Runtime.ExitError", f"Runtime exited with error: {how}")
        self._queue.put(None)
        self._server.shutdown()
        self._server.server_close()
        self._log.close()
        LOG.info("pid %s of %s:%s exited with %s", self.pid, self.spec.account, self.spec.name, code)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.dead.set()

    @property
    def alive(self) -> bool:
        return not self.dead.is_set() and self.proc.poll() is None


# ---------------------------------------------------------------------------------------------------
# The pool and the invoke entry point
# ---------------------------------------------------------------------------------------------------


class Throttled(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InvalidRuntime(Exception):
    pass


CredentialsFor = Callable[[str, str, str], dict[str, str]]  # (account, region, role) -> env vars
MetricsSink = Callable[[str, str, list[dict[str, Any]]], None]  # (account, region, metric data)


class InvocationJournal:
    """What each invocation cost, as AWS's REPORT line says it (Init Duration on a cold start,
    Duration, Max Memory Used), for `make bench`: `GET /_local/invocations?since=<seq>`."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, "time": time.time(), **entry})
            del self._entries[:-self.LIMIT]

    def since(self, seq: int) -> dict[str, Any]:
        with self._lock:
            return {"seq": self._seq, "invocations": [e for e in self._entries if e["seq"] > seq]}


class Executor:
    """Runs invocations in warm processes; counts concurrency; reports metrics."""

    def __init__(self, settings: settings_mod.Settings, credentials_for: CredentialsFor,
                 metrics_sink: MetricsSink):
        self.settings = settings
        self.credentials_for = credentials_for
        self.metrics_sink = metrics_sink
        self._idle: dict[tuple, list[Worker]] = {}
        self._all: list[Worker] = []
        self._active: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._stopping = False
        # (account, function name) -> how many of its next answers die with the process (faults.py `crash`).
        self._crashes: dict[tuple[str, str], int] = {}
        self.journal = InvocationJournal()
        threading.Thread(target=self._reap, daemon=True, name="reaper").start()

    def recycle(self, account: str, function: str) -> int:
        """Stops the idle processes of a function (AWS recycles execution environments whenever it
        likes): the next invocation starts a new one, which builds its clients and credentials again.
        How many were stopped."""
        with self._lock:
            stopped = []
            for key, idle in self._idle.items():
                keep = [w for w in idle if (w.spec.account, w.spec.name) != (account, function)]
                stopped += [w for w in idle if (w.spec.account, w.spec.name) == (account, function)]
                idle[:] = keep
        for w in stopped:
            w.kill()
        return len(stopped)

    # crashes after a side effect -------------------------------------------------------------------
    def arm_crash(self, account: str, function: str) -> None:
        """The next process of `function` that answers an invocation dies instead (SIGKILL)."""
        with self._lock:
            self._crashes[(account, function)] = self._crashes.get((account, function), 0) + 1

    def take_crash(self, spec: "FunctionSpec") -> bool:
        with self._lock:
            left = self._crashes.get((spec.account, spec.name), 0)
            if not left:
                return False
            if left == 1:
                del self._crashes[(spec.account, spec.name)]
            else:
                self._crashes[(spec.account, spec.name)] = left - 1
            return True

    # concurrency -----------------------------------------------------------------------------------
    def _enter(self, fkey: tuple[str, str, str], reserved: int | None) -> None:
        with self._lock:
            active = self._active.get(fkey, 0)
            if reserved is not None and active >= reserved:
                raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
            if active >= self.settings.max_concurrency_per_function:
                raise Throttled("ConcurrentInvocationLimitExceeded")
            self._active[fkey] = active + 1

    def _leave(self, fkey: tuple[str, str, str]) -> None:
        with self._lock:
            self._active[fkey] = max(0, self._active.get(fkey, 1) - 1)

    # processes -------------------------------------------------------------------------------------
    def _spawn(self, spec: FunctionSpec, code: bytes) -> Worker:
        code_dir = code_dir_for(code, self.settings.state_dir)
        runtime = spec.runtime or ""
        if runtime.startswith("provided"):
            command = [str(code_dir / "bootstrap")]
        elif runtime.startswith("python3"):
            command = [self.settings.python, "-m", "awslambdaric", spec.handler]
        else:
            raise InvalidRuntime(f"runtime {runtime!r} is not supported locally (provided.*, python3.*)")
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]{uuid.uuid4().hex}"
        env = {
            # what every Lambda process sees
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": "/tmp",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(code_dir),
            "_HANDLER": spec.handler or "",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            # the one difference from AWS: where the AWS APIs are
            "AWS_ENDPOINT_URL": self.settings.endpoint,
        }
        if runtime.startswith("python3"):
            env["PYTHONPATH"] = str(code_dir)
            env["PYTHONUNBUFFERED"] = "1"
        env.update(self.credentials_for(spec.account, spec.region, spec.role))
        env.update(dict(spec.env))
        log_path = self.settings.state_dir / "logs" / spec.account / spec.region / f"{spec.name}.log"
        worker = Worker(spec, command, env, code_dir, log_path, self.settings, self.take_crash)
        with self._lock:
            self._all.append(worker)
        return worker

    def _acquire(self, spec: FunctionSpec, code: bytes) -> Worker:
        with self._lock:
            idle = self._idle.get(spec.key, [])
            while idle:
                w = idle.pop()
                if w.alive:
                    return w
        return self._spawn(spec, code)

    def _release(self, worker: Worker) -> None:
        if not worker.alive or self._stopping:
            worker.kill()
            return
        with self._lock:
            self._idle.setdefault(worker.spec.key, []).append(worker)

    def _reap(self) -> None:
        while not self._stopping:
            time.sleep(min(30.0, max(1.0, self.settings.idle_seconds / 4)))
            now = time.monotonic()
            with self._lock:
                for key, idle in list(self._idle.items()):
                    keep = []
                    for w in idle:
                        if w.alive and now - w.last_used < self.settings.idle_seconds:
                            keep.append(w)
                        else:
                            w.kill()
                    self._idle[key] = keep
                self._all = [w for w in self._all if w.alive]

    def workers(self) -> list[Worker]:
        with self._lock:
            return [w for w in self._all if w.alive]

    def stop_all(self) -> None:
        self._stopping = True
        with self._lock:
            workers = list(self._all)
        for w in workers:
            w.kill()
        for w in workers:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # invoke ----------------------------------------------------------------------------------------
    def invoke(self, spec: FunctionSpec, code: bytes, payload: bytes, invoked_arn: str,
               resource: str, reserved: int | None) -> Outcome:
        """Run one invocation synchronously. Raises Throttled; emits metrics either way."""
        fkey = (spec.account, spec.region, spec.name)
        try:
            self._enter(fkey, reserved)
        except Throttled:
            self._metrics(spec, resource, {"Throttles": (1.0, "Count")}, executed=False)
            LOG.info("throttled %s:%s (reserved concurrency %s)", spec.account, spec.name, reserved)
            raise
        try:
            worker = self._acquire(spec, code)
            inv = Invocation(payload, invoked_arn, spec.timeout)
            worker.run(inv)
            # Read before the process goes back to the pool, where another invocation may take it.
            rss, cold = worker.max_rss_kb(), worker.invocations == 1
            self._release(worker)
        finally:
            self._leave(fkey)
        duration = (inv.finished_at - inv.picked_at) * 1000.0 if inv.picked_at else 0.0
        outcome = Outcome(inv.body, inv.error, duration)
        self.journal.add({"account": spec.account, "region": spec.region, "function": spec.name,
                          "version": spec.version, "memory_mb": spec.memory, "cold": cold,
                          "init_ms": round(worker.init_ms, 3) if cold and worker.init_ms is not None else None,
                          "duration_ms": round(duration, 3), "max_rss_kb": rss, "error": inv.error})
        self._metrics(spec, resource, {
            "Invocations": (1.0, "Count"),
            "Errors": (1.0 if outcome.failed else 0.0, "Count"),
            "Duration": (round(duration, 3), "Milliseconds"),
        })
        return outcome

    def _metrics(self, spec: FunctionSpec, resource: str, values: dict[str, tuple[float, str]],
                 executed: bool = True) -> None:
        dimension_sets = [[{"Name": "FunctionName", "Value": spec.name}],
                          [{"Name": "FunctionName", "Value": spec.name},
                           {"Name": "Resource", "Value": resource}]]
        # Qualified by alias or version, a request that ran a version: AWS adds ExecutedVersion.
        if executed and resource != spec.name:
            dimension_sets.append([{"Name": "FunctionName", "Value": spec.name},
                                   {"Name": "Resource", "Value": resource},
                                   {"Name": "ExecutedVersion", "Value": spec.version}])
        data = [{"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dims}
                for name, (value, unit) in values.items() for dims in dimension_sets]
        try:
            self.metrics_sink(spec.account, spec.region, data)
        except Exception:  # metrics must never fail an invocation
            LOG.exception("could not record metrics for %s", spec.name)
