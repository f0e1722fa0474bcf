"""infra/: the Terraform that deploys the promotion pipeline into DEV, SIT and PROD.

Static: `terraform fmt` is clean and each root (envs/dev, envs/sit, envs/prod) validates.
Applied: the three roots are applied into the local estate as into AWS (prod, then sit, then dev: a
source reader's trust names the next environment's roles, which IAM requires to exist), with a local
backend in a temporary directory and the probe zip standing in for the eight functions. A second plan
shows no changes; boto3 then checks what each account holds, the roles' policies, and that SIT's deploy
role (and PROD's) can assume the source account's reader while an administrator of SIT cannot. The
stacks are destroyed afterwards, so the estate is left as it was found.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bbws_local.pipeline import terraform_env
from bbws_local.settings import RUNBOOK_CONFIG_FILE, Settings, runbook_config, terraform_plugin_args
from botocore.exceptions import ClientError
from bbws_local import pipeline_client
from conftest import ACCOUNTS, ENDPOINT, PROBE_ZIP, ROOT, STATE, session_for, unique, wait_for

INFRA = ROOT / "infra"
ENVS = ("dev", "sit", "prod")
# The order a first deployment takes on AWS (trust policies name roles that must already exist).
APPLY_ORDER = ("prod", "sit", "dev")
SOURCE = {"sit": "dev", "prod": "sit"}
NEXT = {"dev": "sit", "sit": "prod"}
FAILOVER = "eu-west-1"
BINS = {
    "preflight": "bbws-preflight",
    "backup-alias": "bbws-backup-alias",
    "deploy": "bbws-deploy",
    "monitor": "bbws-monitor",
    "rollback": "bbws-rollback",
    "record": "bbws-record",
    "approval": "bbws-approval",
    "watch": "bbws-watch",
    "tenant": "bbws-tenant",
}
# The functions of the runbook's catalog: what each pipeline may act on.
SERVICE_FUNCTIONS = [t for service in runbook_config()["catalog"] for t in service["functions"]]
DEFAULT_APPROVERS = {
    "dev_lead": ["dev-lead@bbws.io"],
    "tech_lead": ["tech-lead@bbws.io"],
    "operations_lead": ["ops-lead@bbws.io"],
    "cto": ["cto@bbws.io"],
}

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


# -- helpers ----------------------------------------------------------------------------------------


def tf(workdir: Path, *args: str, check: bool = True, timeout: float = 900,
       env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
               AWS_CONFIG_FILE=str(STATE / "aws" / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(STATE / "aws" / "credentials"), **(env or {}))
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(var, None)
    t0 = time.monotonic()
    r = subprocess.run(["terraform", *args, "-no-color"] if args[0] != "fmt" else ["terraform", *args],
                       cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    if check and r.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} in {workdir} failed:\n{r.stdout}\n{r.stderr}")
    return r, took


def copy_infra(dest: Path) -> Path:
    # Only the code: not what another run of the same roots left there (.terraform, overrides, tfvars);
    # with the runbook configuration beside it, where the pipeline module reads its catalog.
    shutil.copytree(INFRA, dest / "infra", ignore=shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*_override.tf", "*_override.tf.json",
        "*.tfvars", "*.tfvars.json"))
    config = dest / RUNBOOK_CONFIG_FILE.relative_to(ROOT)
    config.parent.mkdir(parents=True)
    shutil.copy(RUNBOOK_CONFIG_FILE, config)
    return dest / "infra"


def statemachine_dir(tmp: Path) -> Path:
    """The repository's statemachine/ (the definitions, and the Retry policy and states they share)."""
    return ROOT / "statemachine"


def state_machines(session: Any) -> dict[str, str]:
    """Name -> ARN of every state machine of the session's account and region (every page)."""
    pages = session.client("stepfunctions").get_paginator("list_state_machines").paginate()
    return {m["name"]: m["stateMachineArn"] for page in pages for m in page["stateMachines"]}


def policy_of(session: Any, role: str) -> dict[str, Any]:
    iam = session.client("iam")
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert names == ["least-privilege"], f"{role} has inline policies {names}"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    doc = iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def grants(policy: dict[str, Any]) -> dict[str, set[str]]:
    """action -> resources it is allowed on."""
    out: dict[str, set[str]] = {}
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow"
        for action in as_list(st["Action"]):
            out.setdefault(action, set()).update(as_list(st["Resource"]))
    return out


def service_arns(env: str, regions: list[str]) -> set[str]:
    acct = ACCOUNTS[env]
    out = set()
    for r in regions:
        for t in SERVICE_FUNCTIONS:
            n = t.replace("{env}", env)
            out |= {f"arn:aws:lambda:{r}:{acct}:function:{n}", f"arn:aws:lambda:{r}:{acct}:function:{n}:*"}
    return out


# -- static -----------------------------------------------------------------------------------------


# `make tf-check` (in `make test`) checks fmt and validates every root without warnings.


def test_a_root_refuses_credentials_of_another_account(tmp_path):
    """SIT's root planned with PROD's credentials stops before anything is created."""
    root = copy_infra(tmp_path) / "envs" / "sit"
    (root / "backend_override.tf").write_text(
        'terraform {\n  backend "local" {\n    path = "%s"\n  }\n}\n' % (tmp_path / "sit.tfstate"))
    tf(root, "init", *terraform_plugin_args())
    r, _ = tf(root, "plan", "-var", f"local_endpoint={ENDPOINT}", "-var", "aws_profile=bbws-prod",
              "-var", "approval_signing_key=" + "k" * 32, "-var", f"lambda_zip_dir={tmp_path}", check=False)
    assert r.returncode == 1
    assert f"The credentials act in account {ACCOUNTS['prod']}, not SIT's {ACCOUNTS['sit']}" in r.stderr, r.stderr


# -- applied into the estate ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed():
    """The three roots as `make up` applied them into this estate (bbws_local.pipeline), read back:
    a second plan of each, and their outputs."""
    tf_dir = STATE / "tf"
    if not (tf_dir / "applied.json").exists():
        pytest.fail("the pipeline is not applied to this estate: run `make up`")
    plans, outputs, times = {}, {}, {}

    def read(env: str) -> None:
        root = INFRA / "envs" / env
        data = {"TF_DATA_DIR": terraform_env(Settings.from_env(), env)["TF_DATA_DIR"]}
        plans[env], times[env] = tf(root, "plan", "-detailed-exitcode", "-input=false",
                                    f"-var-file={tf_dir / (env + '.tfvars.json')}", check=False, env=data)
        outputs[env] = {k: v["value"]
                        for k, v in json.loads(tf(root, "output", "-json", env=data)[0].stdout).items()}

    # The three roots have states of their own: planned side by side.
    with ThreadPoolExecutor(len(APPLY_ORDER)) as pool:
        list(pool.map(read, APPLY_ORDER))
    # Each account signs its approval links with its own key (bbws_local.pipeline).
    keys = {env: (tf_dir / f"approval-signing-key-{env}").read_text().strip() for env in ENVS}
    return {"outputs": outputs, "plans": plans, "keys": keys, "times": times,
            "statemachine_dir": ROOT / "statemachine"}


def test_a_second_plan_shows_no_changes(deployed):
    for env, plan in deployed["plans"].items():
        assert plan.returncode == 0, f"{env}: plan after apply is not empty (exit {plan.returncode}):\n{plan.stdout}"


@pytest.mark.parametrize("env", ENVS)
def test_each_account_holds_its_own_pipeline(deployed, env):
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    assert out["account_id"] == acct
    s = session_for(env)
    iam = s.client("iam")
    for key in BINS:
        role = iam.get_role(RoleName=f"bbws-promotion-{key}-{env}")["Role"]
        assert role["Arn"] == f"arn:aws:iam::{acct}:role/bbws-promotion-{key}-{env}" == out["role_arns"][key]
        assert out["function_arns"][key] == f"arn:aws:lambda:af-south-1:{acct}:function:bbws-promotion-{key}-{env}"
    for other in set(ENVS) - {env}:  # nothing of this environment in the other accounts
        with pytest.raises(ClientError):
            session_for(other).client("iam").get_role(RoleName=f"bbws-promotion-deploy-{env}")
        with pytest.raises(ClientError):
            session_for(other).client("dynamodb").describe_table(TableName=f"bbws-deployments-{env}")
    ddb = s.client("dynamodb")
    tables = [t for page in ddb.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    assert {t for t in tables if t.endswith(f"-{env}")} >= set(out["table_names"].values())
    machines = state_machines(s)
    if env == "dev":
        assert out.get("state_machine_arn") is None and "bbws-promote-dev" not in machines
        assert out.get("release_state_machine_arn") is None and "bbws-release-dev" not in machines
    else:
        assert machines[f"bbws-promote-{env}"] == out["state_machine_arn"]
        assert out["state_machine_arn"].startswith(f"arn:aws:states:af-south-1:{acct}:stateMachine:")
        assert machines[f"bbws-release-{env}"] == out["release_state_machine_arn"]
    readers = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]
               if r["RoleName"] == "bbws-promotion-source-reader"]
    assert readers == (["bbws-promotion-source-reader"] if env in NEXT else [])


