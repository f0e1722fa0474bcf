"""The BBWS services as fixtures of the estate (local/services): seed, variants, traffic, metrics, rules.

The seeded functions (RB-003 §1.4 names) are read, invoked and sent traffic, never changed: tests that
deploy a broken build do so on their own copy of a service function (a unique name), so the estate stays
usable for everything else that runs against it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any
from collections.abc import Iterator

import pytest
from conftest import ROOT, unique, wait_for

from services import catalog, seed, traffic
from services.estate import Estate

ALL_FUNCTIONS = [
    (env, region, service.name, name)
    for env in catalog.ENVS
    for region in catalog.REGIONS_OF_ENV[env]
    for service in catalog.SERVICES.values()
    for name in service.function_names(env)
]
TENANTS = catalog.service("tenant-instance-management")


@pytest.fixture(scope="session")
def estate() -> Estate:
    return Estate()


@pytest.fixture(scope="session")
def seeded(estate: Estate) -> list[seed.Change]:
    """The fixtures are in place (a first seed; on an estate already seeded it changes nothing)."""
    return seed.seed(estate)


@pytest.fixture
def own_tenant_function(estate: Estate, seeded: list[seed.Change]) -> Iterator[str]:
    """A DEV copy of the tenant function with the DEV baseline (1.4.1, 1.4.2, latest-dev on 1.4.2)."""
    account = seed.Account(estate, "dev", catalog.PRIMARY_REGION, [])
    name = unique("bbws-tenant-instance-management-dev")
    seed.seed_function(account, seed.Packages(estate.state_dir), TENANTS, TENANTS.functions[0],
                       account.ensure_role(), name=name)
    yield name
    account.lam.delete_function(FunctionName=name)


def invoke(estate: Estate, env: str, name: str, event: dict[str, Any], qualifier: str | None = None,
           region: str = catalog.PRIMARY_REGION) -> tuple[dict[str, Any], Any]:
    """Invoke and decode: (the Invoke response, the function's result)."""
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    lam = estate.client(env, "lambda", region)
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return r, json.loads(r["Payload"].read())


def health(estate: Estate, env: str, name: str, qualifier: str | None = None,
           region: str = catalog.PRIMARY_REGION) -> tuple[int, dict[str, Any]]:
    """The status code and decoded body of the runbook's health request (RB-003 §3.3)."""
    r, out = invoke(estate, env, name, catalog.HEALTH_REQUEST, qualifier, region)
    assert "FunctionError" not in r, out
    return out["statusCode"], json.loads(out["body"])


def alias_configuration(estate: Estate, env: str, name: str,
                        region: str = catalog.PRIMARY_REGION) -> dict[str, Any]:
    """The configuration of the version latest-<env> points to."""
    lam = estate.client(env, "lambda", region)
    version = lam.get_alias(FunctionName=name, Name=catalog.alias_of(env))["FunctionVersion"]
    return lam.get_function_configuration(FunctionName=name, Qualifier=version)


def metric_sum(estate: Estate, env: str, metric: str, dims: dict[str, str], start: dt.datetime) -> float:
    """The Sum of an AWS/Lambda metric from `start` to a minute from now (0 when there are no datapoints)."""
    r = estate.client(env, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start, EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1),
        Period=3600, Statistics=["Sum"])
    return sum(p["Sum"] for p in r["Datapoints"])


def an_hour_ago() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)


# ---------------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------------


def test_seed_twice_changes_nothing(estate, seeded):
    assert seed.seed(estate) == []


