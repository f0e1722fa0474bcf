"""Bad inputs (issue 4, step 1): every one ends Bbws.InvalidInput with a cause naming the field, and
nothing changes anywhere — no lock, no deployment record, no alias moved."""
from __future__ import annotations

import pipeline_helpers as ph
import pytest

GOOD_SIT = {"service": "tenant-instance-management", "source_env": "dev", "target_env": "sit",
            "requested_by": "jane@bbws.io", "reason": "Release 1.4.2"}
GOOD_PROD = {**GOOD_SIT, "source_env": "sit", "target_env": "prod", "change_request": "CHG-1234"}


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


CASES = [
    ("unknown-service", "sit", {**GOOD_SIT, "service": "billing"},
     [f"service: unknown service 'billing' (known: {', '.join(sorted(ph.SERVICE_NAMES))})"]),
    ("dev-to-prod", "sit", {**GOOD_SIT, "target_env": "prod"}, ["target_env"]),
    ("sit-to-sit", "sit", {**GOOD_SIT, "source_env": "sit"}, ["target_env"]),
    ("prod-to-sit", "sit", {**GOOD_SIT, "source_env": "prod"}, ["target_env"]),
    ("sit-to-prod-on-the-sit-machine", "sit", GOOD_PROD,
     ["target_env: this state machine promotes into SIT", "runs on bbws-promote-prod"]),
    ("dev-to-sit-on-the-prod-machine", "prod", GOOD_SIT,
     ["target_env: this state machine promotes into PROD", "runs on bbws-promote-sit"]),
    ("unknown-environment", "sit", {**GOOD_SIT, "source_env": "uat"}, ["source_env: unknown environment 'uat'"]),
    ("prod-without-change-request", "prod", without(GOOD_PROD, "change_request"),
     ["change_request: is required for promotion to prod"]),
    ("malformed-change-request", "prod", {**GOOD_PROD, "change_request": "CR-12"},
     ["change_request: 'CR-12' must look like CHG-<digits>"]),
    ("skip-gates-for-prod", "prod", {**GOOD_PROD, "skip_quality_gates": True, "emergency": {"incident": "INC-7"}},
     ["skip_quality_gates: is never allowed for promotion to prod"]),
    ("skip-gates-for-sit-without-emergency", "sit", {**GOOD_SIT, "skip_quality_gates": True},
     ["skip_quality_gates: is only allowed together with an emergency"]),
    ("skip-gates-not-a-boolean", "sit", {**GOOD_SIT, "skip_quality_gates": "yes"},
     ["skip_quality_gates: must be true or false"]),
    ("requested-by-not-an-email", "sit", {**GOOD_SIT, "requested_by": "jane"},
     ["requested_by: 'jane' does not look like an email address"]),
    ("missing-requested-by", "sit", without(GOOD_SIT, "requested_by"), ["requested_by: is required"]),
    ("blank-reason", "sit", {**GOOD_SIT, "reason": "   "}, ["reason: must not be blank"]),
    ("reason-too-long", "sit", {**GOOD_SIT, "reason": "x" * 501}, ["reason: must be at most 500 characters"]),
    ("bad-version", "sit", {**GOOD_SIT, "version": "1.4.2"}, ["version: '1.4.2' is neither a version number"]),
    ("version-zero", "sit", {**GOOD_SIT, "version": "0"}, ["version: version number '0' must be 1 to 9999"]),
    ("malformed-incident", "prod", {**GOOD_PROD, "emergency": {"incident": "77"}},
     ["emergency.incident: '77' must look like INC-<digits>"]),
    ("emergency-not-an-object", "prod", {**GOOD_PROD, "emergency": True}, ["emergency: must be an object"]),
    ("unknown-field", "sit", {**GOOD_SIT, "approver": "boss@bbws.io"}, ["approver: unknown field"]),
    ("several-problems-at-once", "sit", {"service": "tenant-instance-management", "source_env": "dev",
                                         "target_env": "prod", "requested_by": "not-an-email", "reason": " "},
     ["target_env", "requested_by", "reason"]),
]


@pytest.mark.parametrize("env,payload,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_changes(env, payload, words):
    services = ph.SERVICE_NAMES
    before = {s: ph.latest_versions(env, s) for s in services}
    locks = {s: ph.lock_of(env, s) for s in services}
    arn = ph.start(env, payload)
    d = ph.wait_execution(env, arn)
    assert (d["status"], d["error"]) == ("FAILED", "Bbws.InvalidInput"), ph.failure_of(d)
    for w in words:
        assert w in d["cause"], d["cause"]
    assert ph.states_entered(env, arn)[:3] == ["Validate input", "Keep the refusal", "Input rejected"]
    assert ph.records_of(env, arn) == []
    for s in services:
        assert ph.lock_of(env, s) == locks[s], f"{s}: the refused request touched the lock"
        assert ph.latest_versions(env, s) == before[s]
    assert ph.pending_approval(env, arn) is None