@pytest.mark.parametrize("env", ENVS)
def test_tables_are_on_demand_encrypted_and_recoverable(deployed, env):
    s = session_for(env)
    ddb = s.client("dynamodb")
    key = deployed["outputs"][env]["kms_key_arn"]
    expected_keys = {
        f"bbws-deployments-{env}": [("deployment_id", "HASH")],
        f"bbws-promotion-locks-{env}": [("lock_id", "HASH")],
        f"bbws-approvals-{env}": [("request_id", "HASH"), ("item", "RANGE")],
        f"bbws-quality-gates-{env}": [("code_sha256", "HASH"), ("gate", "RANGE")],
    }
    for name, schema in expected_keys.items():
        t = ddb.describe_table(TableName=name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in t["KeySchema"]] == schema
        assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert t["SSEDescription"]["Status"] == "ENABLED" and t["SSEDescription"]["KMSMasterKeyArn"] == key
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        assert t.get("DeletionProtectionEnabled", False) == (name.startswith(("bbws-deployments", "bbws-approvals")))
    ttl = ddb.describe_time_to_live(TableName=f"bbws-promotion-locks-{env}")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


@pytest.mark.parametrize("env", ENVS)
def test_functions_are_configured_as_specified(deployed, env):
    s = session_for(env)
    lam, logs = s.client("lambda"), s.client("logs")
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    rules_key = f"config/{env}/promotion-config.json"
    rules_versions = set()
    for key in BINS:
        name = f"bbws-promotion-{key}-{env}"
        c = lam.get_function_configuration(FunctionName=name)
        assert (c["Runtime"], c["Handler"], c["Architectures"], c["MemorySize"]) == \
            ("provided.al2023", "bootstrap", ["x86_64"], 256)
        assert c["Timeout"] == {"approval": 30, "deploy": 300, "rollback": 120}.get(key, 60)
        assert c["Role"] == f"arn:aws:iam::{acct}:role/{name}"
        variables = c["Environment"]["Variables"]
        expected = {
            "BBWS_ENV": env,
            "BBWS_DEPLOYMENTS_TABLE": f"bbws-deployments-{env}",
            "BBWS_LOCKS_TABLE": f"bbws-promotion-locks-{env}",
            "BBWS_APPROVALS_TABLE": f"bbws-approvals-{env}",
            "BBWS_EVENTS_TOPIC_ARN": out["events_topic_arn"],
            "BBWS_APPROVAL_TOPIC_ARN": out["approval_topic_arn"],
            "BBWS_APPROVAL_KEY_PARAM": f"/bbws/promotion/{env}/approval-key",
            "BBWS_APPROVAL_URL_PARAM": f"/bbws/promotion/{env}/approval-url",
            "BBWS_APPROVERS_PARAM": f"/bbws/promotion/{env}/approvers",
            "BBWS_EVIDENCE_BUCKET": f"bbws-promotion-evidence-{ACCOUNTS[env]}",
            "BBWS_TENANT_PROJECT": f"bbws-tenant-build-{env}",
            "BBWS_TENANT_ARTIFACTS_BUCKET": f"bbws-tenant-plans-{ACCOUNTS[env]}",
            "RUST_LOG": "info",
        }
        if env in SOURCE:
            expected["BBWS_SOURCE_READER_ROLE_ARN"] = \
                f"arn:aws:iam::{ACCOUNTS[SOURCE[env]]}:role/bbws-promotion-source-reader"
        if env == "prod":
            expected["BBWS_FAILOVER_REGION"] = FAILOVER
        if key in RULES_READERS:
            # The rules the function applies: a version of the evidence bucket's object.
            expected["BBWS_CONFIG_OBJECT"] = rules_key
            expected["BBWS_CONFIG_VERSION"] = variables.get("BBWS_CONFIG_VERSION")
            rules_versions.add(variables.get("BBWS_CONFIG_VERSION"))
        assert variables == expected
        group = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
        assert [(g["logGroupName"], g["retentionInDays"], g.get("kmsKeyId")) for g in group] == \
            [(f"/aws/lambda/{name}", 90, out["kms_key_arn"])]
    concurrency = lam.get_function_concurrency(FunctionName=f"bbws-promotion-approval-{env}")
    assert concurrency["ReservedConcurrentExecutions"] == 10
    # One version for all six; it holds the runbook's rules (promotion_config = ""), as an auditor reads them.
    assert len(rules_versions) == 1 and None not in rules_versions, rules_versions
    (version,) = rules_versions
    rules = s.client("s3").get_object(Bucket=f"bbws-promotion-evidence-{acct}", Key=rules_key, VersionId=version)
    assert json.loads(rules["Body"].read()) == json.loads((ROOT / "events" / "config" / "runbook.json").read_text())
    assert rules["ServerSideEncryption"] == "aws:kms" and rules["SSEKMSKeyId"] == out["kms_key_arn"]



@pytest.mark.parametrize("env", ENVS)
def test_approval_url_is_public_signed_links_and_in_ssm(deployed, env):
    s = session_for(env)
    out = deployed["outputs"][env]
    name = f"bbws-promotion-approval-{env}"
    url = s.client("lambda").get_function_url_config(FunctionName=name)
    assert url["AuthType"] == "NONE" and url["FunctionUrl"] == out["approval_url"]
    ssm = s.client("ssm")
    assert ssm.get_parameter(Name=f"/bbws/promotion/{env}/approval-url")["Parameter"]["Value"] == out["approval_url"]
    statements = json.loads(s.client("lambda").get_policy(FunctionName=name)["Policy"])["Statement"]
    assert any(st["Action"] == "lambda:InvokeFunctionUrl" and st["Principal"] in ("*", {"AWS": "*"})
               for st in statements)
    # The URL reaches the approval function.
    with urllib.request.urlopen(out["approval_url"] + "health", timeout=10) as r:
        assert r.status == 200 and "The approval service is up." in r.read().decode()
    key = ssm.get_parameter(Name=f"/bbws/promotion/{env}/approval-key", WithDecryption=True)["Parameter"]
    assert key["Type"] == "SecureString" and key["Value"] == deployed["keys"][env]
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"/bbws/promotion/{env}/approval-key"]}])["Parameters"][0]
    assert described["KeyId"] == out["kms_key_arn"]
    approvers = ssm.get_parameter(Name=f"/bbws/promotion/{env}/approvers")["Parameter"]
    from bbws_local.pipeline import APPROVERS

    assert approvers["Type"] == "String" and json.loads(approvers["Value"]) == APPROVERS


@pytest.mark.parametrize("env", ENVS)
def test_topics_are_encrypted_and_each_approver_gets_only_their_own_links(deployed, env):
    sns = session_for(env).client("sns")
    out = deployed["outputs"][env]
    for arn in (out["events_topic_arn"], out["approval_topic_arn"]):
        assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"] == out["kms_key_arn"]
    events = sns.list_subscriptions_by_topic(TopicArn=out["events_topic_arn"])["Subscriptions"]
    assert [(x["Protocol"], x["Endpoint"]) for x in events] == [("email", "platform-team@bbws.io")]
    subs = sns.list_subscriptions_by_topic(TopicArn=out["approval_topic_arn"])["Subscriptions"]
    from bbws_local.pipeline import APPROVERS

    emails = sorted({e for people in APPROVERS.values() for e in people})
    assert sorted(x["Endpoint"] for x in subs) == emails and {x["Protocol"] for x in subs} == {"email"}
    for x in subs:
        attrs = sns.get_subscription_attributes(SubscriptionArn=x["SubscriptionArn"])["Attributes"]
        assert json.loads(attrs["FilterPolicy"]) == {"approver": [{"equals-ignore-case": x["Endpoint"]}]}
        assert attrs.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_state_machine_invokes_exactly_the_pipeline_and_logs_no_execution_data(deployed, env):
    s = session_for(env)
    out = deployed["outputs"][env]
    d = s.client("stepfunctions").describe_state_machine(stateMachineArn=out["state_machine_arn"])
    assert d["type"] == "STANDARD" and d["roleArn"] == out["role_arns"]["states"]
    log = d["loggingConfiguration"]
    assert log["level"] == "ALL" and log.get("includeExecutionData", False) is False
    assert log["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
        f":log-group:/aws/vendedlogs/states/bbws-promote-{env}:*")
    definition = json.loads(d["definition"])
    text = json.dumps(definition)
    assert "${" not in text
    for key in ("preflight", "deploy", "monitor", "record"):
        assert out["function_arns"][key] in text
    g = grants(policy_of(s, f"bbws-promotion-states-{env}"))
    functions = set(out["function_arns"].values())
    assert g["lambda:InvokeFunction"] == functions | {f + ":*" for f in functions}
    assert "sns:Publish" not in g  # the definitions publish nothing themselves


