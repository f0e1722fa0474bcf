"""Facts of the estate and settings of one emulator process."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

# RB-003 §1.3: the three accounts and their regions.
ACCOUNTS: dict[str, str] = {
    "dev": "536580886816",
    "sit": "815856636111",
    "prod": "093646564004",
}
PRIMARY_REGION = "af-south-1"
FAILOVER_REGION = "eu-west-1"  # PROD failover
REGIONS = (PRIMARY_REGION, FAILOVER_REGION)

# RB-003's configuration as the functions build it in. Its catalog (the services the pipeline promotes
# and their functions) is read from here by Terraform, the service fixtures and the tests, never copied.
RUNBOOK_CONFIG_FILE = Path(__file__).resolve().parents[2] / "events" / "config" / "runbook.json"


def runbook_config() -> dict:
    """events/config/runbook.json, read afresh (callers may change their copy)."""
    return json.loads(RUNBOOK_CONFIG_FILE.read_text())


# Requests whose access key is unknown act in this account, where nothing of the estate lives.
NOBODY_ACCOUNT = "123456789012"  # moto's DEFAULT_ACCOUNT_ID

ADMIN_USER = "bbws-local-admin"

# A directory of Terraform providers (terraform init -plugin-dir) for machines that cannot reach the
# public Terraform registry. The Makefile reads the same variable with the same default.
TF_PLUGIN_DIR_DEFAULT = "/opt/tf-plugins"


def terraform_plugin_args() -> list[str]:
    """`terraform init`'s `-plugin-dir=…` where BBWS_TF_PLUGIN_DIR (default /opt/tf-plugins) is a
    directory; none where it is not (or is set empty), so that init downloads the provider normally."""
    path = os.environ.get("BBWS_TF_PLUGIN_DIR", TF_PLUGIN_DIR_DEFAULT)
    return [f"-plugin-dir={path}"] if path and Path(path).is_dir() else []


def code_version() -> str:
    """A hash of the estate's own code: `make up` restarts an estate that runs older code."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name == "pipeline_client.py":
            continue  # the demos' and tests' helpers: the estate never runs them
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def env_of_account(account_id: str) -> str | None:
    for env, acct in ACCOUNTS.items():
        if acct == account_id:
            return env
    return None


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    state_dir: Path = Path(__file__).resolve().parents[1] / ".state"  # local/.state of this checkout
    # Wait states sleep seconds * time_scale. 1.0 (real time) unless a demo asks otherwise.
    time_scale: float = 1.0
    # A function's process must reach the Runtime API's `next` within this many seconds (AWS: 10 s init).
    init_timeout: float = 10.0
    # Warm processes idle longer than this are stopped.
    idle_seconds: float = 600.0
    # Upper bound of concurrent processes of one function (AWS's account limit stands behind this).
    max_concurrency_per_function: int = 16
    # First port for Lambda Function URL listeners.
    url_port_base: int = 0
    # Key that signs code download links (GetFunction Code.Location); new each start, like presigned URLs.
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    python: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> "Settings":
        s = cls()
        s.host = os.environ.get("BBWS_LOCAL_HOST", s.host)
        s.port = int(os.environ.get("BBWS_LOCAL_PORT", s.port))
        s.state_dir = Path(os.environ.get("BBWS_LOCAL_STATE", str(s.state_dir))).resolve()
        s.time_scale = float(os.environ.get("BBWS_LOCAL_TIME_SCALE", s.time_scale))
        if not (0.0 <= s.time_scale <= 1.0):
            raise ValueError("BBWS_LOCAL_TIME_SCALE must be between 0 and 1 (1 = real time)")
        s.init_timeout = float(os.environ.get("BBWS_LOCAL_INIT_TIMEOUT", s.init_timeout))
        s.idle_seconds = float(os.environ.get("BBWS_LOCAL_IDLE_SECONDS", s.idle_seconds))
        s.max_concurrency_per_function = int(
            os.environ.get("BBWS_LOCAL_MAX_CONCURRENCY", s.max_concurrency_per_function)
        )
        s.url_port_base = int(os.environ.get("BBWS_LOCAL_URL_PORT_BASE", s.port + 100))
        import sys

        s.python = os.environ.get("BBWS_LOCAL_PYTHON", sys.executable)
        return s


# The one Settings object of this process; server.main() fills it before anything else runs.
CURRENT = Settings()
