"""What the BBWS service fixtures are: services, functions, builds, variants, rules (RB-003 §1.3, §1.4).

The services and their functions are those of the runbook's catalog (events/config/runbook.json, which
Terraform and the promotion functions read too); this module adds what the estate needs to run them:
each service's repository and EventBridge rules, each function's component and ordinary requests. It is
the single source of names for build.py, seed.py, traffic.py and their tests.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bbws_local.settings import ACCOUNTS, FAILOVER_REGION, PRIMARY_REGION, runbook_config

ENVS: tuple[str, ...] = tuple(ACCOUNTS)  # dev, sit, prod
REGIONS_OF_ENV: dict[str, tuple[str, ...]] = {
    "dev": (PRIMARY_REGION,),
    "sit": (PRIMARY_REGION,),
    "prod": (PRIMARY_REGION, FAILOVER_REGION),
}

VARIANTS: tuple[str, ...] = ("healthy", "broken-health", "errors-under-traffic", "unhealthy-outside-dev")
OLDER_BUILD = "1.4.1"
NEWER_BUILD = "1.4.2"
# The builds published in each environment, oldest first; the last one carries the `latest-<env>` alias.
BASELINE_BUILDS: dict[str, tuple[str, ...]] = {
    "dev": (OLDER_BUILD, NEWER_BUILD),
    "sit": (OLDER_BUILD,),
    "prod": (OLDER_BUILD,),
}
BUILD_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")

ROLE_NAME = "bbws-service-role"
LAMBDA_TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
# What the functions may do: write their logs (what AWSLambdaBasicExecutionRole grants), as an inline policy.
ROLE_POLICY_NAME = "bbws-service-logs"
ROLE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                   "Resource": "*"}],
}
# The platform's ECS cluster in each account, where the tenants' WordPress services run (RB-003 §3.2.4).
CLUSTER_TAGS: dict[str, str] = {"bbws:component": "platform"}


def cluster_name(env: str) -> str:
    """The tenants' ECS cluster of `env` (RB-003: bbws-cluster-dev, bbws-cluster-sit, bbws-cluster-prod)."""
    return f"bbws-cluster-{env}"


# The platform's network in each account's primary region: the VPC, the private subnets the tenants' tasks
# get their interfaces in (awsvpc) and the security group those tasks share. Tenants find them by tag.
VPC_CIDR: dict[str, str] = {"dev": "10.10.0.0/16", "sit": "10.20.0.0/16", "prod": "10.30.0.0/16"}
PRIVATE_SUBNETS: tuple[tuple[str, int], ...] = (("a", 1), ("b", 2))  # (AZ suffix, third octet)


def vpc_name(env: str) -> str:
    """The platform VPC of `env` (its Name tag)."""
    return f"bbws-vpc-{env}"


def tenants_security_group(env: str) -> str:
    """The security group of the tenants' WordPress tasks in `env`."""
    return f"bbws-tenants-{env}"


RUNTIME = "python3.12"
HANDLER = "handler.handler"
TIMEOUT_SECONDS = 10
MEMORY_MB = 256


def http_get(path: str) -> dict[str, Any]:
    """An API Gateway request as the runbook's checks send it (RB-003 §3.3)."""
    return {"httpMethod": "GET", "path": path, "headers": {}}


HEALTH_REQUEST = http_get("/health")


def ecs_event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event from aws.ecs, as the ECS event handler's rules deliver it."""
    return {"version": "0", "source": "aws.ecs", "detail-type": detail_type, "detail": detail}


def sqs_batch(*jobs: dict[str, Any]) -> dict[str, Any]:
    """An SQS batch of jobs, as the async processor receives it."""
    return {"Records": [{"messageId": f"msg-{i}", "eventSource": "aws:sqs", "body": json.dumps(job)}
                        for i, job in enumerate(jobs, 1)]}


def alias_of(env: str) -> str:
    """The alias live traffic uses in `env` (RB-003: latest-dev, latest-sit, latest-prod)."""
    return f"latest-{env}"


def version_description(build: str, variant: str) -> str:
    """The description of a published version: names its build and variant."""
    return f"build {build} ({variant})"


def build_of_description(description: str) -> str | None:
    """The build number a version's description names (None for versions not published by the fixtures)."""
    match = re.match(r"^build (\d+\.\d+\.\d+) ", description or "")
    return match.group(1) if match else None


def build_key(build: str) -> tuple[int, ...]:
    """A build number as a sortable tuple."""
    return tuple(int(part) for part in build.split("."))


@dataclass(frozen=True)
class FunctionDef:
    """One Lambda function of a service: its name template, component and ordinary requests."""

    template: str
    component: str
    requests: tuple[dict[str, Any], ...]

    def name(self, env: str) -> str:
        """The function's name in `env`."""
        return self.template.format(env=env)


