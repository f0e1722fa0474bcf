"""Lambda Invoke runs the deployed package: provided.al2023 and python3.12, warm reuse, failures."""
from __future__ import annotations

import json
import threading

import pytest
from conftest import ACCOUNTS, unique


def invoke(session, name, payload, **kw):
    r = session.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def test_provided_al2023_runs_the_bootstrap_with_its_configuration(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip, Environment={"Variables": {"PROBE_SETTING": "from-config"}},
                       MemorySize=256)
    r, out = invoke(dev, fn["FunctionName"], {"hello": "world"})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert out["event"] == {"hello": "world"}
    assert out["function_name"] == fn["FunctionName"]
    assert out["function_version"] == "$LATEST"
    assert out["memory_size"] == "256"
    assert out["region"] == "af-south-1"
    assert out["custom"] == "from-config"
    assert out["has_credentials"] is True and out["endpoint_set"] is True
    assert out["invoked_function_arn"] == fn["FunctionArn"]
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "$LATEST"


def test_python312_handler_runs_through_awslambdaric(dev, python_zip, make_function):
    fn = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler",
                       Environment={"Variables": {"PROBE_SETTING": "py"}})
    r, out = invoke(dev, fn["FunctionName"], {"n": 1})
    assert "FunctionError" not in r
    assert out["event"] == {"n": 1} and out["custom"] == "py"
    assert 0 < out["remaining_ms"] <= 5000


def test_function_credentials_are_its_role_in_its_own_account(sit, python_zip, make_function):
    fn = make_function(sit, python_zip, runtime="python3.12", handler="handler.handler")
    _, out = invoke(sit, fn["FunctionName"], {"action": "whoami"})
    assert out["account"] == ACCOUNTS["sit"]
    assert ":assumed-role/bbws-local-test-fn/" in out["arn"]


def test_handler_errors_come_back_as_function_errors_with_their_type(dev, probe_zip, python_zip, make_function):
    rust = make_function(dev, probe_zip)
    r, out = invoke(dev, rust["FunctionName"], {"action": "fail", "message": "no stock"})
    assert r["FunctionError"] == "Unhandled"
    assert out == {"errorType": "Bbws.ProbeFailure", "errorMessage": "no stock"}
    py = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")
    r, out = invoke(dev, py["FunctionName"], {"action": "fail", "message": "declined"})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "OrderRejected" and out["errorMessage"] == "declined"


def test_warm_process_is_reused_per_version_and_configuration(dev, probe_zip, make_function):
    lam = dev.client("lambda")
    fn = make_function(dev, probe_zip)
    name = fn["FunctionName"]
    _, a = invoke(dev, name, {})
    _, b = invoke(dev, name, {})
    assert a["pid"] == b["pid"], "a warm process serves the next invocation"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"PROBE_SETTING": "v2"}})
    _, c = invoke(dev, name, {})
    assert c["pid"] != a["pid"] and c["custom"] == "v2", "new configuration, new process"
    v1 = lam.publish_version(FunctionName=name)["Version"]
    _, d = invoke(dev, name, {}, Qualifier=v1)
    assert d["function_version"] == v1 and d["pid"] != c["pid"], "each version has its own processes"


