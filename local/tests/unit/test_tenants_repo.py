"""The tenants repository fixture and the tenant build scripts' input checks, without the estate.

The fixture's history is reproducible and each commit changes what its label says; its Terraform is
`terraform fmt` and `terraform validate` clean at every commit; plan.sh and apply.sh refuse bad inputs
with a message naming the input, before they touch AWS.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bbws_local.settings import terraform_plugin_args
from tenants import fixture

ROOT = Path(__file__).resolve().parents[3]

SCRIPTS = ROOT / "infra" / "tenant-build"
needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    parent = tmp_path_factory.mktemp("tenants")
    return parent / fixture.REPO_NAME, fixture.create(parent)


def changed_files(repo: Path, sha: str) -> set[str]:
    return set(fixture.git(repo, "show", "--format=", "--name-only", sha).split())


def test_history_is_three_commits_with_fixed_authors_and_the_same_shas_anywhere(repo, tmp_path):
    path, shas = repo
    assert list(shas) == ["initial", "change", "destroy"]
    assert fixture.create(tmp_path) == shas  # another directory, another time: the same SHAs
    assert fixture.create(path.parent) == shas  # the existing repository is reused
    authors = fixture.git(path, "log", "--reverse", "--format=%an <%ae> %aI", "main").splitlines()
    assert authors == [f"{c.author[0]} <{c.author[1]}> {c.date}" for c in fixture.COMMITS]


def test_each_commit_changes_what_its_label_says(repo):
    path, shas = repo
    initial = changed_files(path, shas["initial"])
    assert {"modules/wordpress-tenant/main.tf", "tenants/tenant-001/main.tf", "tenants/tenant-002/main.tf",
            "tenants/tenant-001/env/dev.tfvars", "tenants/tenant-002/env/prod.tfvars"} <= initial
    assert changed_files(path, shas["change"]) == {f"tenants/tenant-001/env/{e}.tfvars" for e in ("dev", "sit", "prod")}
    assert changed_files(path, shas["destroy"]) == {"tenants/tenant-002/main.tf", "tenants/tenant-002/variables.tf"}
    removed = fixture.git(path, "show", "--format=", shas["destroy"], "--", "tenants/tenant-002/main.tf")
    assert '-resource "aws_ssm_parameter" "legacy_redirects"' in removed


def test_an_unrelated_directory_is_never_taken_for_the_repository(tmp_path):
    (tmp_path / fixture.REPO_NAME).mkdir()
    (tmp_path / fixture.REPO_NAME / "notes.txt").write_text("not a repository")
    with pytest.raises(fixture.FixtureError, match="is not this fixture's repository"):
        fixture.create(tmp_path)


def terraform(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    return subprocess.run(["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@needs_terraform
def test_the_fixtures_terraform_is_fmt_clean():
    r = terraform(ROOT / "local" / "tenants", "fmt", "-check", "-recursive", "-diff")
    assert r.returncode == 0, f"terraform fmt would change:\n{r.stdout}{r.stderr}"


def configuration_digest(root: Path) -> str:
    """What `terraform validate` reads of a tenant root: its own .tf files and the modules' (tfvars are
    not read: validate checks the configuration, not values)."""
    top = root.parents[1]
    digest = hashlib.sha256()
    for f in sorted([*root.glob("*.tf"), *(top / "modules").rglob("*.tf")]):
        digest.update(f"{f.relative_to(top)}\0".encode() + f.read_bytes() + b"\0")
    return digest.hexdigest()


@needs_terraform
def test_every_tenant_root_validates_at_every_commit(repo, tmp_path):
    """Each tenant root at each commit, each distinct configuration validated once (a commit that changes
    only tfvars gives its roots the configuration an earlier commit's validation already passed)."""
    path, shas = repo
    distinct: dict[str, tuple[str, str, Path]] = {}
    for label in fixture.LABELS:
        checkout = fixture.checkout(path, shas[label], tmp_path / label)
        for tenant in fixture.TENANTS:
            root = checkout / "tenants" / tenant
            distinct.setdefault(configuration_digest(root), (label, tenant, root))

    def validate(label: str, tenant: str, root: Path) -> str | None:
        init = terraform(root, "init", "-backend=false", "-no-color", *terraform_plugin_args())
        if init.returncode != 0:
            return f"{tenant} at {label}: init failed\n{init.stdout}{init.stderr}"
        r = terraform(root, "validate", "-no-color")
        return None if r.returncode == 0 else f"{tenant} at {label}:\n{r.stdout}{r.stderr}"

    # Each root in a directory of its own: the validations run side by side.
    with ThreadPoolExecutor(max_workers=len(distinct)) as pool:
        failures = [f for f in pool.map(lambda d: validate(*d), distinct.values()) if f]
    assert len(distinct) == 3 and not failures, "\n".join(failures)


def test_the_configuration_digest_is_what_validate_reads(repo, tmp_path):
    path, shas = repo
    at = {label: fixture.checkout(path, shas[label], tmp_path / label) for label in ("initial", "change", "destroy")}
    digest = {(label, t): configuration_digest(c / "tenants" / t) for label, c in at.items() for t in fixture.TENANTS}
    # "change" edits tfvars only; "destroy" edits tenant-002's .tf files.
    assert digest["initial", "tenant-001"] == digest["change", "tenant-001"] == digest["destroy", "tenant-001"]
    assert digest["initial", "tenant-002"] == digest["change", "tenant-002"] != digest["destroy", "tenant-002"]
    module = at["initial"] / "modules" / "wordpress-tenant" / "main.tf"
    module.write_text(module.read_text() + "\n# a module edit is a new configuration\n")
    assert configuration_digest(at["initial"] / "tenants" / "tenant-001") != digest["initial", "tenant-001"]


# plan.sh and apply.sh: inputs ----------------------------------------------------------------------


def run_script(name: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No credentials and an endpoint nobody answers on: an input check that let a call through would fail
    # with an AWS error instead of the message the test expects.
    base.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_REGION="af-south-1", AWS_ACCESS_KEY_ID="none",
                AWS_SECRET_ACCESS_KEY="none")
    return subprocess.run(["bash", str(SCRIPTS / name)], cwd=cwd, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def good_inputs(path: Path, sha: str) -> dict[str, str]:
    return {"TENANT_ID": "tenant-001", "ENV": "dev", "REPO_DIR": str(path), "COMMIT": sha,
            "STATE_BUCKET": "state", "STATE_LOCK_TABLE": "locks", "ARTIFACTS_BUCKET": "artifacts",
            "ARTIFACTS_PREFIX": "tenants/tenant-001/dev/run-1"}


@pytest.mark.parametrize("script", ["plan.sh", "apply.sh"])
@pytest.mark.parametrize("change, message", [
    ({"ENV": "qa"}, "ENV 'qa' must be one of dev, sit, prod"),
    ({"ENV": ""}, "ENV is required"),
    ({"TENANT_ID": "../tenant-001"}, "TENANT_ID '../tenant-001' must be a tenant directory name"),
    ({"TENANT_ID": "tenant--001"}, "TENANT_ID 'tenant--001' must be a tenant directory name"),
    ({"TENANT_ID": "001-tenant"}, "TENANT_ID '001-tenant' must be a tenant directory name"),
    ({"TENANT_ID": "tenant-999"}, "tenant 'tenant-999' has no directory tenants/tenant-999"),
    ({"COMMIT": "main"}, "COMMIT 'main' must be a full 40-character commit SHA"),
    ({"COMMIT": "0" * 40}, f"not at COMMIT {'0' * 40}"),
    ({"STATE_LOCK_TABLE": ""}, "STATE_LOCK_TABLE is required"),
    ({"ARTIFACTS_PREFIX": "/abs/"}, "ARTIFACTS_PREFIX '/abs/' must be an S3 key prefix"),
    ({"ARTIFACTS_PREFIX": "tenant/dev/../sit/run-1"}, "ARTIFACTS_PREFIX 'tenant/dev/../sit/run-1' must be an S3 key"),
])
def test_scripts_refuse_bad_inputs_naming_the_input(repo, tmp_path, script, change, message):
    path, shas = repo
    checkout = fixture.checkout(path, shas["initial"], tmp_path / "checkout")
    inputs = {**good_inputs(checkout, shas["initial"]), "EXPECTED_TFPLAN_SHA256": "a" * 64, **change}
    r = run_script(script, tmp_path, **inputs)
    assert r.returncode != 0
    assert f"{script}: " in r.stderr and message in r.stderr, r.stderr
    assert not (checkout / "tenants" / "tenant-001" / ".terraform").exists()  # refused before init


def test_plan_refuses_a_checkout_with_local_changes(repo, tmp_path):
    path, shas = repo
    checkout = fixture.checkout(path, shas["initial"], tmp_path / "checkout")
    (checkout / "tenants" / "tenant-001" / "env" / "dev.tfvars").write_text('env = "dev"\n')
    r = run_script("plan.sh", tmp_path, **good_inputs(checkout, shas["initial"]))
    assert r.returncode != 0 and "REPO_DIR has changes to tracked files" in r.stderr, r.stderr


@pytest.mark.parametrize("expected, message", [
    ("", "EXPECTED_TFPLAN_SHA256 is required"),
    ("ABC", "EXPECTED_TFPLAN_SHA256 'ABC' must be 64 lower-case hex digits"),
])
def test_apply_requires_the_approved_plans_sha256(repo, tmp_path, expected, message):
    path, shas = repo
    checkout = fixture.checkout(path, shas["initial"], tmp_path / "checkout")
    r = run_script("apply.sh", tmp_path, **good_inputs(checkout, shas["initial"]), EXPECTED_TFPLAN_SHA256=expected)
    assert r.returncode != 0 and message in r.stderr, r.stderr


# plan.sh's summary, with stand-ins for terraform and the AWS CLI ---------------------------------------

# A terraform that plans one create and one update: `plan -out=tfplan` writes the plan file, `show -json`
# prints its plan; every call is logged with its arguments.
FAKE_TERRAFORM = r"""#!/usr/bin/env bash
set -euo pipefail
echo "terraform $*" >>"$FAKE_LOG"
dir=.
for a in "$@"; do case "$a" in -chdir=*) dir="${a#-chdir=}" ;; esac; done
case " $* " in
  *" plan "*) printf 'saved plan' >"$dir/tfplan" ;;
  *" show "*) printf '%s' '{"terraform_version":"1.11.4","resource_changes":[
    {"address":"a","change":{"actions":["create"]}},{"address":"b","change":{"actions":["update"]}},
    {"address":"c","change":{"actions":["no-op"]}}]}' ;;
esac
"""
# An AWS CLI whose `s3 cp --recursive <dir> s3://<bucket>/<prefix>` copies the included files under $FAKE_S3.
FAKE_AWS = r"""#!/usr/bin/env bash
set -euo pipefail
echo "aws $*" >>"$FAKE_LOG"
args=("$@"); n=${#args[@]}
src="${args[$((n - 2))]}"; dest="${args[$((n - 1))]#s3://}"
mkdir -p "$FAKE_S3/$dest"
for f in tfplan plan.json plan-summary.json; do cp "$src/$f" "$FAKE_S3/$dest/$f"; done
"""


def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("terraform", FAKE_TERRAFORM), ("aws", FAKE_AWS)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log"),
            "FAKE_S3": str(tmp_path / "s3"), "BBWS_TF_PLUGIN_DIR": ""}


@pytest.mark.parametrize("label", ["initial", "change"])
def test_plan_summary_names_the_commit_its_author_and_subject(repo, tmp_path, label):
    path, shas = repo
    checkout = fixture.checkout(path, shas[label], tmp_path / "checkout")
    inputs = good_inputs(checkout, shas[label])
    r = run_script("plan.sh", tmp_path, **inputs, **stand_ins(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    published = tmp_path / "s3" / "artifacts" / inputs["ARTIFACTS_PREFIX"]
    summary = json.loads((published / "plan-summary.json").read_text())
    commit = next(c for c in fixture.COMMITS if c.label == label)
    assert summary == {
        "tenant_id": "tenant-001", "env": "dev", "commit": shas[label],
        "commit_author": f"{commit.author[0]} <{commit.author[1]}>",
        "commit_subject": commit.message.splitlines()[0],
        "tfplan_sha256": hashlib.sha256(b"saved plan").hexdigest(),
        "plan_json_sha256": hashlib.sha256((published / "plan.json").read_bytes()).hexdigest(),
        "terraform_version": "1.11.4",
        "changes": {"create": 1, "update": 1},
    }


def test_plan_init_writes_the_state_with_the_key_it_is_given(repo, tmp_path):
    path, shas = repo
    checkout = fixture.checkout(path, shas["initial"], tmp_path / "checkout")
    fakes = stand_ins(tmp_path)
    key = "arn:aws:kms:af-south-1:536580886816:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    r = run_script("plan.sh", tmp_path, **good_inputs(checkout, shas["initial"]), **fakes, STATE_KMS_KEY_ID=key)
    assert r.returncode == 0, r.stdout + r.stderr
    [init] = [line for line in Path(fakes["FAKE_LOG"]).read_text().splitlines() if " init " in line]
    assert "-backend-config=encrypt=true" in init and f"-backend-config=kms_key_id={key}" in init
    without = run_script("plan.sh", tmp_path, **good_inputs(checkout, shas["initial"]), **fakes)
    assert without.returncode == 0
    inits = [line for line in Path(fakes["FAKE_LOG"]).read_text().splitlines() if " init " in line]
    assert "kms_key_id" not in inits[-1]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_scripts_are_shellcheck_clean():
    r = subprocess.run(["shellcheck", "-x", "plan.sh", "apply.sh", "lib.sh"], cwd=SCRIPTS, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout
