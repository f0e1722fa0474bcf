"""Any JSON value as an execution's input (issue 11, item 4): an array, a string, a number, null, a
boolean, an object nested 50 deep, a 250 KB object, the right fields with values of the wrong types.
Every state machine ends FAILED with Bbws.InvalidInput (never States.Runtime) and a cause naming what is
wrong, and nothing changes: no lock, no record, no approval request, no alias moved."""
from __future__ import annotations

import json

import pipeline_helpers as ph
import pytest

SERVICES = ph.SERVICE_NAMES


def nested(depth: int) -> dict:
    value: object = "tenant-instance-management"
    for _ in range(depth):
        value = {"service": value}
    return value  # type: ignore[return-value]


def big_object(size: int = 250 * 1024) -> dict:
    """An object of unknown fields, `size` bytes of JSON (under Step Functions' 256 KB input quota)."""
    obj, i = {}, 0
    while len(json.dumps(obj)) < size - 200:
        obj[f"field-{i:05d}"] = "v" * 80
        i += 1
    return obj


def wrong_types(kind: str) -> tuple[dict, list[str]]:
    """The machine's own fields, each of the wrong JSON type; the fields the cause must name."""
    if kind == "promote":
        return ({"service": 1, "source_env": ["dev"], "target_env": {"env": "sit"}, "version": True,
                 "requested_by": 7, "reason": ["why"], "change_request": 1234, "skip_quality_gates": "yes",
                 "emergency": "INC-1"},
                ["service: must be a string", "source_env: must be a string", "target_env: must be a string",
                 "version: must be a string", "requested_by: must be a string", "reason: must be a string",
                 "change_request: must be a string", "skip_quality_gates: must be true or false"])
    if kind == "release":
        return ({"target_env": 3, "services": "tenant-instance-management", "requested_by": [],
                 "reason": {}, "change_request": 5, "rollback_completed_phases": "no"},
                ["target_env: must be a string", "services: must be a list of service names",
                 "requested_by: must be a string", "reason: must be a string", "change_request: must be a string",
                 "rollback_completed_phases: must be true or false"])
    return ({"service": ["tenant-instance-management"], "environment": 1, "target_version": True,
             "reason": 9, "requested_by": {}, "incident": 42, "force": "true"},
            ["service: must be a string", "environment: must be a string", "target_version: must be",
             "reason: must be a string", "requested_by: must be a string", "incident: must be a string",
             "force: must be true or false"])


NOT_AN_OBJECT = ["request: must be a JSON object"]
INPUTS = [
    ("array", [], NOT_AN_OBJECT),
    ("array-of-a-request", [{"service": "tenant-instance-management"}], NOT_AN_OBJECT),
    ("string", "tenant-instance-management", NOT_AN_OBJECT),
    ("number", 42, NOT_AN_OBJECT),
    ("float", -1.5, NOT_AN_OBJECT),
    ("null", None, NOT_AN_OBJECT),
    ("true", True, NOT_AN_OBJECT),
    ("false", False, NOT_AN_OBJECT),
    ("empty-object", {}, ["is required"]),
    ("nested-50-deep", nested(50), ["is required"]),
    ("250-kb-object", big_object(), ["field-00000: unknown field", "more problems"]),
]
MACHINES = [("sit", "promote"), ("sit", "release"), ("sit", "rollback"), ("prod", "promote"),
            ("prod", "rollback")]


def snapshot(env: str) -> dict:
    return {"aliases": {s: ph.latest_versions(env, s) for s in SERVICES},
            "locks": {s: ph.lock_of(env, s) for s in (*SERVICES, "release")}}


@pytest.mark.parametrize("env,kind", MACHINES, ids=[f"bbws-{k}-{e}" for e, k in MACHINES])
def test_any_json_input_ends_invalid_input_and_changes_nothing(env, kind):
    before = snapshot(env)
    cases = [*INPUTS, ("wrong-types", *wrong_types(kind))]
    started = [(name, words, ph.start(env, payload, kind=kind)) for name, payload, words in cases]
    problems = []
    for name, words, arn in started:
        d = ph.wait_execution(env, arn, timeout=120)
        outcome = (d["status"], d.get("error"))
        if outcome != ("FAILED", "Bbws.InvalidInput"):
            problems.append(f"{name}: {outcome} {d.get('cause', '')[:300]}")
            continue
        cause = d.get("cause", "")
        missing = [w for w in words if w not in cause]
        if missing:
            problems.append(f"{name}: the cause does not say {missing}: {cause[:400]}")
        if len(cause) > 32_768:
            problems.append(f"{name}: a {len(cause)}-character cause")
        if ph.records_of(env, arn):
            problems.append(f"{name}: a record was written")
        if ph.pending_approval(env, arn) is not None:
            problems.append(f"{name}: an approval was requested")
    assert not problems, "\n".join(problems)
    assert snapshot(env) == before, "a refused input changed a lock or an alias"
