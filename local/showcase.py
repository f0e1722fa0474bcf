"""`make demo` (until the promotion pipeline lands): a short walk through the local estate.

DEV builds a function; SIT copies its code through an assumed role and Code.Location; a SIT state machine
runs it, waits for a task token and is answered; the invocations show in CloudWatch; an SNS email lands
in the local mailbox.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))  # local/: bbws_local and services

from bbws_local import pipeline_client as pc  # noqa: E402
from bbws_local.settings import ACCOUNTS  # noqa: E402

S = pc.SETTINGS
STAMP = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def step(text: str) -> None:
    print(f"\n== {text}")


def role(session: boto3.Session, name: str, principal: dict, action: str | None = None,
         function_arn: str | None = None) -> str:
    """A role `principal` may assume, allowed `action` on the function (and its versions and aliases):
    the estate enforces IAM as AWS does."""
    arn = pc.ensure_role(session, name, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})
    if action:
        session.client("iam").put_role_policy(RoleName=name, PolicyName="showcase", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": action, "Resource": [function_arn, f"{function_arn}:*"]}]}))
    return arn


def main() -> int:
    dev = pc.session("dev")
    sit = pc.session("sit")
    package = (pc.ROOT / "target/lambda/bbws-local-probe/bootstrap.zip").read_bytes()
    name_dev, name_sit = f"showcase-{STAMP}-dev", f"showcase-{STAMP}-sit"

    step(f"DEV ({ACCOUNTS['dev']}): create {name_dev} (provided.al2023), publish, alias latest-dev")
    lam_dev = dev.client("lambda")
    fn_role = role(dev, "showcase-fn", {"Service": "lambda.amazonaws.com"})
    created = lam_dev.create_function(FunctionName=name_dev, Runtime="provided.al2023", Handler="bootstrap",
                                      Role=fn_role, Code={"ZipFile": package})
    version = lam_dev.publish_version(FunctionName=name_dev)["Version"]
    lam_dev.create_alias(FunctionName=name_dev, Name="latest-dev", FunctionVersion=version)
    print(f"   version {version}, CodeSha256 {created['CodeSha256']}")

    step(f"SIT ({ACCOUNTS['sit']}): refused in DEV without a role, then reads DEV through an assumed role")
    try:
        sit.client("lambda").get_function(FunctionName=created["FunctionArn"])
    except sit.client("lambda").exceptions.ClientError as e:
        print(f"   direct read refused: {e.response['Error']['Code']}")
    reader = role(dev, "showcase-reader-for-sit", {"AWS": f"arn:aws:iam::{ACCOUNTS['sit']}:root"},
                  "lambda:GetFunction", created["FunctionArn"])
    c = sit.client("sts").assume_role(RoleArn=reader, RoleSessionName="showcase")["Credentials"]
    in_dev = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                           aws_session_token=c["SessionToken"], region_name="af-south-1")
    got = in_dev.client("lambda", endpoint_url=S.endpoint).get_function(FunctionName=name_dev,
                                                                        Qualifier="latest-dev")
    with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as r:
        copied = r.read()
    lam_sit = sit.client("lambda")
    target = lam_sit.create_function(FunctionName=name_sit, Runtime="provided.al2023", Handler="bootstrap",
                                     Role=role(sit, "showcase-fn", {"Service": "lambda.amazonaws.com"}),
                                     Code={"ZipFile": copied}, Publish=True)
    same = target["CodeSha256"] == created["CodeSha256"]
    print(f"   copied {len(copied)} bytes via Code.Location; CodeSha256 equal: {same}")

    step("SIT: a state machine invokes the copy, then waits for a task token")
    sfn = sit.client("stepfunctions")
    sm = sfn.create_state_machine(
        name=f"showcase-{STAMP}", roleArn=role(sit, "showcase-sfn", {"Service": "states.amazonaws.com"},
                                               "lambda:InvokeFunction", target["FunctionArn"]),
        definition=json.dumps({"StartAt": "Health check", "States": {
            "Health check": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                             "Parameters": {"FunctionName": target["FunctionArn"], "Payload": {"action": "health"}},
                             "ResultSelector": {"statusCode.$": "$.Payload.statusCode"}, "ResultPath": "$.health",
                             "Next": "Wait for approval"},
            "Wait for approval": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                                  "Parameters": {"FunctionName": target["FunctionArn"],
                                                 "Payload": {"token.$": "$$.Task.Token"}},
                                  "TimeoutSeconds": 60, "ResultPath": "$.approval", "End": True}}}))
    run = sfn.start_execution(stateMachineArn=sm["stateMachineArn"], name=f"showcase-{STAMP}", input="{}")
    token = None
    while token is None:
        for ev in pc.history("sit", run["executionArn"]):
            params = (ev.get("taskScheduledEventDetails") or {}).get("parameters")
            if params and "token" in params:
                token = json.loads(params)["Payload"]["token"]
        time.sleep(0.1)
    print("   waiting for approval; answering with SendTaskSuccess")
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved_by": "dev-lead@bbws.io"}))
    d = pc.wait_execution("sit", run["executionArn"], poll=0.1)
    for name in pc.states_entered("sit", run["executionArn"]):
        print(f"   state: {name}")
    print(f"   execution {d['status']}: {d.get('output')}")

    step("CloudWatch: AWS/Lambda metrics of the SIT copy")
    now = dt.datetime.now(dt.timezone.utc)
    stats = sit.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": name_sit}],
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1), Period=300,
        Statistics=["Sum"])
    print(f"   Invocations: {sum(p['Sum'] for p in stats['Datapoints']):.0f}")

    step("SNS: an email to the local mailbox")
    sns = sit.client("sns")
    topic = sns.create_topic(Name="showcase-notifications")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="dev-lead@bbws.io")
    sns.publish(TopicArn=topic, Subject=f"Showcase {STAMP} finished", Message=f"Execution: {run['executionArn']}")
    print(f"   read it with `make mail` or at {S.endpoint}/_local/mailbox")
    return 0 if same and d["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
