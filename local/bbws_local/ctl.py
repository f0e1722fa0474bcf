"""`make up` / `make down` / `make status`: start, stop and inspect the emulator process.

up:     idempotent. If an estate answers on the endpoint, it is reused; otherwise one is started in its
        own session (so it and every Lambda process it spawns form one process group) and awaited.
down:   stops that process group, waits for every member to be gone, and says so.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .settings import Settings, code_version


def _health(settings: Settings, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{settings.endpoint}/_local/health", timeout=timeout) as r:
            return json.loads(r.read())
    except Exception:
        return None


def _pid_file(settings: Settings) -> Path:
    return settings.state_dir / "server.pid"


def _read_pid(settings: Settings) -> int | None:
    try:
        return int(_pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return members


def print_env(settings: Settings) -> None:
    aws = settings.state_dir / "aws"
    print(f"export AWS_CONFIG_FILE={aws / 'config'} AWS_SHARED_CREDENTIALS_FILE={aws / 'credentials'}")


def up(settings: Settings) -> int:
    t0 = time.monotonic()
    health = _health(settings)
    if health and health.get("state_dir") not in (None, str(settings.state_dir)):
        print(f"{settings.endpoint} is served by another local estate (state in {health.get('state_dir')}); "
              "stop it or choose another BBWS_LOCAL_PORT", file=sys.stderr)
        return 1
    if health and health.get("code_version") == code_version():
        print(f"local estate already up on {settings.endpoint} (reused)")
        print_env(settings)
        return 0
    if health:
        print("the running local estate has older code: restarting it (its state is lost)")
        if down(settings) != 0:
            return 1
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.state_dir / "server.log", "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    env["BBWS_LOCAL_STATE"] = str(settings.state_dir)
    proc = subprocess.Popen([sys.executable, "-m", "bbws_local.server"], env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"the local estate exited with {proc.returncode}; see {settings.state_dir / 'server.log'}",
                  file=sys.stderr)
            return 1
        if _health(settings, 0.5):
            print(f"local estate up on {settings.endpoint} in {time.monotonic() - t0:.1f} s (pid {proc.pid})")
            print_env(settings)
            return 0
        time.sleep(0.1)
    print("the local estate did not answer within 60 s", file=sys.stderr)
    return 1


def down(settings: Settings) -> int:
    pid = _read_pid(settings)
    if pid is None:
        print("local estate is not running")
        return 0
    pgid = pid  # started with start_new_session: the server leads its own group
    members = _group_members(pgid)
    if members:
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_members(pgid):
            time.sleep(0.1)
        if _group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)
            # A killed process leaves the table once the kernel has torn it down: under load that
            # takes longer than a moment (a restart that gave up here failed `make test` for nothing).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _group_members(pgid):
                time.sleep(0.1)
    left = _group_members(pgid)
    _pid_file(settings).unlink(missing_ok=True)
    if left:
        print(f"processes still alive after stop: {left}", file=sys.stderr)
        return 1
    print(f"local estate stopped (process group {pgid}: none left)")
    return 0


def status(settings: Settings) -> int:
    h = _health(settings)
    if not h:
        print("local estate is down")
        return 3
    print(json.dumps(h, indent=2))
    return 0


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        return up(settings)
    if cmd == "down":
        return down(settings)
    if cmd == "status":
        return status(settings)
    if cmd == "env":
        print_env(settings)
        return 0
    print("usage: python -m bbws_local.ctl up|down|status|env", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
