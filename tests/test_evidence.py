"""The evidence of an execution as an auditor gets it (issue 14): a DEV -> SIT promotion approved through
its signed link, its report read with the SIT account's auditor role (`bbws-promotion-auditor-sit`, assumed
by a profile as an auditor's AWS CLI does) through `bbws-report show`, the HTML page in headless Chromium
(no console error, not blank, within a phone's and an A4 page's width), and the auditor's role refused
every write."""
from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pipeline_helpers as ph
import pytest
from botocore.exceptions import ClientError
from browser import browser, png_is_blank  # noqa: F401 (browser: the fixture)

BINARY = ph.ROOT / "target" / "x86_64-unknown-linux-gnu" / "release" / "bbws-report"
TENANT_DEV = "bbws-tenant-instance-management-dev"
EVENT = ph.sample_input("promote-dev-to-sit")
AUDITOR = f"arn:aws:iam::{ph.ACCOUNTS['sit']}:role/bbws-promotion-auditor-sit"
BUCKET = f"bbws-promotion-evidence-{ph.ACCOUNTS['sit']}"

# What the page's reader sees: its width against the screen's, its text and its structure.
MEASURE = r"""(() => ({
  width: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
  title: document.title, h1: (document.querySelector('h1') || {}).textContent,
  text: document.body.innerText.length,
  external: [...document.querySelectorAll('[src],link[href],script[src]')].map(e => e.src || e.href)
}))()"""


@pytest.fixture(scope="module")
def auditor_profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An auditor's AWS CLI: profile `auditor-sit` assumes the auditor role from the estate's SIT profile."""
    return ph.auditor_environment(tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def promoted(preflight_config_module: Any) -> str:
    """A DEV -> SIT promotion of the tenant service, approved by the Dev Lead through the email's link."""
    ph.record_gates("dev", TENANT_DEV, "latest-dev")
    ph.reset_service("sit", "tenant-instance-management")
    arn = ph.start("sit", EVENT)
    r = ph.confirm(ph.approval_links("dev-lead@bbws.io", arn)["approve"])
    assert r.status_code == 200, r.text
    d = ph.wait_execution("sit", arn)
    assert d["status"] == "SUCCEEDED", ph.failure_of(d)
    return arn


@pytest.fixture(scope="module")
def preflight_config_module() -> Any:
    saved = ph.set_config("sit", {"monitor": {"sit_seconds": 2, "poll_seconds": 1}})
    yield
    ph.restore_config("sit", saved)


def _show(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), "show", "--env", "sit", "--profile", "auditor-sit", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def _as_auditor() -> Any:
    c = ph.session("sit").client("sts").assume_role(RoleArn=AUDITOR, RoleSessionName="auditor")["Credentials"]
    import boto3

    return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token=c["SessionToken"], region_name="af-south-1")


