"""Lambda Function URLs on loopback.

Each function URL gets its own listener, `http://127.0.0.1:<port>/`, so the function sees the path from
the root as it does on AWS (`https://<url-id>.lambda-url.<region>.on.aws/`). A request becomes a payload
format 2.0 event; the result is mapped back as AWS does: a `{"statusCode", "headers", "body",
"isBase64Encoded", "cookies"}` object is used as given, anything else is returned as a JSON 200, and a
function error or throttle answers 502 / 429.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

LOG = logging.getLogger("bbws_local.urls")

# (account, region, function name, event bytes) -> (payload bytes, function error or None); raises on throttle
InvokeFn = Callable[[str, str, str, bytes], tuple[bytes, "str | None"]]


class ThrottledError(Exception):
    pass


class ForbiddenError(Exception):
    """The function's resource policy does not let an anonymous caller through the URL (AWS: 403)."""


def build_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str,
                url_id: str, host: str, account: str) -> dict[str, Any]:
    """The payload format 2.0 event of one HTTP request."""
    parts = urlsplit(target)
    lower = {}
    for k, v in headers.items():
        key = k.lower()
        lower[key] = f"{lower[key]},{v}" if key in lower else v
    cookies = [c.strip() for c in lower.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    text_types = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")
    ctype = lower.get("content-type", "")
    is_text = not body or any(ctype.startswith(t) for t in text_types)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": lower,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": host,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
    return event


def map_result(payload: bytes, function_error: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """Turn a function's result into the HTTP answer, as Lambda Function URLs do."""
    if function_error:
        return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
    try:
        doc = json.loads(payload or b"null")
    except ValueError:
        return 200, [("Content-Type", "application/json")], payload
    if isinstance(doc, dict) and "statusCode" in doc:
        headers = [(str(k), str(v)) for k, v in (doc.get("headers") or {}).items()]
        headers += [("Set-Cookie", str(c)) for c in doc.get("cookies") or []]
        body = doc.get("body") or ""
        raw = base64.b64decode(body) if doc.get("isBase64Encoded") else str(body).encode()
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        try:
            status = int(doc["statusCode"])
        except (TypeError, ValueError):
            return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
        return status, headers, raw
    return 200, [("Content-Type", "application/json")], json.dumps(doc).encode()


class _UrlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: "_UrlServer"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if srv.auth_type == "AWS_IAM" and not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            self._send(403, [("Content-Type", "application/json")], b'{"Message":"Forbidden"}')
            return
        event = build_event(self.command, self.path, dict(self.headers.items()), body,
                            self.client_address[0], srv.url_id, self.headers.get("Host", ""), srv.account)
        try:
            payload, err = srv.invoke(srv.account, srv.region, srv.function_name,
                                      json.dumps(event).encode())
        except ThrottledError:
            self._send(429, [("Content-Type", "application/json")], b'{"Message":"Rate Exceeded."}')
            return
        except ForbiddenError:
            self._send(403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")],
                       b'{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: '
                       b'https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}')
            return
        except Exception:
            LOG.exception("function URL invocation of %s failed", srv.function_name)
            self._send(502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}')
            return
        status, headers, raw = map_result(payload, err)
        self._send(status, headers, raw)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _UrlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog: Python's default of 5 resets connections beyond it when many arrive at once,
    # which a real function URL never does (it answers, or throttles with 429).
    request_queue_size = 1024

    def __init__(self, addr: tuple[str, int], account: str, region: str, function_name: str,
                 auth_type: str, invoke: InvokeFn):
        self.account, self.region, self.function_name = account, region, function_name
        self.auth_type = auth_type
        self.invoke = invoke
        self.url_id = uuid.uuid4().hex
        super().__init__(addr, _UrlHandler)


class FunctionUrls:
    """Listeners of all function URLs, keyed by (account, region, function name)."""

    def __init__(self, host: str, port_base: int, invoke: InvokeFn):
        self.host = host
        self.port_base = port_base
        self.invoke = invoke
        self._servers: dict[tuple[str, str, str], _UrlServer] = {}
        self._lock = threading.Lock()

    def open(self, account: str, region: str, function_name: str, auth_type: str) -> str:
        key = (account, region, function_name)
        with self._lock:
            old = self._servers.pop(key, None)
            port = old.server_address[1] if old else None
            if old:
                old.shutdown()
                old.server_close()
            server = None
            candidates = [port] if port else range(self.port_base, self.port_base + 500)
            for p in candidates:
                try:
                    server = _UrlServer((self.host, p), account, region, function_name, auth_type or "NONE",
                                        self.invoke)
                    break
                except OSError:
                    continue
            if server is None:
                raise RuntimeError(f"no free port for the function URL of {function_name}")
            self._servers[key] = server
        threading.Thread(target=server.serve_forever, daemon=True, name=f"url-{function_name}").start()
        url = f"http://{self.host}:{server.server_address[1]}/"
        LOG.info("function URL of %s:%s is %s", account, function_name, url)
        return url

    def set_auth(self, account: str, region: str, function_name: str, auth_type: str) -> None:
        with self._lock:
            server = self._servers.get((account, region, function_name))
            if server is not None and auth_type:
                server.auth_type = auth_type

    def close(self, account: str, region: str, function_name: str) -> None:
        with self._lock:
            server = self._servers.pop((account, region, function_name), None)
        if server is not None:
            server.shutdown()
            server.server_close()

    def close_all(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for s in servers:
            s.shutdown()
            s.server_close()
