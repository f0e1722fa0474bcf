"""Pure tests of the estate's GitHub OIDC issuer (bbws_local/oidc.py) and of tools/bbws-run's pieces
(names, inputs, gate items, redaction, annotations), without the estate."""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from bbws_local import oidc

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("bbws_run", ROOT / "tools" / "bbws_run.py")
run = importlib.util.module_from_spec(_spec)
sys.modules["bbws_run"] = run
_spec.loader.exec_module(run)

SHA = base64.b64encode(hashlib.sha256(b"package").digest()).decode()


# -- the issuer --------------------------------------------------------------------------------------

def _token(issuer: oidc.Issuer, **ctx) -> str:
    pair = issuer.register({"repository": "BigBeardWebSolutions/svc", "run_id": 42, **ctx})
    job = pair["ACTIONS_ID_TOKEN_REQUEST_URL"].split("job=")[1].split("&")[0]
    return issuer.token_for(job, pair["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], "sts.amazonaws.com")


def test_issued_tokens_carry_githubs_claims_and_verify_against_the_jwks():
    issuer = oidc.Issuer("http://127.0.0.1:1")
    token = _token(issuer, environment="sit", ref="refs/heads/main")
    claims = issuer.verify(token)
    assert claims["iss"] == "https://token.actions.githubusercontent.com" and claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == "repo:BigBeardWebSolutions/svc:environment:sit"
    assert (claims["repository"], claims["repository_owner"], claims["run_id"]) == (
        "BigBeardWebSolutions/svc", "BigBeardWebSolutions", "42")
    assert claims["exp"] - claims["iat"] == oidc.TOKEN_LIFETIME
    header = json.loads(oidc._unb64url(token.split(".")[0]))
    [key] = issuer.jwks()["keys"]
    assert header == {"typ": "JWT", "alg": "RS256", "x5t": key["kid"], "kid": key["kid"]}
    # Without an environment, sub names the ref, as GitHub's does.
    assert issuer.verify(_token(issuer))["sub"] == "repo:BigBeardWebSolutions/svc:ref:refs/heads/main"


def test_a_tampered_token_another_issuers_token_or_a_wrong_bearer_is_refused():
    issuer, other = oidc.Issuer("http://x"), oidc.Issuer("http://x")
    token = _token(issuer, environment="sit")
    head, body, sig = token.split(".")
    forged = json.loads(oidc._unb64url(body))
    forged["sub"] = "repo:BigBeardWebSolutions/svc:environment:prod"
    tampered = f"{head}.{oidc._b64url(json.dumps(forged).encode())}.{sig}"
    with pytest.raises(oidc.StsError, match="signature of the ID token is invalid"):
        issuer.verify(tampered)
    with pytest.raises(oidc.StsError, match="verification key"):
        issuer.verify(_token(other))
    with pytest.raises(oidc.StsError, match="not a valid JWT"):
        issuer.verify("not.a-token")
    pair = issuer.register({"repository": "o/r", "run_id": 1})
    job = pair["ACTIONS_ID_TOKEN_REQUEST_URL"].split("job=")[1].split("&")[0]
    assert issuer.token_for(job, "wrong", "sts.amazonaws.com") is None


def test_a_job_registration_names_each_bad_field():
    with pytest.raises(oidc.JobError) as e:
        oidc.Issuer("http://x").register({"repository": "no-owner", "environment": 3})
    assert str(e.value) == ("run_id: required; repository: must be <owner>/<name>, got 'no-owner'; "
                            "environment: must be a string")


# -- bbws-run ----------------------------------------------------------------------------------------

def _args(**kw) -> argparse.Namespace:
    base = dict(input=None, service=None, requested_by=None, reason=None, change_request=None, version=None,
                incident=None, skip_quality_gates=False, services=None, rollback_completed_phases=False, force=False)
    return argparse.Namespace(**{**base, **kw})


def test_execution_names_carry_the_run_id_and_fit_step_functions_limits():
    assert run.execution_name("promote", "sit", {"service": "site-management"}, "123") == "site-management-sit-gh123"
    assert run.execution_name("rollback", "prod", {"service": "ecs-event-handler"}, "9") == \
        "ecs-event-handler-rollback-prod-gh9"
    assert run.execution_name("release", "prod", {}, "77") == "release-prod-gh77"
    now = dt.datetime(2026, 12, 2, 22, 15, 7, tzinfo=dt.timezone.utc)
    assert run.execution_name("promote", "sit", {"service": "x"}, None, now) == "x-sit-20261202-221507"
    with pytest.raises(run.UsageError, match="service: required"):
        run.execution_name("promote", "sit", {"service": "Bad Name"}, "1")
    with pytest.raises(run.UsageError, match="GITHUB_RUN_ID: digits only"):
        run.execution_name("promote", "sit", {"service": "x"}, "1;rm")


def test_the_input_is_the_file_with_the_options_over_it(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"service": "tenant-instance-management", "source_env": "dev", "target_env": "sit",
                             "requested_by": "jane@bbws.io", "reason": "r"}))
    got = run.build_input("promote", "sit", _args(input=str(f), version="7", incident="INC-1"))
    assert got["version"] == "7" and got["emergency"] == {"incident": "INC-1"} and got["reason"] == "r"
    with pytest.raises(run.UsageError, match=r"target_env: the input says 'sit' but --env is 'prod'"):
        run.build_input("promote", "prod", _args(input=str(f)))
    rb = run.build_input("rollback", "prod", _args(service="s", version="backup-20260125-220000", incident="INC-9"))
    assert rb == {"service": "s", "target_version": "backup-20260125-220000", "incident": "INC-9",
                  "environment": "prod"}
    rel = run.build_input("release", "sit", _args(services="a, b", requested_by="x@bbws.io", reason="r"))
    assert rel["services"] == ["a", "b"] and rel["target_env"] == "sit"


