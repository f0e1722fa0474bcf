"""Pure pieces of the estate's CodeBuild, Step Functions codebuild integration and ECS counts, no server."""
from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from bbws_local import codebuild, ecs, iam


def test_a_buildspec_is_read_with_its_phases_variables_and_finally():
    spec = codebuild.parse_buildspec("""version: 0.2
env:
  variables: {A: "1", B: 2}
  parameter-store: {P: /x/y}
phases:
  build:
    on-failure: CONTINUE
    commands: [echo a, 7]
    finally: [echo f]
""")
    assert spec.variables == {"A": "1", "B": "2"} and spec.parameter_store == {"P": "/x/y"}
    assert spec.phases["build"] == codebuild.Phase("build", ("echo a", "7"), ("echo f",), "CONTINUE")
    assert list(spec.phases) == ["build"]


@pytest.mark.parametrize("text, names", [
    ("phases: {}", "version"),
    ("version: 0.1\nphases: {}", "version"),
    ("version: 0.2\nphases: {compile: {commands: [x]}}", "phases: unknown phase 'compile'"),
    ("version: 0.2\nphases: {build: {commands: echo}}", "phases.build.commands"),
    ("version: 0.2\nphases: {build: {on-failure: RETRY}}", "phases.build.on-failure"),
    ("version: 0.2\nenv: {variables: [a]}", "env.variables"),
    ("version: 0.2\nphases: [", "not valid YAML"),
    ("version: 0.2\nenv: {secrets-manager: {A: s:k}}", "env.secrets-manager: not run by the local estate"),
    ("version: 0.2\nenv: {shell: sh}", "env.shell"),
])
def test_a_malformed_buildspec_is_refused_naming_the_field(text, names):
    with pytest.raises(codebuild.BuildspecError, match=names.replace("[", r"\[")):
        codebuild.parse_buildspec(text)


def test_inline_buildspecs_are_told_from_paths():
    assert codebuild.is_inline_buildspec("version: 0.2\nphases: {}")
    assert not codebuild.is_inline_buildspec("ci/buildspec.yml")


def test_the_override_wins_over_the_project_which_wins_over_the_buildspec():
    merged = codebuild.merge_variables(
        {"A": "spec", "B": "spec"},
        [{"name": "B", "value": "project", "type": "PLAINTEXT"}, {"name": "C", "value": "project", "type": "PLAINTEXT"}],
        [{"name": "C", "value": "/p", "type": "PARAMETER_STORE"}])
    assert merged == {"A": ("PLAINTEXT", "spec"), "B": ("PLAINTEXT", "project"), "C": ("PARAMETER_STORE", "/p")}


def test_variables_the_estate_cannot_run_are_refused_naming_the_entry():
    assert codebuild.check_variables("v", [{"name": "X", "value": 3}]) == [
        {"name": "X", "value": "3", "type": "PLAINTEXT"}]
    with pytest.raises(ValueError, match=r"v\[0\].type: 'SECRETS_MANAGER'"):
        codebuild.check_variables("v", [{"name": "X", "value": "s", "type": "SECRETS_MANAGER"}])
    with pytest.raises(ValueError, match=r"v\[1\].name"):
        codebuild.check_variables("v", [{"name": "X"}, {"value": "y"}])


def test_github_urls_name_owner_and_repository():
    assert codebuild.github_key("https://github.com/Owner/Repo.git") == "owner/repo"
    assert codebuild.github_key("https://github.com/owner/repo") == "owner/repo"
    assert codebuild.github_key("https://gitlab.com/owner/repo.git") is None


