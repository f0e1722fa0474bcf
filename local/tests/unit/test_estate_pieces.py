"""Pure pieces of the estate, no server: error bodies, URL events, trust policies, definitions, mail."""
from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from bbws_local.mailbox import Mailbox, sns_email_body
from bbws_local.patches import structure_problems, trust_allows
from bbws_local.runtime import Invocation, normalise_error_body
from bbws_local.settings import TF_PLUGIN_DIR_DEFAULT, terraform_plugin_args
from bbws_local.urls import build_event, map_result

SIT = "815856636111"


def test_error_body_keeps_a_runtime_error_as_sent():
    body = normalise_error_body(b'{"errorType":"Bbws.DeployFailed","errorMessage":"sha differs"}', None)
    assert json.loads(body) == {"errorType": "Bbws.DeployFailed", "errorMessage": "sha differs"}


def test_error_body_takes_the_type_from_the_header_or_says_unhandled():
    assert json.loads(normalise_error_body(b'{"errorMessage":"x"}', "Bbws.X"))["errorType"] == "Bbws.X"
    doc = json.loads(normalise_error_body(b"not json", None))
    assert doc == {"errorMessage": "not json", "errorType": "Unhandled"}


def test_invocation_result_is_recorded_once():
    inv = Invocation(b"{}", "arn", 1.0)
    assert inv.finish(b"first", None)
    assert not inv.fail("Sandbox.Timedout", "late")
    assert inv.body == b"first" and inv.error is None


def test_url_event_is_payload_format_2():
    ev = build_event("POST", "/approve/x?r=1&r=2&d=ok", {"Cookie": "a=1; b=2", "User-Agent": "ua",
                                                        "Content-Type": "application/x-www-form-urlencoded"},
                     b"decision=approve", "127.0.0.1", "abc", "127.0.0.1:4666", SIT)
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/approve/x" and ev["rawQueryString"] == "r=1&r=2&d=ok"
    assert ev["queryStringParameters"] == {"r": "1,2", "d": "ok"}
    assert ev["cookies"] == ["a=1", "b=2"] and "cookie" not in ev["headers"]
    assert ev["requestContext"]["http"] == {"method": "POST", "path": "/approve/x", "protocol": "HTTP/1.1",
                                            "sourceIp": "127.0.0.1", "userAgent": "ua"}
    assert ev["body"] == "decision=approve" and ev["isBase64Encoded"] is False


def test_url_event_base64_encodes_binary_bodies():
    ev = build_event("PUT", "/", {"Content-Type": "application/octet-stream"}, b"\x00\x01", "::1", "i", "h", SIT)
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == b"\x00\x01"


def test_url_result_mapping():
    status, headers, body = map_result(json.dumps({"statusCode": 303, "headers": {"Location": "/done"},
                                                   "cookies": ["s=1"], "body": ""}).encode(), None)
    assert status == 303 and ("Location", "/done") in headers and ("Set-Cookie", "s=1") in headers
    assert map_result(b'{"ok": true}', None) == (200, [("Content-Type", "application/json")], b'{"ok": true}')
    assert map_result(b'{"errorType":"X"}', "Unhandled")[0] == 502
    b64 = base64.b64encode(b"png").decode()
    assert map_result(json.dumps({"statusCode": 200, "body": b64, "isBase64Encoded": True}).encode(),
                      None)[2] == b"png"


def _trust(*principals, effect="Allow"):
    return {"Statement": [{"Effect": effect, "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}]}


@pytest.mark.parametrize("principal,caller,allowed", [
    (f"arn:aws:iam::{SIT}:root", f"arn:aws:iam::{SIT}:user/bbws-local-admin", True),
    (SIT, f"arn:aws:sts::{SIT}:assumed-role/pipeline/s", True),
    (f"arn:aws:iam::{SIT}:role/pipeline", f"arn:aws:sts::{SIT}:assumed-role/pipeline/s", True),
    (f"arn:aws:iam::{SIT}:role/pipeline", f"arn:aws:sts::{SIT}:assumed-role/other/s", False),
    (f"arn:aws:iam::{SIT}:role/pipeline", f"arn:aws:iam::{SIT}:user/bbws-local-admin", False),
    ("arn:aws:iam::093646564004:root", f"arn:aws:iam::{SIT}:user/x", False),
])
def test_trust_policy_principals(principal, caller, allowed):
    assert trust_allows(_trust(principal), "arn:aws:iam::536580886816:role/r", caller, SIT) is allowed


def test_trust_policy_deny_wins_and_service_principals_do_not_admit_users():
    policy = {"Statement": [_trust(SIT)["Statement"][0], _trust(SIT, effect="Deny")["Statement"][0]]}
    assert not trust_allows(policy, "r", f"arn:aws:iam::{SIT}:user/x", SIT)
    service = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                              "Action": "sts:AssumeRole"}]}
    assert not trust_allows(service, "r", f"arn:aws:iam::{SIT}:user/x", SIT)
    assert not trust_allows("%7Bnot json", "r", f"arn:aws:iam::{SIT}:user/x", SIT)


