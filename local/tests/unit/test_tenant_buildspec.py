"""The tenant build's buildspec (infra/tenant-build/buildspec.yml), rendered by Terraform as tenant_build.tf
renders it, its commands run in bash with stand-ins for the AWS CLI, curl and terraform: the scripts are
checked against the hashes the project was made with, the pinned Terraform is installed only when another
is on PATH and only with the release's SHA-256, and every input is checked before any tenant runs.

Without AWS and without the estate (the estate's test_tenant_build.py runs the deployed project).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BUILD_DIR = ROOT / "infra" / "tenant-build"
SCRIPTS = ("lib.sh", "plan.sh", "apply.sh")
SCRIPTS_URL = "s3://bbws-tenant-plans-536580886816/tenant-build/0123"
COMMIT = "6041b5c8668cb85503f5ea5ca1b793a875dd6194"

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform renders the buildspec")


def sha256sums() -> str:
    """The scripts' "<sha256>  <name>" lines as tenant_build.tf passes them (scripts_sha256sums)."""
    return " ".join(f'"{hashlib.sha256((BUILD_DIR / f).read_bytes()).hexdigest()}  {f}"' for f in SCRIPTS)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The buildspec as Terraform's templatefile renders it, parsed."""
    root = tmp_path_factory.mktemp("render")
    (root / "main.tf").write_text(
        'output "spec" {\n  value = templatefile(%s, {\n    scripts_url = %s\n    scripts_sha256sums = %s\n  })\n}\n'
        % (json.dumps(str(BUILD_DIR / "buildspec.yml")), json.dumps(SCRIPTS_URL), json.dumps(sha256sums())))
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    for args in (["init", "-no-color"], ["apply", "-auto-approve", "-no-color"], ["output", "-raw", "spec"]):
        r = subprocess.run(["terraform", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    return yaml.safe_load(r.stdout)


def commands(spec: dict[str, Any], phase: str) -> list[str]:
    return spec["phases"][phase]["commands"]


def run(command: str, tmp_path: Path, path: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """One buildspec command in bash, with stand-ins first on PATH (then `path`, default this process's PATH)
    and only the given variables."""
    base = {"PATH": f"{tmp_path / 'bin'}:{path or os.environ['PATH']}", "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path), "STANDIN_LOG": str(tmp_path / "calls.log")}
    return subprocess.run(["bash", "-c", command], env={**base, **env}, capture_output=True, text=True, timeout=60)


def stand_in(tmp_path: Path, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/usr/bin/env bash\n" f'echo "{name} $*" >>"$STANDIN_LOG"\n' + script)
    (bin_dir / name).chmod(0o755)


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_rendered_buildspec_is_version_0_2_in_bash_with_its_scripts_named_by_hash(spec):
    assert spec["version"] == 0.2 and spec["env"] == {"shell": "bash"}
    assert [len(commands(spec, p)) for p in ("install", "pre_build", "build")] == [2, 1, 1]
    fetch = commands(spec, "install")[0]
    assert f'"{SCRIPTS_URL}/"' in fetch
    for f in SCRIPTS:
        assert f"{hashlib.sha256((BUILD_DIR / f).read_bytes()).hexdigest()}  {f}" in fetch


# INSTALL: the scripts ---------------------------------------------------------------------------------

AWS_FROM_DIR = """set -euo pipefail
# aws s3 cp --recursive --exclude '*' --include <file>... s3://<bucket>/<prefix>/ <dest>/: each included
# file from $STANDIN_S3 (the prefix's objects)
dest="${@: -1}"; args=("$@")
for ((i = 0; i < $# - 2; i++)); do
  if [ "${args[i]}" = --include ]; then cp "$STANDIN_S3/${args[i + 1]}" "$dest/${args[i + 1]}"; fi
done
"""


@pytest.mark.parametrize("changed", [None, "plan.sh"])
def test_install_fetches_the_scripts_and_refuses_any_that_is_not_the_projects(spec, tmp_path, changed):
    s3 = tmp_path / "s3"
    s3.mkdir()
    for f in SCRIPTS:
        shutil.copy(BUILD_DIR / f, s3 / f)
    if changed:
        (s3 / changed).write_text((BUILD_DIR / changed).read_text() + "\necho changed\n")
    stand_in(tmp_path, "aws", AWS_FROM_DIR)
    r = run(commands(spec, "install")[0] + '\necho "TENANT_SCRIPTS=$TENANT_SCRIPTS"', tmp_path,
            STANDIN_S3=str(s3))
    # One download: the three scripts of the prefix and nothing else of it.
    [fetch] = [c.split() for c in calls(tmp_path)]
    assert fetch[:6] == ["aws", "s3", "cp", "--only-show-errors", "--recursive", "--exclude"]
    assert fetch[6] in ("*", "'*'") and fetch[-2] == f"{SCRIPTS_URL}/"
    assert sorted(fetch[i + 1] for i, a in enumerate(fetch) if a == "--include") == sorted(SCRIPTS)
    if changed is None:
        assert r.returncode == 0, r.stderr
        fetched = Path(r.stdout.split("TENANT_SCRIPTS=")[1].strip())
        assert sorted(p.name for p in fetched.iterdir()) == sorted(SCRIPTS)
    else:
        assert r.returncode != 0
        assert f"buildspec: the scripts at {SCRIPTS_URL} are not the ones this project was made with" in r.stderr


# INSTALL: Terraform -----------------------------------------------------------------------------------

def release_zip(version: str) -> bytes:
    """A stand-in for HashiCorp's terraform_<version>_linux_amd64.zip: a `terraform` that says its version."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("terraform")
        info.external_attr = 0o755 << 16
        z.writestr(info, "#!/usr/bin/env bash\n"
                         f"if [ \"$2\" = -json ]; then echo '{{\"terraform_version\":\"{version}\"}}'; "
                         f"else echo 'Terraform v{version} (the release zip)'; fi\n")
    return buf.getvalue()


@pytest.mark.parametrize("on_path, zip_sha_right, outcome", [
    ("1.11.4", True, "kept"),
    ("1.5.7", True, "installed"),
    (None, True, "installed"),
    ("1.5.7", False, "refused"),
], ids=["pinned-on-path", "another-on-path", "none-on-path", "zip-not-the-release"])
def test_install_makes_sure_of_the_pinned_terraform(spec, tmp_path, on_path, zip_sha_right, outcome):
    body = release_zip("1.11.4")
    (tmp_path / "release.zip").write_bytes(body)
    stand_in(tmp_path, "curl", f'out="$(printf "%s\\n" "$@" | sed -n "/^-o$/{{n;p}}")"; cp "{tmp_path}/release.zip" "$out"\n')
    if on_path:
        stand_in(tmp_path, "terraform", f"if [ \"$2\" = -json ]; then echo '{{\"terraform_version\":\"{on_path}\"}}'; "
                                        f"else echo 'Terraform v{on_path} (on PATH)'; fi\n")
    # The machine's own terraform is never found: the stand-in, or none at all.
    path = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "terraform").exists())
    sha = hashlib.sha256(body).hexdigest() if zip_sha_right else "0" * 64
    r = run(commands(spec, "install")[1], tmp_path, path, TF_VERSION="1.11.4", TF_SHA256=sha)
    downloads = [c for c in calls(tmp_path) if c.startswith("curl ")]
    if outcome == "kept":
        assert r.returncode == 0 and downloads == [] and "Terraform v1.11.4 (on PATH)" in r.stdout
        return
    assert len(downloads) == 1
    assert ("https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_linux_amd64.zip" in downloads[0])
    if outcome == "installed":
        assert r.returncode == 0, r.stderr
        assert "1.11.4 required: installing HashiCorp's release" in r.stdout
        assert "Terraform v1.11.4 (the release zip)" in r.stdout
    else:
        assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr
        assert "(the release zip)" not in r.stdout


# PRE_BUILD: the build's inputs ------------------------------------------------------------------------

A, B = "a" * 64, "b" * 64


@pytest.mark.parametrize("given, refusal", [
    ({"ACTION": None}, "buildspec: ACTION '' must be plan or apply"),
    ({"ACTION": "destroy"}, "buildspec: ACTION 'destroy' must be plan or apply"),
    ({"ACTION": "Plan"}, "buildspec: ACTION 'Plan' must be plan or apply"),
    ({"TENANTS": ""}, "buildspec: TENANTS is required"),
    ({"TENANTS": "tenant-001 ../x"}, "buildspec: TENANTS: '../x' is not a tenant id"),
    ({"TENANTS": "tenant-001 tenant-001"}, "buildspec: TENANTS: tenant-001 is named twice"),
    ({"ARTIFACTS_ROOT": ""}, "buildspec: ARTIFACTS_ROOT '' must be tenant/dev/<run>"),
    ({"ARTIFACTS_ROOT": "tenant/sit/run-1"}, "buildspec: ARTIFACTS_ROOT 'tenant/sit/run-1' must be tenant/dev/<run>"),
    ({"ARTIFACTS_ROOT": "tenant/dev/../sit/run-1"}, "must be tenant/dev/<run>"),
    ({"ARTIFACTS_ROOT": "tenant/dev/"}, "must be tenant/dev/<run>"),
    ({"ACTION": "apply", "TFPLAN_SHA256S": f"tenant-001={A}"},
     'buildspec: TFPLAN_SHA256S has no approved plan SHA-256 for tenant-002 ("tenant-002=<sha256>"): nothing is applied'),
    ({"ACTION": "apply", "TFPLAN_SHA256S": ""}, "TFPLAN_SHA256S has no approved plan SHA-256 for tenant-001"),
    ({"ACTION": "apply", "TFPLAN_SHA256S": f"tenant-001={A} tenant-002={B} tenant-002={A}"},
     "buildspec: TFPLAN_SHA256S names tenant-002 more than once"),
    ({"ACTION": "apply", "TFPLAN_SHA256S": f"tenant-0012={A} tenant-002={B}"},
     "TFPLAN_SHA256S has no approved plan SHA-256 for tenant-001"),
])
def test_pre_build_refuses_a_build_that_is_not_a_plan_or_an_apply_of_named_tenants(spec, tmp_path, given, refusal):
    defaults = {"ENV": "dev", "ARTIFACTS_BUCKET": "plans", "ACTION": "plan", "TENANTS": "tenant-001 tenant-002",
                "ARTIFACTS_ROOT": "tenant/dev/run-1", "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
                "CODEBUILD_SRC_DIR": str(tmp_path)}
    env = {k: v for k, v in {**defaults, **given}.items() if v is not None}  # None: not set at all
    r = run(commands(spec, "pre_build")[0], tmp_path, **env)
    assert r.returncode != 0
    assert refusal in r.stderr, r.stderr


@pytest.mark.parametrize("action", ["plan", "apply"])
def test_pre_build_lets_a_plan_or_an_apply_of_named_tenants_through(spec, tmp_path, action):
    env = {"ENV": "sit", "ARTIFACTS_BUCKET": "plans", "ACTION": action, "TENANTS": "tenant-001 tenant-002",
           "ARTIFACTS_ROOT": "tenant/sit/exec-1", "TFPLAN_SHA256S": f"tenant-002={B} tenant-001={A}",
           "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT, "CODEBUILD_SRC_DIR": str(tmp_path)}
    r = run(commands(spec, "pre_build")[0] + '\necho "COMMIT=$COMMIT REPO_DIR=$REPO_DIR"', tmp_path, **env)
    assert r.returncode == 0, r.stderr
    assert (f"{action} of tenant-001 tenant-002  in sit at {COMMIT}, "
            f"artifacts s3://plans/tenant/sit/exec-1/<tenant>") in r.stdout
    assert f"COMMIT={COMMIT} REPO_DIR={tmp_path}" in r.stdout
    given = run(commands(spec, "pre_build")[0] + '\necho "COMMIT=$COMMIT"', tmp_path, **env, COMMIT="f" * 40)
    assert f"COMMIT={'f' * 40}" in given.stdout  # a COMMIT given wins over the resolved version


# BUILD: each tenant through its script ---------------------------------------------------------------

def test_build_runs_the_action_for_each_tenant_in_order_with_its_prefix_and_approved_sha(spec, tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "apply.sh").write_text('echo "apply $TENANT_ID $ARTIFACTS_PREFIX $EXPECTED_TFPLAN_SHA256"\n'
                                      '[ "$TENANT_ID" != tenant-002 ] || exit 3\n')
    env = {"ACTION": "apply", "TENANTS": "tenant-001 tenant-002 tenant-003", "ARTIFACTS_ROOT": "tenant/dev/run-1",
           "TFPLAN_SHA256S": f"tenant-003={A} tenant-001={B} tenant-002={A}", "TENANT_SCRIPTS": str(scripts)}
    r = run(commands(spec, "build")[0], tmp_path, **env)
    assert r.returncode == 3  # the first tenant that fails ends the build
    assert [line for line in r.stdout.splitlines() if line.startswith(("apply", "=="))] == [
        "== apply tenant-001", f"apply tenant-001 tenant/dev/run-1/tenant-001 {B}",
        "== apply tenant-002", f"apply tenant-002 tenant/dev/run-1/tenant-002 {A}"]
