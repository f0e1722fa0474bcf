"""Function URLs answer HTTP on loopback; SNS email lands in the local mailbox."""
from __future__ import annotations

import json
import urllib.request

import requests
from conftest import ENDPOINT, unique, wait_for


def public_url(session, function_name: str) -> str:
    """A function URL with AuthType NONE and the two statements AWS requires for it (since October 2025)."""
    lam = session.client("lambda")
    url = lam.create_function_url_config(FunctionName=function_name, AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName=function_name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=function_name, StatementId="via-url", Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True)
    return url


def test_function_url_answers_get_and_post_with_payload_v2(dev, python_zip, make_function):
    fn = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")
    url = public_url(dev, fn["FunctionName"])
    assert url.startswith("http://127.0.0.1:")
    assert dev.client("lambda").get_function_url_config(FunctionName=fn["FunctionName"])["FunctionUrl"] == url
    r = requests.get(url + "approve?r=abc&d=approve", headers={"User-Agent": "phone-browser"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["x-probe"] == "yes" and "seen=1" in r.headers["Set-Cookie"]
    body = r.json()
    assert body == {"method": "GET", "path": "/approve", "query": {"r": "abc", "d": "approve"}, "body": None,
                    "user_agent": "phone-browser"}
    r = requests.post(url + "confirm", data={"decision": "approve", "reason": "ok"}, timeout=10)
    assert r.status_code == 201
    assert r.json()["body"] == "decision=approve&reason=ok"


def test_function_url_of_a_failing_function_answers_502(dev, python_zip, make_function):
    fn = make_function(dev, python_zip, runtime="python3.12", handler="handler.broken")
    url = public_url(dev, fn["FunctionName"])
    r = requests.post(url, json={"any": "thing"}, timeout=10)
    assert r.status_code == 502
    assert r.json() == {"Message": "Internal Server Error"}


def test_function_url_returning_plain_json_answers_200(dev, probe_zip, make_function):
    fn = make_function(dev, probe_zip)
    url = public_url(dev, fn["FunctionName"])
    r = requests.get(url + "x", timeout=10)
    assert r.status_code == 200
    assert r.json()["event"]["rawPath"] == "/x", "a result without statusCode is returned as JSON"


def test_deleted_function_url_stops_answering(dev, python_zip, make_function):
    lam = dev.client("lambda")
    fn = make_function(dev, python_zip, runtime="python3.12", handler="handler.handler")
    url = public_url(dev, fn["FunctionName"])
    assert requests.get(url, timeout=10).status_code == 200
    lam.delete_function_url_config(FunctionName=fn["FunctionName"])
    try:
        requests.get(url, timeout=2)
        answered = True
    except requests.ConnectionError:
        answered = False
    assert not answered


def test_sns_email_lands_in_the_mailbox_with_its_links(dev):
    sns = dev.client("sns")
    topic = sns.create_topic(Name=unique("approvals"))["TopicArn"]
    to = f"{unique('approver')}@bbws.io"
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=to)
    link = "http://127.0.0.1:4999/approve?r=req-1&sig=abc"
    sns.publish(TopicArn=topic, Subject="Approval wanted: tenant-instance-management to SIT",
                Message=f"Approve: {link}\nThanks")
    msgs = wait_for(lambda: json.loads(urllib.request.urlopen(
        f"{ENDPOINT}/_local/mailbox.json?to={to}", timeout=5).read()), what="the email")
    assert len(msgs) == 1
    m = msgs[0]
    assert m["to"] == to and m["subject"] == "Approval wanted: tenant-instance-management to SIT"
    assert m["topic_arn"] == topic
    assert link in m["links"]
    assert "unsubscribe" in m["body"]
    page = urllib.request.urlopen(f"{ENDPOINT}/_local/mailbox?to={to}", timeout=5).read().decode()
    assert f'<a href="{link.replace("&", "&amp;")}">' in page


def test_email_json_and_other_addresses_are_kept_apart(dev):
    sns = dev.client("sns")
    topic = sns.create_topic(Name=unique("notify"))["TopicArn"]
    a, b = f"{unique('a')}@bbws.io", f"{unique('b')}@bbws.io"
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=a)
    sns.publish(TopicArn=topic, Message="hello")
    msgs = wait_for(lambda: json.loads(urllib.request.urlopen(
        f"{ENDPOINT}/_local/mailbox.json?to={a}", timeout=5).read()), what="the email")
    assert json.loads(msgs[0]["body"])["Message"] == "hello"
    assert json.loads(urllib.request.urlopen(f"{ENDPOINT}/_local/mailbox.json?to={b}", timeout=5).read()) == []