def test_an_environment_over_4_kb_is_refused_as_aws_refuses_it_and_changes_nothing(dev, probe_zip, make_function):
    """Lambda's 4 KB for all environment variables, measured as compact JSON (a JSON value's quotes count
    twice): CreateFunction and UpdateFunctionConfiguration refuse more, and the function keeps what it had."""
    lam = dev.client("lambda")
    catalog = json.dumps({"catalog": [{"name": f"service-{i:03d}"} for i in range(160)]}, separators=(",", ":"))
    over = {"BBWS_CONFIG": catalog}
    # Under 4 KB as characters, over it as AWS measures (each quote escaped).
    assert len(catalog) < 4096 < len(json.dumps(over, separators=(",", ":")))
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="exceeded the 4KB limit"):
        make_function(dev, probe_zip, name=unique("fn-env"), Environment={"Variables": over})
    name = make_function(dev, probe_zip, Environment={"Variables": {"PROBE_SETTING": "v1"}})["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="String measured"):
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": over})
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == {"PROBE_SETTING": "v1"}
    fits = {"PROBE_SETTING": "x" * (4096 - len('{"PROBE_SETTING":""}'))}
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": fits})
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == fits


def test_publishing_the_same_content_again_returns_the_last_version(dev, probe_zip, python_zip, make_function):
    """As on AWS: a version is published only when code or configuration differ from the last version's,
    not merely because they were updated (a retried deploy that put $LATEST back and uploads again)."""
    lam = dev.client("lambda")
    name = make_function(dev, probe_zip)["FunctionName"]
    v1 = lam.publish_version(FunctionName=name)["Version"]
    assert lam.publish_version(FunctionName=name)["Version"] == v1, "nothing changed"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=python_zip)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.publish_version(FunctionName=name)["Version"] == v1, "the same package again"
    lam.update_function_code(FunctionName=name, ZipFile=python_zip)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = lam.update_function_code(FunctionName=name, ZipFile=probe_zip, Publish=True)["Version"]
    assert v2 == v1, "UpdateFunctionCode with Publish: the same package as the last version"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    v3 = lam.update_function_code(FunctionName=name, ZipFile=python_zip, Publish=True)["Version"]
    assert int(v3) == int(v1) + 1, "another package is a new version"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert int(lam.publish_version(FunctionName=name)["Version"]) == int(v3) + 1, "another configuration too"


def test_hung_function_times_out_and_is_replaced(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip, Timeout=1)
    _, before = invoke(dev, fn["FunctionName"], {})
    r, out = invoke(dev, fn["FunctionName"], {"action": "sleep", "ms": 5000})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in out["errorMessage"]
    _, after = invoke(dev, fn["FunctionName"], {})
    assert after["pid"] != before["pid"]


def test_crashed_process_fails_its_invocation_and_is_replaced(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    _, before = invoke(dev, fn["FunctionName"], {})
    r, out = invoke(dev, fn["FunctionName"], {"action": "crash"})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ExitError" and "exit status 3" in out["errorMessage"]
    _, after = invoke(dev, fn["FunctionName"], {})
    assert after["pid"] != before["pid"]


def test_alias_invocation_runs_the_aliased_version(dev, probe_zip, make_function):
    lam = dev.client("lambda")
    fn = make_function(dev, probe_zip)
    v = lam.publish_version(FunctionName=fn["FunctionName"])["Version"]
    lam.create_alias(FunctionName=fn["FunctionName"], Name="live", FunctionVersion=v)
    r, out = invoke(dev, f"{fn['FunctionName']}:live", {})
    assert out["function_version"] == v
    assert out["invoked_function_arn"].endswith(":live")
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == v


def test_event_invocation_is_accepted_and_runs(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    r = dev.client("lambda").invoke(FunctionName=fn["FunctionName"], InvocationType="Event", Payload=b"{}")
    assert r["StatusCode"] == 202


def test_reserved_concurrency_throttles(dev, probe_zip, make_function):
    from botocore.config import Config

    lam = dev.client("lambda", config=Config(retries={"max_attempts": 0, "total_max_attempts": 1}))
    fn = make_function(dev, probe_zip)
    name = fn["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName=name, Payload=b"{}")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results: list[str] = []

    def slow() -> None:
        try:
            lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "ms": 800}).encode())
            results.append("ok")
        except lam.exceptions.TooManyRequestsException:
            results.append("throttled")

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") >= 1 and results.count("throttled") >= 1, results


def test_unknown_function_is_not_found(dev):
    lam = dev.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=unique("missing"), Payload=b"{}")
