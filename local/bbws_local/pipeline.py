"""Put the promotion pipeline into the running estate: the BBWS service fixtures, then Terraform's
three roots (infra/envs/{prod,sit,dev}) applied with the local endpoint. Idempotent: nothing is
applied again while the estate, the Terraform (and the runbook configuration and the tenant build's
scripts it reads), the state machine and the Lambda zips are unchanged.

Each account's tenant build (CodeBuild project bbws-tenant-build-<env>) checks out the tenants'
repository from GitHub: the estate serves the tenants fixture (local/tenants, built in the state
directory) for the URL each root gives its project, so a build of the fixture's commits runs after
`make up`. That registration is made on every run (it is kept in the estate's state directory).

Run by `make up` after the emulator is up: `python -m bbws_local.pipeline [--force]`.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .settings import RUNBOOK_CONFIG_FILE, Settings, terraform_plugin_args

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ZIPS = ROOT / "target" / "lambda"
# On AWS each reader role trusts the next environment's pipeline roles, which must exist first.
ORDER = ("prod", "sit", "dev")
# The approver directory of the local estate: the runbook's roles, plus a duty lead who holds two roles
# (so the rule "two approvals, two people" is tested against someone who could fill both).
APPROVERS = {
    "dev_lead": ["dev-lead@bbws.io"],
    "tech_lead": ["tech-lead@bbws.io", "duty-lead@bbws.io"],
    "operations_lead": ["ops-lead@bbws.io", "duty-lead@bbws.io"],
    "cto": ["cto@bbws.io"],
}
LAMBDA_BINS = ("bbws-preflight", "bbws-backup-alias", "bbws-deploy", "bbws-monitor", "bbws-rollback",
               "bbws-record", "bbws-approval", "bbws-watch", "bbws-tenant")


def _estate_instance(settings: Settings) -> str:
    with urllib.request.urlopen(f"{settings.endpoint}/_local/health", timeout=5) as r:
        h = json.loads(r.read())
    return f"{h['pid']}-{h['started_at']}"


def _digest() -> str:
    h = hashlib.sha256(json.dumps(APPROVERS, sort_keys=True).encode())
    # The runbook's configuration too: Terraform reads its catalog.
    files = sorted(list(INFRA.rglob("*.tf")) + list((ROOT / "statemachine").glob("*.json")))
    # The tenant build's scripts and buildspec: uploaded and rendered by the pipeline module.
    files += sorted(p for p in (INFRA / "tenant-build").iterdir() if p.suffix in (".sh", ".yml"))
    files += [RUNBOOK_CONFIG_FILE]
    files += [ZIPS / b / "bootstrap.zip" for b in LAMBDA_BINS]
    for f in files:
        if f.name.endswith("_override.tf"):
            continue
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# What the estate's log says about a failed apply: the SDK's retries it saw (a create retried after a
# lost answer fails with "already exists") and the requests it could not answer.
_ESTATE_LOG_SIGNS = ("SDK retry", "Error on request", "Traceback", "Error:")


def estate_log_since(log: Path, offset: int, limit: int = 40) -> list[str]:
    """The lines of the estate's server.log after `offset` that explain a failed call (at most `limit`,
    the last ones)."""
    if not log.exists():
        return []
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", "replace").splitlines()
    return [line for line in lines if any(sign in line for sign in _ESTATE_LOG_SIGNS)][-limit:]


class TerraformFailed(Exception):
    """A terraform command failed; `lost_answer`: a create failed with "already exists" while the estate
    saw the SDK retry a call, i.e. the resource was made by an attempt whose answer Terraform never got."""

    def __init__(self, message: str, lost_answer: bool) -> None:
        super().__init__(message)
        self.lost_answer = lost_answer


def _terraform(root: Path, args: list[str], env: dict[str, str], log: Path | None = None) -> None:
    t0 = time.monotonic()
    offset = log.stat().st_size if log is not None and log.exists() else 0
    r = subprocess.run(["terraform", *args], cwd=root, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        seen = estate_log_since(log, offset) if log is not None else []
        told = f"\nthe estate's log ({log}) during it:\n" + "\n".join(seen) if seen else ""
        lost = "already exists" in (r.stdout + r.stderr) and any("SDK retry" in line for line in seen)
        raise TerraformFailed(f"terraform {args[0]} in {root.relative_to(ROOT)} failed:\n{r.stdout[-4000:]}\n"
                              f"{r.stderr[-4000:]}{told}", lost)
    print(f"   terraform {args[0]:<7} {root.relative_to(ROOT)} ({time.monotonic() - t0:.1f} s)", flush=True)


# The local backend in place of the roots' S3 one; its state file is given at init
# (`-backend-config=path=`), so the file is the same for every estate of this checkout.
BACKEND_OVERRIDE = ('# Written by bbws_local.pipeline for the local estate (git-ignored).\n'
                    'terraform {\n  backend "local" {}\n}\n')


def terraform_env(settings: Settings, name: str) -> dict[str, str]:
    """The environment Terraform runs in for the root `name` of this estate: its profiles, and a
    data directory of its own (TF_DATA_DIR: the backend and the providers an init chose), so two
    estates of one checkout (`make test` runs two) apply the same roots side by side."""
    return dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
                TF_DATA_DIR=str(settings.state_dir / "tf" / f"{name}.terraform"),
                AWS_CONFIG_FILE=str(settings.state_dir / "aws" / "config"),
                AWS_SHARED_CREDENTIALS_FILE=str(settings.state_dir / "aws" / "credentials"))


def _signing_key(settings: Settings, account: str) -> str:
    """The approval signing key of one account: each has its own, as each AWS account keeps its own
    SSM SecureString, so a link signed in SIT does not verify in PROD."""
    path = settings.state_dir / "tf" / f"approval-signing-key-{account}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def deploy(settings: Settings, force: bool = False, tenants: bool = True) -> None:
    for b in LAMBDA_BINS:
        if not (ZIPS / b / "bootstrap.zip").exists():
            raise SystemExit(f"{ZIPS / b / 'bootstrap.zip'} is missing: run `make lambdas`")
    tf_dir = settings.state_dir / "tf"
    tf_dir.mkdir(parents=True, exist_ok=True)
    marker = tf_dir / "applied.json"
    keys = {name: _signing_key(settings, name) for name in ORDER}
    # The keys are inputs too: an estate applied with other keys (or with one for all) is applied again.
    keyed = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()
    instance, digest = _estate_instance(settings), f"{_digest()}:{keyed}"
    if not force and marker.exists():
        seen = json.loads(marker.read_text())
        if seen == {"instance": instance, "digest": digest}:
            print("pipeline already applied to this estate (unchanged)")
            register_tenants_repository(settings)
            if tenants:
                apply_tenants_fixture(settings)
            return
        if seen.get("instance") != instance:
            for old in tf_dir.glob("*.tfstate*"):
                old.unlink()  # the state of an estate that is gone

    t0 = time.monotonic()
    from services import seed  # the BBWS services the pipeline promotes (fixtures of the estate)

    changes = seed.seed()
    print(f"   seeded the BBWS services: {len(changes)} change(s)", flush=True)

    for name in ORDER:
        root = INFRA / "envs" / name
        env = terraform_env(settings, name)
        override = root / "backend_override.tf"
        if not override.exists() or override.read_text() != BACKEND_OVERRIDE:
            # Atomically: the other estate's Terraform may be reading the root's files right now.
            partial = root / f".backend_override.tf.{os.getpid()}"
            partial.write_text(BACKEND_OVERRIDE)
            os.replace(partial, override)
        tfvars = tf_dir / f"{name}.tfvars.json"
        tfvars.write_text(json.dumps({
            "local_endpoint": settings.endpoint,
            "aws_profile": f"bbws-{name}",
            "lambda_zip_dir": str(ZIPS),
            "approval_signing_key": keys[name],
            "approvers": APPROVERS,
        }))
        tfvars.chmod(0o600)
        # Always (about a second): `make tf-check` initialises the same roots without a backend.
        _terraform(root, ["init", "-input=false", "-reconfigure",
                          f"-backend-config=path={tf_dir / (name + '.tfstate')}", *terraform_plugin_args()], env)
        _terraform(root, ["apply", "-auto-approve", "-input=false", f"-var-file={tfvars}"], env,
                   settings.state_dir / "server.log")
    marker.write_text(json.dumps({"instance": instance, "digest": digest}))
    register_tenants_repository(settings)
    if tenants:
        apply_tenants_fixture(settings)
    print(f"pipeline applied to DEV, SIT and PROD in {time.monotonic() - t0:.1f} s")


def _with_variables(settings: Settings, name: str, variables: dict[str, str]) -> list[str]:
    """The var-file arguments of root `name` as `deploy` applied it, with `variables` on top (a second
    var file, kept with the first: a promotion_config is larger than a command line should carry)."""
    tf_dir = settings.state_dir / "tf"
    base = tf_dir / f"{name}.tfvars.json"
    if not base.exists():
        raise SystemExit(f"{base} is missing: the pipeline is not applied to this estate (`make up`)")
    args = [f"-var-file={base}"]
    if variables:
        extra = tf_dir / f"{name}.extra.tfvars.json"
        extra.write_text(json.dumps(variables))
        extra.chmod(0o600)
        args.append(f"-var-file={extra}")
    return args


def apply_with(settings: Settings, names: list[str], variables: dict[str, str]) -> None:
    """Apply the roots `names` (in that order) again with `variables` set, e.g. another promotion_config;
    {} applies them as `deploy` does."""
    for name in names:
        _terraform(INFRA / "envs" / name,
                   ["apply", "-auto-approve", "-input=false", *_with_variables(settings, name, variables)],
                   terraform_env(settings, name), settings.state_dir / "server.log")


def plan_with(settings: Settings, name: str, variables: dict[str, str]) -> tuple[int, str]:
    """`terraform plan` of root `name` with `variables` set, changing nothing: its exit code (0 no
    change, 1 refused, 2 changes) and what it printed."""
    r = subprocess.run(["terraform", "plan", "-input=false", "-lock=false", "-detailed-exitcode",
                        *_with_variables(settings, name, variables)],
                       cwd=INFRA / "envs" / name, env=terraform_env(settings, name), capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def tenants_repository_urls(settings: Settings) -> list[str]:
    """The tenants' repository URL of each account's tenant build, as the applied roots output it."""
    urls = []
    for name in ORDER:
        try:
            state = json.loads((settings.state_dir / "tf" / f"{name}.tfstate").read_text())
            urls.append(state["outputs"]["tenant_build"]["value"]["repository_url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(set(urls))


def register_tenants_repository(settings: Settings) -> None:
    """Serve the tenants fixture (local/tenants) as the GitHub repository of every tenant build project:
    the fixture's repository in the state directory (made once, the same commits everywhere), registered
    for each account's repository URL. Idempotent."""
    from tenants import fixture

    urls = tenants_repository_urls(settings)
    if not urls:
        raise SystemExit("no root outputs tenant_build.repository_url: is the pipeline applied?")
    parent = settings.state_dir / "tenants"
    parent.mkdir(parents=True, exist_ok=True)
    shas = fixture.create(parent)
    repo = parent / fixture.REPO_NAME
    for url in urls:
        req = urllib.request.Request(f"{settings.endpoint}/_local/codebuild/repositories",
                                     data=json.dumps({"url": url, "path": str(repo)}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    print(f"   tenants repository {', '.join(urls)}: the fixture at {repo} "
          f"({', '.join(f'{label} {sha[:12]}' for label, sha in shas.items())})", flush=True)


# Where `make up` applies the tenants fixture. DEV's tenants belong to the estate's build tests
# (local/tests/test_tenant_build.py and test_tenants_fixture.py create them in bbws-cluster-dev from
# nothing and destroy them at the end), so DEV starts without tenants.
TENANT_FIXTURE_ENVS = ("sit", "prod")


def apply_tenants_fixture(settings: Settings) -> None:
    """The tenants of the fixture at its first commit in SIT and PROD, as the platform has them before
    any tenant execution: each account's own tenant build plans and applies them (the accounts side by
    side). An account whose tenants have a Terraform state already is left as it is (the tests move
    tenants on purpose, and put them back themselves)."""
    from concurrent.futures import ThreadPoolExecutor

    from bbws_local import pipeline_client as pc

    def one(env: str) -> str:
        s3 = pc.client(env, "s3")
        bucket = f"bbws-tenant-state-{pc.ACCOUNTS[env]}"
        missing = []
        for tenant in ("tenant-001", "tenant-002"):
            try:
                s3.head_object(Bucket=bucket, Key=f"tenants/{tenant}/terraform.tfstate")
            except s3.exceptions.ClientError:
                missing.append(tenant)
        if not missing:
            return f"{env}: applied already"
        t0 = time.monotonic()
        pc.put_tenants_at(env, "initial", tuple(missing))
        return f"{env}: {', '.join(missing)} applied at the initial commit in {time.monotonic() - t0:.1f} s"

    with ThreadPoolExecutor(max_workers=len(TENANT_FIXTURE_ENVS)) as pool:
        for line in pool.map(one, TENANT_FIXTURE_ENVS):
            print(f"   tenants fixture {line}", flush=True)


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    try:
        # --no-tenants: the second estate of the tests, which runs no tenant execution.
        deploy(settings, force="--force" in argv, tenants="--no-tenants" not in argv)
    except TerraformFailed as e:
        if not e.lost_answer:
            raise SystemExit(str(e)) from None
        # Terraform cannot adopt a resource it never heard was made; a new estate starts from nothing.
        print(f"{e}\n\nthe estate made a resource whose answer Terraform did not get (the SDK's retry then "
              "found it there, above): starting a new estate and applying again, once", flush=True)
        from . import ctl

        if ctl.down(settings) != 0 or ctl.up(settings) != 0:
            return 1
        try:
            deploy(settings, force=True, tenants="--no-tenants" not in argv)
        except TerraformFailed as again:
            raise SystemExit(str(again)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
