"""Delivery metrics (issue 14) with `bbws-report metrics`, as an auditor runs it against the estate.

A known set of deployment records is written into the estate's PROD and SIT deployment tables, in
March 2025 and for services of this run's own names (no other test reads them, and they are removed
at the end); the built command reads them back with the estate's profiles (bbws-prod, and bbws-sit
for the lead time) and its JSON must give the figures computed by hand below.

The seeded set (the period is 2025-03-01 to 2025-03-14, 14 days):

- alpha: promotions p1, p2, p4 and p6 succeeded (4 deployments); p0 is the day before the period and
  p7 at its end (not included); p3 rolled itself back 15 min after its backup; p5 ended failed
  before its deploy (not a change). p2's 4-hour check failed at 16:00 and r1 rolled it back at 18:05
  (2 h 5 min); r2 came 25 h after p4 (not p4's failure); r3 rolled p6 back 10 h after it. Lead time
  from SIT: p1 3 d after s1, p2 28 h after s2 (its newest package), p4 34 h after s5 (s4 rolled
  back); p6's package is in no SIT record of alpha. One record's timestamp does not read.
- beta: b1 and b2, each a release's phase with its own record; release 2 rolled its completed
  phases back an hour after b2.
- gamma: known only from the two release records; release 2 rolled its phase back.
- delta: asked for, no record.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pipeline_helpers as ph
import pytest
from boto3.dynamodb.types import TypeSerializer

BINARY = ph.ROOT / "target" / "x86_64-unknown-linux-gnu" / "release" / "bbws-report"
RUN = uuid.uuid4().hex[:8]
ALPHA, BETA, GAMMA, DELTA = (f"report-{name}-{RUN}" for name in ("alpha", "beta", "gamma", "delta"))
PERIOD = ["--since", "2025-03-01", "--until", "2025-03-15"]
SERVICES = [arg for s in (ALPHA, BETA, GAMMA, DELTA) for arg in ("--service", s)]


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:states:af-south-1:{ph.ACCOUNTS['prod']}:execution:bbws-{kind}-prod:{name}-{RUN}"


def _promote(name: str, service: str, at: str, outcome: str, shas: list[str], env: str = "prod",
             **extra: Any) -> dict[str, Any]:
    record = {
        "deployment_id": f"{name}-{RUN}:{outcome}", "timestamp": at, "environment": env,
        "action": "promote", "service": service, "source_environment": "sit" if env == "prod" else "dev",
        "from_version": {"af-south-1/f": "1"},
        "to_version": {} if outcome == "failed" else {"af-south-1/f": "2"},
        "code_sha256": [{"function": "f", "version": "3", "code_sha256": f"{sha}-{RUN}", "target": "f"}
                        for sha in shas],
        "actor": "dev@bbws.io", "execution_arn": _arn("promote", name), "outcome": outcome,
        "error": None if outcome == "succeeded" else "Bbws.RolledBack", "rollback": None,
    }
    record.update(extra)
    return record


def _rollback(name: str, service: str, at: str, outcome: str = "succeeded") -> dict[str, Any]:
    return {"deployment_id": f"{name}-{RUN}:{outcome}", "timestamp": at, "environment": "prod",
            "action": "rollback", "service": service, "from_version": {"af-south-1/f": "2"},
            "to_version": {"af-south-1/f": "1"}, "outcome": outcome, "actor": "oncall@bbws.io",
            "execution_arn": _arn("rollback", name)}


def _check(name: str, at: str, verdict: str) -> dict[str, Any]:
    return {"name": name, "at": at, "verdict": verdict, "window_seconds": 3600, "figures": [],
            "alarms": [], "other_alarms": [], "findings": [] if verdict == "passed" else ["errors 3"]}


def _release(name: str, at: str, outcome: str, phases: list[dict[str, Any]], back: bool) -> dict[str, Any]:
    return {"deployment_id": f"{name}-{RUN}:{outcome}", "timestamp": at, "environment": "prod",
            "action": "release", "service": "release", "services": [BETA, GAMMA], "phases": phases,
            "rollback_completed_phases": back, "completed_rollback": {"phases": []} if back else None,
            "outcome": outcome, "execution_arn": _arn("release", name)}


def _phase(index: int, service: str, child: str, outcome: str) -> dict[str, Any]:
    return {"index": index, "service": service, "execution_arn": _arn("promote", child), "outcome": outcome}


PROD = [
    _promote("p0", ALPHA, "2025-02-28T23:59:59+00:00", "succeeded", ["a0"]),
    _promote("p1", ALPHA, "2025-03-01T10:00:00+00:00", "succeeded", ["a1"],
             checks=[_check("1-hour check", "2025-03-01T11:00:00+00:00", "passed")]),
    _promote("p2", ALPHA, "2025-03-03T12:00:00+00:00", "succeeded", ["a2", "a1"],
             checks=[_check("1-hour check", "2025-03-03T13:00:00+00:00", "passed"),
                     _check("4-hour check", "2025-03-03T16:00:00+00:00", "failed")]),
    _rollback("r1", ALPHA, "2025-03-03T18:05:00+00:00"),
    _promote("p3", ALPHA, "2025-03-06T09:00:00+00:00", "rolled_back", ["a9"],
             backup_alias="backup-20250306-084500"),
    _promote("p4", ALPHA, "2025-03-08T10:00:00+00:00", "succeeded", ["a3"]),
    _rollback("r2", ALPHA, "2025-03-09T11:00:00+00:00"),
    _promote("p5", ALPHA, "2025-03-10T10:00:00+00:00", "failed", ["a4"]),
    _promote("p6", ALPHA, "2025-03-12T10:00:00+00:00", "succeeded", ["zz"]),
    _rollback("r3", ALPHA, "2025-03-12T20:00:00+00:00"),
    _rollback("r4", ALPHA, "2025-03-13T20:00:00+00:00", "failed"),
    _promote("p7", ALPHA, "2025-03-15T00:00:00+00:00", "succeeded", ["a5"]),
    _promote("bad", ALPHA, "2025-03-05 noon", "succeeded", ["a6"]),
    _promote("b1", BETA, "2025-03-04T09:30:00+00:00", "succeeded", ["b1"], execution_arn=_arn("promote", "rel1-p1")),
    _release("rel1", "2025-03-04T10:00:00+00:00", "succeeded",
             [_phase(1, BETA, "rel1-p1", "succeeded"), _phase(2, GAMMA, "rel1-p2", "succeeded")], back=False),
    _promote("b2", BETA, "2025-03-11T09:00:00+00:00", "succeeded", ["b2"], execution_arn=_arn("promote", "rel2-p1")),
    _release("rel2", "2025-03-11T10:00:00+00:00", "failed",
             [_phase(1, BETA, "rel2-p1", "succeeded"), _phase(2, GAMMA, "rel2-p2", "rolled_back")], back=True),
]
SIT = [
    _promote("s1", ALPHA, "2025-02-26T10:00:00+00:00", "succeeded", ["a1"], env="sit"),
    _promote("s2", ALPHA, "2025-03-02T08:00:00+00:00", "succeeded", ["a2"], env="sit"),
    _promote("s3", ALPHA, "2025-03-05T09:00:00+00:00", "succeeded", ["a2"], env="sit"),
    _promote("s4", ALPHA, "2025-03-06T00:00:00+00:00", "rolled_back", ["a3"], env="sit"),
    _promote("s5", ALPHA, "2025-03-07T00:00:00+00:00", "succeeded", ["a3"], env="sit"),
    _promote("s6", BETA, "2025-02-01T00:00:00+00:00", "succeeded", ["zz"], env="sit"),
]


@pytest.fixture(scope="module")
def binary() -> Path:
    if not BINARY.exists():
        pytest.fail(f"{BINARY.relative_to(ph.ROOT)} is not built: run `make report` (make test-local does)")
    return BINARY


@pytest.fixture(scope="module")
def seeded(binary):
    """The known records in the PROD and SIT deployment tables, removed afterwards."""
    serializer = TypeSerializer()
    written: list[tuple[str, str]] = []
    try:
        for env, records in (("prod", PROD), ("sit", SIT)):
            ddb = ph.client(env, "dynamodb")
            for record in records:
                item = {k: serializer.serialize(v) for k, v in record.items()}
                ddb.put_item(TableName=f"bbws-deployments-{env}", Item=item)
                written.append((env, record["deployment_id"]))
        yield
    finally:
        for env, deployment_id in written:
            ph.client(env, "dynamodb").delete_item(
                TableName=f"bbws-deployments-{env}", Key={"deployment_id": {"S": deployment_id}})


def _report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=120,
                          env=env if env is not None else dict(os.environ))


def _metrics(*extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = _report("metrics", "--env", "prod", *PERIOD, *SERVICES, "--format", "json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _row(report: dict[str, Any], service: str) -> dict[str, Any]:
    [row] = [r for r in report["services"] if r["service"] == service]
    return row


def _figures(spread: dict[str, Any] | None) -> tuple[int, int, int, int] | None:
    if spread is None:
        return None
    return spread["median"]["seconds"], spread["p90"]["seconds"], spread["max"]["seconds"], spread["count"]


def test_the_seeded_records_give_the_known_figures(seeded, tmp_path):
    # As an auditor runs it: the PROD and SIT auditor roles, assumed by their profiles.
    report = _metrics("--profile", "auditor-prod", "--source-profile", "auditor-sit",
                      env=ph.auditor_environment(tmp_path))
    assert (report["environment"], report["since"], report["until"], report["days"]) == (
        "prod", "2025-03-01", "2025-03-15", 14.0)
    assert [r["service"] for r in report["services"]] == [ALPHA, BETA, GAMMA, DELTA]

    alpha = _row(report, ALPHA)
    assert alpha["frequency"] == {"deployments": 4, "from_release_records": 0, "per_day": 0.29, "per_week": 2.0}
    lead = alpha["lead_time"]
    assert (lead["known"], lead["measured"], lead["without_evidence"]) == (True, 3, 1)
    assert _figures(lead["spread"]) == (122_400, 259_200, 259_200, 3)
    assert (lead["spread"]["median"]["human"], lead["spread"]["max"]["human"]) == ("1 d 10 h", "3 d")
    cf = alpha["change_failure"]
    assert (cf["changes"], cf["failed"], cf["rate"]) == (5, 3, 0.6)
    assert cf["causes"] == {"rolled_itself_back": 1, "failed_after_deploy": 0, "release_rollback": 0,
                            "failed_watch_check": 1, "manual_rollback": 1}
    ttr = alpha["time_to_restore"]
    assert (ttr["failures"], ttr["measured"], ttr["unmeasured"], ttr["open"]) == (3, 3, 0, 0)
    assert _figures(ttr["spread"]) == (7_500, 36_000, 36_000, 3)
    assert ttr["spread"]["median"]["human"] == "2 h 5 min"
    assert alpha["rollbacks"] == 3

    beta = _row(report, BETA)
    assert (beta["frequency"]["deployments"], beta["frequency"]["from_release_records"]) == (2, 0)
    assert (beta["change_failure"]["changes"], beta["change_failure"]["failed"],
            beta["change_failure"]["causes"]["release_rollback"]) == (2, 1, 1)
    assert _figures(beta["time_to_restore"]["spread"]) == (3_600, 3_600, 3_600, 1)
    assert (beta["lead_time"]["measured"], beta["lead_time"]["without_evidence"]) == (0, 2)

    gamma = _row(report, GAMMA)
    assert (gamma["frequency"]["deployments"], gamma["frequency"]["from_release_records"]) == (2, 2)
    assert gamma["change_failure"]["rate"] == 0.5
    assert {k: gamma["time_to_restore"][k] for k in ("failures", "measured", "unmeasured", "open", "spread")} == {
        "failures": 1, "measured": 0, "unmeasured": 1, "open": 0, "spread": None}

    delta = _row(report, DELTA)
    assert (delta["frequency"]["deployments"], delta["change_failure"]["rate"], delta["lead_time"]["spread"],
            delta["time_to_restore"]["spread"]) == (0, None, None, None)

    ours = [p for p in report["problems"] if RUN in (p["deployment_id"] or "")]
    assert ours == [{"records": "bbws-deployments-prod", "deployment_id": f"bad-{RUN}:succeeded",
                     "problem": "timestamp '2025-03-05 noon' is not an RFC 3339 time"}]
    assert sorted(r["table"] for r in report["read"]) == ["bbws-deployments-prod", "bbws-deployments-sit"]
    assert sorted(report["definitions"]) == ["change failure rate", "deployment frequency", "deployments",
                                             "lead time", "time to restore"]


def test_without_the_sit_profile_the_lead_time_is_unknown_and_the_table_says_why(seeded):
    # AWS_PROFILE instead of --profile: the standard chain.
    env = {**os.environ, "AWS_PROFILE": "bbws-prod"}
    report = _metrics(env=env)
    lead = _row(report, ALPHA)["lead_time"]
    assert (lead["known"], lead["measured"], lead["without_evidence"]) == (False, 0, 4)
    assert lead["unknown_because"] == ("bbws-deployments-sit was not read: give --source-profile with the "
                                       "SIT account's auditor profile")
    assert _row(report, ALPHA)["change_failure"]["failed"] == 3

    done = _report("metrics", "--env", "prod", *PERIOD, *SERVICES, "--profile", "bbws-prod")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Delivery metrics of PROD, 2025-03-01 to 2025-03-14 (14 days; 2025-03-15 not included)"
    header = lines[2]
    assert header.split("  ")[0].strip() == "SERVICE" and header.endswith("OPEN  ROLLBACKS")
    [alpha] = [line for line in lines if line.startswith(ALPHA)]
    cells = [c.strip() for c in alpha[len(ALPHA):].split("  ") if c.strip()]
    assert cells == ["4", "2.00", "0.29", "unknown", "60 % (3 of 5)", "2 h 5 min / 10 h / 10 h (3 of 3)", "0", "3"]
    assert "Lead time unknown: bbws-deployments-sit was not read: give --source-profile" in done.stdout


def test_wrong_arguments_exit_2_and_aws_failures_exit_1_naming_the_cause(seeded):
    for args, words in [
        (["metrics", *PERIOD], "--env is required: dev, sit or prod"),
        (["metrics", "--env", "uat"], "--env: 'uat' is not dev, sit or prod"),
        (["metrics", "--env", "prod", "--since", "2025-02-30"], "--since: '2025-02-30' is not a date"),
        (["metrics", "--env", "sit", "--source-profile", "bbws-dev"], "--source-profile goes with --env prod only"),
        (["metrics", "--env", "prod", "--format", "yaml"], "--format: 'yaml' is not table or json"),
    ]:
        done = _report(*args)
        assert (done.returncode, done.stdout) == (2, ""), (args, done.stderr)
        assert done.stderr.startswith(f"bbws-report: {words}"), (args, done.stderr)

    done = _report("metrics", "--env", "prod", *PERIOD, "--profile", "bbws-nowhere")
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert "profile bbws-nowhere: the credentials do not load" in done.stderr, done.stderr

    # The SIT account's profile reads PROD's table name in the SIT account: there is no such table.
    done = _report("metrics", "--env", "prod", *PERIOD, *SERVICES, "--profile", "bbws-sit")
    assert done.returncode == 1, done.stderr
    assert "Query bbws-deployments-prod" in done.stderr and "ResourceNotFoundException" in done.stderr, done.stderr


def test_the_command_lists_its_arguments(binary):
    done = _report("--help")
    assert done.returncode == 0 and "bbws-report metrics --env <dev|sit|prod>" in done.stdout
    assert "--source-profile" in done.stdout
