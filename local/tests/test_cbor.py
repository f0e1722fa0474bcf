"""CloudWatch over Smithy RPC v2 CBOR, the protocol of current AWS SDKs (the Rust SDK among them)."""
from __future__ import annotations

import datetime as dt
import json

import cbor2
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from conftest import ENDPOINT, unique

CBOR = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"}


def cbor_call(session, operation: str, body: dict) -> requests.Response:
    req = AWSRequest(method="POST", url=f"{ENDPOINT}/service/GraniteServiceVersion20100801/operation/{operation}",
                     data=cbor2.dumps(body, datetime_as_timestamp=True), headers=dict(CBOR))
    SigV4Auth(session.get_credentials(), "monitoring", "af-south-1").add_auth(req)
    return requests.post(req.url, data=req.body, headers=dict(req.headers), timeout=10)


def test_get_metric_statistics_in_cbor_matches_the_json_answer(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    for _ in range(3):
        dev.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    now = dt.datetime.now(dt.timezone.utc)
    query = {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
             "Dimensions": [{"Name": "FunctionName", "Value": fn["FunctionName"]}],
             "StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1),
             "Period": 3600, "Statistics": ["Sum"]}
    r = cbor_call(dev, "GetMetricStatistics", query)
    assert r.status_code == 200, r.content
    assert r.headers["smithy-protocol"] == "rpc-v2-cbor"
    doc = cbor2.loads(r.content)
    assert sum(p["Sum"] for p in doc["Datapoints"]) == 3
    assert all(isinstance(p["Timestamp"], dt.datetime) for p in doc["Datapoints"])
    via_boto = dev.client("cloudwatch").get_metric_statistics(**query)
    assert sum(p["Sum"] for p in via_boto["Datapoints"]) == 3


def test_cbor_errors_carry_their_type(dev):
    now = dt.datetime.now(dt.timezone.utc)
    r = cbor_call(dev, "GetMetricStatistics", {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                                               "StartTime": now, "EndTime": now - dt.timedelta(minutes=5),
                                               "Period": 60, "Statistics": ["Sum"]})
    assert r.status_code == 400
    assert cbor2.loads(r.content)["__type"] == "InvalidParameterValueException"


def test_cbor_put_metric_data_is_readable_back(dev):
    ns = unique("Bbws/Test")
    r = cbor_call(dev, "PutMetricData", {"Namespace": ns, "MetricData": [
        {"MetricName": "Checks", "Value": 4.0, "Unit": "Count"}]})
    assert r.status_code == 200, r.content
    now = dt.datetime.now(dt.timezone.utc)
    got = dev.client("cloudwatch").get_metric_statistics(
        Namespace=ns, MetricName="Checks", StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Sum"], Dimensions=[])
    assert json.loads(json.dumps([p["Sum"] for p in got["Datapoints"]])) == [4.0]
