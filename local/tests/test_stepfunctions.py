"""Step Functions executes definitions on the estate: Lambda tasks, Catch, task tokens, nesting, Map, Parallel."""
from __future__ import annotations

import json
import time

from conftest import history, unique, wait_execution, wait_for


def lambda_task(fn_arn: str, payload: dict, **extra) -> dict:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": fn_arn, "Payload": payload}, **extra}


def start(session, sm_arn: str, payload: dict) -> str:
    return session.client("stepfunctions").start_execution(
        stateMachineArn=sm_arn, name=unique("run"), input=json.dumps(payload))["executionArn"]


def test_state_machine_invokes_rust_and_python_functions(dev, probe_zip, python_zip, make_function,
                                                          make_state_machine):
    rust = make_function(dev, probe_zip)
    py = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")
    sm = make_state_machine(dev, {"StartAt": "Rust", "States": {
        "Rust": {**lambda_task(rust["FunctionArn"], {"step": "rust", "input.$": "$.n"}),
                 "ResultSelector": {"echo.$": "$.Payload.event"}, "ResultPath": "$.rust", "Next": "Python"},
        "Python": {**lambda_task(py["FunctionArn"], {"step": "python", "previous.$": "$.rust.echo"}),
                   "OutputPath": "$.Payload.event", "End": True}}})
    for n in (1, 2):  # a second execution: moto 5.2.1 broke here
        d = wait_execution(dev, start(dev, sm, {"n": n}))
        assert d["status"] == "SUCCEEDED", d
        assert json.loads(d["output"]) == {"step": "python", "previous": {"step": "rust", "input": n}}


def test_catch_matches_a_handler_error_by_its_error_type(dev, probe_zip, python_zip, make_function,
                                                         make_state_machine):
    rust = make_function(dev, probe_zip)
    py = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")
    sm = make_state_machine(dev, {"StartAt": "Rust", "States": {
        "Rust": {**lambda_task(rust["FunctionArn"], {"action": "fail", "message": "rust said no"}),
                 "Catch": [{"ErrorEquals": ["Bbws.Other"], "Next": "Wrong"},
                           {"ErrorEquals": ["Bbws.ProbeFailure"], "ResultPath": "$.rust_error", "Next": "Python"}],
                 "Next": "Wrong"},
        "Python": {**lambda_task(py["FunctionArn"], {"action": "fail", "message": "py said no"}),
                   "Catch": [{"ErrorEquals": ["OrderRejected"], "ResultPath": "$.py_error", "Next": "Caught"}],
                   "Next": "Wrong"},
        "Wrong": {"Type": "Fail", "Error": "Wrong", "Cause": "the wrong branch ran"},
        "Caught": {"Type": "Pass", "End": True}}})
    d = wait_execution(dev, start(dev, sm, {}))
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["rust_error"]["Error"] == "Bbws.ProbeFailure"
    assert json.loads(out["rust_error"]["Cause"])["errorMessage"] == "rust said no"
    assert out["py_error"]["Error"] == "OrderRejected"


def test_uncaught_error_fails_the_execution_with_its_error_name(dev, probe_zip, make_function,
                                                                make_state_machine):
    rust = make_function(dev, probe_zip)
    sm = make_state_machine(dev, {"StartAt": "Rust", "States": {
        "Rust": {**lambda_task(rust["FunctionArn"], {"action": "fail", "message": "stop"}), "End": True}}})
    d = wait_execution(dev, start(dev, sm, {}))
    assert d["status"] == "FAILED"
    assert d["error"] == "Bbws.ProbeFailure"


def _token_machine(dev, rust_arn, make_state_machine):
    return make_state_machine(dev, {"StartAt": "Wait for approval", "States": {
        "Wait for approval": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                              "Parameters": {"FunctionName": rust_arn,
                                             "Payload": {"token.$": "$$.Task.Token"}},
                              "TimeoutSeconds": 60, "End": True}}})


def _token_of(dev, execution_arn) -> str:
    def find():
        for ev in history(dev, execution_arn):
            params = (ev.get("taskScheduledEventDetails") or {}).get("parameters")
            if params:
                return json.loads(params)["Payload"]["token"]
        return None

    return wait_for(find, what="the task token in the history")


def test_wait_for_task_token_answered_by_send_task_success(dev, probe_zip, make_function, make_state_machine):
    rust = make_function(dev, probe_zip)
    sm = _token_machine(dev, rust["FunctionArn"], make_state_machine)
    arn = start(dev, sm, {})
    token = _token_of(dev, arn)
    time.sleep(0.3)
    assert dev.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    dev.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps({"approved_by": "jane"}))
    d = wait_execution(dev, arn)
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"approved_by": "jane"}


def test_a_task_token_answers_once(dev, probe_zip, make_function, make_state_machine):
    """AWS refuses a second answer with the same token (TaskTimedOut), whichever the answer."""
    import botocore.exceptions

    rust = make_function(dev, probe_zip)
    sm = _token_machine(dev, rust["FunctionArn"], make_state_machine)
    arn = start(dev, sm, {})
    token = _token_of(dev, arn)
    sfn = dev.client("stepfunctions")
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved_by": "jane"}))
    for again in (lambda: sfn.send_task_success(taskToken=token, output="{}"),
                  lambda: sfn.send_task_failure(taskToken=token, error="Bbws.ApprovalRejected", cause="late")):
        try:
            again()
            raise AssertionError("a second answer with one token was accepted")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "TaskTimedOut", e.response
            assert "Provided task does not exist anymore" in e.response["Error"]["Message"]
    d = wait_execution(dev, arn)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"approved_by": "jane"}


def test_wait_for_task_token_answered_by_send_task_failure_keeps_the_cause(dev, probe_zip, make_function,
                                                                         make_state_machine):
    rust = make_function(dev, probe_zip)
    sm = _token_machine(dev, rust["FunctionArn"], make_state_machine)
    arn = start(dev, sm, {})
    token = _token_of(dev, arn)
    dev.client("stepfunctions").send_task_failure(taskToken=token, error="Bbws.ApprovalRejected",
                                                  cause="rejected by ops-lead@bbws.io: not tonight")
    d = wait_execution(dev, arn)
    assert d["status"] == "FAILED"
    assert d["error"] == "Bbws.ApprovalRejected"
    assert d["cause"] == "rejected by ops-lead@bbws.io: not tonight"


def test_stop_execution_ends_a_task_token_wait_at_once(dev, probe_zip, make_function, make_state_machine):
    """StopExecution ends the execution ABORTED with its error and cause, while it waits (patch 14)."""
    rust = make_function(dev, probe_zip)
    sm = _token_machine(dev, rust["FunctionArn"], make_state_machine)
    arn = start(dev, sm, {})
    _token_of(dev, arn)
    sfn = dev.client("stepfunctions")
    stopped = sfn.stop_execution(executionArn=arn, error="Operator.Stopped", cause="stopped by hand")
    d = sfn.describe_execution(executionArn=arn)
    assert (d["status"], d["error"], d["cause"]) == ("ABORTED", "Operator.Stopped", "stopped by hand")
    assert d["stopDate"] == stopped["stopDate"]
    again = sfn.stop_execution(executionArn=arn)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED", "stopping again changes nothing"
    assert again["stopDate"] == stopped["stopDate"]


def test_task_token_wait_times_out(dev, probe_zip, make_function, make_state_machine):
    rust = make_function(dev, probe_zip)
    sm = make_state_machine(dev, {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                 "Parameters": {"FunctionName": rust["FunctionArn"], "Payload": {"token.$": "$$.Task.Token"}},
                 "TimeoutSeconds": 1, "End": True}}})
    d = wait_execution(dev, start(dev, sm, {}))
    assert d["status"] == "FAILED" and d["error"] == "States.Timeout"


def test_nested_execution_with_start_execution_sync2(dev, probe_zip, make_function, make_state_machine):
    rust = make_function(dev, probe_zip)
    child = make_state_machine(dev, {"StartAt": "Echo", "States": {
        "Echo": {**lambda_task(rust["FunctionArn"], {"child_got.$": "$.value"}),
                 "OutputPath": "$.Payload.event", "End": True}}})
    parent = make_state_machine(dev, {"StartAt": "Child", "States": {
        "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                  "Parameters": {"StateMachineArn": child, "Input": {"value.$": "$.value"}},
                  "ResultSelector": {"status.$": "$.Status", "output.$": "$.Output",
                                     "child_arn.$": "$.ExecutionArn"},
                  "End": True}}})
    d = wait_execution(dev, start(dev, parent, {"value": 42}))
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["status"] == "SUCCEEDED"
    assert out["output"] == {"child_got": 42}
    assert out["child_arn"].startswith(child.replace(":stateMachine:", ":execution:"))


