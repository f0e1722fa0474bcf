"""The tenants repository `2_bbws_tenants_instances_dev` as a fixture: a real git repository, three commits.

RB-003 §3.2.4 and §4.3.4 promote per-tenant WordPress infrastructure from this repository
(`tenants/<tenant_id>/`) with Terraform. The fixture builds it from the files beside this module:

- `repo/` is the tree of the first commit, "initial": `modules/wordpress-tenant/` and the roots
  `tenants/tenant-001/` and `tenants/tenant-002/` (backend "s3" {} configured at init, `env/<env>.tfvars`).
- `changes/<label>.patch` is what each later commit changes in that tree (a diff, applied with `git apply`):
  "change"  tenant-001 runs more tasks and a larger PHP memory limit: its plans only update in place;
  "destroy" tenant-002 retires its legacy-redirects SSM parameter: its plans delete that resource.

Authors, committer and dates are fixed, so the same files give the same commit SHAs on any machine.

    python local/tenants/fixture.py DIR     # creates DIR/2_bbws_tenants_instances_dev, prints label and SHA
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
INITIAL_TREE = HERE / "repo"
CHANGES = HERE / "changes"
REPO_NAME = "2_bbws_tenants_instances_dev"
BRANCH = "main"
TENANTS = ("tenant-001", "tenant-002")
COMMITTER = ("BBWS Platform", "platform-team@bbws.io")


class FixtureError(RuntimeError):
    """The fixture repository cannot be created where it was asked for."""


@dataclass(frozen=True)
class Commit:
    label: str
    message: str
    author: tuple[str, str]
    date: str  # ISO 8601 with offset: author and committer date


COMMITS: tuple[Commit, ...] = (
    Commit("initial",
           "Add the wordpress-tenant module and tenants tenant-001 and tenant-002\n\n"
           "Each tenant is one Terraform root: an ECS service and task definition <tenant_id>-wordpress in\n"
           "bbws-cluster-<env>, its log group, its settings in SSM and its tasks' execution role.\n",
           ("Thandi Nkosi", "thandi.nkosi@bbws.io"), "2026-01-12T09:15:00+02:00"),
    Commit("change",
           "tenant-001: two tasks in dev and sit, three in prod; PHP memory limit 512M\n",
           ("Pieter van der Merwe", "pieter.vandermerwe@bbws.io"), "2026-01-19T14:40:00+02:00"),
    Commit("destroy",
           "tenant-002: retire the legacy redirects parameter\n\n"
           "The move from the old domains is complete; nothing reads the parameter any more.\n",
           ("Ayesha Patel", "ayesha.patel@bbws.io"), "2026-01-26T11:05:00+02:00"),
)
LABELS = tuple(c.label for c in COMMITS)


def _git_env(commit: Commit | None = None) -> dict[str, str]:
    """An environment in which git reads no user or system configuration (no hooks, signing, templates)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    if commit is not None:
        env.update(GIT_AUTHOR_NAME=commit.author[0], GIT_AUTHOR_EMAIL=commit.author[1],
                   GIT_AUTHOR_DATE=commit.date, GIT_COMMITTER_NAME=COMMITTER[0],
                   GIT_COMMITTER_EMAIL=COMMITTER[1], GIT_COMMITTER_DATE=commit.date)
    return env


def git(repo: Path, *args: str, commit: Commit | None = None) -> str:
    """Run git in `repo`; its stdout. FixtureError with git's message when it fails."""
    r = subprocess.run(["git", "-C", str(repo), *args], env=_git_env(commit), capture_output=True, text=True)
    if r.returncode != 0:
        raise FixtureError(f"git {' '.join(args)} in {repo} failed: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def _files(tree: Path) -> list[Path]:
    """The files of `tree`, relative, sorted; Terraform's working files are never part of it."""
    skip = {".terraform", "tfplan", "plan.json", "plan-summary.json", ".terraform.lock.hcl"}
    return sorted(p.relative_to(tree) for p in tree.rglob("*")
                  if p.is_file() and not skip.intersection(p.relative_to(tree).parts))


def _write_tree(tree: Path, repo: Path) -> None:
    for rel in _files(tree):
        dest = repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((tree / rel).read_bytes())
        dest.chmod(0o644)


def create(parent: Path) -> dict[str, str]:
    """Create `parent/2_bbws_tenants_instances_dev` with the three commits; their SHAs by label.

    A repository already there with the same history is reused; anything else there is an error.
    """
    repo = Path(parent) / REPO_NAME
    if repo.exists():
        if (repo / ".git").is_dir():
            try:
                found = shas(repo)
            except FixtureError:
                found = {}
            if found and list(found) == list(LABELS):
                return found
        raise FixtureError(f"{repo} exists and is not this fixture's repository: remove it or choose another "
                           "directory")
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--template=", f"--initial-branch={BRANCH}")
    for commit in COMMITS:
        if commit.label == "initial":
            _write_tree(INITIAL_TREE, repo)
        else:
            git(repo, "apply", "--whitespace=nowarn", str(CHANGES / f"{commit.label}.patch"))
        git(repo, "add", "--all")
        git(repo, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", commit.message,
            commit=commit)
    return shas(repo)


def shas(repo: Path) -> dict[str, str]:
    """The commit SHAs of the fixture's history in `repo`, by label (oldest first)."""
    lines = git(repo, "log", "--reverse", "--format=%H %s", BRANCH).splitlines()
    if len(lines) != len(COMMITS):
        raise FixtureError(f"{repo} has {len(lines)} commits on {BRANCH}, the fixture has {len(COMMITS)}")
    out: dict[str, str] = {}
    for line, commit in zip(lines, COMMITS):
        sha, subject = line.split(" ", 1)
        if subject != commit.message.splitlines()[0]:
            raise FixtureError(f"{repo}: commit {sha} is {subject!r}, the fixture's {commit.label} commit is "
                               f"{commit.message.splitlines()[0]!r}")
        out[commit.label] = sha
    return out


def checkout(repo: Path, sha: str, dest: Path) -> Path:
    """A fresh clone of `repo` at commit `sha` in `dest` (a build's source checkout, detached)."""
    if dest.exists():
        raise FixtureError(f"{dest} exists: a checkout needs a new directory")
    r = subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(repo), str(dest)], env=_git_env(),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise FixtureError(f"git clone {repo} failed: {r.stderr.strip()}")
    git(dest, "checkout", "--quiet", "--detach", sha)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        for label, sha in create(Path(argv[0])).items():
            print(f"{label:<8} {sha}")
    except FixtureError as e:
        print(f"fixture.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

