"""CodeBuild builds that run, Step Functions' codebuild:startBuild(.sync), and ECS services whose tasks start.

Every build runs as its project's service role: what the build's commands may do is what the role's
policies allow, decided by the estate's IAM layer as AWS decides it.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest

from conftest import ENDPOINT, STATES_TRUST, ensure_role, unique, wait_execution

REGION = "af-south-1"
CODEBUILD_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0",
               "computeType": "BUILD_GENERAL1_SMALL"}


def _local(path: str, doc: dict[str, Any] | None = None, method: str = "POST") -> dict[str, Any]:
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(f"{ENDPOINT}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _account(session: boto3.Session) -> str:
    return session.client("sts").get_caller_identity()["Account"]


def _logs_statement(account: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{REGION}:{account}:log-group:/aws/codebuild/*"]}


@pytest.fixture(scope="module")
def bucket(dev: boto3.Session) -> str:
    name = unique("bbws-cb")
    dev.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture(scope="module")
def build_role(dev: boto3.Session) -> Callable[..., str]:
    """build_role(*statements): a new CodeBuild service role that may write its logs, plus `statements`."""

    def _make(*statements: dict[str, Any], logs: bool = True) -> str:
        name = unique("cb-role")
        arn = ensure_role(dev, name, CODEBUILD_TRUST)
        granted = ([_logs_statement(_account(dev))] if logs else []) + list(statements)
        if granted:
            dev.client("iam").put_role_policy(RoleName=name, PolicyName="build", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": granted}))
        return arn

    return _make


@pytest.fixture(scope="module")
def project(dev: boto3.Session) -> Callable[..., str]:
    """project(role, buildspec=..., source=..., variables=...): a new project's name."""

    def _make(role: str, buildspec: str | None = None, source: dict[str, Any] | None = None,
              variables: list[dict[str, str]] | None = None) -> str:
        name = unique("cb")
        src = source or {"type": "NO_SOURCE", "buildspec": buildspec}
        if source is not None and buildspec is not None:
            src = {**source, "buildspec": buildspec}
        dev.client("codebuild").create_project(
            name=name, source=src, artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role,
            environment={**ENVIRONMENT, "environmentVariables": variables or []})
        return name

    return _make


def spec(build: list[str], **phases: list[str]) -> str:
    """A buildspec with these commands (phases given by keyword: install=[...], post_build=[...])."""
    lines = ["version: 0.2", "phases:"]
    for key, commands in (("install", phases.get("install")), ("pre_build", phases.get("pre_build")),
                          ("build", build), ("post_build", phases.get("post_build"))):
        if commands:
            lines += [f"  {key}:", "    commands:"] + [f"      - {json.dumps(c)}" for c in commands]
    return "\n".join(lines) + "\n"


def wait_build(session: boto3.Session, build_id: str, timeout: float = 90.0) -> dict[str, Any]:
    cb = session.client("codebuild")
    deadline = time.time() + timeout
    while time.time() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if build["buildComplete"]:
            return build
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} did not complete in {timeout} s")


def log_text(session: boto3.Session, build: dict[str, Any]) -> str:
    logs = session.client("logs")
    events = logs.get_log_events(logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"],
                                 startFromHead=True)["events"]
    return "\n".join(e["message"] for e in events)


def phase(build: dict[str, Any], phase_type: str) -> dict[str, Any]:
    return next(p for p in build["phases"] if p["phaseType"] == phase_type)


def phase_types(build: dict[str, Any]) -> list[str]:
    return [p["phaseType"] for p in build["phases"]]


# ---------------------------------------------------------------------------------------------------
# Builds
# ---------------------------------------------------------------------------------------------------


