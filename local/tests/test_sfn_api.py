"""Step Functions API calls moto 5.2.5 lacks or answers unlike AWS: the two terraform-provider-aws makes,
and the name of an execution started without one."""
from __future__ import annotations

import json

from conftest import unique


def test_validate_state_machine_definition_accepts_a_valid_definition(dev):
    r = dev.client("stepfunctions").validate_state_machine_definition(
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))
    assert r["result"] == "OK" and r["diagnostics"] == []


def test_validate_state_machine_definition_reports_what_is_wrong(dev):
    sfn = dev.client("stepfunctions")
    bad_ref = sfn.validate_state_machine_definition(
        definition=json.dumps({"StartAt": "Missing", "States": {"A": {"Type": "Pass", "End": True}}}))
    assert bad_ref["result"] == "FAIL" and bad_ref["diagnostics"][0]["severity"] == "ERROR"
    not_json = sfn.validate_state_machine_definition(definition="{not json")
    assert not_json["result"] == "FAIL"
    assert not_json["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
    bad_retry = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
              "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 0}]}}}))
    assert bad_retry["result"] == "FAIL" and "IntervalSeconds" in bad_retry["diagnostics"][0]["message"]


def test_list_state_machine_versions_answers(dev, make_state_machine):
    sfn = dev.client("stepfunctions")
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    arn = make_state_machine(dev, definition, name=unique("versions"))
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
    role = sfn.describe_state_machine(stateMachineArn=arn)["roleArn"]
    published = sfn.create_state_machine(name=unique("published"), definition=json.dumps(definition),
                                         roleArn=role, publish=True)
    versions = sfn.list_state_machine_versions(stateMachineArn=published["stateMachineArn"])
    assert [v["stateMachineVersionArn"] for v in versions["stateMachineVersions"]] == [
        published["stateMachineVersionArn"]]


def test_create_state_machine_refuses_a_broken_structure(dev, make_state_machine):
    import pytest

    sfn = dev.client("stepfunctions")
    with pytest.raises(sfn.exceptions.InvalidDefinition) as e:
        make_state_machine(dev, {"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"}, "Orphan": {"Type": "Succeed"}}})
    message = e.value.response["Error"]["Message"]
    assert "Nowhere" in message and "Orphan" in message


def test_an_execution_started_without_a_name_is_named_with_a_uuid(dev, make_state_machine):
    """Step Functions names an unnamed execution with a UUID; two unnamed starts are two executions."""
    import re

    sfn = dev.client("stepfunctions")
    arn = make_state_machine(dev, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                             name=unique("unnamed"))
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(rf".*:execution:[^:]+:{uuid}", first), first
    assert first != second


def test_an_execution_history_comes_in_pages_as_aws_pages_it(dev, make_state_machine):
    """maxResults (default 100, at most 1000), nextToken, reverseOrder and includeExecutionData, as AWS
    answers them: moto 5.2.5 returned every event at once, so a caller reading one page passed here only."""
    import time

    import pytest
    from botocore.exceptions import ClientError

    sfn = dev.client("stepfunctions")
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(59)}
    states["S59"] = {"Type": "Pass", "End": True}
    arn = make_state_machine(dev, {"StartAt": "S0", "States": states}, name=unique("pages"))
    execution = sfn.start_execution(stateMachineArn=arn, input='{"secret": "input"}')["executionArn"]
    deadline = time.time() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.time() < deadline:
        time.sleep(0.2)
    total = 1 + 2 * 60 + 1  # started, each state entered and exited, succeeded

    first = sfn.get_execution_history(executionArn=execution)
    assert [e["id"] for e in first["events"]] == list(range(1, 101)) and first["nextToken"]
    rest = sfn.get_execution_history(executionArn=execution, nextToken=first["nextToken"])
    assert [e["id"] for e in rest["events"]] == list(range(101, total + 1)) and "nextToken" not in rest
    whole = sfn.get_execution_history(executionArn=execution, maxResults=1000)
    assert len(whole["events"]) == total and "nextToken" not in whole
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution, reverseOrder=True,
                                                                PaginationConfig={"PageSize": 50})
    assert [e["id"] for page in pages for e in page["events"]] == list(range(total, 0, -1))
    assert json.loads(whole["events"][0]["executionStartedEventDetails"]["input"]) == {"secret": "input"}
    bare = sfn.get_execution_history(executionArn=execution, maxResults=1, includeExecutionData=False)
    assert "input" not in bare["events"][0]["executionStartedEventDetails"]
    assert "roleArn" in bare["events"][0]["executionStartedEventDetails"]

    with pytest.raises(ClientError) as e:  # the arguments must stay as they were
        sfn.get_execution_history(executionArn=execution, nextToken=first["nextToken"], reverseOrder=True)
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as e:
        sfn.get_execution_history(executionArn=execution, nextToken="not-a-token")
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as e:
        sfn.get_execution_history(executionArn=execution, maxResults=1001)
    assert e.value.response["Error"]["Code"] == "ValidationException" and "maxResults" in str(e.value)
