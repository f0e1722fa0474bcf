"""Every invocation emits AWS/Lambda metrics with the dimensions CloudWatch has for Lambda."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.config import Config

NO_RETRIES = Config(retries={"max_attempts": 0, "total_max_attempts": 1})


def metric_sum(session, metric: str, dims: dict[str, str], stat: str = "Sum") -> float | None:
    now = dt.datetime.now(dt.timezone.utc)
    r = session.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
        Period=3600, Statistics=[stat])
    points = r["Datapoints"]
    return sum(p[stat] for p in points) if points else None


def test_invocations_errors_duration_by_function_resource_and_executed_version(dev, probe_zip, make_function):
    lam = dev.client("lambda")
    fn = make_function(dev, probe_zip)
    name = fn["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="latest-dev", FunctionVersion=version)
    for _ in range(3):
        lam.invoke(FunctionName=name, Qualifier="latest-dev", Payload=b"{}")
    lam.invoke(FunctionName=name, Qualifier="latest-dev", Payload=json.dumps({"action": "fail"}).encode())
    lam.invoke(FunctionName=name, Payload=b"{}")  # unqualified: $LATEST

    by_fn = {"FunctionName": name}
    by_alias = {"FunctionName": name, "Resource": f"{name}:latest-dev"}
    by_version = {**by_alias, "ExecutedVersion": version}
    assert metric_sum(dev, "Invocations", by_fn) == 5
    assert metric_sum(dev, "Errors", by_fn) == 1
    assert metric_sum(dev, "Invocations", by_alias) == 4
    assert metric_sum(dev, "Errors", by_alias) == 1
    assert metric_sum(dev, "Invocations", by_version) == 4
    assert metric_sum(dev, "Invocations", {**by_alias, "ExecutedVersion": "999"}) is None
    assert metric_sum(dev, "Duration", by_fn, "Maximum") > 0
    assert metric_sum(dev, "Throttles", by_fn) in (None, 0)


def test_throttles_are_counted(dev, probe_zip, make_function):
    lam = dev.client("lambda", config=NO_RETRIES)  # boto3 retries throttles: each attempt counts
    fn = make_function(dev, probe_zip)
    lam.put_function_concurrency(FunctionName=fn["FunctionName"], ReservedConcurrentExecutions=0)
    for _ in range(2):
        with pytest.raises(lam.exceptions.TooManyRequestsException):
            lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert metric_sum(dev, "Throttles", {"FunctionName": fn["FunctionName"]}) == 2
    assert metric_sum(dev, "Invocations", {"FunctionName": fn["FunctionName"]}) is None


def test_a_throttled_alias_invocation_counts_on_the_alias_and_never_on_a_version(dev, probe_zip, make_function):
    """AWS documents ExecutedVersion for invocations that ran a version through an alias; a throttled
    request never ran one, so its Throttles carry FunctionName and Resource only."""
    lam = dev.client("lambda", config=NO_RETRIES)
    name = make_function(dev, probe_zip, Publish=True)["FunctionName"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(3):
        with pytest.raises(lam.exceptions.TooManyRequestsException):
            lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    by_alias = {"FunctionName": name, "Resource": f"{name}:live"}
    assert metric_sum(dev, "Throttles", by_alias) == 3
    assert metric_sum(dev, "Throttles", {"FunctionName": name}) == 3
    assert metric_sum(dev, "Throttles", {**by_alias, "ExecutedVersion": "1"}) is None
    lam.delete_function_concurrency(FunctionName=name)
    lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    assert metric_sum(dev, "Invocations", {**by_alias, "ExecutedVersion": "1"}) == 1


def test_metrics_stay_in_the_function_account(dev, sit, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    dev.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert metric_sum(dev, "Invocations", {"FunctionName": fn["FunctionName"]}) == 1
    assert metric_sum(sit, "Invocations", {"FunctionName": fn["FunctionName"]}) is None


def test_runbook_error_query_with_no_datapoints_reads_none(dev):
    """RB-003 §4.1.1 treats 'None' (no datapoints) as zero errors: the estate must answer that way."""
    assert metric_sum(dev, "Errors", {"FunctionName": "bbws-never-invoked-dev"}) is None