def test_codebuild_must_be_trusted_by_the_role():
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": ["codebuild.amazonaws.com"]},
                            "Action": "sts:AssumeRole"}]}
    assert codebuild.trusts_codebuild(trust)
    assert not codebuild.trusts_codebuild({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "states.amazonaws.com"}}]})
    denied = {"Statement": trust["Statement"] + [{**trust["Statement"][0], "Effect": "Deny"}]}
    assert not codebuild.trusts_codebuild(denied)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_a_checkout_resolves_commits_and_branches_and_names_what_is_missing(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "f").write_text("1")
    _git(repo, "add", "f")
    _git(repo, "commit", "-q", "-m", "one")
    head = _git(repo, "rev-parse", "HEAD")
    assert codebuild.checkout(str(repo), None, tmp_path / "a") == head
    assert codebuild.checkout(str(repo), "refs/heads/main", tmp_path / "b") == head
    assert codebuild.checkout(str(repo), head[:10], tmp_path / "c") == head
    with pytest.raises(codebuild.SourceError, match="reference not found for primary source and source version nope"):
        codebuild.checkout(str(repo), "nope", tmp_path / "d")


def test_the_shell_state_carries_exports_and_the_directory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shell = codebuild.ShellState(tmp_path / "shell", src, {"PATH": "/usr/bin:/bin"})
    for command in ("export X=1; mkdir d; cd d", "echo \"$X $(basename $PWD)\" > ../out"):
        subprocess.run(["bash", "-c", shell.script(command)], cwd=src, env=shell.env(), check=True)
    assert (src / "out").read_text() == "1 d\n"


def test_ecs_counts_start_after_a_moment_and_holds_keep_them_down():
    rollout = ecs.Rollout(since=100.0, running_before=0)
    assert ecs.service_counts(2, rollout, None, 101.5) == (0, 2, "IN_PROGRESS", 0)
    assert ecs.service_counts(2, rollout, None, 102.0) == (2, 0, "COMPLETED", 0)
    scaled = ecs.Rollout(since=200.0, running_before=2)
    assert ecs.service_counts(3, scaled, None, 200.1) == (2, 1, "IN_PROGRESS", 0)
    held = ecs.Hold(running=1, since=100.0)
    assert ecs.service_counts(2, rollout, held, 106.5) == (1, 1, "IN_PROGRESS", 3)
    assert ecs.service_counts(1, rollout, held, 106.5)[2] == "COMPLETED"  # a hold at or above desired holds nothing


def test_iam_names_codebuild_logs_and_ecs_resources_as_aws_does():
    caller = iam.Caller("111122223333", "arn:aws:iam::111122223333:role/r", "arn:aws:sts::111122223333:assumed-role/r/s")

    def checks(service: str, op: str, **params: object) -> list[tuple[str, str]]:
        call = iam.Call(service, op, "af-south-1", "111122223333", dict(params))
        return [(c.action, c.resource) for c in iam.checks_for(call, caller)]

    project = "arn:aws:codebuild:af-south-1:111122223333:project/p"
    assert checks("codebuild", "StartBuild", projectName="p") == [("codebuild:StartBuild", project)]
    assert checks("codebuild", "BatchGetBuilds", ids=["p:1", "arn:aws:codebuild:af-south-1:111122223333:build/p:2"]) \
        == [("codebuild:BatchGetBuilds", project)] * 2
    assert checks("codebuild", "StopBuild", id="p:1") == [("codebuild:StopBuild", project)]
    group = "arn:aws:logs:af-south-1:111122223333:log-group:/aws/codebuild/p"
    assert checks("logs", "PutLogEvents", logGroupName="/aws/codebuild/p", logStreamName="u") == [
        ("logs:PutLogEvents", f"{group}:log-stream:u")]
    assert checks("ecs", "DescribeServices", cluster="c", services=["s"]) == [
        ("ecs:DescribeServices", "arn:aws:ecs:af-south-1:111122223333:service/c/s")]
    assert checks("ssm", "GetParameters", Names=["/a"]) == [
        ("ssm:GetParameters", "arn:aws:ssm:af-south-1:111122223333:parameter/a")]
    assert checks("events", "PutRule", Name="StepFunctionsGetEventForCodeBuildStartBuildRule") == [
        ("events:PutRule", "arn:aws:events:af-south-1:111122223333:rule/StepFunctionsGetEventForCodeBuildStartBuildRule")]