def test_a_gate_item_is_the_readmes_put_item_after_the_rules():
    now = dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)
    item = run.gate_item("unit_tests", "true", "87.5", SHA, "https://ci/run/1", now)
    assert item == {"code_sha256": {"S": SHA}, "gate": {"S": "unit_tests"}, "passed": {"BOOL": True},
                    "recorded_at": {"S": "2026-12-02T00:00:00Z"}, "coverage_percent": {"N": "87.5"},
                    "ci_run": {"S": "https://ci/run/1"}}
    for args, words in [(("unit-tests", "true", None, SHA), "gate: one of unit_tests"),
                        (("lint", "yes", None, SHA), "passed: true or false"),
                        (("lint", "true", None, "abc"), "code_sha256: a Lambda CodeSha256"),
                        (("unit_tests", "true", None, SHA), "coverage: required for unit_tests"),
                        (("unit_tests", "true", "lots", SHA), "coverage: a number from 0 to 100"),
                        (("unit_tests", "true", "120", SHA), "coverage: a number from 0 to 100"),
                        (("unit_tests", "true", "79.9", SHA), "coverage: 79.9 is below 80"),
                        (("lint", "true", "90", SHA), "coverage: only for unit_tests")]:
        with pytest.raises(run.UsageError, match=words):
            run.gate_item(*args, None)
    assert run.gate_item("unit_tests", "false", "12", SHA, None)["passed"] == {"BOOL": False}


def test_secrets_are_redacted_and_annotations_escaped():
    doc = {"task_token": "AAAA", "approval": {"links": ["x"], "approvers": [{"person": "a@bbws.io"}]},
           "url": "https://x/approve?t=abc&sig=def", "jwt": "eyJhbGciOi.eyJzdWIi.sig", "version": "7"}
    assert run.redact(doc) == {"task_token": "[redacted]", "approval": {"links": "[redacted]",
                               "approvers": [{"person": "a@bbws.io"}]}, "url": "[redacted]", "jwt": "[redacted]",
                               "version": "7"}
    assert run.annotation_escape("50%\nnext") == "50%25%0Anext"
    assert run.property_escape("a:b,c") == "a%3Ab%2Cc"
    lines = run.figure_lines({"preflight": {"checks": [{"check": "gates", "passed": True, "detail": "5 of 5"}],
                                            "task_token": "secret"}})
    assert lines == ["ok   gates: 5 of 5", "preflight.task_token: [redacted]"]
    assert run.find_requirement({"preflight": {"approval": {"all_of": ["tech_lead", "operations_lead"]}}}) == \
        ("all_of", ["tech_lead", "operations_lead"])


# -- the workflow harness's expressions (tests/gha_harness.py) ----------------------------------------

_hspec = importlib.util.spec_from_file_location("gha_harness", ROOT / "tests" / "gha_harness.py")
harness = importlib.util.module_from_spec(_hspec)
sys.modules["gha_harness"] = harness
_hspec.loader.exec_module(harness)


def test_the_harness_evaluates_expressions_and_step_conditions_as_github_does():
    ctx = {"inputs": {"service": "site-management", "skip": False}, "steps": {"role": {"outputs": {"role_arn": "arn:x"}}},
           "github": {"run_id": "7"}, "env": {}, "vars": {}, "__status": "success"}
    assert harness.interpolate("gh-${{ github.run_id }}-${{ inputs.service }}", ctx) == "gh-7-site-management"
    assert harness.interpolate("${{ steps.role.outputs.role_arn }}", ctx) == "arn:x"
    assert harness.interpolate("${{ inputs.missing || 'default' }}", ctx) == "default"
    assert harness.interpolate("${{ inputs.skip }}", ctx) == "false"
    assert harness.condition(None, ctx) and not harness.condition("cancelled()", ctx)
    assert harness.condition("inputs.service == 'SITE-management'", ctx)  # == ignores case on strings
    cancelled = {**ctx, "__status": "cancelled"}
    assert not harness.condition(None, cancelled) and harness.condition("${{ cancelled() }}", cancelled)
    assert not harness.condition("inputs.service == 'site-management'", cancelled)  # success() && …
    assert harness.condition("always()", {**ctx, "__status": "failure"})
    with pytest.raises(harness.HarnessError, match="unknown context"):
        harness.interpolate("${{ secretz.x }}", ctx)
    assert harness.parse_env_file("a=1\nb<<EOF\nx\ny\nEOF\nc=k=v\n") == {"a": "1", "b": "x\ny", "c": "k=v"}
