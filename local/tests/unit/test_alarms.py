"""The estate's alarm evaluation (alarms.py, patch 20) without the estate: the decision as AWS documents it,
the periods read, the statistics, PutMetricAlarm's checks, and the transitions of alarms held by moto's
backends in this process (history, reasons, SNS actions into the mailbox)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from bbws_local import alarms, patches
from bbws_local.alarms import ALARM, INSUFFICIENT, OK, Rule, decide, period_starts, statistic
from bbws_local.settings import Settings

X, O, _ = 9.0, 1.0, None  # a breaching datapoint, a good one, a missing one (threshold 5, ">")


def rule(n: int = 3, m: int | None = None, treat: str = "missing", op: str = "GreaterThanThreshold") -> Rule:
    return Rule(period=60, evaluation_periods=n, datapoints_to_alarm=m or n, comparison=op, threshold=5.0,
                statistic="Sum", treat_missing=treat)


def state(values: list[float | None], r: Rule, current: str = OK) -> str | None:
    starts = [1_800_000_000.0 + 60 * i for i in range(len(values))]
    return decide(values, starts, r, current).state


# AWS's table for an alarm of 3 out of 3 datapoints with an evaluation range of 5, oldest first
# ("Configuring how CloudWatch alarms treat missing data"); None = the current state is kept.
AWS_TABLE = [
    ([O, _, X, _, X], {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ([_, _, _, _, O], {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ([_, _, _, _, _], {"missing": INSUFFICIENT, "ignore": None, "breaching": ALARM, "notBreaching": OK}),
    ([O, X, X, _, X], {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ([_, _, X, _, _], {"missing": ALARM, "ignore": None, "breaching": ALARM, "notBreaching": OK}),
]


@pytest.mark.parametrize("treat", alarms.TREAT_MISSING)
@pytest.mark.parametrize("values,expected", AWS_TABLE, ids=lambda v: "".join(
    "-" if x is None else ("X" if x > 5 else "0") for x in v) if isinstance(v, list) else "")
def test_treat_missing_data_as_aws_documents_it(values, expected, treat):
    assert state(values, rule(treat=treat)) == expected[treat]


def test_ignore_keeps_the_current_state_whatever_it_is():
    for current in (OK, ALARM, INSUFFICIENT):
        d = decide([_, _, _, _, _], [0.0, 60.0, 120.0, 180.0, 240.0], rule(treat="ignore"), current)
        assert d.state is None


def test_enough_real_datapoints_decide_and_missing_ones_play_no_part():
    for treat in alarms.TREAT_MISSING:
        assert state([X, X, _, X, _], rule(treat=treat)) == ALARM  # the three most recent real ones
        assert state([X, X, _, O, _], rule(treat=treat)) == OK


def test_m_out_of_n():
    r = rule(n=3, m=2)
    assert state([O, O, O, X, X], r) == ALARM
    assert state([O, O, X, O, O], r) == OK
    assert state([X, O, O, X, O], r) == OK  # the oldest X is out of the last three


def test_missing_goes_to_alarm_early_only_when_the_breach_is_old_enough():
    """AWS: one breaching point at least DatapointsToAlarm periods old, and nothing good after it."""
    assert state([_, _, X, _, _], rule(treat="missing")) == ALARM  # 3 periods old
    assert state([_, _, _, X, _], rule(treat="missing")) == OK  # 2 periods old: too young
    assert state([_, _, X, O, _], rule(treat="missing")) == OK  # a good point since


def test_the_runbook_alarm_one_period_not_breaching_when_missing():
    """bbws-<function>-errors: Sum over 120 s, more than 5, 1 of 1, missing data counts as none."""
    r = Rule(period=120, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
             threshold=5.0, statistic="Sum", treat_missing="notBreaching")
    starts = [0.0, 120.0, 240.0]
    d = decide([_, _, 6.0], starts, r, OK)
    assert d.state == ALARM
    assert d.reason == "Threshold Crossed: 1 datapoint [6.0 (01/01/70 00:04:00)] was greater than the threshold (5.0)."
    assert decide([_, _, 5.0], starts, r, ALARM).state == OK  # at most 5 is allowed
    # With fewer missing datapoints than real ones needed, the most recent real datapoint decides, even a
    # period old (AWS: treat-missing-data plays no part then): the alarm stays in ALARM while the breach
    # is in the evaluation range, and returns to OK when the whole range is missing.
    assert decide([_, 6.0, _], starts, r, ALARM).state == ALARM
    assert decide([6.0, _, _], starts, r, ALARM).state == ALARM
    d = decide([_, _, _], starts, r, ALARM)
    assert d.state == OK
    assert d.reason == ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
                        "was treated as [NonBreaching].")


@pytest.mark.parametrize("op,value,breaches", [
    ("GreaterThanThreshold", 5.0, False), ("GreaterThanThreshold", 5.5, True),
    ("GreaterThanOrEqualToThreshold", 5.0, True), ("GreaterThanOrEqualToThreshold", 4.9, False),
    ("LessThanThreshold", 5.0, False), ("LessThanThreshold", 4.0, True),
    ("LessThanOrEqualToThreshold", 5.0, True), ("LessThanOrEqualToThreshold", 6.0, False),
])
def test_comparison_operators(op, value, breaches):
    assert rule(n=1, op=op).breaches(value) is breaches


def test_periods_end_at_the_last_whole_minute():
    at = datetime(2026, 12, 3, 10, 3, 41, tzinfo=timezone.utc).timestamp()
    starts = period_starts(at, 120, 3)
    as_times = [datetime.fromtimestamp(s, timezone.utc).strftime("%H:%M:%S") for s in starts]
    assert as_times == ["09:57:00", "09:59:00", "10:01:00"]  # the last period ends at 10:03:00
    starts = period_starts(at, 30, 2)  # sub-minute periods end at the last whole period
    assert [datetime.fromtimestamp(s, timezone.utc).strftime("%H:%M:%S") for s in starts] == ["10:02:30", "10:03:00"]


def test_statistics():
    values = [(1.0, 1.0, 1.0, 1.0), (3.0, 1.0, 3.0, 3.0), (10.0, 4.0, 1.0, 4.0)]  # the last: aggregated
    assert statistic(values, "Sum") == 14.0
    assert statistic(values, "SampleCount") == 6.0
    assert statistic(values, "Average") == 14.0 / 6.0
    assert statistic(values, "Minimum") == 1.0
    assert statistic(values, "Maximum") == 4.0
    assert statistic([(float(v), 1.0, float(v), float(v)) for v in range(1, 101)], "p99") == 99.0
    assert statistic([], "Sum") is None


@pytest.mark.parametrize("args,problem", [
    ({"alarm_actions": ["arn:aws:sns:af-south-1:815856636111:t"]}, None),
    ({"alarm_actions": ["arn:aws:sns:af-south-1:815856636111:t"], "period": 120}, None),
    ({"ok_actions": ["arn:aws:sns:af-south-1:815856636111:t"]}, "Invalid region af-south-1 specified. Only eu-west-1"),
    ({"period": 90}, "Period must be 10, 20, 30 or a multiple of 60"),
    ({"period": 30}, None),
    ({"period": 60, "evaluation_periods": 1441}, "may not exceed one day"),
    ({"period": 3600, "evaluation_periods": 168}, None),
    ({"datapoints_to_alarm": 2}, "DatapointsToAlarm must be between 1 and EvaluationPeriods"),
    ({"treat_missing_data": "notbreaching"}, "Supported options for parameter TreatMissingData"),
])
def test_put_metric_alarm_refuses_what_aws_refuses(args, problem):
    region = "eu-west-1" if "ok_actions" in args else "af-south-1"
    full = {"period": 60, "evaluation_periods": 1, **args}
    problems = patches.put_metric_alarm_problems(region, full)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


# -- alarms held by moto's backends, in this process ----------------------------------------------

ACCOUNT, REGION = "815856636111", "af-south-1"


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    settings = Settings(state_dir=tmp_path_factory.mktemp("estate"), time_scale=0.01, port=1)
    e = patches.apply(settings)
    e.alarms.authorize = None  # the IAM side needs the evaluator (Node): the estate tests cover it
    return e


def put_alarm(name: str, fn: str, topic: str | None = None, treat: str = "notBreaching") -> object:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[ACCOUNT][REGION]
    backend.put_metric_alarm(
        name=name, namespace="AWS/Lambda", metric_name="Errors", comparison_operator="GreaterThanThreshold",
        evaluation_periods=1, period=120, threshold=5.0, statistic="Sum", description="errors",
        dimensions=[{"Name": "FunctionName", "Value": fn}], alarm_actions=[topic] if topic else [],
        ok_actions=[topic] if topic else [], treat_missing_data=treat)
    return backend.alarms[name]


def put_errors(fn: str, count: int, when: datetime) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT][REGION].put_metric_data("AWS/Lambda", [
        {"MetricName": "Errors", "Value": 1.0, "Unit": "Count", "Timestamp": when.replace(tzinfo=None),
         "Dimensions": [{"Name": "FunctionName", "Value": fn}]} for _ in range(count)])


def test_a_new_alarm_is_insufficient_data_until_evaluated_and_an_update_keeps_its_state(estate):
    alarm = put_alarm("unit-new", "fn-new")
    assert (alarm.state_value, alarm.state_reason) == (INSUFFICIENT, "Unchecked: Initial alarm creation")
    estate.alarms.evaluate(account=ACCOUNT, region=REGION, names=["unit-new"])
    assert alarm.state_value == OK and alarm.state_reason.startswith("Threshold Crossed: no datapoints")
    again = put_alarm("unit-new", "fn-new")
    assert again is not alarm and again.state_value == OK
    kinds = [(i.item_type, i.summary) for i in estate.alarms.items(ACCOUNT, REGION) if i.alarm_name == "unit-new"]
    assert kinds == [("ConfigurationUpdate", 'Alarm "unit-new" created'),
                     ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to OK"),
                     ("ConfigurationUpdate", 'Alarm "unit-new" updated')]


def test_errors_move_the_alarm_to_alarm_and_time_brings_it_back_to_ok_with_notifications(estate):
    from moto.sns.models import sns_backends

    sns = sns_backends[ACCOUNT][REGION]
    topic = sns.create_topic("unit-alarms").arn
    sns.subscribe(topic, "on-call@bbws.io", "email")
    alarm = put_alarm("unit-errors", "fn-errors", topic)
    now = datetime.now(timezone.utc)
    put_errors("fn-errors", 6, now)
    t = now.timestamp()
    estate.alarms.evaluate(t + 60, ACCOUNT, REGION, ["unit-errors"])
    assert alarm.state_value == ALARM
    assert alarm.state_reason.startswith("Threshold Crossed: 1 datapoint [6.0 (")
    assert alarm.state_reason.endswith(")] was greater than the threshold (5.0).")
    data = json.loads(alarm.state_reason_data)
    assert data["statistic"] == "Sum" and data["period"] == 120 and data["recentDatapoints"] == [6.0]
    mail = estate.mailbox.messages("on-call@bbws.io", "unit-errors")
    assert len(mail) == 1 and mail[0]["subject"] == 'ALARM: "unit-errors" in Africa (Cape Town)'
    assert 'has entered the ALARM state, because "Threshold Crossed: 1 datapoint [6.0' in mail[0]["body"]

    estate.alarms.evaluate(t + 65, ACCOUNT, REGION, ["unit-errors"])  # no change: no history, no mail
    estate.alarms.evaluate(t, ACCOUNT, REGION, ["unit-errors"])  # never back in time
    assert alarm.state_value == ALARM and len(estate.mailbox.messages("on-call@bbws.io", "unit-errors")) == 1

    estate.alarms.evaluate(t + 240, ACCOUNT, REGION, ["unit-errors"])  # still in the evaluation range
    assert alarm.state_value == ALARM
    estate.alarms.evaluate(t + 500, ACCOUNT, REGION, ["unit-errors"])  # three periods of 120 s later
    assert alarm.state_value == OK
    mail = estate.mailbox.messages("on-call@bbws.io", "unit-errors")
    assert [m["subject"] for m in mail] == ['ALARM: "unit-errors" in Africa (Cape Town)',
                                            'OK: "unit-errors" in Africa (Cape Town)']
    items = [i for i in estate.alarms.items(ACCOUNT, REGION) if i.alarm_name == "unit-errors"]
    assert [i.summary for i in items] == [
        'Alarm "unit-errors" created', "Alarm updated from INSUFFICIENT_DATA to ALARM",
        f"Successfully executed action {topic}", "Alarm updated from ALARM to OK",
        f"Successfully executed action {topic}"]
    published = json.loads(items[2].data["publishedMessage"]["message"])  # what JSON subscribers get
    assert (published["AlarmName"], published["OldStateValue"], published["NewStateValue"]) == \
        ("unit-errors", "INSUFFICIENT_DATA", "ALARM")
    assert published["Trigger"]["Dimensions"] == [{"value": "fn-errors", "name": "FunctionName"}]
    assert published["Region"] == "Africa (Cape Town)" and published["AWSAccountId"] == ACCOUNT


def test_set_alarm_state_runs_the_actions_of_a_new_state_only(estate):
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.sns.models import sns_backends

    sns = sns_backends[ACCOUNT][REGION]
    topic = sns.create_topic("unit-set").arn
    sns.subscribe(topic, "set@bbws.io", "email")
    put_alarm("unit-set", "fn-set", topic)
    backend = cloudwatch_backends[ACCOUNT][REGION]
    backend.set_alarm_state("unit-set", "testing the notification", None, ALARM)
    backend.set_alarm_state("unit-set", "still testing", None, ALARM)
    assert backend.alarms["unit-set"].state_reason == "still testing"
    assert len(estate.mailbox.messages("set@bbws.io")) == 1


def test_actions_other_than_sns_and_missing_topics_fail_in_the_history(estate):
    alarm = put_alarm("unit-fail", "fn-fail", f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic")
    alarm.alarm_actions.append(f"arn:aws:automate:{REGION}:ec2:stop")
    estate.alarms.evaluate(account=ACCOUNT, region=REGION, names=["unit-fail"])  # no data: OK
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT][REGION].set_alarm_state("unit-fail", "test", None, ALARM)
    actions = [i for i in estate.alarms.items(ACCOUNT, REGION) if i.alarm_name == "unit-fail" and i.item_type == "Action"]
    assert [i.data["actionState"] for i in actions] == ["Failed", "Failed", "Failed"]
    assert actions[0].summary.startswith(f"Failed to execute action arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic")


def test_an_alarm_with_actions_disabled_changes_state_silently(estate):
    from moto.sns.models import sns_backends

    sns = sns_backends[ACCOUNT][REGION]
    topic = sns.create_topic("unit-disabled").arn
    sns.subscribe(topic, "disabled@bbws.io", "email")
    alarm = put_alarm("unit-disabled", "fn-disabled", topic)
    alarm.actions_enabled = False
    estate.alarms.evaluate(account=ACCOUNT, region=REGION, names=["unit-disabled"])
    assert alarm.state_value == OK and estate.mailbox.messages("disabled@bbws.io") == []


def test_metric_math_and_composite_alarms_are_not_evaluated():
    class A:
        rule = None
        metric_data_queries = [object()]
    assert alarms.rule_of(A()) is None


def test_a_dashboard_belongs_to_the_account_not_the_region(estate):
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT]["af-south-1"].put_dashboard("unit-dashboard", "{}")
    assert cloudwatch_backends[ACCOUNT]["eu-west-1"].get_dashboard("unit-dashboard") is not None
    assert [d.name for d in cloudwatch_backends[ACCOUNT]["eu-west-1"].list_dashboards("unit-")] == ["unit-dashboard"]
    assert cloudwatch_backends["093646564004"]["af-south-1"].get_dashboard("unit-dashboard") is None
    assert cloudwatch_backends[ACCOUNT]["eu-west-1"].delete_dashboards(["unit-dashboard"]) is None
    assert cloudwatch_backends[ACCOUNT]["af-south-1"].get_dashboard("unit-dashboard") is None
