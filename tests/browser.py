"""Headless Chromium from Debian's packages, driven over the DevTools protocol: the pages people open
(the approval page, the evidence report) as a phone and a desk show them."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
import zlib
from typing import Any

import pipeline_helpers as ph
import pytest


def _problem(event: dict[str, Any]) -> str | None:
    """A console error, an uncaught exception or a failed load, in words; None for anything else."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return "exception: " + params.get("exceptionDetails", {}).get("text", "?")
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return "log: " + params["entry"].get("text", "")
    if method == "Network.loadingFailed":
        return "request failed: " + params.get("errorText", "")
    return None


def png_is_blank(png: bytes) -> bool:
    """Whether a PNG shows one colour only: its decompressed scanlines (filtered or not) are one byte
    value, or nearly so, when nothing is drawn."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, data = 8, b""
    while i < len(png):
        length = int.from_bytes(png[i:i + 4], "big")
        kind = png[i + 4:i + 8]
        if kind == b"IDAT":
            data += png[i + 8:i + 8 + length]
        i += 12 + length
    raw = zlib.decompress(data)
    most = max(raw.count(bytes([b])) for b in set(raw))
    return most / len(raw) > 0.995


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4, NUL-framed JSON)."""

    def __init__(self, path: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="bbws-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:
            # In the child: the pipe ends copied above 3 and 4 first (one of them may be 3 or 4),
            # then onto 3 and 4, where Chromium expects them.
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, timeout: float = 30, **params: Any) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            got = self._read(deadline)
            if got.get("id") == self._id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return got.get("result", {})
            self.events.append(got)

    def wait_event(self, method: str, session: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    del self.events[i]
                    return
            self.events.append(self._read(deadline))

    def look(self, url: str, width: int, height: int, scale: int, mobile: bool, shot: str,
             expression: str, pdf: str | None = None) -> tuple[Any, bytes, list[str]]:
        """Opens `url` at that size; what `expression` returns, the screenshot (PNG, also kept in
        local/.state/screenshots/`shot`), and every console error, exception and failed request the page
        caused. With `pdf`, the page is also printed on A4 into that file."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call("Page.navigate", session, url=url)
        self.wait_event("Page.loadEventFired", session)
        seen = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"]["value"]
        png = base64.b64decode(self.call("Page.captureScreenshot", session, format="png")["data"])
        keep = ph.SETTINGS.state_dir / "screenshots" / shot
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(png)
        if pdf:
            printed = self.call("Page.printToPDF", session, paperWidth=8.27, paperHeight=11.69,
                                printBackground=True, preferCSSPageSize=True)["data"]
            (keep.parent / pdf).write_bytes(base64.b64decode(printed))
        problems = [_problem(e) for e in self.events if e.get("sessionId") == session and _problem(e)]
        self.events = [e for e in self.events if e.get("sessionId") != session]
        self.call("Target.closeTarget", targetId=target)
        return seen, png, problems

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if path is None:
        pytest.skip("Chromium is not installed and `make chromium` could not install it "
                    "(it needs apt-get with root rights): the page's screenshot tests cannot run")
    b = Browser(path)
    yield b
    b.close()


