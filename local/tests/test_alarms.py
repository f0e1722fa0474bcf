"""CloudWatch alarms on the estate (patch 20, alarms.py): evaluated from the estate's own metrics, with AWS's
states, reasons, history and SNS notifications; SetAlarmState; DescribeAlarms' filters; the AWS/States
metrics the pipeline's own alarms read (patch 21).

The alarms are driven by real metrics: a test's own copy of a BBWS service function, deployed with its
`errors-under-traffic` build, answers ordinary requests with errors. Time passes through
`POST /_local/alarms/evaluate` with a later `at`, as if the estate's clock had moved on with no more data.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from bbws_local.pipeline_client import mailbox
from bbws_local.settings import ACCOUNTS, runbook_config
from botocore.exceptions import ClientError
from conftest import ENDPOINT, unique, wait_for

from services import catalog, seed, traffic
from services.estate import Estate

TENANTS = catalog.service("tenant-instance-management")
REGION = catalog.PRIMARY_REGION


def evaluate(env: str, names: list[str], at: float | None = None) -> dict[str, dict[str, Any]]:
    """Evaluate alarms of an account now (or as of `at`); their states by name."""
    doc: dict[str, Any] = {"account": ACCOUNTS[env], "region": REGION, "alarm_names": names}
    if at is not None:
        doc["at"] = at
    req = urllib.request.Request(f"{ENDPOINT}/_local/alarms/evaluate", data=json.dumps(doc).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return {a["alarm"]: a for a in json.loads(r.read())["alarms"]}


def alarm_of(cw: Any, name: str) -> dict[str, Any]:
    found = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(found) == 1, found
    return found[0]


def history(cw: Any, name: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The alarm's history, oldest first."""
    kwargs = {"HistoryItemType": kind} if kind else {}
    items = cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending", **kwargs)["AlarmHistoryItems"]
    return items


def notifications(address: str, alarm_name: str, state: str) -> list[dict[str, Any]]:
    """The alarm's notifications of one state that reached `address` (a new alarm with OK actions also
    notifies its first move from INSUFFICIENT_DATA to OK, as on AWS)."""
    return [m for m in mailbox(address, alarm_name) if m["subject"].startswith(f'{state}: "{alarm_name}"')]


def runbook_limit(kind: str) -> tuple[str, float]:
    """The monitor's rollback trigger for errors or throttles as (comparison, threshold), as Terraform
    makes the bbws-<function>-<kind> alarms."""
    limit = runbook_config()["monitor"]["triggers"][kind]
    if "at_most" in limit:
        return "GreaterThanThreshold", float(limit["at_most"])
    return "GreaterThanOrEqualToThreshold", float(limit["fewer_than"])


@pytest.fixture(scope="module")
def estate() -> Estate:
    return Estate()


@pytest.fixture
def erroring_function(estate: Estate) -> Iterator[str]:
    """A DEV copy of the tenant function whose latest-dev build fails every ordinary request."""
    account = seed.Account(estate, "dev", REGION, [])
    name = unique("bbws-tenant-instance-management-dev")
    seed.seed_function(account, seed.Packages(estate.state_dir), TENANTS, TENANTS.functions[0],
                       account.ensure_role(), name=name)
    seed.deploy_variant("dev", TENANTS.name, "errors-under-traffic", "1.4.3", estate, functions=[name])
    yield name
    account.lam.delete_function(FunctionName=name)


@pytest.fixture
def topic(dev) -> Iterator[tuple[str, str]]:
    """An SNS topic of DEV (its default policy) with one email subscriber: (topic ARN, address)."""
    sns = dev.client("sns")
    arn = sns.create_topic(Name=unique("bbws-test-alarms"))["TopicArn"]
    address = f"{unique('on-call')}@bbws.io"
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
    yield arn, address
    sns.delete_topic(TopicArn=arn)


