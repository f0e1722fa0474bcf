"""The WSGI layer in front of moto.

- `/_local/health`          the estate is up (endpoint, accounts, live Lambda processes);
- `/_local/code/<token>`    the package bytes behind GetFunction's Code.Location (signed, 10 minutes);
- `/_local/mailbox`         the local mailbox as a page a person can click through;
- `/_local/mailbox.json`    the same as JSON (`?to=address&contains=text`), for tests and scripts;
- `/_local/faults`, `/_local/function-state`   failures AWS produces and moto does not (see faults.py);
- `/_local/calls`           the calls role sessions made, with their status (`?since=<seq>`);
- `/_local/invocations`     each Lambda invocation's cost: init (cold start), duration, peak memory (`?since=<seq>`);
- `/_local/github-oidc/…`    the estate as GitHub Actions' OIDC issuer (see oidc.py); STS's
                            AssumeRoleWithWebIdentity is decided there before moto sees it;
- `/_local/alarms/evaluate` evaluate CloudWatch alarms now (POST `{"account", "region", "alarm_names", "at"}`,
                            all optional; `at`: epoch seconds, not before now), as the background
                            evaluator does every few seconds (see alarms.py);
- `/_local/recycle`         stop a function's idle processes (`{"account", "function"}`), as AWS recycles
                            execution environments: the next invocation starts cold;
- `/_local/codebuild/repositories`  the local git repositories CodeBuild's GITHUB sources are cloned from
                            (GET lists; POST `{"url": "https://github.com/<owner>/<repo>.git", "path": ...}`
                            registers one; see codebuild.py);
- `/_local/ecs/hold`        keep an ECS service's runningCount below its desired count, as tasks that fail to
                            start do (POST `{"account", "region", "cluster", "service", "running"}`; DELETE
                            with the same names releases it; GET lists the holds; see ecs.py);
- the cross-account guard:  a request that names a resource of another of the estate's accounts by ARN
                            is refused with AccessDenied, as AWS refuses it without a resource policy.
                            (moto would answer from the caller's own account.) A principal reaches another
                            account only through sts:AssumeRole into a role that trusts it.
"""
from __future__ import annotations

import collections
import hashlib
import html
import io
import json
import logging
import os
import time
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

from . import cbor, cloudcontrol, faults, iam, oidc, patches
from .settings import ACCOUNTS, code_version

CODE_VERSION = code_version()
STARTED_AT = time.time()

LOG = logging.getLogger("bbws_local.gateway")

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_SCOPE = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_LAMBDA_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/([^/]+)")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):[a-z0-9-]*:(\d{12}):")
# Request fields that name the resource a call acts on, by protocol.
_TARGET_FIELDS = ("stateMachineArn", "executionArn", "TableName", "TopicArn", "FunctionName",
                  "ResourceArn", "resourceArn", "QueueUrl", "SecretId", "Name", "KeyId")
_EXEMPT_SERVICES = ("sts", "iam")

StartResponse = Callable[..., Any]


def _respond(start: StartResponse, status: str, body: bytes, ctype: str = "application/json",
             extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + (extra or []))
    return [body]