def test_nested_execution_failure_fails_the_parent_task(dev, probe_zip, make_function, make_state_machine):
    rust = make_function(dev, probe_zip)
    child = make_state_machine(dev, {"StartAt": "Boom", "States": {
        "Boom": {**lambda_task(rust["FunctionArn"], {"action": "fail"}), "End": True}}})
    parent = make_state_machine(dev, {"StartAt": "Child", "States": {
        "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                  "Parameters": {"StateMachineArn": child, "Input": {}},
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "ChildFailed"}], "End": True},
        "ChildFailed": {"Type": "Pass", "Result": {"outcome": "caught"}, "End": True}}})
    d = wait_execution(dev, start(dev, parent, {}))
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"outcome": "caught"}


def test_wait_choice_loop_map_parallel_and_retry(dev, probe_zip, make_function, make_state_machine):
    rust = make_function(dev, probe_zip)
    sm = make_state_machine(dev, {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"polls": 0, "wait": 0}, "ResultPath": "$.monitor", "Next": "Wait"},
        "Wait": {"Type": "Wait", "SecondsPath": "$.monitor.wait", "Next": "Poll"},
        "Poll": {"Type": "Pass", "Parameters": {"polls.$": "States.MathAdd($.monitor.polls, 1)", "wait": 0},
                 "ResultPath": "$.monitor", "Next": "Done?"},
        "Done?": {"Type": "Choice", "Choices": [
            {"Variable": "$.monitor.polls", "NumericGreaterThanEquals": 3, "Next": "Fan out"}],
            "Default": "Wait"},
        "Fan out": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped", "Iterator": {
            "StartAt": "Each", "States": {"Each": {**lambda_task(rust["FunctionArn"], {"item.$": "$"}),
                                                   "OutputPath": "$.Payload.event.item", "End": True}}},
            "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.parallel", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": True}}}],
            "Next": "Flaky"},
        "Flaky": {**lambda_task(rust["FunctionArn"], {"action": "fail"}),
                  "Retry": [{"ErrorEquals": ["Bbws.ProbeFailure"], "IntervalSeconds": 1, "BackoffRate": 1, "MaxAttempts": 2}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.flaky", "Next": "End"}],
                  "Next": "End"},
        "End": {"Type": "Pass", "End": True}}})
    arn = start(dev, sm, {"items": [1, 2, 3]})
    d = wait_execution(dev, arn)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["monitor"]["polls"] == 3
    assert out["mapped"] == [1, 2, 3]
    assert out["parallel"] == ["a", "b"]
    assert out["flaky"]["Error"] == "Bbws.ProbeFailure"
    scheduled = [e for e in history(dev, arn) if e["type"] == "LambdaFunctionScheduled" or
                 e["type"] == "TaskScheduled"]
    assert len(scheduled) == 3 + 3, "three map items, then the flaky task tried 1 + 2 retries"


def test_wait_seconds_runs_in_real_time_by_default(dev, make_state_machine):
    sm = make_state_machine(dev, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    t0 = time.monotonic()
    d = wait_execution(dev, start(dev, sm, {}))
    assert d["status"] == "SUCCEEDED" and time.monotonic() - t0 >= 0.95


def test_dynamodb_and_sns_integrations(dev, make_state_machine):
    ddb = dev.client("dynamodb")
    table = unique("tbl")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    topic = dev.client("sns").create_topic(Name=unique("topic"))["TopicArn"]
    sm = make_state_machine(dev, {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"pk": {"S.$": "$.id"}}}, "ResultPath": None,
                "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": {"pk": {"S.$": "$.id"}}},
                "ResultSelector": {"pk.$": "$.Item.pk.S"}, "ResultPath": "$.got", "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                   "Parameters": {"TopicArn": topic, "Message.$": "$.id"}, "ResultPath": "$.sns", "End": True}}})
    d = wait_execution(dev, start(dev, sm, {"id": "rec-1"}))
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["got"] == {"pk": "rec-1"} and out["sns"]["MessageId"]
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "rec-1"}})["Item"]["pk"]["S"] == "rec-1"


def test_state_machine_acts_in_its_own_account(sit, dev, python_zip, make_function, make_state_machine):
    """The interpreter calls Lambda as the state machine's role: a SIT machine reaches SIT's function."""
    py = make_function(sit, python_zip, runtime="python3.12", handler="handler.handler",
                       name=unique("same-name"))
    sm = make_state_machine(sit, {"StartAt": "Who", "States": {
        "Who": {**lambda_task(py["FunctionName"], {"action": "whoami"}), "OutputPath": "$.Payload",
                "End": True}}})
    d = wait_execution(sit, start(sit, sm, {}))
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["account"] == "815856636111"