CREATED: list[tuple[Any, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _delete_the_alarms_made() -> Iterator[None]:
    yield
    for cw, name in CREATED:
        cw.delete_alarms(AlarmNames=[name])


def put_errors_alarm(cw: Any, name: str, function: str, topic_arn: str) -> None:
    """bbws-<function>-errors as Terraform defines it (infra/modules/pipeline/alarms.tf)."""
    CREATED.append((cw, name))
    comparison, threshold = runbook_limit("errors")
    cw.put_metric_alarm(
        AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": function},
                    {"Name": "Resource", "Value": f"{function}:latest-dev"}],
        Statistic="Sum", Period=runbook_config()["monitor"]["triggers"]["lookback_seconds"], EvaluationPeriods=1,
        DatapointsToAlarm=1, ComparisonOperator=comparison, Threshold=threshold, TreatMissingData="notBreaching",
        AlarmActions=[topic_arn], OKActions=[topic_arn])


def test_errors_put_the_alarm_in_alarm_with_a_reason_and_an_email_then_time_brings_it_back_to_ok(
        dev, estate, erroring_function, topic):
    name, (topic_arn, address) = erroring_function, topic
    cw = dev.client("cloudwatch")
    alarm_name = f"bbws-{name.removeprefix('bbws-')}-errors"
    put_errors_alarm(cw, alarm_name, name, topic_arn)
    # A new alarm is INSUFFICIENT_DATA until its first evaluation (the background evaluator's may come
    # first): with no invocation yet, none counts as none.
    assert evaluate("dev", [alarm_name])[alarm_name]["state"] == "OK"

    _, threshold = runbook_limit("errors")
    errors = int(threshold) + 1
    report = traffic.send_traffic("dev", TENANTS.name, requests=errors, functions=[name], estate=estate)
    assert report.total.function_errors == errors
    sent = time.time()
    # A minute later the period that holds the errors has ended: CloudWatch evaluates whole minutes.
    state = evaluate("dev", [alarm_name], at=sent + 60)[alarm_name]
    assert state["state"] == "ALARM", state
    alarm = alarm_of(cw, alarm_name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith(f"Threshold Crossed: 1 datapoint [{float(errors)} (")
    assert alarm["StateReason"].endswith(f")] was greater than the threshold ({threshold}).")
    data = json.loads(alarm["StateReasonData"])
    assert data["statistic"] == "Sum" and data["recentDatapoints"] == [float(errors)]
    assert data["threshold"] == threshold and data["evaluatedDatapoints"][0]["value"] == float(errors)
    firing = cw.describe_alarms(AlarmNamePrefix=alarm_name, StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in firing] == [alarm_name]

    mail = wait_for(lambda: notifications(address, alarm_name, "ALARM"), what="the ALARM email")
    assert mail[0]["subject"] == f'ALARM: "{alarm_name}" in Africa (Cape Town)'
    body = mail[0]["body"]
    assert f'Amazon CloudWatch Alarm "{alarm_name}" in the Africa (Cape Town) region has entered the ALARM state' in body
    assert "- State Change:               INSUFFICIENT_DATA -> ALARM" not in body  # it was OK before
    assert "- State Change:               OK -> ALARM" in body
    assert f"[FunctionName = {name}] [Resource = {name}:latest-dev]" in body

    # No more errors: the alarm stays in ALARM while the breaching datapoint is in its evaluation
    # range, then returns to OK, and says so.
    assert evaluate("dev", [alarm_name], at=sent + 180)[alarm_name]["state"] == "ALARM"
    state = evaluate("dev", [alarm_name], at=sent + 600)[alarm_name]
    assert state["state"] == "OK", state
    assert alarm_of(cw, alarm_name)["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching].")
    # Two OK notifications: the first evaluation's, and this one.
    wait_for(lambda: len(notifications(address, alarm_name, "OK")) == 2, what="the OK email")
    assert len(notifications(address, alarm_name, "ALARM")) == 1

    summaries = [h["HistorySummary"] for h in history(cw, alarm_name)]
    done = f"Successfully executed action {topic_arn}"
    assert summaries == [f'Alarm "{alarm_name}" created', "Alarm updated from INSUFFICIENT_DATA to OK", done,
                         "Alarm updated from OK to ALARM", done, "Alarm updated from ALARM to OK", done]
    update = json.loads(history(cw, alarm_name, "StateUpdate")[1]["HistoryData"])
    assert update["oldState"]["stateValue"] == "OK" and update["newState"]["stateValue"] == "ALARM"
    action = json.loads(history(cw, alarm_name, "Action")[1]["HistoryData"])
    assert action["actionState"] == "Succeeded" and action["notificationResource"] == topic_arn


def test_set_alarm_state_notifies_and_the_next_evaluation_returns_the_alarm_to_its_real_state(dev, topic):
    topic_arn, address = topic
    cw = dev.client("cloudwatch")
    alarm_name = unique("bbws-test-set-state")
    put_errors_alarm(cw, alarm_name, unique("bbws-no-such-function"), topic_arn)
    evaluate("dev", [alarm_name])
    cw.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="Testing the on-call notification",
                       StateReasonData=json.dumps({"by": "test"}))
    alarm = alarm_of(cw, alarm_name)
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "Testing the on-call notification")
    assert json.loads(alarm["StateReasonData"]) == {"by": "test"}
    mail = wait_for(lambda: notifications(address, alarm_name, "ALARM"), what="the ALARM email")
    assert 'because "Testing the on-call notification"' in mail[0]["body"]
    with pytest.raises(ClientError) as e:
        cw.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="x", StateReasonData="{not json")
    assert e.value.response["Error"]["Code"] == "InvalidFormat"
    # No errors were ever counted: the next evaluation puts it back in OK, and notifies.
    assert evaluate("dev", [alarm_name])[alarm_name]["state"] == "OK"
    wait_for(lambda: len(notifications(address, alarm_name, "OK")) == 2, what="the second OK email")
    assert len(notifications(address, alarm_name, "ALARM")) == 1