@pytest.mark.parametrize("env", ENVS)
def test_rollback_state_machine_in_every_account_logs_no_execution_data_and_finds_records_by_service(
        deployed, env):
    """bbws-rollback-<env> in DEV, SIT and PROD alike (DEV has no promote machine but this one), run by
    the states role and logging without execution data; the deployments table's service-timestamp index
    is how it finds a service's records."""
    s = session_for(env)
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    name = f"bbws-rollback-{env}"
    arn = out["rollback_state_machine_arn"]
    assert arn == f"arn:aws:states:af-south-1:{acct}:stateMachine:{name}"
    sfn = s.client("stepfunctions")
    machines = state_machines(s)
    assert machines[name] == arn
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["type"] == "STANDARD"
    assert d["roleArn"] == out["role_arns"]["states"] == f"arn:aws:iam::{acct}:role/bbws-promotion-states-{env}"
    log = d["loggingConfiguration"]
    assert log["level"] == "ALL" and log.get("includeExecutionData", False) is False
    assert log["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
        f":log-group:/aws/vendedlogs/states/{name}:*")
    group = s.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/vendedlogs/states/{name}")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"], g.get("kmsKeyId")) for g in group] == \
        [(f"/aws/vendedlogs/states/{name}", 90, out["kms_key_arn"])]
    text = json.dumps(json.loads(d["definition"]))
    assert "${" not in text and out["function_arns"]["rollback"] in text
    g = grants(policy_of(s, f"bbws-promotion-states-{env}"))
    functions = set(out["function_arns"].values())
    assert g["lambda:InvokeFunction"] == functions | {f + ":*" for f in functions}

    t = s.client("dynamodb").describe_table(TableName=f"bbws-deployments-{env}")["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in t["KeySchema"]] == [("deployment_id", "HASH")]
    assert {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]} == \
        {"deployment_id": "S", "service": "S", "timestamp": "S"}
    indexes = {i["IndexName"]: i for i in t.get("GlobalSecondaryIndexes", [])}
    assert list(indexes) == ["service-timestamp"]
    index = indexes["service-timestamp"]
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == \
        [("service", "HASH"), ("timestamp", "RANGE")]
    assert index["Projection"]["ProjectionType"] == "ALL"


@pytest.mark.parametrize("env", ENVS)
def test_watch_state_machine_in_every_account_checks_each_deployment_and_may_start_a_rollback(deployed, env):
    """bbws-watch-<env> in DEV, SIT and PROD (a manual rollback is watched too), run by the states role,
    invoking the watch function and starting bbws-rollback-<env> after a failed check; its execution data
    is logged (it carries no token); its failed executions have an alarm and a line on the dashboard."""
    s = session_for(env)
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    name = f"bbws-watch-{env}"
    arn = out["watch_state_machine_arn"]
    assert arn == f"arn:aws:states:af-south-1:{acct}:stateMachine:{name}"
    d = s.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert d["type"] == "STANDARD" and d["roleArn"] == out["role_arns"]["states"]
    log = d["loggingConfiguration"]
    assert log["level"] == "ALL" and log["includeExecutionData"] is True
    assert log["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
        f":log-group:/aws/vendedlogs/states/{name}:*")
    definition = json.loads(d["definition"])
    text = json.dumps(definition)
    assert "${" not in text and out["function_arns"]["watch"] in text
    assert definition["States"]["Start the rollback"]["Parameters"]["StateMachineArn"] == \
        out["rollback_state_machine_arn"]
    for check in ("1-hour check", "4-hour check", "12-hour check", "24-hour check"):
        assert definition["States"][check]["Resource"] == out["function_arns"]["watch"]
    alarm = s.client("cloudwatch").describe_alarms(AlarmNames=[f"bbws-watch-{env}-executions-failed"])
    [a] = alarm["MetricAlarms"]
    assert [dim["Value"] for dim in a["Dimensions"]] == [arn]


# The states role's actions besides child executions: the pipeline's functions and log delivery (no
# resource-level permissions: "*"). The definitions publish nothing themselves (the record function does).
STATES_ACTIONS = {"lambda:InvokeFunction", "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                  "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                  "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}
# What bbws-tenant-<env> needs to run the tenant build with codebuild:startBuild.sync (every account).
STATES_TENANT_BUILD_ACTIONS = {"codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds",
                        "events:PutTargets", "events:PutRule", "events:DescribeRule"}
# What bbws-release-<env> needs to run bbws-promote-<env> with states:startExecution.sync:2.
CHILD_EXECUTION_ACTIONS = {"states:StartExecution", "states:DescribeExecution", "states:StopExecution",
                           "events:PutTargets", "events:PutRule", "events:DescribeRule"}


@pytest.mark.parametrize("env", ENVS)
def test_release_state_machine_in_sit_and_prod_runs_promotions_as_child_executions(deployed, env):
    """bbws-release-<env> in SIT and PROD (not DEV, which has nothing to promote), logging without
    execution data; only there may the states role start bbws-promote-<env>, describe and stop its
    executions and manage the rule through which Step Functions learns that a child has ended."""
    s = session_for(env)
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    name = f"bbws-release-{env}"
    sfn = s.client("stepfunctions")
    machines = state_machines(s)
    allowed = grants(policy_of(s, f"bbws-promotion-states-{env}"))
    if env not in SOURCE:
        assert out.get("release_state_machine_arn") is None and name not in machines
        logs = s.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/vendedlogs/states/{name}")
        assert logs["logGroups"] == []
        want = STATES_ACTIONS | {"states:StartExecution"} | STATES_TENANT_BUILD_ACTIONS
        assert set(allowed) == want, f"extra {set(allowed) - want}, missing {want - set(allowed)}"
        assert allowed["states:StartExecution"] == {out["rollback_state_machine_arn"]}, "the watch's rollbacks"
        _tenant_build_grants(allowed, acct, env, child_rule=False)
        return
    arn = out["release_state_machine_arn"]
    assert arn == machines[name] == f"arn:aws:states:af-south-1:{acct}:stateMachine:{name}"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["type"] == "STANDARD" and d["roleArn"] == out["role_arns"]["states"]
    log = d["loggingConfiguration"]
    assert log["level"] == "ALL" and log.get("includeExecutionData", False) is False
    assert log["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
        f":log-group:/aws/vendedlogs/states/{name}:*")
    group = s.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/vendedlogs/states/{name}")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"], g.get("kmsKeyId")) for g in group] == \
        [(f"/aws/vendedlogs/states/{name}", 90, out["kms_key_arn"])]
    text = json.dumps(json.loads(d["definition"]))
    assert "${" not in text and out["state_machine_arn"] in text

    want = STATES_ACTIONS | CHILD_EXECUTION_ACTIONS | STATES_TENANT_BUILD_ACTIONS
    assert set(allowed) == want, f"extra {set(allowed) - want}, missing {want - set(allowed)}"
    assert allowed["states:StartExecution"] == {out["state_machine_arn"], out["rollback_state_machine_arn"]}
    executions = f"arn:aws:states:af-south-1:{acct}:execution:bbws-promote-{env}:*"
    assert allowed["states:DescribeExecution"] == allowed["states:StopExecution"] == {executions}
    _tenant_build_grants(allowed, acct, env, child_rule=True)


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_state_machine_runs_the_tenant_build_in_every_account(deployed, env):
    """bbws-tenant-<env> in DEV, SIT and PROD: the states role, logs without execution data (an approval
    task's input holds its task token), the account's tenant function and tenant build in its definition."""
    s = session_for(env)
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    name = f"bbws-tenant-{env}"
    arn = f"arn:aws:states:af-south-1:{acct}:stateMachine:{name}"
    d = s.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert d["type"] == "STANDARD" and d["roleArn"] == out["role_arns"]["states"]
    log = d["loggingConfiguration"]
    assert log["level"] == "ALL" and log.get("includeExecutionData", False) is False
    group = s.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/vendedlogs/states/{name}")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"], g.get("kmsKeyId")) for g in group] == \
        [(f"/aws/vendedlogs/states/{name}", 90, out["kms_key_arn"])]
    definition = json.loads(d["definition"])
    text = json.dumps(definition)
    assert "${" not in text
    assert f"function:bbws-promotion-tenant-{env}" in text
    assert "arn:aws:states:::codebuild:startBuild.sync" in text
    states = definition["States"]
    assert states["Apply each tenant"]["Iterator"]["States"]["Run apply build"]["Parameters"][
        "EnvironmentVariablesOverride"][-1] == {"Name": "TFPLAN_SHA256S", "Value.$": "$.tfplan_sha256s",
                                                 "Type": "PLAINTEXT"}, "the apply names the approved plans"


