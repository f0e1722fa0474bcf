"""A pytest plugin for the suites that run on the estate: a test fails when the estate refused a call
for IAM reasons that the test did not expect (see iam.py).

A test that provokes refusals on purpose takes the `expect_denials` fixture and calls
`expect_denials(n)` (or `expect_denials(at_least=n)`) once they happened; any other refusal logged
while a test ran fails it, naming the caller, the action and the resource. Such tests are marked
`iam_denials`, so `make test-local` can run them on their own after the suites that run side by side
(a refusal provoked in one suite would otherwise count as unexpected in the other).
"""
from __future__ import annotations

import json
import urllib.request
from typing import Any, Callable

import pytest

from .settings import Settings

_ENDPOINT = Settings.from_env().endpoint


def _iam(since: int = 0) -> dict[str, Any]:
    with urllib.request.urlopen(f"{_ENDPOINT}/_local/iam?since={since}", timeout=5) as r:
        return json.loads(r.read())


def _line(d: dict[str, Any]) -> str:
    ev = d.get("evaluated", {})
    return f"{d['userIdentity']['arn']} {ev.get('action')} on {ev.get('resource')} ({ev.get('reason')})"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "iam_denials: the test provokes IAM refusals on purpose")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "expect_denials" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.iam_denials)


@pytest.fixture(autouse=True)
def _no_unexpected_iam_denials(request: pytest.FixtureRequest) -> Any:
    try:
        start = _iam()["denial_count"]
    except OSError:
        yield  # no estate: the suite's own session fixture reports that
        return
    request.node._bbws_denials = {"start": start, "expected": 0, "at_least": False}
    yield
    state = request.node._bbws_denials
    new = _iam(start)["denials"]
    allowed = len(new) if state["at_least"] else state["expected"]
    if len(new) > allowed:
        pytest.fail("the estate refused calls this test did not expect (IAM):\n  "
                    + "\n  ".join(_line(d) for d in new[allowed:]), pytrace=False)


@pytest.fixture
def expect_denials(request: pytest.FixtureRequest) -> Callable[..., bool]:
    """expect_denials(n): exactly n IAM refusals so far in this test; at_least=n: n or more."""

    def expect(n: int = 0, at_least: int | None = None) -> bool:
        state = request.node._bbws_denials
        seen = _iam(state["start"])["denials"]
        if at_least is not None:
            assert len(seen) >= at_least, f"expected at least {at_least} IAM refusals, saw {len(seen)}"
            state["at_least"] = True
            return True
        assert len(seen) == n, f"expected {n} IAM refusals, saw {len(seen)}: " + "; ".join(_line(d) for d in seen)
        state["expected"] = n
        return True

    return expect
