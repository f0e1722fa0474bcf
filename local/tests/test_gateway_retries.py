"""An SDK retry of a call whose answer the client lost (the estate answered it with success): the same
answer again, the call not run twice (bbws_local.gateway.Retries). botocore's own retry, forced after a
successful first attempt, is exactly such a retry: same invocation id, attempt 2, the same request."""
from __future__ import annotations

import json

from conftest import LAMBDA_TRUST, STATE, unique


def _lose_first_answers(client, event: str, seen: list[int]) -> None:
    """Make the client retry the first attempt of `event`'s operation at once, whatever it was answered,
    as an SDK does when it could not read an answer."""
    def lose(attempts: int, response=None, **_kw):
        seen.append(attempts)
        return 0 if attempts == 1 else None

    client.meta.events.register_first(event, lose)


def test_a_create_whose_answer_was_lost_is_answered_again_and_made_once(dev):
    iam = dev.client("iam")
    name = unique("lost-answer")
    seen: list[int] = []
    _lose_first_answers(iam, "needs-retry.iam.CreateRole", seen)
    log = STATE / "server.log"
    offset = log.stat().st_size
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
    try:
        assert seen[:2] == [1, 2], "botocore retried once"
        assert role["RoleName"] == name
        assert iam.get_role(RoleName=name)["Role"]["RoleId"] == role["RoleId"], "the first attempt's role"
        with log.open() as f:
            f.seek(offset)
            lines = [line for line in f if "SDK retry: attempt 2 of POST / CreateRole" in line]
        assert lines and lines[-1].rstrip().endswith("the same answer again"), lines
    finally:
        iam.delete_role(RoleName=name)


def test_a_call_retried_after_a_refusal_is_run_again(dev):
    """A first attempt that failed is not kept: its retry runs the call (and here fails again the same way)."""
    iam = dev.client("iam")
    seen: list[int] = []
    _lose_first_answers(iam, "needs-retry.iam.GetRole", seen)
    log = STATE / "server.log"
    offset = log.stat().st_size
    try:
        iam.get_role(RoleName=unique("no-such-role"))
    except iam.exceptions.NoSuchEntityException:
        pass
    else:
        raise AssertionError("a role that does not exist was found")
    assert seen[:2] == [1, 2]
    with log.open() as f:
        f.seek(offset)
        lines = [line.rstrip() for line in f if "SDK retry: attempt 2 of POST / GetRole" in line]
    # The refusal is answered again because the call ran again, not because it was kept.
    assert lines and "was answered 404" in lines[-1] and not lines[-1].endswith("the same answer again"), lines
