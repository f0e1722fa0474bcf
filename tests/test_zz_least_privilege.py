"""Least privilege, proven the other way round: every action each pipeline role is granted is needed.

The scenarios of this suite ran before this module (pytest runs files in name order; this one is
last on purpose): the estate recorded every call each role was allowed, with the exact action,
resource and conditions it was authorised for. Here each role's policy loses one action of one
statement at a time, and the estate re-decides the recorded calls under the reduced policy
(`POST /_local/iam/replay`, the same evaluator as the live decisions). An action whose removal refuses
none of them is not needed by any scenario: it must go, or be listed in JUSTIFIED with the reason the
estate cannot exercise it (a call AWS makes on the role's behalf that the estate does not emulate).

The grant being *sufficient* is proven by the scenarios themselves: the suite fails on any IAM
refusal a test did not expect (bbws_local.pytest_iam).
"""
from __future__ import annotations

import copy
import json
import urllib.request
from typing import Any
from urllib.parse import unquote

import pipeline_helpers as ph
import pytest

# (role name pattern, statement Sid) -> why no scenario on the estate exercises it.
JUSTIFIED: dict[tuple[str, str], str] = {
    ("function", "OwnLogs"): "the Lambda service writes the function's logs with the execution role; the "
                             "estate writes them to local files",
    ("states", "LogDelivery"): "Step Functions delivers execution logs with the state machine's role; the "
                               "estate keeps them in the execution history",
    ("states", "ChildExecutionEvents"): "Step Functions manages the StepFunctionsGetEventsForStepFunctionsExecution"
                                        "Rule for startExecution.sync with the role; the estate's interpreter "
                                        "polls the child instead",
    ("states", "FollowAndStopPromotions"): "Step Functions follows (and on a stop, stops) the child execution "
                                           "of startExecution.sync with the role; the estate's interpreter "
                                           "does so internally",
}

FUNCTIONS = ("preflight", "backup-alias", "deploy", "monitor", "rollback", "record", "approval")


def _post(path: str, doc: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{ph.SETTINGS.endpoint}{path}", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def _policies(env: str, role: str) -> list[dict[str, Any]]:
    iam = ph.client(env, "iam")
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        out.append({"name": name, "policy": json.loads(unquote(doc)) if isinstance(doc, str) else doc})
    return out


def _roles(env: str) -> list[tuple[str, str]]:
    roles = [(f"bbws-promotion-{f}-{env}", "function") for f in FUNCTIONS]
    return roles + [(f"bbws-promotion-states-{env}", "states")]


def _without(policies: list[dict[str, Any]], p: int, s: int, action: str) -> list[dict[str, Any]]:
    reduced = copy.deepcopy(policies)
    statements = reduced[p]["policy"]["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    st = statements[s]
    actions = [st["Action"]] if isinstance(st["Action"], str) else list(st["Action"])
    actions.remove(action)
    if actions:
        st["Action"] = actions
    else:
        statements.pop(s)
    reduced[p]["policy"]["Statement"] = statements
    if not statements:
        reduced.pop(p)
    return reduced


@pytest.mark.parametrize("env", ["sit", "prod"])
def test_every_granted_action_is_needed_by_a_scenario(env):
    unneeded, report = [], []
    recorded_any = False
    for role, kind in _roles(env):
        acct = ph.ACCOUNTS[env]
        role_arn = f"arn:aws:iam::{acct}:role/{role}"
        policies = _policies(env, role)
        for p, pol in enumerate(policies):
            statements = pol["policy"]["Statement"]
            statements = [statements] if isinstance(statements, dict) else statements
            for s, st in enumerate(statements):
                sid = st.get("Sid", f"#{s}")
                actions = [st["Action"]] if isinstance(st["Action"], str) else list(st["Action"])
                for action in actions:
                    out = _post("/_local/iam/replay", {"role_arn": role_arn,
                                                       "policies": _without(policies, p, s, action)})
                    recorded_any = recorded_any or out["recorded"] > 0
                    refused = out["refused"]
                    report.append(f"{role} {sid} {action}: {len(refused)} of {out['recorded']} calls refused")
                    if not refused and (kind, sid) not in JUSTIFIED:
                        unneeded.append(f"{role}: {sid} {action}")
    if not recorded_any:
        pytest.skip("no calls recorded: this module replays what the scenarios before it did")
    print("\n".join(report))
    assert not unneeded, "granted but needed by no scenario (remove it, or justify it in JUSTIFIED):\n  " + \
        "\n  ".join(unneeded)