@dataclass(frozen=True)
class RuleDef:
    """An EventBridge rule of a service; its name contains the service's rule marker."""

    suffix: str
    description: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class Service:
    """A promotable BBWS service: a package under local/services/<name>/ and the functions it runs as."""

    name: str
    repository: str
    functions: tuple[FunctionDef, ...]
    rules: tuple[RuleDef, ...] = field(default=())

    def function_names(self, env: str) -> list[str]:
        """The service's function names in `env`, in catalog order."""
        return [fn.name(env) for fn in self.functions]

    def rule_name(self, env: str, rule: RuleDef) -> str:
        """The EventBridge rule's name in `env` (contains `<service>`, e.g. `ecs-event-handler`)."""
        return f"bbws-{self.name}-{env}-{rule.suffix}"


class CatalogError(ValueError):
    """A name that is not in the catalog."""


@dataclass(frozen=True)
class _ServiceFixture:
    """What the estate adds to a catalog service: its repository and EventBridge rules."""

    repository: str
    rules: tuple[RuleDef, ...] = ()


_SERVICE_FIXTURES: dict[str, _ServiceFixture] = {
    "tenant-instance-management": _ServiceFixture("2_bbws_tenants_instances_lambda"),
    "site-management": _ServiceFixture("2_bbws_wordpress_site_management_lambda"),
    "ecs-event-handler": _ServiceFixture(
        "2_bbws_tenants_event_handler",
        rules=(
            RuleDef("task-state", "ECS task state changes of the tenants' WordPress services",
                    {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}),
            RuleDef("service-action", "ECS service actions of the tenants' WordPress services",
                    {"source": ["aws.ecs"], "detail-type": ["ECS Service Action"]}),
        ),
    ),
}

# The ordinary requests each component answers (its package routes them), sent by traffic.py.
_REQUESTS_OF_COMPONENT: dict[str, tuple[dict[str, Any], ...]] = {
    "tenant-instance-management": (
        http_get("/tenants"), http_get("/tenants/tenant-001"), http_get("/tenants/tenant-002/instances")),
    "sites-service": (http_get("/sites"), http_get("/sites/site-001")),
    "templates-service": (http_get("/templates"),),
    "plugins-service": (http_get("/plugins"),),
    "async-processor": (
        http_get("/jobs/job-001"), sqs_batch({"type": "provision-site", "siteId": "site-002"})),
    "ecs-event-handler": (
        ecs_event("ECS Task State Change",
                  {"group": "service:tenant-001-wordpress", "lastStatus": "RUNNING"}),
        ecs_event("ECS Service Action",
                  {"serviceName": "tenant-002-wordpress", "eventName": "SERVICE_STEADY_STATE"}),
        http_get("/events")),
}


def component_of(template: str) -> str:
    """The component a function serves, from its name (RB-003 names each function after its component):
    `bbws-tenant-instance-management-{env}` -> `tenant-instance-management`,
    `{env}-bbws-sites-service` -> `sites-service`."""
    name = template.removeprefix("{env}-").removesuffix("-{env}")
    return name.removeprefix("bbws-")


def _service(entry: dict[str, Any]) -> Service:
    """A service of the runbook's catalog with what the estate adds to it."""
    name = entry["name"]
    fixture = _SERVICE_FIXTURES.get(name)
    if fixture is None:
        raise CatalogError(f"the runbook's catalog names '{name}', which has no package in local/services")
    functions = []
    for template in entry["functions"]:
        component = component_of(template)
        if component not in _REQUESTS_OF_COMPONENT:
            raise CatalogError(f"{name}: {template} serves {component}, which no package routes")
        functions.append(FunctionDef(template, component, _REQUESTS_OF_COMPONENT[component]))
    return Service(name=name, repository=fixture.repository, functions=tuple(functions), rules=fixture.rules)


# In the catalog's release order (RB-003 §5.1: a service before those that depend on it).
SERVICES: dict[str, Service] = {
    entry["name"]: _service(entry)
    for entry in sorted(runbook_config()["catalog"], key=lambda entry: entry["release_order"])
}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)


def service(name: str) -> Service:
    """The service called `name`."""
    try:
        return SERVICES[name]
    except KeyError:
        raise CatalogError(f"unknown service '{name}' (known: {', '.join(sorted(SERVICES))})") from None


def check_env(env: str) -> str:
    """`env` if it is one of dev, sit, prod."""
    if env not in ENVS:
        raise CatalogError(f"unknown environment '{env}' (known: {', '.join(ENVS)})")
    return env


def check_variant(variant: str) -> str:
    """`variant` if it is one of the package variants."""
    if variant not in VARIANTS:
        raise CatalogError(f"unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
    return variant


def check_build(build: str) -> str:
    """`build` if it reads MAJOR.MINOR.PATCH."""
    if not BUILD_PATTERN.match(build):
        raise CatalogError(f"build '{build}' must read MAJOR.MINOR.PATCH, e.g. {NEWER_BUILD}")
    return build


def function_def(service_name: str, function_name: str, env: str) -> FunctionDef:
    """The catalog entry of `function_name` (a function of `service_name` in `env`)."""
    for fn in service(service_name).functions:
        if fn.name(env) == function_name:
            return fn
    raise CatalogError(f"'{function_name}' is not a function of {service_name} in {env}")