def test_seed_cli_runs_as_a_script_and_reports_no_changes(seeded):
    env = {**os.environ, "PYTHONPATH": ""}
    r = subprocess.run([sys.executable, str(ROOT / "local" / "services" / "seed.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "seed: no changes" in r.stdout


def test_dev_latest_is_newer_than_sit_latest_and_their_code_differs(estate, seeded):
    for service in catalog.SERVICES.values():
        for fn in service.functions:
            dev = alias_configuration(estate, "dev", fn.name("dev"))
            sit = alias_configuration(estate, "sit", fn.name("sit"))
            dev_build = catalog.build_of_description(dev["Description"])
            sit_build = catalog.build_of_description(sit["Description"])
            assert catalog.build_key(dev_build) > catalog.build_key(sit_build), (fn.name("dev"), dev_build)
            assert int(dev["Version"]) > 1, "DEV also has the older version"
            assert dev["CodeSha256"] != sit["CodeSha256"]


def test_dev_keeps_the_older_build_that_sit_and_prod_run(estate, seeded):
    name = TENANTS.functions[0].name
    versions = estate.client("dev", "lambda").list_versions_by_function(FunctionName=name("dev"))["Versions"]
    dev_shas = {v["CodeSha256"] for v in versions if v["Version"] != "$LATEST"}
    for env, region in (("sit", "af-south-1"), ("prod", "af-south-1"), ("prod", "eu-west-1")):
        config = alias_configuration(estate, env, name(env), region)
        assert catalog.build_of_description(config["Description"]) == catalog.OLDER_BUILD
        assert config["CodeSha256"] in dev_shas


@pytest.mark.parametrize("env,region,service,name", ALL_FUNCTIONS,
                         ids=[f"{region}:{name}" for _, region, _, name in ALL_FUNCTIONS])
def test_every_function_answers_health_with_200(estate, seeded, env, region, service, name):
    lam = estate.client(env, "lambda", region)
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["Handler"], config["State"]) == ("python3.12", "handler.handler", "Active")
    assert config["Role"].endswith(":role/bbws-service-role")
    status, body = health(estate, env, name, catalog.alias_of(env), region)
    assert status == 200
    assert body["status"] == "healthy"
    assert body["service"] == catalog.function_def(service, name, env).component
    published = alias_configuration(estate, env, name, region)
    assert body["version"] == catalog.build_of_description(published["Description"])


def test_ordinary_requests_answer_200_and_unknown_paths_404(estate, seeded):
    for service in catalog.SERVICES.values():
        for fn in service.functions:
            for event in fn.requests:
                r, out = invoke(estate, "sit", fn.name("sit"), event, "latest-sit")
                assert "FunctionError" not in r, out
                if "statusCode" in out:
                    assert out["statusCode"] == 200 and json.loads(out["body"]), (fn.name("sit"), event, out)
            _, out = invoke(estate, "sit", fn.name("sit"), catalog.http_get("/no-such-path"), "latest-sit")
            assert out["statusCode"] == 404


def test_eventbridge_rules_of_the_ecs_event_handler_are_enabled_and_target_its_alias(estate, seeded):
    service = catalog.service("ecs-event-handler")
    for env in catalog.ENVS:
        for region in catalog.REGIONS_OF_ENV[env]:
            events = estate.client(env, "events", region)
            rules = [r for r in events.list_rules()["Rules"] if "ecs-event-handler" in r["Name"]]
            assert {r["Name"] for r in rules} >= {service.rule_name(env, rule) for rule in service.rules}
            assert {r["State"] for r in rules} == {"ENABLED"}
            for rule in service.rules:
                targets = events.list_targets_by_rule(Rule=service.rule_name(env, rule))["Targets"]
                assert [t["Arn"].rsplit(":", 2)[-2:] for t in targets] == [
                    [f"bbws-ecs-event-handler-{env}", catalog.alias_of(env)]]


# ---------------------------------------------------------------------------------------------------
# Variants and deploy-variant
# ---------------------------------------------------------------------------------------------------


def test_broken_health_variant_answers_500_and_the_previous_version_stays_healthy(
        estate, own_tenant_function):
    name = own_tenant_function
    previous = estate.client("dev", "lambda").get_alias(FunctionName=name, Name="latest-dev")["FunctionVersion"]
    changes = seed.deploy_variant("dev", TENANTS.name, "broken-health", "1.4.3", estate, functions=[name])
    assert [c.action for c in changes] == ["update-code", "publish-version", "update-alias"]
    status, body = health(estate, "dev", name, "latest-dev")
    assert (status, body["status"], body["version"]) == (500, "unhealthy", "1.4.3")
    assert alias_configuration(estate, "dev", name)["Description"] == "build 1.4.3 (broken-health)"
    r, out = invoke(estate, "dev", name, catalog.http_get("/tenants"), "latest-dev")
    assert "FunctionError" not in r and out["statusCode"] == 200, "only /health is broken in this build"
    assert health(estate, "dev", name, previous)[0] == 200, "the version to roll back to is healthy"
    assert seed.deploy_variant("dev", TENANTS.name, "broken-health", "1.4.3", estate, functions=[name]) == []


def test_a_reset_puts_the_alias_back_on_the_seeds_own_version_not_a_later_copy_of_its_package(
        estate, own_tenant_function):
    """A promotion publishes a package the seed published too (the same CodeSha256) as a new version
    with the pipeline's description; the reset returns to the seed's version, whose description names
    the build (the health checks of the seeded functions read it)."""
    name = own_tenant_function
    lam = estate.client("dev", "lambda")
    seeded_version = lam.get_alias(FunctionName=name, Name="latest-dev")["FunctionVersion"]
    seed.deploy_variant("dev", TENANTS.name, "broken-health", "1.4.3", estate, functions=[name])
    package = seed.Packages(estate.state_dir).get(TENANTS.name, "healthy", "1.4.2")
    lam.update_function_code(FunctionName=name, ZipFile=package.data, Publish=False)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    copy = lam.publish_version(FunctionName=name, Description="promoted by an execution")
    assert copy["CodeSha256"] == package.code_sha256 and copy["Version"] != seeded_version
    lam.update_alias(FunctionName=name, Name="latest-dev", FunctionVersion=copy["Version"])

    account = seed.Account(estate, "dev", catalog.PRIMARY_REGION, [])
    seed.seed_function(account, seed.Packages(estate.state_dir), TENANTS, TENANTS.functions[0],
                       account.ensure_role(), reset=True, name=name)
    assert lam.get_alias(FunctionName=name, Name="latest-dev")["FunctionVersion"] == seeded_version
    assert alias_configuration(estate, "dev", name)["Description"] == "build 1.4.2 (healthy)"


def test_errors_under_traffic_variant_fails_ordinary_requests_and_errors_are_counted(
        estate, own_tenant_function):
    name = own_tenant_function
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    seed.deploy_variant("dev", TENANTS.name, "errors-under-traffic", "1.4.3", estate, functions=[name])
    version = estate.client("dev", "lambda").get_alias(FunctionName=name, Name="latest-dev")["FunctionVersion"]
    assert health(estate, "dev", name, "latest-dev")[0] == 200, "this build passes its health check"
    r, out = invoke(estate, "dev", name, catalog.http_get("/tenants"), "latest-dev")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "ServiceFault"

    report = traffic.send_traffic("dev", TENANTS.name, requests=6, functions=[name], estate=estate)
    assert report.total.function_errors == 6 and report.total.ok == 0

    by_alias = {"FunctionName": name, "Resource": f"{name}:latest-dev"}
    wait_for(lambda: metric_sum(estate, "dev", "Errors", {"FunctionName": name}, start) == 7,
             what="7 Errors of the function")
    assert metric_sum(estate, "dev", "Invocations", {"FunctionName": name}, start) == 8
    assert metric_sum(estate, "dev", "Errors", by_alias, start) == 7
    assert metric_sum(estate, "dev", "Errors", {**by_alias, "ExecutedVersion": version}, start) == 7


def test_reset_moves_the_alias_and_latest_back_to_the_baseline(estate, own_tenant_function):
    name = own_tenant_function
    lam = estate.client("dev", "lambda")
    baseline = lam.get_alias(FunctionName=name, Name="latest-dev")["FunctionVersion"]
    seed.deploy_variant("dev", TENANTS.name, "broken-health", "1.4.3", estate, functions=[name])
    account = seed.Account(estate, "dev", catalog.PRIMARY_REGION, [])
    packages = seed.Packages(estate.state_dir)
    args = (account, packages, TENANTS, TENANTS.functions[0], account.ensure_role())
    assert seed.seed_function(*args, name=name) != baseline, "without reset, a moved alias stays"
    assert account.changes == []
    assert seed.seed_function(*args, reset=True, name=name) == baseline
    assert [c.action for c in account.changes] == ["update-code", "update-alias"]
    assert health(estate, "dev", name)[0] == 200 and health(estate, "dev", name, "latest-dev")[0] == 200


def test_deploy_variant_needs_the_function_to_exist(estate, seeded):
    with pytest.raises(seed.SeedError, match="run the seed first"):
        seed.deploy_variant("dev", TENANTS.name, "broken-health", "1.4.3", estate,
                            functions=[unique("missing")])


# ---------------------------------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------------------------------


def test_traffic_cli_produces_invocation_metrics(estate, seeded, capsys):
    name = "bbws-tenant-instance-management-sit"
    dims = {"FunctionName": name}
    by_alias = {**dims, "Resource": f"{name}:latest-sit"}
    start = an_hour_ago()
    before = metric_sum(estate, "sit", "Invocations", dims, start)
    before_alias = metric_sum(estate, "sit", "Invocations", by_alias, start)

    assert traffic.main(["--env", "sit", "--service", TENANTS.name, "--requests", "20"]) == 0
    out = capsys.readouterr().out
    assert "total: 20 requests, 2xx: 20, errors: 0" in out

    wait_for(lambda: metric_sum(estate, "sit", "Invocations", dims, start) >= before + 20,
             what="20 more Invocations")
    assert metric_sum(estate, "sit", "Invocations", by_alias, start) >= before_alias + 20


def test_traffic_reaches_every_function_of_a_service(estate, seeded):
    report = traffic.send_traffic("prod", "site-management", requests=8, region="eu-west-1", estate=estate)
    assert sorted(report.per_function) == sorted(f"{n}:latest-prod" for n in
                                                 catalog.service("site-management").function_names("prod"))
    assert all(t.ok == 2 and t.errors == 0 for t in report.per_function.values())