def test_an_auditor_reads_the_report_the_record_the_history_and_every_version(promoted, auditor_profiles):
    [record] = ph.records_of("sit", promoted)
    prefix = record["evidence"]["prefix"]
    assert record["evidence"] == {"bucket": BUCKET, "prefix": prefix, "report": f"s3://{BUCKET}/{prefix}report.html",
                                  "link_key": record["evidence"]["link_key"]}
    assert prefix == f"evidence/sit/tenant-instance-management/{promoted.rsplit(':', 1)[1]}/"
    mail = ph.wait_notification(promoted, "Promoted: tenant-instance-management to SIT")
    assert f"Evidence (RB-003 §7 checklist, release notes): s3://{BUCKET}/{prefix}report.html" in mail
    # The email's link opens the report for 7 days, through the approval function, with its key only.
    [link] = [line.split(": ", 1)[1] for line in mail.splitlines()
              if line.startswith("Open the report (for 7 days, no sign-in): ")]
    key = record["evidence"]["link_key"]
    assert link.endswith(f"evidence?d={record['deployment_id'].replace(':', '%3A')}&k={key}"), link
    page = ph.open_link(link)
    assert page.status_code == 200 and "<h1>DEV to SIT promotion of tenant-instance-management</h1>" in page.text
    forged = ph.open_link(link[:-1] + ("0" if link[-1] != "0" else "1"))
    assert forged.status_code == 404 and "not valid" in forged.text and "<h1>DEV" not in forged.text
    assert key not in ph.evidence_file("sit", promoted, "report.json").decode(), "the key is no part of the evidence"
    logs = ph.SETTINGS.state_dir / "logs" / ph.ACCOUNTS["sit"] / "af-south-1"
    for log in logs.glob("bbws-promotion-*.log"):
        assert key not in log.read_text(errors="replace"), f"{log.name} logs the link's key"

    md = _show(auditor_profiles, promoted)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# DEV to SIT promotion of tenant-instance-management\n"), md.stdout[:200]
    assert "- [x] Dev Lead approval obtained — approved by dev-lead@bbws.io" in md.stdout, md.stdout
    # Approved through the link: the sign-off keeps where it came from.
    sign_off = next(line for line in md.stdout.splitlines() if line.startswith("| Dev Lead | dev-lead@bbws.io"))
    assert "| approved |" in sign_off and "not kept" not in sign_off, sign_off
    by_id = _show(auditor_profiles, record["deployment_id"], "--format", "json")
    assert by_id.returncode == 0, by_id.stderr
    report = json.loads(by_id.stdout)
    assert (report["execution_arn"], report["outcome"]) == (promoted, "succeeded")
    states = [t["state"] for t in report["timeline"]]
    assert states[0] == "Validate input" and "Deploy" in states and "Record success" in states, states
    facts = json.loads(_show(auditor_profiles, promoted, "--format", "facts").stdout)
    assert len(facts["polls"]) >= 2 and facts["approvals"], "every poll and the approvals table's items"
    assert "task_token" not in json.dumps(facts) and "task_token" not in md.stdout
    missing = _show(auditor_profiles, promoted, "--format", "notes")
    assert missing.returncode == 1 and "release notes are kept for PROD promotions and releases only" in missing.stderr

    # The same role reads the records, the history and the bucket's versions.
    s = _as_auditor()
    ep = ph.SETTINGS.endpoint
    assert s.client("dynamodb", endpoint_url=ep).get_item(
        TableName="bbws-deployments-sit", Key={"deployment_id": {"S": record["deployment_id"]}})["Item"]
    events = s.client("stepfunctions", endpoint_url=ep).get_execution_history(executionArn=promoted)["events"]
    assert events[0]["type"] == "ExecutionStarted"
    versions = s.client("s3", endpoint_url=ep).list_object_versions(Bucket=BUCKET, Prefix=prefix)["Versions"]
    assert {v["Key"].rsplit("/", 1)[1] for v in versions} == {"report.json", "report.md", "report.html", "facts.json"}


def test_the_report_page_renders_on_a_phone_and_a_desk_and_prints_on_a4(promoted, auditor_profiles, browser,
                                                                       tmp_path):
    html = _show(auditor_profiles, promoted, "--format", "html")
    assert html.returncode == 0, html.stderr
    page = tmp_path / "report.html"
    page.write_text(html.stdout)
    for name, (w, h, scale, mobile) in {"phone": (390, 844, 2, True), "desk": (1280, 800, 1, False),
                                        "a4": (794, 1123, 1, False)}.items():
        seen, png, problems = browser.look(page.as_uri(), w, h, scale, mobile, f"evidence-{name}.png", MEASURE,
                                           pdf="evidence-a4.pdf" if name == "a4" else None)
        assert problems == [], (name, problems)
        assert seen["external"] == [], f"{name}: the page loads {seen['external']}: it must be self-contained"
        assert seen["h1"] == "DEV to SIT promotion of tenant-instance-management", seen
        assert seen["text"] > 2000, f"{name}: {seen['text']} characters of text"
        assert seen["scrollWidth"] <= w, f"{name}: {seen['scrollWidth']} px wide on a {w} px screen"
        assert not png_is_blank(png), f"{name}: the screenshot is blank"
    pdf = (ph.SETTINGS.state_dir / "screenshots" / "evidence-a4.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page") >= 1


def test_an_auditor_cannot_write_anything(expect_denials):
    s = _as_auditor()
    ep = ph.SETTINGS.endpoint
    key = f"evidence/sit/tenant-instance-management/auditor-{int(time.time())}/report.html"
    attempts = {
        "PutObject": lambda: s.client("s3", endpoint_url=ep).put_object(Bucket=BUCKET, Key=key, Body=b"x"),
        "DeleteObject": lambda: s.client("s3", endpoint_url=ep).delete_object(Bucket=BUCKET, Key=key),
        "PutItem": lambda: s.client("dynamodb", endpoint_url=ep).put_item(
            TableName="bbws-deployments-sit", Item={"deployment_id": {"S": "forged:succeeded"}}),
        "StartExecution": lambda: s.client("stepfunctions", endpoint_url=ep).start_execution(
            stateMachineArn=ph.state_machine_arn("sit"), input=json.dumps(EVENT)),
        "UpdateAlias": lambda: s.client("lambda", endpoint_url=ep).update_alias(
            FunctionName="bbws-tenant-instance-management-sit", Name="latest-sit", FunctionVersion="1"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as e:
            attempt()
        assert e.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), (what, e.value)
    assert expect_denials(len(attempts))