def test_definition_structure_checks():
    ok = {"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Next": "B"}], "Default": "C"},
                                     "B": {"Type": "Map", "Iterator": {"StartAt": "I", "States": {
                                         "I": {"Type": "Pass", "End": True}}}, "Next": "C"},
                                     "C": {"Type": "Succeed"}}}
    assert structure_problems(ok) == []
    bad = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r"},
                                      "B": {"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {}}],
                                            "End": True}}}
    problems = structure_problems(bad)
    assert any("/States/A: a Task state needs Next or End" in p for p in problems)
    assert any("/States/B: the state is not reachable" in p for p in problems)
    assert any("/States/B/Branches/0/States: must be a non-empty object" in p for p in problems)


def test_mailbox_delivers_and_reads_back_links(tmp_path):
    box = Mailbox(tmp_path)
    subject, body = sns_email_body("Approve: https://example.test/a?x=1&y=2", None, "email", topic_arn="t",
                                   message_id="m1", unsubscribe_url="http://u/unsub", timestamp="now")
    assert subject == "AWS Notification Message"
    box.deliver("Ops.Lead@bbws.io", subject, body, topic_arn="t", message_id="m1")
    box.deliver("dev-lead@bbws.io", "other", "no links", topic_arn="t", message_id="m2")
    msgs = box.messages("ops.lead@bbws.io")
    assert len(msgs) == 1
    assert msgs[0]["links"][:2] == ["https://example.test/a?x=1&y=2", "http://u/unsub"]
    assert len(box.messages()) == 2



def test_a_starting_estate_gets_an_empty_mailbox_and_keeps_the_last_one_aside(tmp_path):
    from bbws_local.mailbox import fresh

    root = tmp_path / "mailbox"
    Mailbox(root).deliver("ops@bbws.io", "first life", "1", topic_arn="t", message_id="m0")
    box = fresh(root)
    assert box.messages() == []
    box.deliver("ops@bbws.io", "second life", "2", topic_arn="t", message_id="m1")
    assert [m["subject"] for m in Mailbox(tmp_path / "mailbox.previous").messages()] == ["first life"]
    fresh(root)  # the next start replaces the previous mailbox
    assert [m["subject"] for m in Mailbox(tmp_path / "mailbox.previous").messages()] == ["second life"]
    assert fresh(tmp_path / "never-used").messages() == []


def test_the_mailbox_lists_a_folder_once_and_sees_every_later_delivery(tmp_path, monkeypatch):
    """A folder is read from the disk at its first read (messages an earlier estate delivered included);
    later deliveries are added as they land, in order, with no listing of the folder again."""
    Mailbox(tmp_path).deliver("ops@bbws.io", "earlier", "1", topic_arn="t", message_id="m0")
    box = Mailbox(tmp_path)  # a restarted estate
    assert [m["subject"] for m in box.messages("ops@bbws.io")] == ["earlier"]

    def no_listing(*_args: object) -> None:
        raise AssertionError("the folder was listed again")

    monkeypatch.setattr(Path, "glob", no_listing)
    for i in range(1, 4):
        box.deliver("ops@bbws.io", f"later {i}", f"body {i}", topic_arn="t", message_id=f"m{i}")
    assert [m["subject"] for m in box.messages("ops@bbws.io")] == ["earlier", "later 1", "later 2", "later 3"]
    assert [m["subject"] for m in box.messages("ops@bbws.io", contains="body 2")] == ["later 2"]
    box.deliver("new@bbws.io", "first", "x", topic_arn="t", message_id="n1")  # a folder it never read
    monkeypatch.undo()
    assert [m["subject"] for m in box.messages("new@bbws.io")] == ["first"]
    assert len(box.messages()) == 5