def test_step_functions_output_is_pascal_cased_with_millisecond_times():
    from bbws_local.sfn_codebuild import sfn_cased, uses_codebuild_sync

    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert sfn_cased({"build": {"buildStatus": "SUCCEEDED", "phases": [{"phaseType": "BUILD", "startTime": when}]}}) \
        == {"Build": {"BuildStatus": "SUCCEEDED", "Phases": [{"PhaseType": "BUILD", "StartTime": 1767312000000}]}}
    sync = {"Type": "Task", "Resource": "arn:aws:states:::codebuild:startBuild.sync"}
    assert uses_codebuild_sync({"States": {"P": {"Type": "Parallel", "Branches": [{"States": {"B": sync}}]}}})
    assert not uses_codebuild_sync({"States": {"B": {**sync, "Resource": "arn:aws:states:::codebuild:startBuild"}}})


class _Logs:
    """CloudWatch Logs as the build writes to it, in memory."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def create_log_group(self, **_: object) -> None:
        pass

    def create_log_stream(self, **_: object) -> None:
        pass

    def put_log_events(self, logEvents: list[dict[str, object]], **_: object) -> None:
        self.lines += [str(e["message"]) for e in logEvents]


class _Builds:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.endpoint = "http://127.0.0.1:9"
        self.repositories = codebuild.Repositories(state_dir)
        self.logs = _Logs()

    def credentials(self, *_: object) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}

    def client(self, *_: object) -> _Logs:
        return self.logs


def _run(tmp_path: Path, buildspec: str, timeout_minutes: float | None = None) -> tuple[dict, list[str]]:
    builds = _Builds(tmp_path)
    project = {"name": "p", "source": {"type": "NO_SOURCE", "buildspec": buildspec}, "environment": {},
               "serviceRole": "arn:aws:iam::111122223333:role/r"}
    build = codebuild.Build(builds, "111122223333", "af-south-1", project,  # type: ignore[arg-type]
                            codebuild.StartRequest(None, None, [], None, "me"), 1)
    if timeout_minutes is not None:
        build.record["timeoutInMinutes"] = timeout_minutes
    build.run()
    return build.snapshot(), builds.logs.lines


def _statuses(record: dict) -> list[tuple[str, str | None]]:
    return [(p["phaseType"], p.get("phaseStatus")) for p in record["phases"]]


def test_a_build_that_runs_past_its_timeout_is_timed_out(tmp_path):
    record, lines = _run(tmp_path, "version: 0.2\nphases:\n  build:\n    commands: [sleep 5]\n", 0.01)
    assert record["buildStatus"] == "TIMED_OUT"
    assert ("BUILD", "TIMED_OUT") in _statuses(record) and ("POST_BUILD", "SUCCEEDED") not in _statuses(record)
    assert record["phases"][-1]["phaseType"] == "COMPLETED"


def test_on_failure_continue_goes_on_with_the_build_failed(tmp_path):
    record, lines = _run(tmp_path, "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n"
                                   "    commands: [\"false\"]\n  build:\n    commands: [echo built $CODEBUILD_BUILD_SUCCEEDING]\n")
    assert record["buildStatus"] == "FAILED"
    assert ("INSTALL", "FAILED") in _statuses(record) and ("BUILD", "SUCCEEDED") in _statuses(record)
    assert "built 0" in lines


def test_a_failed_install_goes_to_finalizing(tmp_path):
    record, _ = _run(tmp_path, "version: 0.2\nphases:\n  install:\n    commands: [\"false\"]\n"
                               "  build:\n    commands: [echo never]\n")
    assert _statuses(record)[-4:] == [("DOWNLOAD_SOURCE", "SUCCEEDED"), ("INSTALL", "FAILED"),
                                      ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None)]


def test_a_malformed_buildspec_fails_download_source_as_a_yaml_file_error(tmp_path):
    record, _ = _run(tmp_path, "version: 0.2\nphases:\n  compile:\n    commands: [x]\n")
    download = next(p for p in record["phases"] if p["phaseType"] == "DOWNLOAD_SOURCE")
    assert download["phaseStatus"] == "FAILED" and download["contexts"][0]["statusCode"] == "YAML_FILE_ERROR"
    assert record["buildStatus"] == "FAILED"
