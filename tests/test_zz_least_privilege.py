"""Least privilege, proven the other way round: every action each pipeline role is granted is needed.

The scenarios of this suite ran before this module (pytest runs files in name order; this one is
last on purpose): the estate recorded every call each role was allowed, with the exact action,
resource and conditions it was authorised for, and the session that made it (only the pipeline's own
sessions count: not a test acting as a role to prove a refusal). Here each role's policy loses one
action of one statement at a time, and the estate re-decides the recorded calls under the reduced policy
(`POST /_local/iam/replay`, the same evaluator as the live decisions). An action whose removal refuses
none of them is not needed by any scenario: it must go, or be listed in JUSTIFIED with the reason the
estate cannot exercise it (a call AWS makes on the role's behalf that the estate does not emulate).

The grant being *sufficient* is proven by the scenarios themselves: the suite fails on any IAM
refusal a test did not expect (bbws_local.pytest_iam).
"""
from __future__ import annotations

import json
import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pipeline_helpers as ph
import pytest

pytestmark = pytest.mark.least_privilege

# (role, statement Sid, action) -> why no scenario on the estate exercises it; "*" matches any role or
# action. Each is a call AWS makes with the role that the estate does not emulate, or a path of the code
# that the scenarios do not take.
JUSTIFIED: dict[tuple[str, str, str], str] = {
    ("*", "OwnLogs", "*"): "the Lambda service writes the function's logs with its execution role; the "
                           "estate writes them to local files",
    ("states", "LogDelivery", "*"): "Step Functions delivers execution logs with the state machine's role; "
                                    "the estate keeps them in the execution history",
    ("states", "ChildExecutionEvents", "*"): "Step Functions manages the rule StepFunctionsGetEventsFor"
                                             "StepFunctionsExecutionRule for startExecution.sync with the role; "
                                             "the estate's interpreter polls the child instead",
    ("states", "FollowAndStopPromotions", "*"): "Step Functions follows (and on a stop, stops) the child "
                                                "execution of startExecution.sync with the role; the estate's "
                                                "interpreter does so internally",
    ("states", "TenantBuildEvents", "*"): "Step Functions manages the rule StepFunctionsGetEventForCodeBuild"
                                          "StartBuildRule for codebuild:startBuild.sync with the role; the "
                                          "estate's interpreter polls the build instead (and refuses the "
                                          "state machine without the grant, as AWS does)",
    ("deploy", "DeployTargetFunctions", "lambda:PublishVersion"): "only when UpdateFunctionCode with Publish "
                                                                  "returns no version",
    ("deploy", "DeployTargetFunctions", "lambda:CreateAlias"): "the first promotion into a function that has no "
                                                               "latest-<env> alias yet",
}

ENVS = ("dev", "sit", "prod")
FUNCTIONS = ("preflight", "backup-alias", "deploy", "monitor", "rollback", "record", "approval", "tenant")


# The estates whose recorded calls are replayed: this one, and any other the scenarios ran part of
# their work on (`make test-local` runs the pipeline's tests in three lanes, one per estate), named in
# BBWS_REPLAY_ALSO (comma-separated endpoints). All are applied from the same Terraform.
ESTATES = [ph.SETTINGS.endpoint, *filter(None, os.environ.get("BBWS_REPLAY_ALSO", "").split(","))]
_POOL = ThreadPoolExecutor(max_workers=len(ESTATES))


