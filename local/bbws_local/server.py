"""The emulator process: moto's server, patched, behind the gateway. Started by `make up` (see ctl.py).

Run directly: `python -m bbws_local.server` (settings from BBWS_LOCAL_* variables, see settings.py).
"""
from __future__ import annotations

import os

# MOTO_ACCOUNT_ID would make every request act in one account, whatever its key: never set it here.
# Unknown keys act in moto's default account (settings.NOBODY_ACCOUNT), where nothing of the estate lives.
os.environ.pop("MOTO_ACCOUNT_ID", None)

import json  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

from . import patches  # noqa: E402
from .settings import ACCOUNTS, ADMIN_USER, PRIMARY_REGION, Settings  # noqa: E402

LOG = logging.getLogger("bbws_local.server")


def configure_moto(settings: Settings) -> None:
    os.environ["MOTO_PORT"] = str(settings.port)
    from moto.core.models import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False


def bootstrap_accounts(settings: Settings) -> dict[str, tuple[str, str]]:
    """An administrator with an access key in each account; the AWS CLI/SDK config to reach them."""
    from moto.iam.models import iam_backends

    keys: dict[str, tuple[str, str]] = {}
    for env, account in ACCOUNTS.items():
        iam = iam_backends[account]["aws"]
        if ADMIN_USER not in iam.users:
            iam.create_user(PRIMARY_REGION, ADMIN_USER, path="/local/")
        key = iam.create_access_key(ADMIN_USER)
        keys[env] = (key.access_key_id, key.secret_access_key)
    write_aws_files(settings, keys)
    return keys


def write_aws_files(settings: Settings, keys: dict[str, tuple[str, str]]) -> None:
    aws_dir = settings.state_dir / "aws"
    aws_dir.mkdir(parents=True, exist_ok=True)
    config, creds = [], []
    for env, (key_id, secret) in keys.items():
        config.append(f"[profile bbws-{env}]\nregion = {PRIMARY_REGION}\noutput = json\n"
                      f"endpoint_url = {settings.endpoint}\n")
        creds.append(f"[bbws-{env}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    (aws_dir / "config").write_text("\n".join(config))
    cred_path = aws_dir / "credentials"
    cred_path.write_text("\n".join(creds))
    cred_path.chmod(0o600)


def main() -> int:
    settings = Settings.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The interpreter logs every caught task failure at ERROR with its whole state tree; the execution
    # history has the same facts in AWS's shape.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    configure_moto(settings)
    estate = patches.apply(settings)
    bootstrap_accounts(settings)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from .gateway import Gateway

    app = Gateway(DomainDispatcherApplication(create_backend_app), estate)
    server = make_server(settings.host, settings.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, _frame: object) -> None:
        LOG.info("signal %s: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = settings.state_dir / "ready.json"
    ready.write_text(json.dumps({"endpoint": settings.endpoint, "pid": os.getpid()}))
    LOG.info("local estate listening on %s", settings.endpoint)
    estate.alarms.start()
    try:
        server.serve_forever()
    finally:
        estate.alarms.stop()
        estate.urls.close_all()
        estate.executor.stop_all()
        estate.builds.stop_all()
        estate.iam.evaluator.close()
        ready.unlink(missing_ok=True)
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
