"""Fixtures of the pipeline's integration tests: they run on the local estate with the pipeline
applied (`make up`), through boto3 and real HTTP, like a workflow, an approver and an auditor."""
from __future__ import annotations

import pytest

import pipeline_helpers as ph

# A test fails when the estate refused a call (IAM) that the test did not expect.
from bbws_local import pytest_iam  # noqa: E402
from bbws_local.pytest_iam import (  # noqa: E402,F401
    _no_unexpected_iam_denials, expect_denials, pytest_collection_modifyitems)


def pytest_configure(config: pytest.Config) -> None:
    pytest_iam.pytest_configure(config)
    config.addinivalue_line("markers", "least_privilege: replays what every scenario was allowed (runs last, "
                                       "when the three estates' scenarios have ended)")


@pytest.fixture(scope="session", autouse=True)
def _pipeline_is_up() -> None:
    problem = ph.check_up()
    if problem:
        pytest.exit(problem, returncode=2)


@pytest.fixture()
def preflight_config():
    """Change the deployed configuration of a pipeline (the rules version its preflight reads) for one test."""
    changed: list[tuple[str, dict]] = []

    def _set(env: str, **overrides) -> dict:
        previous = ph.set_config(env, overrides)
        changed.append((env, previous))
        return previous

    yield _set
    for env, previous in reversed(changed):
        ph.restore_config(env, previous)


@pytest.fixture()
def watch_config():
    """Change the deployed configuration of an environment's watch function (the rules version it reads: the
    checks' times, limits and automatic rollback) for one test."""
    changed: list[tuple[str, dict]] = []

    def _set(env: str, **watch) -> dict:
        previous = ph.set_config(env, {"watch": watch}, function="watch")
        changed.append((env, previous))
        return previous

    yield _set
    for env, previous in reversed(changed):
        ph.restore_config(env, previous, function="watch")


@pytest.fixture(autouse=True)
def _no_execution_left_running():
    """A test that fails while its promotion waits must not leave the promotion (and its lock)
    behind for the next test."""
    yield
    ph.end_leftover_executions()


@pytest.fixture(scope="session", autouse=True)
def _services_at_their_baseline():
    """Every `latest-<env>` alias of the BBWS services on its baseline build (DEV newer than SIT and
    PROD) before the suite, and again after it, so promotions start from the runbook's picture and the
    estate is left as the seed describes it (local/services/README.md)."""
    ph.seed.seed(ph.ESTATE, reset=True)
    yield
    ph.seed.seed(ph.ESTATE, reset=True)


@pytest.fixture()
def release():
    """Deploy a build of a service into an environment as its own pipeline does (seed.py
    deploy-variant), and put `latest-<env>` back where it was after the test."""
    deployed: list[tuple[str, dict]] = []

    def _deploy(env: str, service: str, variant: str = "healthy", build: str = "1.4.2",
                functions: list[str] | None = None) -> dict:
        previous = ph.deploy_build(env, service, variant, build, functions)
        deployed.append((env, previous))
        return previous

    yield _deploy
    for env, previous in reversed(deployed):
        ph.restore_aliases(env, previous)


@pytest.fixture()
def reserved_concurrency():
    """Set a function's reserved concurrency for a test; removed again afterwards."""
    touched: list[tuple[str, str, str]] = []

    def _set(env: str, function: str, concurrency: int | None, region: str = "af-south-1") -> None:
        ph.set_reserved_concurrency(env, function, concurrency, region)
        touched.append((env, function, region))

    yield _set
    for env, function, region in touched:
        ph.set_reserved_concurrency(env, function, None, region)


@pytest.fixture()
def fault():
    """Arm an AWS failure for one test (ph.arm_fault); whatever is left armed is disarmed afterwards."""
    yield ph.arm_fault
    ph.disarm_faults()


@pytest.fixture()
def function_state():
    """Set a function's State for one test; Active again afterwards."""
    touched: list[tuple[str, str, str]] = []

    def _set(env: str, function: str, state: str, region: str = "af-south-1") -> None:
        ph.set_function_state(env, function, state, region)
        touched.append((env, function, region))

    yield _set
    for env, function, region in touched:
        ph.set_function_state(env, function, "Active", region)


@pytest.fixture()
def aliases():
    """Create aliases for one test (e.g. the backup a promotion would have left); deleted afterwards,
    with the incident aliases a rollback made on the same functions during the test."""
    made: list[tuple[str, str, str, str]] = []

    def _make(env: str, function: str, name: str, version: str, region: str = "af-south-1",
              description: str = "") -> None:
        ph.client(env, "lambda", region).create_alias(FunctionName=function, Name=name,
                                                      FunctionVersion=version, Description=description)
        made.append((env, region, function, name))

    yield _make
    for env, region, function, name in made:
        lam = ph.client(env, "lambda", region)
        lam.delete_alias(FunctionName=function, Name=name)