def _post(endpoint: str, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{endpoint}{path}", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def _sessions(role: str, key: str) -> list[str]:
    """The role session names in which the pipeline itself acts with a role: the only calls replayed.
    Lambda and Step Functions (the estate, as the services) name theirs after the role; the functions
    name theirs on the source account's reader (functions/{preflight,deploy,tenant}/src/main.rs); the
    workflows name theirs gh-<run id>-<attempt>, or take configure-aws-credentials' default. A test that
    acts as a pipeline role names a session of its own (iam-test, infra-test...), and its calls must not
    make a grant look needed."""
    if key == "source-reader":
        return ["bbws-promotion-preflight", "bbws-promotion-deploy", "bbws-tenant"]
    if key == "github-actions":
        return ["gh-*", "GitHubActions"]
    return [role]


def _replay(role_arn: str, action: str, sessions: list[str],
            without: dict[str, Any] | None = None) -> tuple[int, int]:
    """(calls recorded, calls refused) of `role_arn` in `sessions`, over every estate replayed, under
    the role's own policies in each estate (each estate has its own key ARNs) less `without` ({"policy":
    name, "statement": index, "action": action}); only the calls of `action` are re-decided (removing it
    from an Allow changes no other call's decision)."""
    doc = {"role_arn": role_arn, "actions": [action], "without": without, "sessions": sessions}
    outs = list(_POOL.map(lambda e: _post(e, "/_local/iam/replay", doc), ESTATES))  # each estate at once
    return sum(o["recorded"] for o in outs), sum(len(o["refused"]) for o in outs)


def _policies(env: str, role: str) -> list[dict[str, Any]]:
    iam = ph.client(env, "iam")
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        out.append({"name": name, "policy": json.loads(unquote(doc)) if isinstance(doc, str) else doc})
    return out


def _roles(env: str) -> list[tuple[str, str]]:
    """(role name, the role's key in JUSTIFIED) of every role the pipeline deploys in `env`."""
    names = [(f"bbws-promotion-{f}-{env}", f) for f in FUNCTIONS] + [(f"bbws-promotion-states-{env}", "states")]
    if env != "prod":
        names.append(("bbws-promotion-source-reader", "source-reader"))
    # The workflows' role (tests/test_github_workflows.py): gates in DEV, executions in SIT.
    names.append((f"bbws-github-actions-role-{env}", "github-actions"))
    return names


def _justified(key: str, sid: str, action: str) -> bool:
    return any((k, s_, a) in JUSTIFIED for k in (key, "*") for s_ in (sid,) for a in (action, "*"))


def _role_needs(env: str, role: str, key: str) -> list[tuple[str, str, int, int]]:
    """(Sid, action, calls recorded, calls refused without the action) for each action of each statement
    of one role's policies."""
    role_arn = f"arn:aws:iam::{ph.ACCOUNTS[env]}:role/{role}"
    sessions = _sessions(role, key)
    already: dict[str, int] = {}
    out = []
    for pol in _policies(env, role):
        statements = pol["policy"]["Statement"]
        statements = [statements] if isinstance(statements, dict) else statements
        for s, st in enumerate(statements):
            sid = st.get("Sid", f"#{s}")
            actions = [st["Action"]] if isinstance(st["Action"], str) else list(st["Action"])
            for action in actions:
                # Calls the current policy refuses too (a test that widened a grant for a while, e.g.
                # ph.reader_also_reads) do not make an action needed.
                if action not in already:
                    already[action] = _replay(role_arn, action, sessions)[1]
                seen, refused = _replay(role_arn, action, sessions, {"policy": pol["name"], "statement": s,
                                                                     "action": action})
                out.append((sid, action, seen, refused - already[action]))
    return out


def test_every_granted_action_is_needed_by_a_scenario():
    # (role key, Sid, action) -> calls refused without it, summed over the three accounts.
    needed: dict[tuple[str, str, str], int] = {}
    recorded = 0
    report = []
    roles = [(env, role, key) for env in ENVS for role, key in _roles(env)]
    # Four roles at a time: each replay is answered by the three estates, each deciding in its own
    # evaluator; a role's replays run one after the other.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for (env, role, key), needs in zip(roles, pool.map(lambda r: _role_needs(*r), roles)):
            for sid, action, seen, refused in needs:
                recorded += seen
                needed[(key, sid, action)] = needed.get((key, sid, action), 0) + refused
                report.append(f"{role} {sid} {action}: {refused} of {seen} refused")
    if recorded == 0:
        pytest.skip("no calls recorded: this module replays what the scenarios before it did")
    print("\n".join(report))
    unneeded = sorted(f"{k}: {sid} {a}" for (k, sid, a), n in needed.items() if n == 0 and not _justified(k, sid, a))
    assert not unneeded, "granted but needed by no scenario (remove it, or justify it in JUSTIFIED):\n  " + \
        "\n  ".join(unneeded)
    stale = sorted(f"{k}: {sid} {a}" for (k, sid, a) in JUSTIFIED
                   if "*" not in (k, a) and needed.get((k, sid, a), 0) > 0)
    assert not stale, "justified as never exercised, yet a scenario needs it (drop the justification):\n  " + \
        "\n  ".join(stale)