def test_terraform_plugin_dir_only_where_it_exists(monkeypatch, tmp_path):
    monkeypatch.setenv("BBWS_TF_PLUGIN_DIR", str(tmp_path))
    assert terraform_plugin_args() == [f"-plugin-dir={tmp_path}"]
    monkeypatch.setenv("BBWS_TF_PLUGIN_DIR", str(tmp_path / "absent"))
    assert terraform_plugin_args() == []  # init downloads the provider from the registry
    monkeypatch.setenv("BBWS_TF_PLUGIN_DIR", "")
    assert terraform_plugin_args() == []
    monkeypatch.delenv("BBWS_TF_PLUGIN_DIR")
    default = [f"-plugin-dir={TF_PLUGIN_DIR_DEFAULT}"] if os.path.isdir(TF_PLUGIN_DIR_DEFAULT) else []
    assert terraform_plugin_args() == default


def test_a_function_url_listener_answers_a_hundred_simultaneous_connections():
    """Issue 18: with Python's default listen backlog (5), about 24 simultaneous connections got
    connection resets with no HTTP answer. Every one of 100 connections opened at the same moment
    is answered, and promptly (a dropped SYN is retried by the client only after a second or more), by
    the listener alone (a stub stands in for the function)."""
    import http.client
    import threading

    from bbws_local.urls import FunctionUrls

    def invoke(account: str, region: str, function: str, payload: bytes) -> tuple[bytes, None]:
        time.sleep(0.2)  # the function takes a while: connections pile up behind the accept loop
        return json.dumps({"statusCode": 200, "body": "ok"}).encode(), None

    urls = FunctionUrls("127.0.0.1", 46000 + os.getpid() % 1000, invoke)
    url = urls.open(SIT, "af-south-1", "listener-probe", "NONE")
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    n = 100
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def hit(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            barrier.wait()
            conn.request("GET", f"/health?i={i}")
            r = conn.getresponse()
            results[i] = (r.status, r.read())
        except Exception as e:  # noqa: BLE001 - every failure is counted below
            results[i] = e
        finally:
            conn.close()

    t0 = time.monotonic()
    try:
        threads = [threading.Thread(target=hit, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        urls.close(SIT, "af-south-1", "listener-probe")
    elapsed = time.monotonic() - t0
    failed = [r for r in results if r != (200, b"ok")]
    assert not failed, f"{len(failed)} of {n} connections not answered: {failed[:3]}"
    assert elapsed < 10, f"{n} connections took {elapsed:.1f} s: the listener's backlog overflowed"


def _sdk_call(invocation: str, attempt: int, body: bytes = b"Action=CreateRole&RoleName=r") -> dict:
    import io

    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_AMZ_SDK_INVOCATION_ID": invocation,
            "HTTP_AMZ_SDK_REQUEST": f"attempt={attempt}; max=25", "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body)}


def test_a_retried_call_is_logged_with_what_its_first_attempt_got(caplog):
    from bbws_local.gateway import Retries

    retries, answered = Retries(), []
    start = retries.watching(_sdk_call("inv-1", 1), lambda status, headers: answered.append(status)).start
    start("200 OK", [])
    retries.watching(_sdk_call("inv-2", 1), lambda *a: None)  # never answered
    with caplog.at_level("WARNING", logger="bbws_local.gateway"):
        retries.watching(_sdk_call("inv-1", 2), lambda *a: None)
        retries.watching(_sdk_call("inv-2", 2), lambda *a: None)
        retries.watching(_sdk_call("inv-3", 3), lambda *a: None)
        retries.watching(_sdk_call("inv-4", 1), lambda *a: None)
    assert answered == ["200 OK"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert re.search(r"attempt 2 of POST / CreateRole \(invocation inv-1\); the first attempt \(arrived "
                     r"\d+\.\d s before this one\) was answered 200 OK after \d+\.\d s$", lines[0]), lines[0]
    assert re.search(r"the first attempt \(arrived \d+\.\d s before this one\) has not been answered yet$",
                     lines[1]), lines[1]
    assert lines[2].endswith("the first attempt was not seen by this estate")


def _answer(retries, environ, status: str, body: bytes) -> bytes:
    """One call through Retries as the gateway makes it: the app answers `status` and `body`."""
    watched = retries.watching(environ, lambda *a: None)
    assert watched.again is None
    watched.start(status, [("Content-Type", "text/xml")])
    return b"".join(watched.keep(iter([body[:5], body[5:]])))


def test_a_retry_of_a_successful_call_whose_answer_was_lost_gets_the_same_answer_without_running_again(caplog):
    from bbws_local.gateway import Retries

    retries = Retries()
    assert _answer(retries, _sdk_call("inv-1", 1), "200 OK", b"<RoleId>AROA1</RoleId>") == b"<RoleId>AROA1</RoleId>"
    with caplog.at_level("WARNING", logger="bbws_local.gateway"):
        again = retries.watching(_sdk_call("inv-1", 2), lambda *a: None)
    assert again.again == ("200 OK", [("Content-Type", "text/xml")], b"<RoleId>AROA1</RoleId>")
    assert caplog.records[-1].getMessage().endswith("was answered 200 OK after 0.0 s: the same answer again")


def test_a_retry_is_run_again_after_a_failure_or_when_it_is_not_the_same_request():
    from bbws_local.gateway import Retries

    retries = Retries()
    _answer(retries, _sdk_call("inv-1", 1), "500 Internal Server Error", b"<Error/>")
    assert retries.watching(_sdk_call("inv-1", 2), lambda *a: None).again is None, "a failure is not kept"
    _answer(retries, _sdk_call("inv-2", 1), "200 OK", b"<ok/>")
    other = _sdk_call("inv-2", 2, body=b"Action=CreateRole&RoleName=another")
    assert retries.watching(other, lambda *a: None).again is None, "another request under the same id"
    assert retries.watching(_sdk_call("inv-3", 2), lambda *a: None).again is None, "never seen"


def test_kept_answers_are_bounded_by_count_and_by_bytes():
    from bbws_local.gateway import Retries

    retries = Retries(size=2)
    for n in range(3):
        _answer(retries, _sdk_call(f"inv-{n}", 1), "200 OK", b"x" * 10)
    assert retries.watching(_sdk_call("inv-0", 2), lambda *a: None).again is None, "the oldest went"
    assert retries.watching(_sdk_call("inv-2", 2), lambda *a: None).again is not None
    big = Retries()
    _answer(big, _sdk_call("inv-big", 1), "200 OK", b"x" * (Retries.ANSWER_LIMIT + 1))
    assert big.watching(_sdk_call("inv-big", 2), lambda *a: None).again is None, "too large to keep"


def test_a_failed_apply_is_explained_by_the_estate_log_lines_after_it_started(tmp_path):
    from bbws_local.pipeline import estate_log_since

    log = tmp_path / "server.log"
    log.write_text("old WARNING bbws_local.gateway SDK retry: attempt 2 of an earlier apply\n")
    offset = log.stat().st_size
    with log.open("a") as f:
        f.write("INFO listening\nWARNING bbws_local.gateway SDK retry: attempt 2 of POST / CreateRole\n"
                "ERROR werkzeug Error on request:\nTraceback (most recent call last):\n  File x\n")
    assert estate_log_since(log, offset) == [
        "WARNING bbws_local.gateway SDK retry: attempt 2 of POST / CreateRole",
        "ERROR werkzeug Error on request:", "Traceback (most recent call last):"]
    assert estate_log_since(tmp_path / "missing.log", 0) == []


def test_lane_durations_sum_each_test_file_of_a_junit_report(tmp_path, capsys):
    sys_path = str(Path(__file__).resolve().parents[2])
    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    import lane_durations

    report = tmp_path / "lanes.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_watch" name="a" time="10.5"/>'
        '<testcase classname="tests.test_watch" name="b" time="2.5"/>'
        '<testcase classname="test_release.TestX" name="c" time="20"/>'
        '</testsuite></testsuites>')
    assert lane_durations.file_seconds(report) == {"test_watch.py": 13.0, "test_release.py": 20.0}
    lane_durations.main([str(report), str(tmp_path / "absent.xml")])
    out = capsys.readouterr().out.splitlines()
    assert out == ["lane 1: 33 s in tests: test_release.py 20 s, test_watch.py 13 s",
                   f"lane 2: no report at {tmp_path / 'absent.xml'}"]


def test_least_privilege_removes_one_action_of_one_statement_and_names_what_is_not_there():
    from bbws_local.iam import EvaluatorError, without_action

    policies = [{"name": "a", "policy": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "Two", "Effect": "Allow", "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"},
                    {"Sid": "One", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}},
                {"name": "b", "policy": {"Version": "2012-10-17", "Statement": {
                    "Sid": "Only", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}}}]
    reduced = without_action(policies, {"policy": "a", "statement": 0, "action": "kms:Decrypt"})
    assert reduced[0]["policy"]["Statement"][0]["Action"] == ["s3:GetObject"]
    assert policies[0]["policy"]["Statement"][0]["Action"] == ["s3:GetObject", "kms:Decrypt"]  # a copy
    assert [st["Sid"] for st in without_action(policies, {"policy": "a", "statement": 1,
                                                          "action": "sns:Publish"})[0]["policy"]["Statement"]] == ["Two"]
    assert [p["name"] for p in without_action(policies, {"policy": "b", "statement": 0,
                                                         "action": "ssm:GetParameter"})] == ["a"]
    for bad, says in (({"policy": "c", "statement": 0, "action": "x"}, "policy (one of ['a', 'b'])"),
                      ({"policy": "a", "statement": 5, "action": "x"}, "statement 5 is not in a"),
                      ({"policy": "a", "statement": 1, "action": "kms:Decrypt"}, "kms:Decrypt is not an action")):
        with pytest.raises(EvaluatorError, match=re.escape(says)):
            without_action(policies, bad)


# What the tenants' Terraform calls, as the IAM table authorises it (iam.checks_for) --------------------

DEV = "536580886816"
TENANT_CALLS = [
    (("ec2", "DescribeVpcs", {"Filter.1.Name": "tag:Name"}), [("ec2:DescribeVpcs", "*", ())]),
    (("ec2", "DescribeVpcAttribute", {"VpcId": "vpc-1", "Attribute": "enableDnsSupport"}),
     [("ec2:DescribeVpcAttribute", f"arn:aws:ec2:af-south-1:{DEV}:vpc/vpc-1", ())]),
    (("iam", "CreateRole", {"RoleName": "tenant-001-wordpress-execution-dev", "Tags.member.1.Key": "k"}),
     [("iam:CreateRole", f"arn:aws:iam::{DEV}:role/tenant-001-wordpress-execution-dev", ()),
      ("iam:TagRole", f"arn:aws:iam::{DEV}:role/tenant-001-wordpress-execution-dev", ())]),
    (("iam", "CreateRole", {"RoleName": "r", "Path": "/svc/"}), [("iam:CreateRole", f"arn:aws:iam::{DEV}:role/svc/r", ())]),
    (("iam", "PutRolePolicy", {"RoleName": "r", "PolicyName": "p"}),
     [("iam:PutRolePolicy", f"arn:aws:iam::{DEV}:role/r", ())]),
    (("ecs", "RegisterTaskDefinition", {"family": "tenant-001-wordpress", "tags": [{"key": "k", "value": "v"}],
                                        "executionRoleArn": f"arn:aws:iam::{DEV}:role/x"}),
     [("ecs:RegisterTaskDefinition", f"arn:aws:ecs:af-south-1:{DEV}:task-definition/tenant-001-wordpress:1", ()),
      ("ecs:TagResource", f"arn:aws:ecs:af-south-1:{DEV}:task-definition/tenant-001-wordpress:1",
       (("ecs:CreateAction", "RegisterTaskDefinition"),)),
      ("iam:PassRole", f"arn:aws:iam::{DEV}:role/x", (("iam:PassedToService", "ecs-tasks.amazonaws.com"),))]),
    (("ecs", "CreateService", {"cluster": "bbws-cluster-dev", "serviceName": "s", "tags": [{"key": "k"}]}),
     [("ecs:CreateService", f"arn:aws:ecs:af-south-1:{DEV}:service/bbws-cluster-dev/s",
       (("ecs:cluster", f"arn:aws:ecs:af-south-1:{DEV}:cluster/bbws-cluster-dev"),)),
      ("ecs:TagResource", f"arn:aws:ecs:af-south-1:{DEV}:service/bbws-cluster-dev/s",
       (("ecs:CreateAction", "CreateService"),))]),
    (("ecs", "DeregisterTaskDefinition", {"taskDefinition": "tenant-001-wordpress:1"}),
     [("ecs:DeregisterTaskDefinition", "*", ())]),
    (("logs", "CreateLogGroup", {"logGroupName": "/bbws/tenants/dev/tenant-001", "tags": {"k": "v"}}),
     [("logs:CreateLogGroup", f"arn:aws:logs:af-south-1:{DEV}:log-group:/bbws/tenants/dev/tenant-001:log-stream:", ()),
      ("logs:TagResource", f"arn:aws:logs:af-south-1:{DEV}:log-group:/bbws/tenants/dev/tenant-001", ())]),
    (("logs", "PutRetentionPolicy", {"logGroupName": "/g", "retentionInDays": 30}),
     [("logs:PutRetentionPolicy", f"arn:aws:logs:af-south-1:{DEV}:log-group:/g:*", ())]),
    (("logs", "DescribeLogGroups", {"logGroupNamePrefix": "/g"}), [("logs:DescribeLogGroups", "*", ())]),
    (("ssm", "PutParameter", {"Name": "/bbws/tenants/dev/tenant-001/settings", "Tags": [{"Key": "k"}]}),
     [("ssm:PutParameter", f"arn:aws:ssm:af-south-1:{DEV}:parameter/bbws/tenants/dev/tenant-001/settings", ()),
      ("ssm:AddTagsToResource", f"arn:aws:ssm:af-south-1:{DEV}:parameter/bbws/tenants/dev/tenant-001/settings", ())]),
    (("ssm", "ListTagsForResource", {"ResourceType": "Parameter", "ResourceId": "/p"}),
     [("ssm:ListTagsForResource", f"arn:aws:ssm:af-south-1:{DEV}:parameter/p", ())]),
    (("ssm", "DescribeParameters", {}), [("ssm:DescribeParameters", "*", ())]),
]


@pytest.mark.parametrize("call, expected", TENANT_CALLS, ids=lambda v: "-".join(v[:2]) if isinstance(v[0], str) else "")
def test_the_iam_table_authorises_the_tenants_terraform_as_aws_does(call, expected):
    from bbws_local import iam

    service, operation, params = call
    caller = iam.Caller(DEV, f"arn:aws:iam::{DEV}:role/b", f"arn:aws:sts::{DEV}:assumed-role/b/s")
    checks = iam.checks_for(iam.Call(service, operation, "af-south-1", DEV, params), caller)
    assert [(c.action, c.resource, c.context) for c in checks] == expected


@pytest.mark.parametrize("call", [("iam", "CreateUser"), ("ec2", "RunInstances"), ("ecs", "RunTask"),
                                  ("ssm", "ListTagsForResource")])
def test_an_operation_the_table_does_not_know_is_refused(call):
    from bbws_local import iam

    caller = iam.Caller(DEV, f"arn:aws:iam::{DEV}:role/b", f"arn:aws:sts::{DEV}:assumed-role/b/s")
    params = {"ResourceType": "Document", "ResourceId": "d"} if call[1] == "ListTagsForResource" else {}
    with pytest.raises(iam.UnknownOperation):
        iam.checks_for(iam.Call(call[0], call[1], "af-south-1", DEV, params), caller)


@pytest.mark.parametrize("query, context", [
    ({"list-type": ["2"], "prefix": ["tenant-build/ab12/"]}, (("s3:prefix", "tenant-build/ab12/"),)),
    ({"list-type": ["2"], "prefix": ["p/"], "delimiter": ["/"], "max-keys": ["10"]},
     (("s3:prefix", "p/"), ("s3:delimiter", "/"), ("s3:max-keys", "10"))),
    ({"list-type": ["2"]}, ()),
], ids=["prefix", "prefix-delimiter-max-keys", "none"])
def test_a_listing_is_authorised_with_the_condition_keys_its_query_sets(query, context):
    """s3:prefix (and s3:delimiter, s3:max-keys) as AWS sets them from ListObjects' query: a policy that
    grants a listing of one prefix only matches a request for that prefix."""
    from bbws_local import iam

    caller = iam.Caller(DEV, f"arn:aws:iam::{DEV}:role/b", f"arn:aws:sts::{DEV}:assumed-role/b/s")
    call = iam._describe_s3("GET", "/bbws-no-such-bucket/", query, "af-south-1", DEV)
    assert call.operation == "ListObjectsV2"
    [check] = iam.checks_for(call, caller)
    assert (check.action, check.resource) == ("s3:ListBucket", "arn:aws:s3:::bbws-no-such-bucket")
    assert check.context == (("aws:SecureTransport", "true"),) + context