def test_a_build_runs_its_buildspec_as_the_service_role(dev, bucket, build_role, project):
    account = _account(dev)
    role = build_role({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/out/*"})
    name = project(role, spec([
        "echo \"built by $CODEBUILD_BUILD_ID in $AWS_REGION\"",
        "python3 -c \"import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])\"",
        f"aws s3 cp \"$CODEBUILD_SRC_DIR/../aws-config\" s3://{bucket}/out/cli.txt --only-show-errors",
        f"python3 -c \"import boto3; boto3.client('s3').put_object(Bucket='{bucket}', Key='out/sdk.txt', Body=b'ok')\"",
        "terraform version && git --version",
    ]))
    started = dev.client("codebuild").start_build(projectName=name)["build"]
    assert started["buildStatus"] == "IN_PROGRESS" and not started["buildComplete"]
    assert started["arn"] == f"arn:aws:codebuild:{REGION}:{account}:build/{started['id']}"
    build = wait_build(dev, started["id"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert build["currentPhase"] == "COMPLETED"
    assert phase_types(build) == ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD",
                                  "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"]
    assert all(p["phaseStatus"] == "SUCCEEDED" for p in build["phases"][:-1])
    assert "phaseStatus" not in build["phases"][-1]
    uuid = build["id"].split(":", 1)[1]
    assert build["logs"]["groupName"] == f"/aws/codebuild/{name}" and build["logs"]["streamName"] == uuid
    assert f"group=/aws/codebuild/{name};stream={uuid}" in build["logs"]["deepLink"]
    text = log_text(dev, build)
    assert f"built by {build['id']} in {REGION}" in text
    role_name = role.rsplit("/", 1)[-1]
    assert f"arn:aws:sts::{account}:assumed-role/{role_name}/AWSCodeBuild-{uuid}" in text
    assert "Phase complete: BUILD State: SUCCEEDED" in text
    assert "Terraform v" in text and "git version" in text
    s3 = dev.client("s3")
    assert s3.get_object(Bucket=bucket, Key="out/sdk.txt")["Body"].read() == b"ok"
    s3.head_object(Bucket=bucket, Key="out/cli.txt")


def test_a_role_without_the_permission_gets_access_denied_and_a_failed_build(dev, bucket, build_role, project,
                                                                              expect_denials):
    role = build_role()  # logs only
    name = project(role, spec([f"aws s3 cp /etc/hostname s3://{bucket}/denied.txt"]))
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    failed = phase(build, "BUILD")
    assert failed["phaseStatus"] == "FAILED"
    assert failed["contexts"] == [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": (
        f"Error while executing command: aws s3 cp /etc/hostname s3://{bucket}/denied.txt. Reason: exit status 1")}]
    text = log_text(dev, build)
    assert "AccessDenied" in text and "s3:PutObject" in text
    assert expect_denials(1)


def test_a_role_that_may_not_write_its_logs_fails_the_build_while_queued(dev, build_role, project,
                                                                         expect_denials):
    name = project(build_role(logs=False), spec(["echo never"]))
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    queued = phase(build, "QUEUED")
    assert queued["phaseStatus"] == "FAILED"
    context = queued["contexts"][0]
    assert context["statusCode"] == "ACCESS_DENIED"
    uuid = build["id"].split(":", 1)[1]
    assert context["message"].startswith(
        f"Service role {build['serviceRole']} does not allow AWS CodeBuild to create Amazon CloudWatch Logs log "
        f"streams for build {build['arn']}. Error message: User: ")
    assert (f"is not authorized to perform: logs:CreateLogStream on resource: arn:aws:logs:{REGION}:"
            f"{_account(dev)}:log-group:/aws/codebuild/{name}:log-stream:{uuid}") in context["message"]
    assert phase_types(build) == ["SUBMITTED", "QUEUED", "COMPLETED"]
    assert expect_denials(at_least=1)


def test_builds_of_a_project_are_listed_newest_first_unless_asked_otherwise(dev, build_role, project):
    name = project(build_role(), spec(["true"]))
    cb = dev.client("codebuild")
    first = cb.start_build(projectName=name)["build"]["id"]
    second = cb.start_build(projectName=name)["build"]["id"]
    assert cb.list_builds_for_project(projectName=name)["ids"] == [second, first], "AWS's default: DESCENDING"
    assert cb.list_builds_for_project(projectName=name, sortOrder="DESCENDING")["ids"] == [second, first]
    assert cb.list_builds_for_project(projectName=name, sortOrder="ASCENDING")["ids"] == [first, second]
    for build_id in (first, second):
        wait_build(dev, build_id, timeout=30)


def test_a_failed_build_phase_still_runs_post_build_and_finally(dev, build_role, project):
    buildspec = """version: 0.2
phases:
  build:
    commands:
      - echo first
      - exit 3
      - echo never-runs
    finally:
      - echo finally-runs
  post_build:
    commands:
      - echo "post_build succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"""
    name = project(build_role(), buildspec)
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert phase(build, "BUILD")["phaseStatus"] == "FAILED"
    assert phase(build, "BUILD")["contexts"][0]["message"] == "Error while executing command: exit 3. Reason: exit status 3"
    assert phase(build, "POST_BUILD")["phaseStatus"] == "SUCCEEDED"
    assert phase_types(build)[-3:] == ["UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"]
    text = log_text(dev, build)
    assert "first" in text and "finally-runs" in text and "post_build succeeding=0" in text
    assert "\nnever-runs" not in text


def test_a_failed_pre_build_ends_the_build(dev, build_role, project):
    name = project(build_role(), spec(["echo never"], pre_build=["false"], post_build=["echo never-post"]))
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert phase(build, "PRE_BUILD")["phaseStatus"] == "FAILED"
    assert phase_types(build)[-3:] == ["PRE_BUILD", "FINALIZING", "COMPLETED"]
    assert "never" not in log_text(dev, build).replace("Running command echo never", "")


def test_commands_share_one_shell_and_run_in_the_source_directory(dev, build_role, project):
    name = project(build_role(), spec(["test \"$PWD\" = \"$CODEBUILD_SRC_DIR\" && echo in-src",
                                       "export CARRIED=yes; mkdir -p sub && cd sub",
                                       "echo \"carried=$CARRIED dir=$(basename $PWD)\""]))
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    text = log_text(dev, build)
    assert "in-src" in text and "carried=yes dir=sub" in text


def test_environment_variables_override_the_project_which_overrides_the_buildspec(dev, build_role, project):
    account = _account(dev)
    parameter = f"/bbws-test/{unique('cb')}"
    dev.client("ssm").put_parameter(Name=parameter, Value="from-ssm", Type="String")
    role = build_role({"Effect": "Allow", "Action": "ssm:GetParameters",
                       "Resource": f"arn:aws:ssm:{REGION}:{account}:parameter{parameter}"})
    buildspec = """version: 0.2
env:
  variables:
    A: buildspec
    B: buildspec
phases:
  build:
    commands:
      - echo "A=$A B=$B C=$C D=$D by $CODEBUILD_INITIATOR"
"""
    name = project(role, buildspec, variables=[{"name": "B", "value": "project", "type": "PLAINTEXT"},
                                               {"name": "C", "value": "project", "type": "PLAINTEXT"}])
    build = dev.client("codebuild").start_build(projectName=name, environmentVariablesOverride=[
        {"name": "C", "value": "override", "type": "PLAINTEXT"},
        {"name": "D", "value": parameter, "type": "PARAMETER_STORE"}])["build"]
    build = wait_build(dev, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert "A=buildspec B=project C=override D=from-ssm by bbws-local-admin" in log_text(dev, build)
    names = [v["name"] for v in build["environment"]["environmentVariables"]]
    assert names == ["B", "C", "D"]  # the project's, with the override in place of its C


def test_a_parameter_the_role_may_not_read_fails_the_build(dev, build_role, project, expect_denials):
    parameter = f"/bbws-test/{unique('cb')}"
    dev.client("ssm").put_parameter(Name=parameter, Value="secret", Type="String")
    name = project(build_role(), spec(["echo never"]))
    build = dev.client("codebuild").start_build(projectName=name, environmentVariablesOverride=[
        {"name": "D", "value": parameter, "type": "PARAMETER_STORE"}])["build"]
    build = wait_build(dev, build["id"])
    assert build["buildStatus"] == "FAILED"
    download = phase(build, "DOWNLOAD_SOURCE")
    assert download["phaseStatus"] == "FAILED"
    assert download["contexts"][0]["statusCode"] == "Decrypted Variables Error"
    assert download["contexts"][0]["message"].startswith("AccessDeniedException: User: ")
    assert "ssm:GetParameters" in download["contexts"][0]["message"]
    assert expect_denials(1)


def test_update_project_changes_what_the_next_build_runs(dev, build_role, project):
    cb = dev.client("codebuild")
    name = project(build_role(), spec(["echo \"tenant=$TENANT\""]),
                   variables=[{"name": "TENANT", "value": "before", "type": "PLAINTEXT"}])
    updated = cb.update_project(name=name, environment={
        **ENVIRONMENT, "environmentVariables": [{"name": "TENANT", "value": "after", "type": "PLAINTEXT"}]})
    assert updated["project"]["environment"]["environmentVariables"][0]["value"] == "after"
    build = wait_build(dev, cb.start_build(projectName=name)["build"]["id"])
    assert "tenant=after" in log_text(dev, build)
    with pytest.raises(cb.exceptions.ResourceNotFoundException):
        cb.update_project(name=unique("missing"), description="x")


def _as_role(session: boto3.Session, statements: list[dict[str, Any]]) -> boto3.Session:
    """A session of a new role of the account with these statements (a deployer, a verifier)."""
    account = _account(session)
    name = unique("caller")
    ensure_role(session, name, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]})
    session.client("iam").put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    creds = session.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}",
                                              RoleSessionName="caller")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def test_a_role_session_needs_pass_role_to_run_a_build_as_another_role(dev, build_role, project, expect_denials):
    name = project(build_role(), spec(["true"]))
    other = build_role()
    account = _account(dev)
    start = {"Effect": "Allow", "Action": "codebuild:StartBuild",
             "Resource": f"arn:aws:codebuild:{REGION}:{account}:project/{name}"}
    without = _as_role(dev, [start]).client("codebuild", endpoint_url=ENDPOINT)
    without.start_build(projectName=name)  # its own role: no iam:PassRole
    with pytest.raises(without.exceptions.ClientError, match="iam:PassRole"):
        without.start_build(projectName=name, serviceRoleOverride=other)
    passing = _as_role(dev, [start, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": other,
                                     "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}}}])
    assert passing.client("codebuild", endpoint_url=ENDPOINT).start_build(
        projectName=name, serviceRoleOverride=other)["build"]["serviceRole"] == other
    assert expect_denials(1)


def test_start_build_refuses_what_codebuild_refuses(dev, build_role, project):
    cb = dev.client("codebuild")
    name = project(build_role(), spec(["true"]))
    with pytest.raises(cb.exceptions.InvalidInputException, match="environmentVariablesOverride\\[0\\].type"):
        cb.start_build(projectName=name, environmentVariablesOverride=[{"name": "X", "value": "y", "type": "NOPE"}])
    with pytest.raises(cb.exceptions.InvalidInputException, match="secondarySourcesOverride"):
        cb.start_build(projectName=name, secondarySourcesOverride=[{"type": "NO_SOURCE", "sourceIdentifier": "s"}])
    with pytest.raises(cb.exceptions.ResourceNotFoundException, match="Project cannot be found"):
        cb.start_build(projectName=unique("missing"))
    untrusting = ensure_role(dev, unique("not-codebuild"), STATES_TRUST)
    other = project(untrusting, spec(["true"]))
    with pytest.raises(cb.exceptions.InvalidInputException, match="not authorized to perform: sts:AssumeRole"):
        cb.start_build(projectName=other)


def test_a_trust_bound_to_one_project_lets_codebuild_assume_the_role_for_that_project_only(dev, project):
    """CodeBuild's confused-deputy conditions: aws:SourceAccount and aws:SourceArn are the project's."""
    account = _account(dev)
    mine, other = unique("cb-mine"), unique("cb-other")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account},
                      "ArnEquals": {"aws:SourceArn": f"arn:aws:codebuild:{REGION}:{account}:project/{mine}"}}}]}
    role_name = unique("cb-bound")
    role = ensure_role(dev, role_name, trust)
    dev.client("iam").put_role_policy(RoleName=role_name, PolicyName="build", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [_logs_statement(account)]}))
    cb = dev.client("codebuild")
    for name in (mine, other):
        cb.create_project(name=name, source={"type": "NO_SOURCE", "buildspec": spec(["true"])},
                          artifacts={"type": "NO_ARTIFACTS"}, serviceRole=role, environment=ENVIRONMENT)
    assert wait_build(dev, cb.start_build(projectName=mine)["build"]["id"])["buildStatus"] == "SUCCEEDED"
    with pytest.raises(cb.exceptions.InvalidInputException, match=f"not authorized to perform: sts:AssumeRole on {role}"):
        cb.start_build(projectName=other)


def test_output_with_empty_lines_reaches_the_log_whole(dev, build_role, project):
    """CloudWatch Logs takes no empty event: an empty line is left out, the lines around it are kept."""
    name = project(build_role(), spec(["printf 'first\\n\\n\\nsecond\\n'", "echo third"]))
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED"
    lines = log_text(dev, build).splitlines()
    assert [line for line in lines if line in ("first", "second", "third")] == ["first", "second", "third"]
    assert "" not in lines


def test_a_project_keeps_the_key_it_was_created_with(dev, build_role):
    cb = dev.client("codebuild")
    key = dev.client("kms").create_key(Description="codebuild test")["KeyMetadata"]["Arn"]
    name = unique("cb-key")
    created = cb.create_project(name=name, source={"type": "NO_SOURCE", "buildspec": spec(["true"])},
                                artifacts={"type": "NO_ARTIFACTS"}, serviceRole=build_role(),
                                environment=ENVIRONMENT, encryptionKey=key)["project"]
    assert created["encryptionKey"] == key
    assert cb.batch_get_projects(names=[name])["projects"][0]["encryptionKey"] == key


def test_stop_build_stops_the_process(dev, build_role, project, tmp_path):
    marker = tmp_path / "after-sleep"
    name = project(build_role(), spec(["echo started", f"sleep 20 && touch {marker}"]))
    cb = dev.client("codebuild")
    build_id = cb.start_build(projectName=name)["build"]["id"]
    deadline = time.time() + 20
    while "Running command sleep" not in (log_text(dev, {"logs": {"groupName": f"/aws/codebuild/{name}",
                                                                   "streamName": build_id.split(":")[1]}})
                                          if _stream_exists(dev, name, build_id) else ""):
        assert time.time() < deadline
        time.sleep(0.2)
    running = cb.batch_get_builds(ids=[build_id])["builds"][0]
    assert (running["buildStatus"], running["currentPhase"], running["buildComplete"]) == ("IN_PROGRESS", "BUILD", False)
    stopped = cb.stop_build(id=build_id)["build"]
    assert stopped["buildStatus"] == "STOPPED" and stopped["buildComplete"]
    assert phase(stopped, "BUILD")["phaseStatus"] == "STOPPED"
    assert not marker.exists()


def _stream_exists(session: boto3.Session, project_name: str, build_id: str) -> bool:
    logs = session.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName=f"/aws/codebuild/{project_name}")
    except logs.exceptions.ResourceNotFoundException:
        return False  # the build has not opened its log yet
    return any(s["logStreamName"] == build_id.split(":")[1] for s in streams["logStreams"])


# ---------------------------------------------------------------------------------------------------
# GitHub sources served from local repositories
# ---------------------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                           env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(repo),
                                "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout.strip()


@pytest.fixture(scope="module")
def github_repo(tmp_path_factory) -> dict[str, str]:
    """A local repository served as https://github.com/bbws-test/<name>.git, with two commits."""
    repo = tmp_path_factory.mktemp("repo")
    _git(repo, "init", "-q", "-b", "main")
    (repo / "buildspec.yml").write_text(spec(["echo \"version=$(cat version.txt) at $CODEBUILD_RESOLVED_SOURCE_VERSION\""]))
    (repo / "version.txt").write_text("one\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "version.txt").write_text("two\n")
    _git(repo, "commit", "-q", "-am", "two")
    url = f"https://github.com/bbws-test/{unique('repo')}.git"
    _local("/_local/codebuild/repositories", {"url": url, "path": str(repo)})
    return {"url": url, "first": first, "head": _git(repo, "rev-parse", "HEAD")}


def test_a_github_source_is_cloned_at_the_requested_commit(dev, build_role, project, github_repo):
    name = project(build_role(), source={"type": "GITHUB", "location": github_repo["url"]})
    cb = dev.client("codebuild")
    at_first = wait_build(dev, cb.start_build(projectName=name, sourceVersion=github_repo["first"])["build"]["id"])
    assert at_first["buildStatus"] == "SUCCEEDED", at_first["phases"]
    assert at_first["resolvedSourceVersion"] == github_repo["first"]
    assert f"version=one at {github_repo['first']}" in log_text(dev, at_first)
    at_branch = wait_build(dev, cb.start_build(projectName=name, sourceVersion="refs/heads/main")["build"]["id"])
    assert at_branch["resolvedSourceVersion"] == github_repo["head"]
    assert "version=two" in log_text(dev, at_branch)


def test_the_source_and_role_overrides_of_start_build_are_what_runs(dev, bucket, build_role, project, github_repo):
    name = project(build_role(), spec(["echo no-source"]))
    writer = build_role({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/override/*"})
    build = dev.client("codebuild").start_build(
        projectName=name, sourceTypeOverride="GITHUB", sourceLocationOverride=github_repo["url"],
        serviceRoleOverride=writer.rsplit("/", 1)[-1],
        buildspecOverride=spec(["cat version.txt", f"aws s3 cp version.txt s3://{bucket}/override/v.txt"]))["build"]
    build = wait_build(dev, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert build["serviceRole"] == writer and build["source"]["location"] == github_repo["url"]
    assert dev.client("s3").get_object(Bucket=bucket, Key="override/v.txt")["Body"].read() == b"two\n"


def test_a_commit_that_does_not_exist_fails_download_source(dev, build_role, project, github_repo):
    name = project(build_role(), source={"type": "GITHUB", "location": github_repo["url"]})
    missing = "0" * 40
    build = wait_build(dev, dev.client("codebuild").start_build(projectName=name, sourceVersion=missing)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    download = phase(build, "DOWNLOAD_SOURCE")
    assert download["phaseStatus"] == "FAILED"
    assert download["contexts"] == [{"statusCode": "CLIENT_ERROR", "message":
                                     f"reference not found for primary source and source version {missing}"}]
    assert phase_types(build)[-2:] == ["FINALIZING", "COMPLETED"]


def test_the_repositories_route_refuses_what_is_not_a_github_url_or_a_repository(tmp_path):
    with pytest.raises(urllib.error.HTTPError) as bad_url:
        _local("/_local/codebuild/repositories", {"url": "https://example.com/x.git", "path": str(tmp_path)})
    assert bad_url.value.code == 400 and b"url" in bad_url.value.read()
    with pytest.raises(urllib.error.HTTPError) as not_repo:
        _local("/_local/codebuild/repositories", {"url": "https://github.com/o/r.git", "path": str(tmp_path)})
    assert not_repo.value.code == 400 and b"not a git repository" in not_repo.value.read()


# ---------------------------------------------------------------------------------------------------
# Step Functions: codebuild:startBuild.sync
# ---------------------------------------------------------------------------------------------------


def _sfn_role(session: boto3.Session, codebuild: bool = True, events: bool = True) -> str:
    name = unique("sfn-cb")
    arn = ensure_role(session, name, STATES_TRUST)
    account = _account(session)
    statements = []
    if codebuild:
        statements.append({"Effect": "Allow", "Action": ["codebuild:StartBuild", "codebuild:StopBuild",
                                                         "codebuild:BatchGetBuilds"],
                           "Resource": f"arn:aws:codebuild:{REGION}:{account}:project/*"})
    if events:
        statements.append({"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                           "Resource": f"arn:aws:events:{REGION}:{account}:rule/"
                                       "StepFunctionsGetEventForCodeBuildStartBuildRule"})
    if statements:
        session.client("iam").put_role_policy(RoleName=name, PolicyName="codebuild", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return arn


def _machine(project_name: str, resource: str = "arn:aws:states:::codebuild:startBuild.sync",
             **task: Any) -> str:
    return json.dumps({"StartAt": "Build", "States": {"Build": {
        "Type": "Task", "Resource": resource, "End": True,
        "Parameters": {"ProjectName": project_name, "EnvironmentVariablesOverride": [
            {"Name": "GREETING", "Type": "PLAINTEXT", "Value.$": "$.greeting"}]}, **task}}})


def test_start_build_sync_waits_for_the_build_and_outputs_it(dev, build_role, project):
    name = project(build_role(), spec(["echo \"greeting=$GREETING\""]))
    sfn = dev.client("stepfunctions")
    arn = sfn.create_state_machine(name=unique("cb-sync"), definition=_machine(name), roleArn=_sfn_role(dev))[
        "stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"greeting": "hello"}))["executionArn"]
    done = wait_execution(dev, execution, timeout=90)
    assert done["status"] == "SUCCEEDED", done
    build = json.loads(done["output"])["Build"]
    assert build["BuildStatus"] == "SUCCEEDED" and build["BuildComplete"] is True
    assert build["ProjectName"] == name and build["CurrentPhase"] == "COMPLETED"
    assert isinstance(build["StartTime"], int) and build["Logs"]["GroupName"] == f"/aws/codebuild/{name}"
    got = dev.client("codebuild").batch_get_builds(ids=[build["Id"]])["builds"][0]
    assert "greeting=hello" in log_text(dev, got)


@pytest.mark.parametrize("resource", ["arn:aws:states:::codebuild:startBuild.waitForTaskToken",
                                      "arn:aws:states:::codebuild:stopBuild.sync"])
def test_a_pattern_codebuild_does_not_support_is_refused(dev, resource):
    sfn = dev.client("stepfunctions")
    with pytest.raises(sfn.exceptions.InvalidDefinition, match="not recognized"):
        sfn.create_state_machine(name=unique("cb-pattern"), definition=_machine("p", resource),
                                 roleArn=_sfn_role(dev))


def test_start_build_without_sync_returns_at_once(dev, build_role, project):
    name = project(build_role(), spec(["sleep 2"]))
    sfn = dev.client("stepfunctions")
    arn = sfn.create_state_machine(name=unique("cb-start"), roleArn=_sfn_role(dev, events=False),
                                   definition=_machine(name, "arn:aws:states:::codebuild:startBuild"))["stateMachineArn"]
    done = wait_execution(dev, sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["Build"]["BuildStatus"] == "IN_PROGRESS"


def test_a_failed_build_fails_the_task_with_states_task_failed(dev, build_role, project):
    name = project(build_role(), spec(["exit 1"]))
    sfn = dev.client("stepfunctions")
    arn = sfn.create_state_machine(name=unique("cb-fail"), definition=_machine(name), roleArn=_sfn_role(dev))[
        "stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"]
    done = wait_execution(dev, execution, timeout=90)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.TaskFailed"
    cause = json.loads(done["cause"])
    assert cause["Build"]["BuildStatus"] == "FAILED" and cause["Build"]["ProjectName"] == name
    failed = [e for e in sfn.get_execution_history(executionArn=execution)["events"] if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["resourceType"] == "codebuild"
    assert failed[0]["taskFailedEventDetails"]["resource"] == "startBuild.sync"


def test_a_sync_machine_whose_role_may_not_create_the_managed_rule_is_refused(dev, build_role, project):
    name = project(build_role(), spec(["true"]))
    sfn = dev.client("stepfunctions")
    role = _sfn_role(dev, events=False)
    with pytest.raises(sfn.exceptions.ClientError) as refused:
        sfn.create_state_machine(name=unique("cb-norule"), definition=_machine(name), roleArn=role)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["Error"]["Message"] == f"'{role}' is not authorized to create managed-rule."
    # Request Response needs no rule; changing it to .sync does.
    arn = sfn.create_state_machine(name=unique("cb-rr"), roleArn=role,
                                   definition=_machine(name, "arn:aws:states:::codebuild:startBuild"))["stateMachineArn"]
    with pytest.raises(sfn.exceptions.ClientError, match="not authorized to create managed-rule"):
        sfn.update_state_machine(stateMachineArn=arn, definition=_machine(name))
    sfn.update_state_machine(stateMachineArn=arn, definition=_machine(name), roleArn=_sfn_role(dev))


def test_a_role_without_codebuild_permissions_fails_the_task(dev, build_role, project, expect_denials):
    name = project(build_role(), spec(["true"]))
    sfn = dev.client("stepfunctions")
    arn = sfn.create_state_machine(name=unique("cb-nocb"), definition=_machine(name),
                                   roleArn=_sfn_role(dev, codebuild=False))["stateMachineArn"]
    done = wait_execution(dev, sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"])
    assert done["status"] == "FAILED"
    assert done["error"] == "CodeBuild.AccessDeniedException"
    assert "codebuild:StartBuild" in done["cause"] and "Service: AWSCodeBuild" in done["cause"]
    assert expect_denials(1)


def test_a_refused_start_build_fails_the_task_with_the_codebuild_error_name(dev, build_role, project):
    name = project(build_role(), spec(["true"]))
    sfn = dev.client("stepfunctions")
    arn = sfn.create_state_machine(name=unique("cb-fault"), definition=_machine(name), roleArn=_sfn_role(dev))[
        "stateMachineArn"]
    armed = _local("/_local/faults", {"service": "codebuild", "account": _account(dev), "region": REGION,
                                      "operation": "StartBuild", "target": name, "times": 1, "status": 400,
                                      "code": "AccountLimitExceededException", "message": "Cannot have more than 1 builds"})
    try:
        done = wait_execution(dev, sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"])
    finally:
        _local(f"/_local/faults?id={armed['armed']['id']}", method="DELETE")
    assert done["status"] == "FAILED" and done["error"] == "CodeBuild.AccountLimitExceededException"
    assert done["cause"].startswith("Cannot have more than 1 builds (Service: AWSCodeBuild; Status Code: 400; ")


def test_stopping_the_execution_stops_the_build(dev, build_role, project):
    name = project(build_role(), spec(["sleep 30"]))
    sfn, cb = dev.client("stepfunctions"), dev.client("codebuild")
    arn = sfn.create_state_machine(name=unique("cb-stop"), definition=_machine(name), roleArn=_sfn_role(dev))[
        "stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"]
    deadline = time.time() + 20
    while not cb.list_builds_for_project(projectName=name)["ids"]:
        assert time.time() < deadline
        time.sleep(0.2)
    build_id = cb.list_builds_for_project(projectName=name)["ids"][0]
    time.sleep(1.0)
    sfn.stop_execution(executionArn=execution, error="Test.Stop", cause="stopping")
    deadline = time.time() + 20
    build = cb.batch_get_builds(ids=[build_id])["builds"][0]
    while not build["buildComplete"]:
        assert time.time() < deadline, "the build still runs after its execution was stopped"
        time.sleep(0.2)
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
    assert build["buildStatus"] == "STOPPED"
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_the_task_timeout_stops_the_build(dev, build_role, project):
    name = project(build_role(), spec(["sleep 30"]))
    sfn, cb = dev.client("stepfunctions"), dev.client("codebuild")
    arn = sfn.create_state_machine(name=unique("cb-timeout"), definition=_machine(name, TimeoutSeconds=2),
                                   roleArn=_sfn_role(dev))["stateMachineArn"]
    done = wait_execution(dev, sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "States.Timeout"
    build_id = cb.list_builds_for_project(projectName=name)["ids"][0]
    assert wait_build(dev, build_id, timeout=15)["buildStatus"] == "STOPPED"


def test_a_heartbeat_the_build_cannot_send_times_the_task_out_and_stops_the_build(dev, build_role, project):
    name = project(build_role(), spec(["sleep 30"]))
    sfn, cb = dev.client("stepfunctions"), dev.client("codebuild")
    arn = sfn.create_state_machine(name=unique("cb-heartbeat"), roleArn=_sfn_role(dev),
                                   definition=_machine(name, HeartbeatSeconds=1, TimeoutSeconds=60))["stateMachineArn"]
    done = wait_execution(dev, sfn.start_execution(stateMachineArn=arn, input='{"greeting": "x"}')["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "States.HeartbeatTimeout"
    build_id = cb.list_builds_for_project(projectName=name)["ids"][0]
    assert wait_build(dev, build_id, timeout=15)["buildStatus"] == "STOPPED"


# ---------------------------------------------------------------------------------------------------
# ECS services
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecs_service(dev: boto3.Session) -> Callable[[int], tuple[str, str]]:
    """ecs_service(desired): (cluster, service) of a new service in a new cluster."""
    ecs = dev.client("ecs")

    def _make(desired: int) -> tuple[str, str]:
        cluster = ecs.create_cluster(clusterName=unique("cluster"))["cluster"]["clusterName"]
        family = unique("task")
        ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest", "memory": 128}])
        service = unique("svc")
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=family, desiredCount=desired)
        return cluster, service

    return _make


def _describe(session: boto3.Session, cluster: str, service: str) -> dict[str, Any]:
    return session.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]


def test_an_ecs_service_reaches_its_desired_count_and_completes_its_deployment(dev, ecs_service):
    cluster, service = ecs_service(2)
    first = _describe(dev, cluster, service)
    assert (first["runningCount"], first["pendingCount"]) == (0, 2)
    assert first["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    time.sleep(2.2)
    settled = _describe(dev, cluster, service)
    assert (settled["runningCount"], settled["pendingCount"], settled["desiredCount"]) == (2, 0, 2)
    deployment = settled["deployments"][0]
    assert deployment["rolloutState"] == "COMPLETED" and deployment["runningCount"] == 2
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} completed."
    dev.client("ecs").update_service(cluster=cluster, service=service, desiredCount=3)
    scaling = _describe(dev, cluster, service)
    assert (scaling["runningCount"], scaling["pendingCount"]) == (2, 1)
    assert scaling["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    time.sleep(2.2)
    assert _describe(dev, cluster, service)["runningCount"] == 3
    family = settled["taskDefinition"].rsplit("/", 1)[-1].split(":")[0]
    ecs = dev.client("ecs")
    revision = ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "app", "image": "public.ecr.aws/docker/library/busybox:1.36", "memory": 128}])["taskDefinition"]
    ecs.update_service(cluster=cluster, service=service, taskDefinition=revision["taskDefinitionArn"])
    redeploying = _describe(dev, cluster, service)
    assert redeploying["deployments"][0]["id"] != deployment["id"]
    assert redeploying["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert redeploying["deployments"][0]["taskDefinition"] == revision["taskDefinitionArn"]
    time.sleep(2.2)
    assert _describe(dev, cluster, service)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_a_held_service_stays_below_its_desired_count(dev, ecs_service):
    cluster, service = ecs_service(2)
    account = _account(dev)
    key = {"account": account, "region": REGION, "cluster": cluster, "service": service}
    _local("/_local/ecs/hold", {**key, "running": 1})
    try:
        time.sleep(4.2)
        held = _describe(dev, cluster, service)
        assert (held["runningCount"], held["pendingCount"]) == (1, 1)
        assert held["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        assert held["deployments"][0]["failedTasks"] >= 2
    finally:
        assert _local("/_local/ecs/hold", key, method="DELETE") == {"released": True}
    time.sleep(2.2)
    assert _describe(dev, cluster, service)["runningCount"] == 2


def test_a_role_describes_the_services_its_policy_names(dev, ecs_service, expect_denials):
    cluster, service = ecs_service(1)
    account = _account(dev)
    reader = _as_role(dev, [{"Effect": "Allow", "Action": "ecs:DescribeServices",
                             "Resource": f"arn:aws:ecs:{REGION}:{account}:service/{cluster}/*"}])
    ecs = reader.client("ecs", endpoint_url=ENDPOINT)
    assert ecs.describe_services(cluster=cluster, services=[service])["services"][0]["serviceName"] == service
    other_cluster, other = ecs_service(1)
    with pytest.raises(ecs.exceptions.ClientError, match="AccessDenied"):
        ecs.describe_services(cluster=other_cluster, services=[other])
    assert expect_denials(1)
