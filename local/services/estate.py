"""Clients of the local estate's accounts, through the `bbws-<env>` profiles that `make up` writes.

The endpoint and the state directory (where the profiles live) come from the estate's own settings
(BBWS_LOCAL_PORT, BBWS_LOCAL_HOST, BBWS_LOCAL_STATE), so these helpers reach the estate those variables
name, whatever AWS_* variables the caller's shell has.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bbws_local.sdk import botocore_session
from bbws_local.settings import PRIMARY_REGION, Settings

# Fixture calls fail fast and visibly: a throttle is an answer to count, not to retry.
NO_RETRIES = Config(retries={"max_attempts": 0, "total_max_attempts": 1}, read_timeout=70)


class EstateUnavailable(RuntimeError):
    """The local estate does not answer, or its AWS profiles are missing."""


class Estate:
    """Sessions and cached clients of the estate's three accounts."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self._clients: dict[tuple[str, str, str, bool], Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """The estate's AWS endpoint."""
        return self.settings.endpoint

    @property
    def state_dir(self) -> Path:
        """The estate's state directory."""
        return self.settings.state_dir

    def check_up(self) -> None:
        """Raise EstateUnavailable unless the estate answers and its profiles exist."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_local/health", timeout=2) as r:
                status = json.loads(r.read()).get("status")
        except (OSError, ValueError) as e:
            raise EstateUnavailable(
                f"the local estate does not answer on {self.endpoint} ({e}); run `make up`") from e
        if status != "ok":
            raise EstateUnavailable(f"the local estate on {self.endpoint} reports status {status!r}")
        for name in ("config", "credentials"):
            if not (self.state_dir / "aws" / name).is_file():
                raise EstateUnavailable(f"{self.state_dir / 'aws' / name} is missing: is BBWS_LOCAL_STATE "
                                        "the state directory of the estate on this port?")

    def session(self, env: str, region: str = PRIMARY_REGION) -> boto3.Session:
        """A session of profile `bbws-<env>` read from the estate's own AWS config and credentials files."""
        core = botocore_session()
        core.set_config_variable("config_file", str(self.state_dir / "aws" / "config"))
        core.set_config_variable("credentials_file", str(self.state_dir / "aws" / "credentials"))
        return boto3.Session(botocore_session=core, profile_name=f"bbws-{env}", region_name=region)

    def client(self, env: str, service: str, region: str = PRIMARY_REGION, retries: bool = True) -> Any:
        """A (cached) client of `service` in the account of `env`, in `region`."""
        key = (env, service, region, retries)
        with self._lock:
            if key not in self._clients:
                config = None if retries else NO_RETRIES
                self._clients[key] = self.session(env, region).client(
                    service, endpoint_url=self.endpoint, config=config)  # type: ignore[call-overload]
            return self._clients[key]