def _body(environ: dict[str, Any]) -> bytes:
    """The request body (up to 6 MB), read once and put back for the next reader."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or length > 6_000_000:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _account_of(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


class CallJournal:
    """The calls role sessions made (newest 50,000), with their answer's status: what a fault matrix
    reads to learn which AWS calls each step of an execution makes. `GET /_local/calls?since=<seq>`."""

    def __init__(self, size: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._seq = 0

    def recording(self, session: tuple[iam.Caller, iam.Call] | None, start: StartResponse) -> StartResponse:
        if session is None:
            return start
        caller, call = session
        fields = faults.target_fields(call.service)
        target = next((str(call.params[f]) for f in fields if call.params.get(f)), None)

        def recording_start(status: str, headers: list, *rest: Any) -> Any:
            with self._lock:
                self._seq += 1
                self._calls.append({"seq": self._seq, "time": time.time(), "role": caller.role_arn,
                                    "account": caller.account, "region": call.region, "service": call.service,
                                    "operation": call.operation, "target": target,
                                    "status": int(status.split(" ", 1)[0])})
            return start(status, headers, *rest)

        return recording_start

    def since(self, seq: int) -> dict[str, Any]:
        with self._lock:
            return {"seq": self._seq, "calls": [c for c in self._calls if c["seq"] > seq]}


_ATTEMPT = re.compile(r"attempt=(\d+)")
_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")


class Retries:
    """The SDKs' retries the estate saw, told apart by their `amz-sdk-invocation-id` header (the same for
    every attempt of one call; `amz-sdk-request: attempt=N` counts them). Each retry is one WARNING line in
    server.log with what the first attempt got, so a failed `terraform apply` can be explained
    (bbws_local.pipeline prints those lines when an apply fails).

    A retry of a call whose first attempt the estate answered with success means the client lost that
    answer (Terraform's Go SDK reads `use of closed network connection` after a 200 when its side of a
    connection the server closed races the read; this server closes every connection, AWS keeps them
    open, where the loss is rare). Such a retry of the same request (method, path, query and body) gets
    the same answer again instead of running the call twice: a create retried that way would otherwise
    fail with "already exists" and stop an apply half done. The answers kept are those of the last
    `size` calls, bodies up to 1 MB, 64 MB in all."""

    ANSWER_LIMIT = 1_000_000
    KEPT_LIMIT = 64 * 1024 * 1024

    def __init__(self, size: int = 20_000) -> None:
        self._lock = threading.Lock()
        # invocation -> (when its first attempt arrived, its status or None, when it was answered or None)
        self._first: collections.OrderedDict[str, tuple[float, str | None, float | None]] = \
            collections.OrderedDict()
        # invocation -> (the request's digest, status, headers, body) of a first attempt answered 2xx
        self._answers: collections.OrderedDict[str, tuple[str, str, list, bytes]] = collections.OrderedDict()
        self._kept = 0
        self._size = size

    @staticmethod
    def _digest(environ: dict[str, Any]) -> str:
        request = "\n".join((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                             environ.get("QUERY_STRING", ""))).encode()
        return hashlib.sha256(request + b"\n" + _body(environ)).hexdigest()

    def watching(self, environ: dict[str, Any], start: StartResponse) -> Watched:
        """A `start` that notes what a first attempt was answered and a wrapper of the answer's body that
        keeps a successful one for its retries; for a retry of an answer the estate already gave, that
        answer (`again`), which the gateway gives without running the call."""
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if not invocation:
            return Watched(start, _as_is)
        m = _ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
        attempt = int(m.group(1)) if m else 1
        action = _ACTION.search(_body(environ)[:200]) if attempt > 1 else None
        what = " ".join(part for part in (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"),
                                          environ.get("HTTP_X_AMZ_TARGET"),
                                          action.group(1).decode() if action else None) if part)
        digest = self._digest(environ)
        now = time.monotonic()
        with self._lock:
            if attempt > 1:
                answer = self._answers.get(invocation)
                replayed = answer is not None and answer[0] == digest
                LOG.warning("SDK retry: attempt %d of %s (invocation %s); the first attempt %s%s", attempt, what,
                            invocation, self._told(self._first.get(invocation), now),
                            ": the same answer again" if replayed else "")
                if replayed:
                    return Watched(start, _as_is, answer[1:])
            elif invocation not in self._first:
                self._first[invocation] = (now, None, None)
                while len(self._first) > self._size:
                    self._first.popitem(last=False)
        if attempt > 1:
            return Watched(start, _as_is)
        answered: dict[str, Any] = {}

        def watched_start(status: str, headers: list, *rest: Any) -> Any:
            with self._lock:
                if invocation in self._first:
                    self._first[invocation] = (self._first[invocation][0], status, time.monotonic())
            answered.update(status=status, headers=list(headers))
            return start(status, headers, *rest)

        def keeping(body: Iterable[bytes]) -> Iterable[bytes]:
            kept: list[bytes] | None = []
            size = 0
            try:
                for chunk in body:
                    if kept is not None:
                        size += len(chunk)
                        if size <= self.ANSWER_LIMIT:
                            kept.append(chunk)
                        else:
                            kept = None
                    yield chunk
                if kept is not None and str(answered.get("status", ""))[:1] == "2":
                    self._keep(invocation, (digest, answered["status"], answered["headers"], b"".join(kept)))
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

        return Watched(watched_start, keeping)

    def _keep(self, invocation: str, answer: tuple[str, str, list, bytes]) -> None:
        with self._lock:
            self._answers[invocation] = answer
            self._kept += len(answer[3])
            while self._answers and (len(self._answers) > self._size or self._kept > self.KEPT_LIMIT):
                _, old = self._answers.popitem(last=False)
                self._kept -= len(old[3])

    @staticmethod
    def _told(first: tuple[float, str | None, float | None] | None, now: float) -> str:
        """What became of a first attempt, with its times (a client that gave up waiting retries
        after its own timeout; an answer lost on the way back is retried at once)."""
        if first is None:
            return "was not seen by this estate"
        arrived, status, answered = first
        if status is None or answered is None:
            return f"(arrived {now - arrived:.1f} s before this one) has not been answered yet"
        return (f"(arrived {now - arrived:.1f} s before this one) was answered {status} "
                f"after {answered - arrived:.1f} s")


def _as_is(body: Iterable[bytes]) -> Iterable[bytes]:
    return body


@dataclass
class Watched:
    """What `Retries.watching` gives the gateway for one request."""
    start: StartResponse                                # the `start` to answer with
    keep: Callable[[Iterable[bytes]], Iterable[bytes]]  # wraps the answer's body (keeps a success)
    again: tuple[str, list, bytes] | None = None        # a retry's kept answer: status, headers, body


class Gateway:
    def __init__(self, app: Callable, estate: "patches.Estate"):
        self.app = app
        self.estate = estate
        self.faults = faults.Faults()
        self.calls = CallJournal()
        self.retries = Retries()
        self.oidc = oidc.Issuer(estate.settings.endpoint)

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_local/"):
            return self._local(path, environ, start)
        # moto lets a header pick the account; on this estate only credentials do.
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        watched = self.retries.watching(environ, start)
        if watched.again is not None:  # a retry of a call whose answer the client lost: the same answer
            status, headers, body = watched.again
            start(status, headers)
            return [body]
        return watched.keep(self._serve(environ, path, watched.start))

    def _serve(self, environ: dict[str, Any], path: str, start: StartResponse) -> Iterable[bytes]:
        refused_identity = self._web_identity(environ)
        if refused_identity is not None:
            return refused_identity(start)
        denied = self._cross_account(environ, path)
        if denied is not None:
            return denied(start)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        iam.REQUEST.access_key = scope.group(1) if scope else None
        session = self._session(environ, path)
        refused = self._authorize(session)
        if refused is not None:
            return refused(start)
        answered = self._cloud_control(environ)
        if answered is not None:
            return answered(start)
        start = self.calls.recording(session, start)
        role = session[0].role_arn.rsplit("/", 1)[-1] if session else None
        taken = self.faults.take(environ, path, _body(environ), _account_of, role)
        if taken is not None:
            fault, call = taken
            LOG.info("armed fault (%s): %s %s %s in %s %s -> %s", fault.kind, fault.service, fault.operation,
                     fault.target, fault.account, fault.region, fault.code)
            if fault.kind == "crash":
                start = self._crash_after(fault, start)
            else:
                if fault.kind == "hang":
                    time.sleep(fault.seconds)
                status, body, ctype, headers = faults.response(fault, call)
                return _respond(start, status, body, ctype, headers)
        if cbor.is_cbor_request(environ):
            return cbor.handle(self.app, environ, start)
        return self.app(environ, start)

    def _crash_after(self, fault: faults.Fault, start: StartResponse) -> StartResponse:
        """`start` that, once the call has succeeded, arms the crash of the fault's function."""
        def crashing_start(status: str, headers: list, *rest: Any) -> Any:
            if status[:1] == "2" and fault.crash_function:
                self.estate.executor.arm_crash(fault.account, fault.crash_function)
            return start(status, headers, *rest)

        return crashing_start

    # -- /_local ------------------------------------------------------------------------------------
    def _local(self, path: str, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/_local/health":
            body = {"status": "ok", "endpoint": self.estate.settings.endpoint, "accounts": ACCOUNTS,
                    "code_version": CODE_VERSION, "state_dir": str(self.estate.settings.state_dir),
                    "pid": os.getpid(), "started_at": STARTED_AT,
                    "time_scale": self.estate.settings.time_scale,
                    "lambda_processes": [{"account": w.spec.account, "function": w.spec.name,
                                          "version": w.spec.version, "pid": w.pid,
                                          "invocations": w.invocations}
                                         for w in self.estate.executor.workers()]}
            return _respond(start, "200 OK", json.dumps(body).encode())
        if path.startswith(oidc.PREFIX + "/"):
            return list(oidc.handle_local(self.oidc, path, environ, _body(environ),
                                          lambda status, body, ctype: _respond(start, status, body, ctype)))
        if path.startswith("/_local/code/"):
            return self._code(path.rsplit("/", 1)[-1], start)
        if path == "/_local/mailbox.json":
            msgs = self.estate.mailbox.messages((query.get("to") or [None])[0], (query.get("contains") or [None])[0])
            return _respond(start, "200 OK", json.dumps(msgs).encode())
        if path == "/_local/mailbox":
            return _respond(start, "200 OK", self._mailbox_page((query.get("to") or [None])[0]),
                            "text/html; charset=utf-8")
        if path == "/_local/recycle" and environ.get("REQUEST_METHOD") == "POST":
            doc = iam._json(_body(environ))
            account, function = doc.get("account"), doc.get("function")
            if not (isinstance(account, str) and isinstance(function, str) and account and function):
                return _respond(start, "400 Bad Request",
                                b'{"message":"account, function: non-empty strings are required"}')
            stopped = self.estate.executor.recycle(account, function)
            return _respond(start, "200 OK", json.dumps({"stopped": stopped}).encode())
        if path == "/_local/alarms/evaluate" and environ.get("REQUEST_METHOD") == "POST":
            return self._evaluate_alarms(environ, start)
        if path in ("/_local/faults", "/_local/function-state"):
            return self._faults(path, environ, start)
        if path == "/_local/iam/replay" and environ.get("REQUEST_METHOD") == "POST":
            doc = iam._json(_body(environ))
            try:
                actions, policies, without = doc.get("actions"), doc.get("policies"), doc.get("without")
                sessions = doc.get("sessions")
                out = self.estate.iam.replay(str(doc.get("role_arn", "")),
                                             list(policies) if isinstance(policies, list) else None,
                                             [str(a) for a in actions] if isinstance(actions, list) else None,
                                             without if isinstance(without, dict) else None,
                                             [str(s) for s in sessions] if isinstance(sessions, list) else None)
            except iam.EvaluatorError as e:
                return _respond(start, "400 Bad Request", json.dumps({"message": str(e)}).encode())
            return _respond(start, "200 OK", json.dumps(out).encode())
        if path == "/_local/codebuild/repositories":
            return self._repositories(environ, start)
        if path == "/_local/ecs/hold":
            return self._ecs_hold(environ, start)
        if path == "/_local/invocations":
            since = int((query.get("since") or ["0"])[0] or 0)
            return _respond(start, "200 OK", json.dumps(self.estate.executor.journal.since(since)).encode())
        if path == "/_local/calls":
            since = int((query.get("since") or ["0"])[0] or 0)
            return _respond(start, "200 OK", json.dumps(self.calls.since(since)).encode())
        if path == "/_local/iam":
            since = int((query.get("since") or ["0"])[0] or 0)
            return _respond(start, "200 OK", json.dumps(self.estate.iam.summary(since)).encode())
        return _respond(start, "404 Not Found", b'{"message":"no such local route"}')

    def _repositories(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        repos = self.estate.builds.repositories
        if environ.get("REQUEST_METHOD") == "POST":
            doc = iam._json(_body(environ))
            url, path = doc.get("url"), doc.get("path")
            if not (isinstance(url, str) and isinstance(path, str) and url and path):
                return _respond(start, "400 Bad Request", b'{"message":"url, path: non-empty strings are required"}')
            try:
                key = repos.add(url, path)
            except ValueError as e:
                return _respond(start, "400 Bad Request", json.dumps({"message": str(e)}).encode())
            return _respond(start, "200 OK", json.dumps({"repository": key, "path": repos.all()[key]}).encode())
        return _respond(start, "200 OK", json.dumps({"repositories": repos.all()}).encode())

    def _ecs_hold(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return _respond(start, "200 OK", json.dumps({"holds": self.estate.ecs.holds()}).encode())
        doc = iam._json(_body(environ))
        names = [doc.get(k) for k in ("account", "region", "cluster", "service")]
        if not all(isinstance(n, str) and n for n in names):
            return _respond(start, "400 Bad Request",
                            b'{"message":"account, region, cluster, service: non-empty strings are required"}')
        key = (names[0], names[1], names[2].split("/")[-1], names[3].split("/")[-1])
        if method == "DELETE":
            released = self.estate.ecs.release(key)
            return _respond(start, "200 OK", json.dumps({"released": released}).encode())
        running = doc.get("running", 0)
        if isinstance(running, bool) or not isinstance(running, int) or running < 0:
            return _respond(start, "400 Bad Request", b'{"message":"running: an integer of 0 or more is required"}')
        self.estate.ecs.hold(key, running)
        return _respond(start, "200 OK", json.dumps({"held": self.estate.ecs.holds()}).encode())

    def _evaluate_alarms(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        try:
            doc = json.loads(_body(environ) or b"{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return _respond(start, "400 Bad Request", b'{"message":"body: a JSON object"}')
        account, region, names, at = doc.get("account"), doc.get("region"), doc.get("alarm_names"), doc.get("at")
        if (account is not None and not isinstance(account, str)) or (
                region is not None and not isinstance(region, str)) or (
                names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names))) or (
                at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)))):
            return _respond(start, "400 Bad Request", b'{"message":"account, region: strings; alarm_names: '
                                                      b'a list of strings; at: epoch seconds"}')
        now = time.time()
        when = max(float(at), now) if at is not None else now
        out = self.estate.alarms.evaluate(when, account, region, names)
        return _respond(start, "200 OK", json.dumps({"at": when, "alarms": out}).encode())

    def _faults(self, path: str, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/_local/faults" and method == "GET":
                return _respond(start, "200 OK", json.dumps(self.faults.listing()).encode())
            if path == "/_local/faults" and method == "DELETE":
                ids = parse_qs(environ.get("QUERY_STRING", "")).get("id")
                if ids and not ids[0].isdigit():
                    raise faults.FaultError("id: the number POST answered")
                cleared = self.faults.clear(int(ids[0]) if ids else None)
                return _respond(start, "200 OK", json.dumps({"cleared": cleared}).encode())
            if method != "POST":
                return _respond(start, "405 Method Not Allowed", b'{"message":"POST, GET or DELETE"}')
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                doc = json.loads(environ["wsgi.input"].read(length) or b"null")
            except ValueError:
                raise faults.FaultError("body: not JSON") from None
            if path == "/_local/function-state":
                return _respond(start, "200 OK", json.dumps(faults.set_function_state(doc)).encode())
            fault = faults.parse_fault(doc)
            self.faults.arm(fault)
            LOG.info("fault armed: %s %s in %s %s x%d", fault.operation, fault.target, fault.account,
                     fault.region, fault.times)
            return _respond(start, "200 OK", json.dumps({"armed": faults.asdict(fault)}).encode())
        except faults.FaultError as e:
            return _respond(start, "400 Bad Request", json.dumps({"message": str(e)}).encode())

    def _code(self, token: str, start: StartResponse) -> list[bytes]:
        claims = patches.verify_code_link(token)
        if claims is None:
            return _respond(start, "403 Forbidden",
                            b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature "
                            b"does not match</Message></Error>", "application/xml")
        from moto.awslambda.utils import get_backend

        try:
            fn = get_backend(claims["a"], claims["r"]).get_function(claims["f"], claims["v"])
        except Exception:
            return _respond(start, "404 Not Found", b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return _respond(start, "200 OK", fn.code_bytes, "application/zip")

    def _mailbox_page(self, to: str | None) -> bytes:
        rows = []
        for m in reversed(self.estate.mailbox.messages(to)):
            body = html.escape(m["body"])
            for link in sorted(set(m["links"]), key=len, reverse=True):
                esc = html.escape(link)
                body = body.replace(esc, f'<a href="{esc}">{esc}</a>')
            rows.append(f"<article><h2>{html.escape(m['subject'] or '')}</h2>"
                        f"<p><b>To:</b> {html.escape(m['to'] or '')} &middot; {html.escape(m['date'] or '')}</p>"
                        f"<pre>{body}</pre></article>")
        page = ("<!doctype html><html><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                "<title>Local mailbox</title><style>body{font-family:sans-serif;max-width:60em;margin:auto;"
                "padding:1em}pre{white-space:pre-wrap}article{border-bottom:1px solid #ccc}</style></head>"
                f"<body><h1>Local mailbox</h1>{''.join(rows) or '<p>No messages.</p>'}</body></html>")
        return page.encode()

    # -- STS AssumeRoleWithWebIdentity: the token and the role's trust, as STS decides (see oidc.py) --
    def _web_identity(self, environ: dict[str, Any]) -> Callable | None:
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        form = oidc.is_web_identity(environ, _body(environ))
        if form is None:
            return None
        try:
            oidc.decide(self.oidc, form)
        except oidc.StsError as e:
            status, body = oidc.error_response(e)
            return lambda start: _respond(start, status, body, "text/xml")
        except iam.EvaluatorError as e:
            status, body = oidc.error_response(oidc.StsError(
                "AccessDenied", f"Not authorized to perform sts:AssumeRoleWithWebIdentity (the estate could not "
                                f"evaluate the role's trust policy: {e})", "403 Forbidden"))
            return lambda start: _respond(start, status, body, "text/xml")
        return None

    # -- IAM: every request of a role session is authorised as AWS would (see iam.py) ---------------
    def _session(self, environ: dict[str, Any], path: str) -> tuple[iam.Caller, iam.Call] | None:
        """The role session behind a request and the call it makes; None for an IAM user or no signature."""
        m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return None
        caller = iam.caller_of(m.group(1))
        if caller is None:
            return None
        call = iam.describe(environ, path, _body(environ), m.group(3), m.group(2), caller.account)
        if call is None:
            call = iam.Call(iam.SIGNING_TO_PREFIX.get(m.group(3), m.group(3)), f"{environ.get('REQUEST_METHOD')} "
                            f"{path}", m.group(2), caller.account)
        return caller, call

    def _authorize(self, session: tuple[iam.Caller, iam.Call] | None) -> Callable | None:
        if session is None or not iam.enforcing():
            return None
        caller, call = session
        denial = self.estate.iam.authorize(caller, call)
        if denial is None:
            return None
        status, body, ctype, headers = iam.denial_response(call, denial.message)
        return lambda start: _respond(start, status, body, ctype, headers)

    # -- Cloud Control API and CloudFormation DescribeType (see cloudcontrol.py) ----------------------
    def _cloud_control(self, environ: dict[str, Any]) -> Callable | None:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        m = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return None
        if target.startswith("CloudApiService."):
            params = iam._json(_body(environ))
            try:
                doc = cloudcontrol.handle(target.split(".", 1)[1], params, _account_of(m.group(1)), m.group(2))
                body, status = json.dumps(doc).encode(), "200 OK"
            except cloudcontrol.CloudControlError as e:
                body = json.dumps({"__type": e.code, "Message": e.message}).encode()
                status = "404 Not Found" if e.status == 404 else "400 Bad Request"
            return lambda start: _respond(start, status, body, "application/x-amz-json-1.0")
        if m.group(3) == "cloudformation" and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            form = parse_qs(_body(environ).decode("utf-8", "replace"))
            if (form.get("Action") or [""])[0] == "DescribeType":
                code, body = cloudcontrol.describe_type_xml((form.get("TypeName") or [""])[0])
                status = "200 OK" if code == 200 else "404 Not Found"
                return lambda start: _respond(start, status, body, "text/xml")
        return None

    # -- the cross-account guard --------------------------------------------------------------------
    def _cross_account(self, environ: dict[str, Any], path: str) -> Callable | None:
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not m:
            return None
        from moto.iam.models import get_account_id_from

        caller = get_account_id_from(m.group(1))
        estate_accounts = set(ACCOUNTS.values())
        for name in self._named_resources(environ, path):
            am = _ARN_ACCOUNT.match(name)
            if not am:
                continue
            service, owner = am.group(1), am.group(2)
            if service in _EXEMPT_SERVICES or owner == caller or owner not in estate_accounts:
                continue
            if service == "lambda" and self._lambda_policy_allows(name, caller):
                continue
            LOG.info("cross-account request refused: caller account %s, resource %s", caller, name)
            return self._denial(environ, path, caller, name)
        return None

    def _named_resources(self, environ: dict[str, Any], path: str) -> list[str]:
        names: list[str] = []
        lm = _LAMBDA_PATH.match(path)
        if lm:
            names.append(unquote(lm.group(1)))
            return names
        body = _body(environ)
        if not body:
            return names
        ctype = environ.get("CONTENT_TYPE", "")
        if "json" in ctype:
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                return names
            if isinstance(doc, dict):
                names += [str(doc[f]) for f in _TARGET_FIELDS if isinstance(doc.get(f), str)]
        elif "x-www-form-urlencoded" in ctype:
            form = parse_qs(body.decode("utf-8", "replace"))
            names += [v[0] for f, v in form.items() if f in _TARGET_FIELDS and v]
        return names

    @staticmethod
    def _lambda_policy_allows(arn: str, caller: str) -> bool:
        """A function's resource policy can grant another account (lambda:AddPermission)."""
        from moto.awslambda.utils import get_backend

        parts = arn.split(":")
        try:
            fn = get_backend(parts[4], parts[3]).get_function(parts[6], None)
            statements = fn.policy.get_policy()["Policy"]["Statement"]
        except Exception:
            return False
        for st in statements:
            principal = st.get("Principal")
            aws = principal.get("AWS") if isinstance(principal, dict) else principal
            if st.get("Effect") == "Allow" and aws in (caller, f"arn:aws:iam::{caller}:root", "*"):
                return True
        return False

    @staticmethod
    def _denial(environ: dict[str, Any], path: str, caller: str, resource: str) -> Callable:
        message = (f"User in account {caller} is not authorized to access {resource}: the resource belongs to "
                   f"another account and no resource-based policy allows it; assume a role in that account")
        if _LAMBDA_PATH.match(path):
            body = json.dumps({"Type": "User", "Message": message}).encode()
            return lambda start: _respond(start, "403 Forbidden", body, "application/json",
                                          [("x-amzn-ErrorType", "AccessDeniedException")])
        if environ.get("HTTP_X_AMZ_TARGET"):
            body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
            return lambda start: _respond(start, "400 Bad Request", body, "application/x-amz-json-1.0")
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
                f"<Message>{html.escape(message)}</Message></Error><RequestId>local</RequestId>"
                f"</ErrorResponse>").encode()
        return lambda start: _respond(start, "403 Forbidden", body, "text/xml")