def test_the_background_evaluator_evaluates_a_new_alarm_without_being_asked(dev, topic):
    cw = dev.client("cloudwatch")
    alarm_name = unique("bbws-test-background")
    put_errors_alarm(cw, alarm_name, unique("bbws-no-such-function"), topic[0])
    wait_for(lambda: alarm_of(cw, alarm_name)["StateValue"] == "OK", timeout=30,
             what="the background evaluation of a new alarm")
    assert [h["HistorySummary"] for h in history(cw, alarm_name, "StateUpdate")] == \
        ["Alarm updated from INSUFFICIENT_DATA to OK"]


def test_the_pipeline_key_lets_only_bbws_alarms_notify_the_encrypted_events_topic(dev):
    """The events topic is encrypted with the pipeline key, whose policy lets CloudWatch use it for this
    account's bbws- alarms only (infra/modules/pipeline/kms.tf): any other alarm's notification fails."""
    cw = dev.client("cloudwatch")
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNTS['dev']}:bbws-promotion-events-dev"
    allowed, refused = unique("bbws-test-key"), unique("test-key")
    for name in (allowed, refused):
        put_errors_alarm(cw, name, unique("bbws-no-such-function"), topic_arn)
        cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Testing the key policy")
    wait_for(lambda: notifications("platform-team@bbws.io", allowed, "ALARM"), what="the bbws- alarm's email")
    assert mailbox("platform-team@bbws.io", refused) == []
    action = history(cw, refused, "Action")  # (the next evaluation's return to OK may add a second)
    assert action and all(a["HistorySummary"].startswith(f"Failed to execute action {topic_arn}") for a in action)
    assert "CloudWatch Alarms does not have authorization to access the SNS topic encryption key" in \
        action[0]["HistorySummary"]
    assert {json.loads(h["HistoryData"])["actionState"] for h in history(cw, allowed, "Action")} == {"Succeeded"}


def test_put_metric_alarm_refuses_an_action_in_another_region(prod):
    cw = prod.client("cloudwatch", region_name="eu-west-1")
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName=unique("bbws-test-region"), Namespace="AWS/Lambda", MetricName="Errors",
                            Statistic="Sum", Period=120, EvaluationPeriods=1, Threshold=5,
                            ComparisonOperator="GreaterThanThreshold",
                            AlarmActions=[f"arn:aws:sns:af-south-1:{ACCOUNTS['prod']}:bbws-promotion-events-prod"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == "Invalid region af-south-1 specified. Only eu-west-1 is supported."


def test_describe_alarms_combines_its_filters_and_pages(dev, topic):
    """RB-003 §4.4's `describe-alarms --alarm-name-prefix bbws- --state-value ALARM` lists only alarms in ALARM."""
    cw = dev.client("cloudwatch")
    prefix = unique("bbws-test-filter")
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        put_errors_alarm(cw, n, unique("bbws-no-such-function"), topic[0])
    evaluate("dev", names)
    cw.set_alarm_state(AlarmName=names[1], StateValue="ALARM", StateReason="test")
    firing = cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in firing] == [names[1]]
    page = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
    assert [a["AlarmName"] for a in page["MetricAlarms"]] == names[:2]
    rest = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == names[2:] and "NextToken" not in rest


def test_executions_put_aws_states_metrics_and_a_failed_execution_alarms(dev, make_state_machine, topic):
    cw = dev.client("cloudwatch")
    arn = make_state_machine(dev, {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Test.Failed"}}})
    alarm_name = unique("bbws-test-executions-failed")
    cw.put_metric_alarm(AlarmName=alarm_name, Namespace="AWS/States", MetricName="ExecutionsFailed",
                        Dimensions=[{"Name": "StateMachineArn", "Value": arn}], Statistic="Sum", Period=120,
                        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic[0]])
    CREATED.append((cw, alarm_name))
    sfn = dev.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] == "FAILED", what="the failure")

    def total(metric: str) -> float:
        now = time.time()
        points = cw.get_metric_statistics(
            Namespace="AWS/States", MetricName=metric, Dimensions=[{"Name": "StateMachineArn", "Value": arn}],
            StartTime=now - 600, EndTime=now + 60, Period=3600, Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)

    wait_for(lambda: total("ExecutionsFailed") == 1, what="ExecutionsFailed")
    assert total("ExecutionsStarted") == 1 and total("ExecutionsSucceeded") == 0
    assert evaluate("dev", [alarm_name], at=time.time() + 60)[alarm_name]["state"] == "ALARM"
    wait_for(lambda: notifications(topic[1], alarm_name, "ALARM"), what="the ALARM email")


def test_the_evaluation_endpoint_refuses_what_it_cannot_read():
    for body in (b"[]", b"not json", json.dumps({"at": "soon"}).encode(), json.dumps({"alarm_names": "x"}).encode()):
        req = urllib.request.Request(f"{ENDPOINT}/_local/alarms/evaluate", data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400, body