def _tenant_build_grants(allowed: dict, acct: str, env: str, child_rule: bool) -> None:
    """The states role runs this account's tenant build only, and manages only the rules Step Functions
    uses to learn that a build (and, where releases run, a child execution) has ended."""
    project = f"arn:aws:codebuild:af-south-1:{acct}:project/bbws-tenant-build-{env}"
    for action in ("codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"):
        assert allowed[action] == {project}, action
    rules = {f"arn:aws:events:af-south-1:{acct}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule"}
    if child_rule:
        rules.add(f"arn:aws:events:af-south-1:{acct}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert allowed[action] == rules, action


# What each role may do (RB-003 §6: backup, deploy and rollback also in PROD's failover region).
# The functions that apply the promotion rules (infra/modules/pipeline/config.tf) and so read them.
RULES_READERS = {"preflight", "monitor", "record", "rollback", "tenant", "watch"}
EXPECTED_ACTIONS = {
    "preflight": {"logs:CreateLogStream", "logs:PutLogEvents", "lambda:GetAlias"},
    "backup-alias": {"logs:CreateLogStream", "logs:PutLogEvents", "lambda:GetAlias", "lambda:CreateAlias",
                     "lambda:UpdateAlias"},
    "deploy": {"logs:CreateLogStream", "logs:PutLogEvents", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
               "lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:GetAlias", "lambda:UpdateAlias",
               "lambda:CreateAlias"},
    "monitor": {"logs:CreateLogStream", "logs:PutLogEvents", "lambda:InvokeFunction",
                "cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarms", "events:ListRules"},
    "rollback": {"logs:CreateLogStream", "logs:PutLogEvents", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
                 "lambda:ListVersionsByFunction", "lambda:GetAlias", "lambda:UpdateAlias", "lambda:CreateAlias",
                 "lambda:ListAliases", "lambda:InvokeFunction", "lambda:UpdateFunctionCode", "dynamodb:Query"},
    "record": {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:PutItem", "dynamodb:GetItem",
               "dynamodb:DeleteItem", "dynamodb:Query", "sns:Publish", "kms:GenerateDataKey", "kms:Decrypt",
               "lambda:GetAlias", "states:DescribeExecution", "states:StartExecution", "states:GetExecutionHistory",
               "s3:PutObject", "ssm:GetParameter"},
    "approval": {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:PutItem", "dynamodb:GetItem",
                 "dynamodb:UpdateItem", "dynamodb:Query", "sns:Publish", "states:SendTaskSuccess",
                 "states:SendTaskFailure", "ssm:GetParameter", "kms:Decrypt", "kms:GenerateDataKey", "s3:GetObject"},
    "watch": {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:GetItem", "dynamodb:UpdateItem",
              "lambda:GetAlias", "lambda:InvokeFunction", "cloudwatch:GetMetricStatistics",
              "cloudwatch:DescribeAlarms", "states:ListExecutions", "states:StopExecution", "sns:Publish",
              "kms:GenerateDataKey", "kms:Decrypt", "s3:GetObject", "s3:PutObject"},
    "tenant": {"logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:Query", "s3:GetObject", "kms:Decrypt",
               "ecs:DescribeServices"},
}
# The functions that apply the promotion rules read them (infra/modules/pipeline/config.tf).
for _reader in RULES_READERS:
    EXPECTED_ACTIONS[_reader] = EXPECTED_ACTIONS[_reader] | {"s3:GetObjectVersion", "kms:Decrypt"}
# The only actions allowed on "*": those without resource-level permissions, and DescribeAlarms (a
# narrower scope hides composite alarms from it).
UNSCOPED = {"cloudwatch:GetMetricStatistics", "events:ListRules", "cloudwatch:DescribeAlarms"}


@pytest.mark.parametrize("env", ENVS)
def test_each_role_is_allowed_only_what_its_function_uses(deployed, env):
    s = session_for(env)
    acct = ACCOUNTS[env]
    out = deployed["outputs"][env]
    reader = f"arn:aws:iam::{ACCOUNTS[SOURCE[env]]}:role/bbws-promotion-source-reader" if env in SOURCE else None
    both = service_arns(env, ["af-south-1", FAILOVER] if env == "prod" else ["af-south-1"])
    tables = {k: f"arn:aws:dynamodb:af-south-1:{acct}:table/{v}" for k, v in out["table_names"].items()}
    deployment_indexes = tables["deployments"] + "/index/*"
    # Approval tasks are answered in the state machines of the account: promote and release (SIT, PROD),
    # rollback (all).
    machines = {f"arn:aws:states:af-south-1:{acct}:stateMachine:bbws-{m}-{env}"
                for m in (("promote", "rollback", "release", "tenant") if env in SOURCE else ("rollback", "tenant"))}
    # A lock's holder is looked up among the executions of the same state machines only.
    executions = {m.replace(":stateMachine:", ":execution:") + ":*" for m in machines}
    watch = f"arn:aws:states:af-south-1:{acct}:stateMachine:bbws-watch-{env}"
    for key, actions in EXPECTED_ACTIONS.items():
        name = f"bbws-promotion-{key}-{env}"
        trust = s.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert [st["Principal"] for st in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
        g = grants(policy_of(s, name))
        reads_source = key in ("preflight", "deploy") or (key, env) == ("tenant", "prod")
        want = actions | ({"sts:AssumeRole"} if reader and reads_source else set())
        assert set(g) == want, f"{name}: extra {set(g) - want}, missing {want - set(g)}"
        for action, resources in g.items():
            if action in UNSCOPED:
                assert resources == {"*"}
                continue
            assert "*" not in resources, f"{name}: {action} on *"
            if action.startswith("logs:"):
                assert resources == {f"arn:aws:logs:af-south-1:{acct}:log-group:/aws/lambda/{name}:*"}
            elif action == "sts:AssumeRole":
                assert resources == {reader}
            elif action.startswith("lambda:"):
                assert resources == both, f"{name}: {action}"
            elif action == "s3:GetObjectVersion":
                # Versions of this environment's rules documents, nothing else of the evidence bucket.
                assert resources == {f"arn:aws:s3:::bbws-promotion-evidence-{acct}/config/{env}/*"}, name
            elif action.startswith("s3:") and key == "tenant":
                # This environment's plans, nothing else of the plans bucket.
                assert resources == {f"arn:aws:s3:::bbws-tenant-plans-{acct}/tenant/{env}/*"}, f"{name}: {action}"
            elif action.startswith("s3:"):
                # This environment's prefix of the account's evidence bucket, nothing else.
                assert resources == {f"arn:aws:s3:::bbws-promotion-evidence-{acct}/evidence/{env}/*"}, \
                    f"{name}: {action}"
            elif action == "ecs:DescribeServices":
                assert resources == {f"arn:aws:ecs:af-south-1:{acct}:service/bbws-cluster-{env}/*"}, name
            elif action.startswith("dynamodb:"):
                if (key, action) == ("record", "dynamodb:Query"):
                    want_tables = {tables["approvals"]}  # the execution's approvals, for its evidence
                elif (key, action) == ("approval", "dynamodb:GetItem"):
                    want_tables = {tables["approvals"], tables["deployments"]}  # the evidence links' records
                elif key == "record":
                    want_tables = {tables["deployments"], tables["locks"]}
                elif key == "watch":
                    want_tables = {tables["deployments"]}
                elif key == "rollback":
                    want_tables = {deployment_indexes}
                elif key == "tenant":
                    want_tables = {tables["deployments"] + "/index/service-timestamp"}
                else:
                    want_tables = {tables["approvals"]}
                assert resources == want_tables, f"{name}: {action}"
            elif action == "sns:Publish":
                assert resources == ({out["events_topic_arn"]} if key in ("record", "watch") else
                                     {out["events_topic_arn"], out["approval_topic_arn"]})
            elif action == "kms:Decrypt" and key == "tenant":
                # The plans' key and the pipeline key (the rules), through S3.
                assert resources == {out["tenant_build"]["kms_key_arn"], out["kms_key_arn"]}, name
            elif action.startswith("kms:") and key == "tenant":
                assert resources == {out["tenant_build"]["kms_key_arn"]}, "the plans' key, through S3"
            elif action.startswith("kms:"):
                assert resources == {out["kms_key_arn"]}
            elif action.startswith("states:"):
                want_states = {
                    ("record", "states:DescribeExecution"): executions,
                    ("record", "states:StartExecution"): {watch},
                    ("record", "states:GetExecutionHistory"): executions,
                    ("watch", "states:ListExecutions"): {watch},
                    ("watch", "states:StopExecution"): {watch.replace(":stateMachine:", ":execution:") + ":*"},
                }.get((key, action), machines)
                assert resources == want_states, f"{name}: {action}"
            elif action == "ssm:GetParameter":
                assert resources == {f"arn:aws:ssm:af-south-1:{acct}:parameter/bbws/promotion/{env}/{p}"
                                     for p in (("approval-url",) if key == "record" else
                                               ("approval-key", "approval-url", "approvers"))}
            else:
                raise AssertionError(f"{name}: unexpected {action}")


@pytest.mark.parametrize("env", ["dev", "sit"])
def test_source_reader_trusts_exactly_the_next_pipeline_roles(deployed, env):
    s = session_for(env)
    nxt = NEXT[env]
    role = s.client("iam").get_role(RoleName="bbws-promotion-source-reader")["Role"]
    assert role["Arn"] == deployed["outputs"][env]["reader_role_arn"]
    principals = [p for st in role["AssumeRolePolicyDocument"]["Statement"] for p in as_list(st["Principal"]["AWS"])]
    readers = ("preflight", "deploy", "tenant") if nxt == "prod" else ("preflight", "deploy")
    assert sorted(principals) == sorted(f"arn:aws:iam::{ACCOUNTS[nxt]}:role/bbws-promotion-{f}-{nxt}"
                                        for f in readers)
    g = grants(policy_of_reader(s))
    acct = ACCOUNTS[env]
    assert set(g) == {"lambda:GetFunction", "cloudwatch:GetMetricStatistics", "dynamodb:Query",
                      "lambda:InvokeFunction"}
    assert g["lambda:GetFunction"] == service_arns(env, ["af-south-1"])
    # The preflight's /health of the version promoted: qualified ARNs only, never $LATEST.
    assert g["lambda:InvokeFunction"] == {a for a in service_arns(env, ["af-south-1"]) if a.endswith(":*")}
    gates = f"arn:aws:dynamodb:af-south-1:{acct}:table/bbws-quality-gates-{env}"
    if env == "sit":
        # RB-003 §7.2 "SIT stable for 24 hours": PROD's preflight queries SIT's deployment records of a
        # service, by the service-timestamp index and nothing else (no table, no other index, no GetItem).
        records = f"arn:aws:dynamodb:af-south-1:{acct}:table/bbws-deployments-sit/index/service-timestamp"
        assert g["dynamodb:Query"] == {gates, records}
        [statement] = [st for st in policy_of_reader(s)["Statement"] if records in as_list(st["Resource"])]
        assert (statement["Sid"], as_list(statement["Action"]), as_list(statement["Resource"])) == \
            ("ReadDeploymentRecordsOfAService", ["dynamodb:Query"], [records])
    else:
        # Nothing judges DEV's deployment records.
        assert g["dynamodb:Query"] == {gates}
    assert "dynamodb:GetItem" not in g, "the gates are read by Query only"


def policy_of_reader(session: Any) -> dict[str, Any]:
    doc = session.client("iam").get_role_policy(RoleName="bbws-promotion-source-reader",
                                                PolicyName="read-for-promotion")["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


ASSUMER = '''
import boto3

def handler(event, context):
    try:
        c = boto3.client("sts").assume_role(RoleArn=event["role_arn"], RoleSessionName="infra-test")["Credentials"]
    except Exception as e:
        return {"assumed": False, "error": str(e)}
    s = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                      aws_session_token=c["SessionToken"], region_name="af-south-1")
    gates = s.client("dynamodb").query(TableName=event["table"], KeyConditionExpression="code_sha256 = :h",
                                       ExpressionAttributeValues={":h": {"S": "0" * 64}})
    return {"assumed": True, "arn": s.client("sts").get_caller_identity()["Arn"], "gates": gates["Count"]}
'''


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_the_deploy_role_reads_the_source_through_its_reader_and_an_admin_cannot(deployed, env, expect_denials):
    """The estate enforces trust and identity policies: only the roles the source reader names, and whose
    own policy allows it, may assume it."""
    src = SOURCE[env]
    s = session_for(env)
    reader = f"arn:aws:iam::{ACCOUNTS[src]}:role/bbws-promotion-source-reader"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", ASSUMER)
    lam = s.client("lambda")
    event = json.dumps({"role_arn": reader, "table": f"bbws-quality-gates-{src}"})
    results = {}
    for key in ("deploy", "record"):  # deploy is trusted; record is not
        name = unique(f"infra-as-{key}")
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="handler.handler",
                            Role=deployed["outputs"][env]["role_arns"][key], Code={"ZipFile": buf.getvalue()},
                            Timeout=20)
        try:
            r = lam.invoke(FunctionName=name, Payload=event)
            assert "FunctionError" not in r, r["Payload"].read()
            results[key] = json.loads(r["Payload"].read())
        finally:
            lam.delete_function(FunctionName=name)
    assert results["deploy"]["assumed"] is True, results["deploy"]
    assert results["deploy"]["arn"].startswith(
        f"arn:aws:sts::{ACCOUNTS[src]}:assumed-role/bbws-promotion-source-reader/")
    assert results["deploy"]["gates"] == 0
    assert results["record"]["assumed"] is False and "AccessDenied" in results["record"]["error"]
    assert expect_denials(1)  # the record role's own policy grants no sts:AssumeRole
    with pytest.raises(ClientError) as e:
        s.client("sts").assume_role(RoleArn=reader, RoleSessionName="admin")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


# -- alarms and the dashboard -----------------------------------------------------------------------

STATE_MACHINES = {"dev": ("rollback", "tenant", "watch"), "sit": ("promote", "rollback", "release", "tenant", "watch"),
                  "prod": ("promote", "rollback", "release", "tenant", "watch")}


def regions_of(env: str) -> list[str]:
    return ["af-south-1", FAILOVER] if env == "prod" else ["af-south-1"]


def alarm_name(resource: str, suffix: str) -> str:
    """bbws-<name>-<suffix>, a name that starts with bbws- not prefixed twice (alarms.tf)."""
    return f"bbws-{resource.removeprefix('bbws-')}-{suffix}"


def bbws_alarms(env: str, region: str) -> dict[str, dict[str, Any]]:
    cw = session_for(env, region).client("cloudwatch")
    found: dict[str, dict[str, Any]] = {}
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix="bbws-"):
        found.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    return found


@pytest.mark.parametrize("env", ENVS)
def test_every_service_function_has_its_errors_and_throttles_alarms_in_every_region(deployed, env):
    """RB-003 §4.4/§7.2: bbws-<function>-errors and -throttles on latest-<env>, with the monitor's rollback
    triggers as thresholds, notifying the events topic of the alarm's own region, and evaluated."""
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    triggers = runbook_config()["monitor"]["triggers"]
    assert sorted(out["alarm_names"]) == sorted(regions_of(env))
    for region in regions_of(env):
        topic = f"arn:aws:sns:{region}:{acct}:bbws-promotion-events-{env}"
        assert out["alarm_topic_arns"][region] == topic
        alarms = bbws_alarms(env, region)
        expected = {}
        for template in SERVICE_FUNCTIONS:
            fn = template.replace("{env}", env)
            for kind, metric in (("errors", "Errors"), ("throttles", "Throttles")):
                expected[alarm_name(fn, kind)] = (fn, kind, metric)
        machines = {alarm_name(f"bbws-{m}-{env}", "executions-failed"): m
                    for m in STATE_MACHINES[env]} if region == "af-south-1" else {}
        assert out["alarm_names"][region] == sorted([*expected, *machines])
        assert not any(n.startswith("bbws-bbws-") for n in out["alarm_names"][region])
        for name, (fn, kind, metric) in expected.items():
            a = alarms[name]
            limit = triggers[kind]
            comparison = "GreaterThanThreshold" if "at_most" in limit else "GreaterThanOrEqualToThreshold"
            threshold = float(limit.get("at_most", limit.get("fewer_than")))
            assert (a["Namespace"], a["MetricName"], a["Statistic"]) == ("AWS/Lambda", metric, "Sum"), name
            assert sorted((d["Name"], d["Value"]) for d in a["Dimensions"]) == \
                [("FunctionName", fn), ("Resource", f"{fn}:latest-{env}")], name
            assert (a["Period"], a["EvaluationPeriods"], a["DatapointsToAlarm"]) == \
                (triggers["lookback_seconds"], 1, 1), name
            assert (a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"]) == \
                (comparison, threshold, "notBreaching"), name
            assert a["ActionsEnabled"] and a["AlarmActions"] == a["OKActions"] == [topic], name
            assert a["InsufficientDataActions"] == [], name
        for name, machine in machines.items():
            a = alarms[name]
            assert (a["Namespace"], a["MetricName"], a["Statistic"]) == ("AWS/States", "ExecutionsFailed", "Sum")
            assert a["Dimensions"] == [{"Name": "StateMachineArn",
                                        "Value": f"arn:aws:states:af-south-1:{acct}:stateMachine:bbws-{machine}-{env}"}]
            assert (a["ComparisonOperator"], a["Threshold"]) == ("GreaterThanThreshold", 0.0)
            assert a["AlarmActions"] == a["OKActions"] == [topic]
        # The estate's evaluator has looked at each of them since make up created them.
        for name in [*expected, *machines]:
            wait_for(lambda: bbws_alarms(env, region)[name]["StateReason"].startswith("Threshold Crossed"),
                     timeout=30, what=f"the first evaluation of {name}")


def test_prod_failover_region_alarms_notify_the_platform_team_through_a_topic_and_key_of_their_own(deployed):
    """An alarm's actions must be in its region: eu-west-1 has its own events topic, encrypted with a key
    of that region whose policy lets CloudWatch use it for this account's bbws- alarms only."""
    s = session_for("prod", FAILOVER)
    acct = ACCOUNTS["prod"]
    topic = deployed["outputs"]["prod"]["alarm_topic_arns"][FAILOVER]
    sns, kms, cw = s.client("sns"), s.client("kms"), s.client("cloudwatch")
    key = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"]
    assert key.startswith(f"arn:aws:kms:{FAILOVER}:{acct}:key/")
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(x["Protocol"], x["Endpoint"]) for x in subs] == [("email", "platform-team@bbws.io")]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    cloudwatch = [st for st in policy["Statement"] if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and sorted(as_list(cloudwatch[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": acct},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{FAILOVER}:{acct}:alarm:bbws-*"}}
    # A bbws- alarm of eu-west-1 notifies through it; another alarm's notification is refused the key.
    allowed, refused = unique("bbws-test-failover"), unique("test-failover")
    for name in (allowed, refused):
        cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
                            Period=120, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="notBreaching", AlarmActions=[topic])
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Testing the failover topic")
    try:
        wait_for(lambda: [m for m in pipeline_client.mailbox("platform-team@bbws.io", allowed)
                          if m["subject"] == f'ALARM: "{allowed}" in EU (Ireland)'], what="the ALARM email")
        assert pipeline_client.mailbox("platform-team@bbws.io", refused) == []
        failed = cw.describe_alarm_history(AlarmName=refused, HistoryItemType="Action")["AlarmHistoryItems"]
        assert failed and "does not have authorization to access the SNS topic encryption key" in \
            failed[0]["HistorySummary"]
    finally:
        cw.delete_alarms(AlarmNames=[allowed, refused])


@pytest.mark.parametrize("env", ENVS)
def test_the_pipeline_key_lets_cloudwatch_publish_for_the_accounts_bbws_alarms_only(deployed, env):
    acct = ACCOUNTS[env]
    kms = session_for(env).client("kms")
    policy = json.loads(kms.get_key_policy(KeyId=deployed["outputs"][env]["kms_key_arn"],
                                           PolicyName="default")["Policy"])
    cloudwatch = [st for st in policy["Statement"] if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and sorted(as_list(cloudwatch[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": acct},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:af-south-1:{acct}:alarm:bbws-*"}}


@pytest.mark.parametrize("env", ENVS)
def test_the_environment_dashboard_shows_each_service_in_each_region_and_the_pipeline(deployed, env):
    """RB-003 §2.3: bbws-<env> with invocations, errors, throttles and duration of latest-<env> of every
    service function in every region it runs in, the pipeline's executions, and every alarm's state."""
    out = deployed["outputs"][env]
    acct = ACCOUNTS[env]
    cw = session_for(env).client("cloudwatch")
    assert out["dashboard_name"] == f"bbws-{env}"
    for region in regions_of(env):  # a dashboard belongs to the account: every region's endpoint sees it
        listed = session_for(env, region).client("cloudwatch").list_dashboards(DashboardNamePrefix="bbws-")
        assert [d["DashboardName"] for d in listed["DashboardEntries"]] == [f"bbws-{env}"], region
    widgets = json.loads(cw.get_dashboard(DashboardName=f"bbws-{env}")["DashboardBody"])["widgets"]
    lines = set()
    for w in widgets:
        if w["type"] != "metric":
            continue
        for m in w["properties"]["metrics"]:
            options = m[-1] if isinstance(m[-1], dict) else {}
            plain = [x for x in m if not isinstance(x, dict)]
            lines.add((plain[0], plain[1], tuple(zip(plain[2::2], plain[3::2])),
                       options.get("region", w["properties"]["region"])))
    for template in SERVICE_FUNCTIONS:
        fn = template.replace("{env}", env)
        for region in regions_of(env):
            for metric in ("Invocations", "Errors", "Throttles", "Duration"):
                assert ("AWS/Lambda", metric, (("FunctionName", fn), ("Resource", f"{fn}:latest-{env}")),
                        region) in lines, (fn, region, metric)
    for machine in STATE_MACHINES[env]:
        arn = f"arn:aws:states:af-south-1:{acct}:stateMachine:bbws-{machine}-{env}"
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
            assert ("AWS/States", metric, (("StateMachineArn", arn),), "af-south-1") in lines, (machine, metric)
    shown = {a for w in widgets if w["type"] == "alarm" for a in w["properties"]["alarms"]}
    assert shown == {f"arn:aws:cloudwatch:{r}:{acct}:alarm:{n}"
                     for r, names in out["alarm_names"].items() for n in names}


@pytest.mark.parametrize("env", ENVS)
def test_the_evidence_bucket_keeps_every_version_encrypted_private_and_undeleted(deployed, env):
    s3 = session_for(env).client("s3", endpoint_url=ENDPOINT)
    out = deployed["outputs"][env]
    bucket = f"bbws-promotion-evidence-{ACCOUNTS[env]}"
    assert out["evidence_bucket"] == bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": out["kms_key_arn"]}
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                  "RestrictPublicBuckets")), block
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    assert by_sid["TlsOnly"]["Effect"] == "Deny"
    assert by_sid["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["EvidenceIsNeverDeleted"]["Effect"] == "Deny"
    assert set(as_list(by_sid["EvidenceIsNeverDeleted"]["Action"])) == {"s3:DeleteObject", "s3:DeleteObjectVersion"}
    [life] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert life["NoncurrentVersionExpiration"]["NoncurrentDays"] == 2555 and "Expiration" not in life
    # The Deny holds for the administrator too (the estate evaluates the bucket policy for every caller).
    key = f"evidence/{env}/infra-test/{unique('t')}/report.md"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("env", ENVS)
def test_the_auditor_role_may_read_the_evidence_and_change_nothing(deployed, env):
    s = session_for(env)
    acct = ACCOUNTS[env]
    out = deployed["outputs"][env]
    name = f"bbws-promotion-auditor-{env}"
    role = s.client("iam").get_role(RoleName=name)["Role"]
    assert out["auditor_role_arn"] == role["Arn"]
    assert [st["Principal"] for st in role["AssumeRolePolicyDocument"]["Statement"]] == [
        {"AWS": f"arn:aws:iam::{acct}:root"}]
    g = grants(s.client("iam").get_role_policy(RoleName=name, PolicyName="read-only")["PolicyDocument"])
    bucket = f"arn:aws:s3:::bbws-promotion-evidence-{acct}"
    tables = {k: f"arn:aws:dynamodb:af-south-1:{acct}:table/{v}" for k, v in out["table_names"].items()}
    assert g == {
        **{a: {tables["deployments"], tables["deployments"] + "/index/*", tables["approvals"]}
           for a in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable")},
        "s3:ListBucket": {bucket}, "s3:ListBucketVersions": {bucket},
        "s3:GetObject": {bucket + "/*"}, "s3:GetObjectVersion": {bucket + "/*"},
        "kms:Decrypt": {out["kms_key_arn"]},
        "states:ListExecutions": g["states:ListExecutions"],
        "states:DescribeStateMachine": g["states:ListExecutions"],
        "states:DescribeExecution": {m.replace(":stateMachine:", ":execution:") + ":*"
                                     for m in g["states:ListExecutions"]},
        "states:GetExecutionHistory": {m.replace(":stateMachine:", ":execution:") + ":*"
                                       for m in g["states:ListExecutions"]},
    }, g
    machines = {f"arn:aws:states:af-south-1:{acct}:stateMachine:bbws-{m}-{env}"
                for m in (("promote", "rollback", "release", "tenant", "watch") if env in SOURCE
                          else ("rollback", "tenant", "watch"))}
    assert g["states:ListExecutions"] == machines
    assert not any(a.split(":")[1].startswith(("Put", "Delete", "Update", "Start", "Stop", "Send", "Create"))
                   for a in g), "nothing that writes"


# -- the tenant build (tenant_build.tf) ------------------------------------------------------------

TENANT_SCRIPTS = ("lib.sh", "plan.sh", "apply.sh")


def tenant_build_names(env: str) -> dict[str, str]:
    acct = ACCOUNTS[env]
    return {"project": f"bbws-tenant-build-{env}", "role": f"bbws-tenant-build-{env}",
            "state": f"bbws-tenant-state-{acct}", "plans": f"bbws-tenant-plans-{acct}",
            "locks": f"bbws-tenant-locks-{env}", "logs": f"/aws/codebuild/bbws-tenant-build-{env}"}


def tenant_scripts_prefix() -> str:
    """tenant-build/<sha256 of the scripts' "<sha256>  <name>" lines>, as tenant_build.tf names it."""
    lines = [f"{hashlib.sha256((INFRA / 'tenant-build' / f).read_bytes()).hexdigest()}  {f}" for f in TENANT_SCRIPTS]
    return "tenant-build/" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_build_outputs_name_each_piece_of_the_account(deployed, env):
    n, acct = tenant_build_names(env), ACCOUNTS[env]
    out = deployed["outputs"][env]["tenant_build"]
    key = out["kms_key_arn"]
    assert key.startswith(f"arn:aws:kms:af-south-1:{acct}:key/") and key != deployed["outputs"][env]["kms_key_arn"]
    assert out == {
        "project_name": n["project"], "project_arn": f"arn:aws:codebuild:af-south-1:{acct}:project/{n['project']}",
        "role_arn": f"arn:aws:iam::{acct}:role/{n['role']}", "log_group": n["logs"],
        "artifacts_bucket": n["plans"], "artifacts_bucket_arn": f"arn:aws:s3:::{n['plans']}",
        "state_bucket": n["state"], "lock_table": n["locks"], "kms_key_arn": key,
        "repository_url": "https://github.com/bbws/2_bbws_tenants_instances_dev.git"}
    kms = session_for(env).client("kms")
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]
    aliases = kms.list_aliases(KeyId=key)["Aliases"]
    assert [a["AliasName"] for a in aliases] == [f"alias/bbws-tenant-build-{env}"]


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_build_project_runs_this_commits_scripts_from_the_tenants_repository(deployed, env):
    s = session_for(env)
    n, out = tenant_build_names(env), deployed["outputs"][env]["tenant_build"]
    [p] = s.client("codebuild").batch_get_projects(names=[n["project"]])["projects"]
    assert p["arn"] == out["project_arn"] and p["serviceRole"] == out["role_arn"]
    src = p["source"]
    assert (src["type"], src["location"], src.get("gitCloneDepth", 0)) == ("GITHUB", out["repository_url"], 0)
    assert p["artifacts"]["type"] == "NO_ARTIFACTS"
    assert (p["timeoutInMinutes"], p["queuedTimeoutInMinutes"]) == (30, 60)
    assert p["encryptionKey"] == out["kms_key_arn"]
    environment = p["environment"]
    assert environment["privilegedMode"] is False and environment["type"] == "LINUX_CONTAINER"
    assert {v["name"]: (v["value"], v.get("type", "PLAINTEXT")) for v in environment["environmentVariables"]} == {
        "ENV": (env, "PLAINTEXT"), "STATE_BUCKET": (n["state"], "PLAINTEXT"),
        "STATE_LOCK_TABLE": (n["locks"], "PLAINTEXT"), "STATE_REGION": ("af-south-1", "PLAINTEXT"),
        "STATE_KMS_KEY_ID": (out["kms_key_arn"], "PLAINTEXT"), "ARTIFACTS_BUCKET": (n["plans"], "PLAINTEXT"),
        "TF_VERSION": ("1.11.4", "PLAINTEXT"),
        "TF_SHA256": ("1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc", "PLAINTEXT")}
    logs = p["logsConfig"]
    assert logs["cloudWatchLogs"]["status"] == "ENABLED" and logs["cloudWatchLogs"]["groupName"] == n["logs"]
    assert logs["s3Logs"]["status"] == "DISABLED"
    group = s.client("logs").describe_log_groups(logGroupNamePrefix=n["logs"])["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"], g.get("kmsKeyId")) for g in group] == \
        [(n["logs"], 90, out["kms_key_arn"])]
    # The buildspec names this commit's scripts by their hash and checks each one; the objects are them.
    prefix = tenant_scripts_prefix()
    spec = src["buildspec"]
    assert "${scripts_" not in spec and "$${" not in spec  # rendered: the template's own and its escapes
    assert '"%s"' % f"s3://{n['plans']}/{prefix}/" in spec  # one copy of the prefix
    s3 = s.client("s3", endpoint_url=ENDPOINT)
    for f in TENANT_SCRIPTS:
        body = (INFRA / "tenant-build" / f).read_bytes()
        assert f"{hashlib.sha256(body).hexdigest()}  {f}" in spec
        got = s3.get_object(Bucket=n["plans"], Key=f"{prefix}/{f}")
        assert got["Body"].read() == body and got["SSEKMSKeyId"] == out["kms_key_arn"]


def bucket_statements(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    return {st["Sid"]: st for st in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_state_and_plans_buckets_and_lock_table_are_encrypted_private_and_kept(deployed, env):
    s = session_for(env)
    s3, ddb = s.client("s3", endpoint_url=ENDPOINT), s.client("dynamodb")
    n, acct = tenant_build_names(env), ACCOUNTS[env]
    key = deployed["outputs"][env]["tenant_build"]["kms_key_arn"]
    for bucket in (n["state"], n["plans"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                      "RestrictPublicBuckets")), block
        ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        tls = bucket_statements(s3, bucket)["TlsOnly"]
        assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    [state_rule] = s3.get_bucket_lifecycle_configuration(Bucket=n["state"])["Rules"]
    assert state_rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90 and "Expiration" not in state_rule
    plans_rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=n["plans"])["Rules"]}
    assert plans_rules["keep-plans"]["Filter"] == {"Prefix": "tenant/"}
    assert plans_rules["keep-plans"]["Expiration"]["Days"] == 400
    assert plans_rules["keep-plans"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 400
    # The plans are read by the build, the pipeline's tenant function and the auditors; nobody else.
    readers = bucket_statements(s3, n["plans"])["PlansAreReadByTheBuildTheTenantFunctionAndAuditorsOnly"]
    assert readers["Effect"] == "Deny" and readers["Resource"] == f"arn:aws:s3:::{n['plans']}/tenant/*"
    assert set(as_list(readers["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert sorted(as_list(readers["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])) == sorted(
        f"arn:aws:iam::{acct}:role/{r}" for r in (n["role"], f"bbws-promotion-tenant-{env}",
                                                   f"bbws-promotion-auditor-{env}"))
    t = ddb.describe_table(TableName=n["locks"])["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in t["KeySchema"]] == [("LockID", "HASH")]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert t["SSEDescription"]["Status"] == "ENABLED" and t["SSEDescription"]["KMSMasterKeyArn"] == key
    assert t["DeletionProtectionEnabled"] is True
    pitr = ddb.describe_continuous_backups(TableName=n["locks"])["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_plan_is_read_by_the_auditors_and_not_by_an_administrator(deployed, env):
    """The plans bucket's Deny holds for the account's administrators; the auditor role reads through it
    (its own grant, the key through S3)."""
    s = session_for(env)
    n = tenant_build_names(env)
    s3 = s.client("s3", endpoint_url=ENDPOINT)
    key = f"tenant/{env}/{unique('infra-test')}/tenant-001/plan-summary.json"
    s3.put_object(Bucket=n["plans"], Key=key, Body=b'{"tenant_id": "tenant-001"}')
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=n["plans"], Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    creds = s.client("sts").assume_role(RoleArn=deployed["outputs"][env]["auditor_role_arn"],
                                        RoleSessionName="infra-test")["Credentials"]
    auditor = session_for(env).client("s3", endpoint_url=ENDPOINT, aws_access_key_id=creds["AccessKeyId"],
                                      aws_secret_access_key=creds["SecretAccessKey"],
                                      aws_session_token=creds["SessionToken"])
    assert auditor.get_object(Bucket=n["plans"], Key=key)["Body"].read() == b'{"tenant_id": "tenant-001"}'
    g = grants(s.client("iam").get_role_policy(RoleName=f"bbws-promotion-auditor-{env}",
                                               PolicyName="tenant-plans")["PolicyDocument"])
    bucket = f"arn:aws:s3:::{n['plans']}"
    assert g == {"s3:ListBucket": {bucket}, "s3:ListBucketVersions": {bucket},
                 "s3:GetObject": {bucket + "/tenant/*"}, "s3:GetObjectVersion": {bucket + "/tenant/*"},
                 "kms:Decrypt": {deployed["outputs"][env]["tenant_build"]["kms_key_arn"]}}


# What the build's role may do: its logs, the state, the plans and scripts, the key through S3, and what the
# tenants' Terraform (modules/wordpress-tenant) needs, by the tenants' names.
TENANT_BUILD_ACTIONS = {
    "OwnLogs": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    "TenantStates": {"s3:GetObject", "s3:PutObject"},
    "ListTenantStates": {"s3:ListBucket"},
    "TenantStateLocks": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
    "ThisEnvironmentsPlans": {"s3:GetObject", "s3:PutObject"},
    "BuildScripts": {"s3:GetObject"},
    "ListTheScriptsAndThisEnvironmentsPlans": {"s3:ListBucket"},
    "EncryptedStatesAndPlans": {"kms:Decrypt", "kms:GenerateDataKey"},
    "ThePlatformCluster": {"ecs:DescribeClusters"},
    "ThePlatformNetwork": {"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                           "ec2:DescribeRouteTables"},
    "ThePlatformVpcAttributes": {"ec2:DescribeVpcAttribute"},
    "TenantServices": {"ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices"},
    "TenantTaskDefinitions": {"ecs:RegisterTaskDefinition"},
    "TagTenantServicesAndTaskDefinitions": {"ecs:TagResource", "ecs:UntagResource"},
    "TaskDefinitionRevisions": {"ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition"},
    "PassTenantExecutionRolesToEcsTasks": {"iam:PassRole"},
    "TenantExecutionRoles": {"iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole",
                             "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies",
                             "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
                             "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"},
    "NoRoleAssumed": {"sts:AssumeRole"},
    "TenantLogGroups": {"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                        "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource",
                        "logs:ListTagsForResource"},
    "DescribeLogGroups": {"logs:DescribeLogGroups"},
    "TenantParameters": {"ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource",
                         "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
    "DescribeParameters": {"ssm:DescribeParameters"},
}
# The statements on "*": actions without a resource type in the Service Authorization Reference (and the Deny).
TENANT_BUILD_UNSCOPED = {"ThePlatformNetwork", "TaskDefinitionRevisions", "DescribeLogGroups", "DescribeParameters",
                         "NoRoleAssumed"}


@pytest.mark.parametrize("env", ENVS)
def test_the_tenant_build_role_is_trusted_by_its_project_and_scoped_to_the_tenants(deployed, env):
    s = session_for(env)
    iam_client = s.client("iam")
    n, acct, region = tenant_build_names(env), ACCOUNTS[env], "af-south-1"
    out = deployed["outputs"][env]["tenant_build"]
    role = iam_client.get_role(RoleName=n["role"])["Role"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": acct},
                                  "ArnEquals": {"aws:SourceArn": out["project_arn"]}}
    assert iam_client.list_role_policies(RoleName=n["role"])["PolicyNames"] == ["tenant-build"]
    assert iam_client.list_attached_role_policies(RoleName=n["role"])["AttachedPolicies"] == []
    doc = iam_client.get_role_policy(RoleName=n["role"], PolicyName="tenant-build")["PolicyDocument"]
    statements = {st["Sid"]: st for st in (json.loads(doc) if isinstance(doc, str) else doc)["Statement"]}
    assert {sid: set(as_list(st["Action"])) for sid, st in statements.items()} == TENANT_BUILD_ACTIONS
    resources = {sid: set(as_list(st["Resource"])) for sid, st in statements.items()}
    arn = f"arn:aws:%s:{region}:{acct}:%s"
    assert resources == {
        "OwnLogs": {arn % ("logs", f"log-group:{n['logs']}:log-stream:*")},
        "TenantStates": {f"arn:aws:s3:::{n['state']}/tenants/*"},
        "ListTenantStates": {f"arn:aws:s3:::{n['state']}"},
        "TenantStateLocks": {arn % ("dynamodb", f"table/{n['locks']}")},
        "ThisEnvironmentsPlans": {f"arn:aws:s3:::{n['plans']}/tenant/{env}/*"},
        "BuildScripts": {f"arn:aws:s3:::{n['plans']}/tenant-build/*"},
        "ListTheScriptsAndThisEnvironmentsPlans": {f"arn:aws:s3:::{n['plans']}"},
        "EncryptedStatesAndPlans": {out["kms_key_arn"]},
        "ThePlatformCluster": {arn % ("ecs", f"cluster/bbws-cluster-{env}")},
        "ThePlatformVpcAttributes": {arn % ("ec2", "vpc/*")},
        "TenantServices": {arn % ("ecs", f"service/bbws-cluster-{env}/tenant-*")},
        "TenantTaskDefinitions": {arn % ("ecs", "task-definition/tenant-*:*")},
        "TagTenantServicesAndTaskDefinitions": {arn % ("ecs", f"service/bbws-cluster-{env}/tenant-*"),
                                                arn % ("ecs", "task-definition/tenant-*:*")},
        "PassTenantExecutionRolesToEcsTasks": {f"arn:aws:iam::{acct}:role/tenant-*-execution-{env}"},
        "TenantExecutionRoles": {f"arn:aws:iam::{acct}:role/tenant-*-execution-{env}"},
        "TenantLogGroups": {arn % ("logs", f"log-group:/bbws/tenants/{env}/tenant-*")},
        "TenantParameters": {arn % ("ssm", f"parameter/bbws/tenants/{env}/tenant-*")},
        **{sid: {"*"} for sid in TENANT_BUILD_UNSCOPED},
    }
    assert {sid for sid, st in statements.items() if st["Effect"] == "Deny"} == {"NoRoleAssumed"}
    assert statements["PassTenantExecutionRolesToEcsTasks"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert statements["EncryptedStatesAndPlans"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    assert statements["ListTheScriptsAndThisEnvironmentsPlans"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{tenant_scripts_prefix()}/", f"tenant/{env}/*"]}}


@pytest.fixture(scope="module")
def evaluator():
    from bbws_local.iam import Evaluator

    e = Evaluator()
    yield e
    e.close()


@pytest.mark.parametrize("env", ["dev", "sit", "prod"])
def test_the_tenant_build_role_may_not_reach_past_its_tenants_or_its_environment(deployed, env, evaluator):
    """The role's policy as deployed, decided by the estate's evaluator for requests AWS would authorise:
    what a tenant build does is allowed; the same actions on another environment's prefix, the pipeline's
    own roles, tables, parameters and functions, or another cluster's services are not."""
    s = session_for(env)
    n, acct, region = tenant_build_names(env), ACCOUNTS[env], "af-south-1"
    other = {"dev": "sit", "sit": "prod", "prod": "dev"}[env]
    doc = s.client("iam").get_role_policy(RoleName=n["role"], PolicyName="tenant-build")["PolicyDocument"]
    policy = json.loads(doc) if isinstance(doc, str) else doc
    key = deployed["outputs"][env]["tenant_build"]["kms_key_arn"]
    role_arn = f"arn:aws:iam::{acct}:role/{n['role']}"

    kms = s.client("kms")
    key_policies = {k: json.loads(kms.get_key_policy(KeyId=k, PolicyName="default")["Policy"])
                    for k in (key, deployed["outputs"][env]["kms_key_arn"])}

    def decide(action: str, resource: str, **context: str) -> str:
        simulation = {
            "identityPolicies": [{"name": "tenant-build", "policy": policy}],
            "serviceControlPolicies": [], "resourceControlPolicies": [],
            "request": {"action": action, "principal": f"arn:aws:sts::{acct}:assumed-role/{n['role']}/AWSCodeBuild-x",
                        "resource": {"resource": resource, "accountId": acct},
                        "contextVariables": {"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": acct,
                                             "aws:RequestedRegion": region, **context}}}
        if resource in key_policies:  # a key's use is decided with its key policy
            simulation["resourcePolicy"] = key_policies[resource]
            simulation["request"]["contextVariables"]["kms:CallerAccount"] = acct
        return evaluator.decide(simulation, False)

    arn = f"arn:aws:%s:{region}:{acct}:%s"
    tenant_role = f"arn:aws:iam::{acct}:role/tenant-001-wordpress-execution-{env}"
    allowed = [
        ("s3:PutObject", f"arn:aws:s3:::{n['plans']}/tenant/{env}/run-1/tenant-001/tfplan", {}),
        ("s3:GetObject", f"arn:aws:s3:::{n['state']}/tenants/tenant-001/terraform.tfstate", {}),
        ("kms:GenerateDataKey", key, {"kms:ViaService": f"s3.{region}.amazonaws.com"}),
        ("ecs:UpdateService", arn % ("ecs", f"service/bbws-cluster-{env}/tenant-001-wordpress"), {}),
        ("iam:PutRolePolicy", tenant_role, {}),
        ("iam:PassRole", tenant_role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        ("ssm:PutParameter", arn % ("ssm", f"parameter/bbws/tenants/{env}/tenant-001/settings"), {}),
        ("logs:CreateLogGroup", arn % ("logs", f"log-group:/bbws/tenants/{env}/tenant-001"), {}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {"s3:prefix": f"{tenant_scripts_prefix()}/"}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {"s3:prefix": f"tenant/{env}/run-1/tenant-001/"}),
    ]
    refused = [
        ("s3:PutObject", f"arn:aws:s3:::{n['plans']}/tenant/{other}/run-1/tenant-001/tfplan", {}),
        ("s3:GetObject", f"arn:aws:s3:::{n['plans']}/tenant/{other}/run-1/tenant-001/tfplan", {}),
        ("s3:PutObject", f"arn:aws:s3:::{n['plans']}/tenant-build/x/plan.sh", {}),
        ("s3:PutObject", f"arn:aws:s3:::bbws-promotion-evidence-{acct}/evidence/{env}/x", {}),
        ("kms:Decrypt", key, {"kms:ViaService": f"ssm.{region}.amazonaws.com"}),
        ("kms:Decrypt", deployed["outputs"][env]["kms_key_arn"], {"kms:ViaService": f"s3.{region}.amazonaws.com"}),
        ("dynamodb:PutItem", arn % ("dynamodb", f"table/bbws-deployments-{env}"), {}),
        ("ecs:UpdateService", arn % ("ecs", f"service/bbws-cluster-{env}/bbws-platform-api"), {}),
        ("ecs:UpdateService", arn % ("ecs", f"service/bbws-cluster-{other}/tenant-001-wordpress"), {}),
        ("iam:PutRolePolicy", f"arn:aws:iam::{acct}:role/bbws-promotion-deploy-{env}", {}),
        ("iam:CreateRole", f"arn:aws:iam::{acct}:role/tenant-001-wordpress-execution-{other}", {}),
        ("iam:AttachRolePolicy", tenant_role, {}),
        ("iam:PassRole", tenant_role, {"iam:PassedToService": "lambda.amazonaws.com"}),
        ("iam:PassRole", f"arn:aws:iam::{acct}:role/{n['role']}", {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        ("sts:AssumeRole", tenant_role, {}),
        ("ssm:GetParameter", arn % ("ssm", f"parameter/bbws/promotion/{env}/approval-key"), {}),
        ("ssm:PutParameter", arn % ("ssm", f"parameter/bbws/tenants/{other}/tenant-001/settings"), {}),
        ("logs:DeleteLogGroup", arn % ("logs", f"log-group:/aws/lambda/bbws-promotion-deploy-{env}"), {}),
        ("lambda:UpdateFunctionCode", arn % ("lambda", f"function:bbws-promotion-deploy-{env}"), {}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {"s3:prefix": f"tenant/{other}/run-1/tenant-001/"}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {"s3:prefix": "tenant-build/"}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {"s3:prefix": ""}),
        ("s3:ListBucket", f"arn:aws:s3:::{n['plans']}", {}),
    ]
    wrong = [(a, r) for a, r, c in allowed if decide(a, r, **c) != "Allowed"]
    assert wrong == [], f"refused what a tenant build does: {wrong}"
    let_through = [(a, r) for a, r, c in refused if decide(a, r, **c) == "Allowed"]
    assert let_through == [], f"allowed past the tenants or the environment: {let_through}"
    assert decide("sts:AssumeRole", tenant_role) == "ExplicitlyDenied"
