"""The approval page as an approver's phone and desk show it (issue 18), in headless Chromium from
Debian's packages: an emergency SIT -> PROD request outside the maintenance window. At 390 x 844 and
1280 x 800 the decision button is inside the first screen, what is unusual is said at the top, no label
breaks inside a word and nothing is wider than the screen. Screenshots are kept in
local/.state/screenshots/ for a person to look at."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

import pipeline_helpers as ph
import pytest

SIT_TO_PROD = ph.sample_input("promote-sit-to-prod")
FAST = {"monitor": {"sit_seconds": 1, "prod_seconds": 1, "poll_seconds": 1}}
VIEWPORTS = {"phone": (390, 844, 3, True), "desk": (1280, 800, 1, False)}

# Every word of every label, heading and flag: a word whose pieces lie on more than one line broke.
MEASURE = r"""(() => {
  const broken = [];
  for (const el of document.querySelectorAll('h1, h2, dt, label, .flags li, button')) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const re = /\S+/g; let m;
      while ((m = re.exec(node.data))) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
        if (lines.size > 1) broken.push(el.tagName.toLowerCase() + ': ' + m[0]);
      }
    }
  }
  const button = document.querySelector('button[name=confirm]');
  const b = button ? button.getBoundingClientRect() : null;
  return {width: window.innerWidth, height: window.innerHeight, broken,
          scrollWidth: document.documentElement.scrollWidth,
          button: b && {top: b.top, bottom: b.bottom, width: b.width},
          flags: [...document.querySelectorAll('.flags li')].map(e => e.textContent),
          firstScreen: document.body.innerText.slice(0, 600)};
})()"""


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

    def look(self, url: str, width: int, height: int, scale: int, mobile: bool, shot: str) -> dict:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)
        self.call("Page.enable", session)
        self.call("Page.navigate", session, url=url)
        self.wait_event("Page.loadEventFired", session)
        seen = self.call("Runtime.evaluate", session, expression=MEASURE, returnByValue=True)["result"]["value"]
        png = self.call("Page.captureScreenshot", session, format="png")["data"]
        import base64

        path = ph.SETTINGS.state_dir / "screenshots" / shot
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(png))
        self.call("Target.closeTarget", targetId=target)
        return seen

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


def test_the_decision_is_on_the_first_screen_of_a_phone_and_a_desk(browser, preflight_config):
    windows, _ = ph.windows_not_today()
    preflight_config("prod", maintenance_windows=windows, **FAST)
    ph.record_gates("sit", "bbws-tenant-instance-management-sit", "latest-sit")
    arn = ph.start("prod", {**SIT_TO_PROD, "emergency": {"incident": "INC-77"}})
    try:
        links = ph.approval_links("tech-lead@bbws.io", arn)
        for decision in ("approve", "reject"):
            for name, (w, h, scale, mobile) in VIEWPORTS.items():
                seen = browser.look(links[decision], w, h, scale, mobile, f"{decision}-{name}-{w}x{h}.png")
                where = f"{decision} page, {name} {w} x {h}"
                assert seen["width"] == w, (where, seen["width"])
                assert seen["button"], f"{where}: no decision button"
                assert 0 <= seen["button"]["top"] and seen["button"]["bottom"] <= h, \
                    f"{where}: the button is at {seen['button']['top']:.0f}-{seen['button']['bottom']:.0f} px"
                assert seen["broken"] == [], f"{where}: words broken across lines: {seen['broken']}"
                assert seen["scrollWidth"] <= w, f"{where}: {seen['scrollWidth']} px wide"
                for flag in ("Into PROD", "Emergency — incident INC-77", "Outside the maintenance window"):
                    assert flag in seen["flags"], (where, seen["flags"])
                first = seen["firstScreen"]
                assert "Tech Lead and CTO — you are the Tech Lead; 0 of 2 given" in first, (where, first)
                assert " UTC on " in first and "Decide in " in first, (where, first)
    finally:
        ph.end_leftover_executions()
