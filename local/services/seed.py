"""Seed the BBWS services into the local estate, idempotently (RB-003 §1.3, §1.4).

In every account (DEV, SIT, PROD; PROD in af-south-1 and eu-west-1):
- the execution role `bbws-service-role`, trusted by lambda.amazonaws.com, allowed to write logs;
- every function of every service (python3.12, handler.handler), built from local/services/<service>/;
- published versions: DEV has build 1.4.1 and a newer 1.4.2 with `latest-dev` on 1.4.2; SIT and PROD
  have build 1.4.1 with `latest-sit` / `latest-prod` on it;
- in the primary region, what the tenants' WordPress services run in and only read (the platform owns it,
  a tenant's Terraform never manages it): the ECS cluster `bbws-cluster-<env>`, the VPC `bbws-vpc-<env>`
  with two private subnets tagged `bbws:tier = private`, and the security group `bbws-tenants-<env>`;
- for the ECS event handler, ENABLED EventBridge rules `bbws-ecs-event-handler-<env>-*` that target the
  function's `latest-<env>` alias, and the permission for EventBridge to invoke it.

Every step first reads what exists (functions, configuration, CodeSha256 of versions, aliases, rules) and
acts only on a difference, so a second run changes nothing. An alias that exists is left where it points
(a promotion or a rollback may have moved it) unless `--reset` asks to restore the baseline.

    python local/services/seed.py [--env dev ...] [--reset]
    python local/services/seed.py deploy-variant --env dev --service tenant-instance-management \\
        --variant broken-health --build 1.4.3
    python local/services/seed.py status [--env sit ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterable

if __package__ in (None, ""):  # run as a script: make `services` and `bbws_local` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.exceptions import ClientError  # noqa: E402

from services import build as builder  # noqa: E402
from services import catalog  # noqa: E402
from services.estate import Estate, EstateUnavailable  # noqa: E402

WAIT = {"Delay": 1, "MaxAttempts": 60}
EVENTS_PRINCIPAL = "events.amazonaws.com"


class SeedError(RuntimeError):
    """The estate is not in a state the seed can work from."""


@dataclass(frozen=True)
class Change:
    """One change the seed made to the estate."""

    env: str
    region: str
    action: str
    target: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.env:<4} {self.region:<10} {self.action:<20} {self.target}  {self.detail}".rstrip()


class Packages:
    """Packages built once per run and written to the estate's state directory."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._built: dict[tuple[str, str, str], builder.Package] = {}

    def get(self, service: str, variant: str, build: str) -> builder.Package:
        """The package of `service` in `variant` and `build`."""
        key = (service, variant, build)
        if key not in self._built:
            self._built[key] = builder.build(service, variant, build, self.state_dir)[0]
        return self._built[key]


class Account:
    """Idempotent actions in one account and region; every change made is appended to `changes`."""

    def __init__(self, estate: Estate, env: str, region: str, changes: list[Change]):
        self.env = catalog.check_env(env)
        self.region = region
        self.changes = changes
        self.lam = estate.client(env, "lambda", region)
        self.iam = estate.client(env, "iam", region)
        self.events = estate.client(env, "events", region)
        self.ecs = estate.client(env, "ecs", region)
        self.ec2 = estate.client(env, "ec2", region)

    def record(self, action: str, target: str, detail: str = "") -> None:
        """Note a change made."""
        self.changes.append(Change(self.env, self.region, action, target, detail))

    # Role -------------------------------------------------------------------------------------------
    def ensure_role(self) -> str:
        """The ARN of `bbws-service-role`, created when missing, its trust fixed when it lacks Lambda."""
        try:
            role = self.iam.get_role(RoleName=catalog.ROLE_NAME)["Role"]
        except self.iam.exceptions.NoSuchEntityException:
            role = self.iam.create_role(RoleName=catalog.ROLE_NAME, Path="/",
                                        AssumeRolePolicyDocument=json.dumps(catalog.LAMBDA_TRUST),
                                        Description="Execution role of the BBWS service functions")["Role"]
            self.record("create-role", catalog.ROLE_NAME)
        if not _trusts_lambda(role.get("AssumeRolePolicyDocument")):
            self.iam.update_assume_role_policy(RoleName=catalog.ROLE_NAME,
                                               PolicyDocument=json.dumps(catalog.LAMBDA_TRUST))
            self.record("update-role-trust", catalog.ROLE_NAME, "trusted by lambda.amazonaws.com")
        self.ensure_role_policy(catalog.ROLE_NAME, catalog.ROLE_POLICY_NAME, catalog.ROLE_POLICY)
        return role["Arn"]

    def ensure_role_policy(self, role_name: str, policy_name: str, document: dict[str, Any]) -> None:
        """Put the inline policy `policy_name` on the role when it is missing or different."""
        try:
            current = self.iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        except self.iam.exceptions.NoSuchEntityException:
            current = None
        if _as_document(current) == document:
            return
        self.iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        self.record("put-role-policy", role_name, policy_name)

    # Functions --------------------------------------------------------------------------------------
    def configuration(self, name: str) -> dict[str, Any] | None:
        """The function's $LATEST configuration, or None when it does not exist."""
        try:
            return self.lam.get_function_configuration(FunctionName=name)
        except self.lam.exceptions.ResourceNotFoundException:
            return None

    def require_configuration(self, name: str) -> dict[str, Any]:
        """The function's $LATEST configuration; SeedError when it does not exist."""
        config = self.configuration(name)
        if config is None:
            raise SeedError(f"{name} does not exist in {self.env} {self.region}: run the seed first")
        return config

    def ensure_function(self, name: str, settings: dict[str, Any],
                        package: builder.Package) -> dict[str, Any]:
        """Create the function with `package` when missing, else bring its configuration to `settings`."""
        current = self.configuration(name)
        if current is None:
            self.lam.create_function(FunctionName=name, Code={"ZipFile": package.data}, Publish=False,
                                     **settings)
            self.lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT)
            self.record("create-function", name, f"$LATEST = {package.description}")
            return self.require_configuration(name)
        drift = configuration_drift(current, settings)
        if drift:
            self.lam.update_function_configuration(FunctionName=name, **settings)
            self.lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
            self.record("update-configuration", name, ", ".join(sorted(drift)))
            return self.require_configuration(name)
        return current

    def published_version(self, name: str, code_sha256: str, description: str | None = None) -> str | None:
        """The published version of `name` whose code is `code_sha256`, if any: the newest one the seed
        published itself (its `description`) where there is one, else the newest. A promotion publishes
        the same package again under the pipeline's description; a reset goes back to the seed's own."""
        matching = [
            (version.get("Description") == description, int(version["Version"]))
            for page in self.lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
            for version in page["Versions"]
            if version["Version"] != "$LATEST" and version["CodeSha256"] == code_sha256
        ]
        return str(max(matching)[1]) if matching else None

    def ensure_latest_code(self, name: str, package: builder.Package) -> bool:
        """Make $LATEST run `package`; whether its code had to change."""
        if self.require_configuration(name)["CodeSha256"] == package.code_sha256:
            return False
        self.lam.update_function_code(FunctionName=name, ZipFile=package.data, Publish=False)
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
        self.record("update-code", name, f"$LATEST = {package.description}")
        return True

    def ensure_published(self, name: str, package: builder.Package) -> str:
        """The version of `name` that runs `package`, published (from $LATEST) when there is none."""
        existing = self.published_version(name, package.code_sha256, package.description)
        if existing is not None:
            return existing
        self.ensure_latest_code(name, package)
        published = self.lam.publish_version(FunctionName=name, CodeSha256=package.code_sha256,
                                             Description=package.description)
        if published["CodeSha256"] != package.code_sha256:
            raise SeedError(f"publishing {name} gave version {published['Version']} with CodeSha256 "
                            f"{published['CodeSha256']}, expected {package.code_sha256} ({package.description})")
        self.record("publish-version", name, f"version {published['Version']} = {package.description}")
        return published["Version"]

    # Aliases ----------------------------------------------------------------------------------------
    def alias_version(self, name: str, alias: str) -> str | None:
        """The version `alias` of `name` points to, or None when the alias does not exist."""
        try:
            return self.lam.get_alias(FunctionName=name, Name=alias)["FunctionVersion"]
        except self.lam.exceptions.ResourceNotFoundException:
            return None

    def ensure_alias(self, name: str, alias: str, version: str, move: bool) -> str:
        """Create `alias` on `version` when missing; when it exists, move it only if `move`. Its version."""
        current = self.alias_version(name, alias)
        if current is None:
            self.lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version,
                                  Description=f"live traffic of {self.env}")
            self.record("create-alias", f"{name}:{alias}", f"-> version {version}")
            return version
        if current != version and move:
            self.lam.update_alias(FunctionName=name, Name=alias, FunctionVersion=version)
            self.record("update-alias", f"{name}:{alias}", f"version {current} -> {version}")
            return version
        return current

    # ECS --------------------------------------------------------------------------------------------
    def ensure_cluster(self, name: str, tags: dict[str, str]) -> str:
        """The ARN of the ACTIVE cluster `name`, created (with `tags`) when missing or INACTIVE."""
        found = self.ecs.describe_clusters(clusters=[name])["clusters"]
        active = [c for c in found if c.get("status") == "ACTIVE"]
        if active:
            return active[0]["clusterArn"]
        arn = self.ecs.create_cluster(clusterName=name, tags=[{"key": k, "value": v} for k, v in tags.items()],
                                      settings=[{"name": "containerInsights", "value": "enabled"}]
                                      )["cluster"]["clusterArn"]
        self.record("create-cluster", name)
        return arn

    # Network ----------------------------------------------------------------------------------------
    def ensure_vpc(self, name: str, cidr: str) -> str:
        """The id of the VPC tagged Name = `name`, created with `cidr` when missing."""
        found = self.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
        if found:
            return found[0]["VpcId"]
        vpc_id = self.ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[
            {"ResourceType": "vpc", "Tags": _ec2_tags(name)}])["Vpc"]["VpcId"]
        self.record("create-vpc", name, cidr)
        return vpc_id

    def ensure_private_subnet(self, vpc_id: str, name: str, cidr: str, zone: str) -> str:
        """The id of the subnet tagged Name = `name` in the VPC, created (private tier) when missing."""
        found = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                   {"Name": "tag:Name", "Values": [name]}])["Subnets"]
        if found:
            return found[0]["SubnetId"]
        subnet_id = self.ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone, TagSpecifications=[
            {"ResourceType": "subnet", "Tags": _ec2_tags(name, {"bbws:tier": "private"})}])["Subnet"]["SubnetId"]
        self.record("create-subnet", name, f"{cidr} in {zone}")
        return subnet_id

    def ensure_security_group(self, vpc_id: str, name: str, description: str) -> str:
        """The id of the security group `name` in the VPC, created when missing."""
        found = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                           {"Name": "group-name", "Values": [name]}])
        if found["SecurityGroups"]:
            return found["SecurityGroups"][0]["GroupId"]
        group_id = self.ec2.create_security_group(VpcId=vpc_id, GroupName=name, Description=description,
                                                  TagSpecifications=[{"ResourceType": "security-group",
                                                                      "Tags": _ec2_tags(name)}])["GroupId"]
        self.record("create-security-group", name)
        return group_id

    def ensure_tenant_platform(self) -> None:
        """The cluster, VPC, private subnets and security group the tenants' services run in."""
        env = self.env
        self.ensure_cluster(catalog.cluster_name(env), catalog.CLUSTER_TAGS)
        cidr = catalog.VPC_CIDR[env]
        vpc_id = self.ensure_vpc(catalog.vpc_name(env), cidr)
        prefix = cidr.split(".")[:2]
        for suffix, octet in catalog.PRIVATE_SUBNETS:
            self.ensure_private_subnet(vpc_id, f"{catalog.vpc_name(env)}-private-{suffix}",
                                       ".".join([*prefix, str(octet), "0/24"]), f"{self.region}{suffix}")
        self.ensure_security_group(vpc_id, catalog.tenants_security_group(env),
                                   f"WordPress tasks of the BBWS tenants in {env}")

    # EventBridge ------------------------------------------------------------------------------------
    def ensure_rule(self, rule_name: str, rule: catalog.RuleDef) -> str:
        """The ARN of an ENABLED rule with the catalog's pattern and description, put when different."""
        wanted = {"EventPattern": rule.pattern, "State": "ENABLED", "Description": rule.description}
        try:
            current = self.events.describe_rule(Name=rule_name)
        except self.events.exceptions.ResourceNotFoundException:
            current = None
        if current is not None and _rule_matches(current, wanted):
            return current["Arn"]
        arn = self.events.put_rule(Name=rule_name, EventPattern=json.dumps(rule.pattern), State="ENABLED",
                                   Description=rule.description)["RuleArn"]
        self.record("put-rule" if current is None else "update-rule", rule_name, "ENABLED")
        return arn

    def ensure_target(self, rule_name: str, target_id: str, target_arn: str) -> None:
        """Make `target_arn` the rule's target `target_id`."""
        targets = self.events.list_targets_by_rule(Rule=rule_name)["Targets"]
        if any(t["Id"] == target_id and t["Arn"] == target_arn for t in targets):
            return
        self.events.put_targets(Rule=rule_name, Targets=[{"Id": target_id, "Arn": target_arn}])
        self.record("put-target", rule_name, f"-> {target_arn}")

    def ensure_invoke_permission(self, name: str, alias: str, statement_id: str, source_arn: str) -> None:
        """Let EventBridge (rule `source_arn`) invoke `name:alias`."""
        if statement_id in self.policy_statement_ids(name, alias):
            return
        self.lam.add_permission(FunctionName=name, Qualifier=alias, StatementId=statement_id,
                                Action="lambda:InvokeFunction", Principal=EVENTS_PRINCIPAL, SourceArn=source_arn)
        self.record("add-permission", f"{name}:{alias}", f"{statement_id} ({EVENTS_PRINCIPAL})")

    def policy_statement_ids(self, name: str, alias: str) -> set[str]:
        """The statement ids of the resource policy of `name:alias` (empty when it has none)."""
        try:
            policy = json.loads(self.lam.get_policy(FunctionName=name, Qualifier=alias)["Policy"])
        except self.lam.exceptions.ResourceNotFoundException:
            return set()
        return {s.get("Sid", "") for s in policy.get("Statement", [])}


def _as_document(document: Any) -> dict[str, Any]:
    """A policy document as a dict, whether IAM returned it parsed, as JSON or URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    if not document:
        return {}
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(urllib.parse.unquote(text))


def _ec2_tags(name: str, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    """EC2 tags: the Name, the platform component and `extra`."""
    tags = {"Name": name, **catalog.CLUSTER_TAGS, **(extra or {})}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _trusts_lambda(document: Any) -> bool:
    """Whether a trust policy lets lambda.amazonaws.com assume the role."""
    for statement in _as_document(document).get("Statement", []):
        services = (statement.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and "lambda.amazonaws.com" in services:
            return True
    return False


def _rule_matches(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a described rule has the wanted pattern, state and description."""
    try:
        pattern = json.loads(current.get("EventPattern") or "null")
    except ValueError:
        return False
    return (pattern == wanted["EventPattern"] and current.get("State") == wanted["State"]
            and current.get("Description", "") == wanted["Description"])


def function_settings(env: str, service: catalog.Service, fn: catalog.FunctionDef,
                      role_arn: str) -> dict[str, Any]:
    """The configuration every fixture function has (create_function / update_function_configuration)."""
    return {
        "Runtime": catalog.RUNTIME,
        "Handler": catalog.HANDLER,
        "Role": role_arn,
        "Timeout": catalog.TIMEOUT_SECONDS,
        "MemorySize": catalog.MEMORY_MB,
        "Description": f"BBWS {service.name} ({service.repository}), {fn.component}",
        "Environment": {"Variables": {"BBWS_ENVIRONMENT": env, "BBWS_SERVICE": service.name,
                                      "BBWS_COMPONENT": fn.component}},
    }


def configuration_drift(current: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The names of the settings in which `current` (a function configuration) differs from `settings`."""
    drift = []
    for key, wanted in settings.items():
        have = current.get(key)
        if key == "Environment":
            have = (have or {}).get("Variables", {})
            wanted = wanted["Variables"]
        if have != wanted:
            drift.append(key)
    return drift


# ---------------------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------------------


def seed_function(account: Account, packages: Packages, service: catalog.Service, fn: catalog.FunctionDef,
                  role_arn: str, reset: bool = False, name: str | None = None) -> str:
    """Seed one function with the baseline builds of its environment; the version its alias points to.

    `name` overrides the catalog name (a test's own copy of a service function).
    """
    env = account.env
    name = name or fn.name(env)
    baseline = [packages.get(service.name, "healthy", b) for b in catalog.BASELINE_BUILDS[env]]
    account.ensure_function(name, function_settings(env, service, fn, role_arn), baseline[0])
    versions = [account.ensure_published(name, package) for package in baseline]
    if reset:
        account.ensure_latest_code(name, baseline[-1])
    return account.ensure_alias(name, catalog.alias_of(env), versions[-1], move=reset)


def seed_rules(account: Account, service: catalog.Service) -> None:
    """The service's EventBridge rules, each targeting the alias of its (first) function."""
    if not service.rules:
        return
    env = account.env
    name = service.functions[0].name(env)
    alias = catalog.alias_of(env)
    alias_arn = f"{account.require_configuration(name)['FunctionArn']}:{alias}"
    for rule in service.rules:
        rule_name = service.rule_name(env, rule)
        rule_arn = account.ensure_rule(rule_name, rule)
        account.ensure_target(rule_name, name, alias_arn)
        account.ensure_invoke_permission(name, alias, f"{rule_name}-invoke", rule_arn)


def seed(estate: Estate | None = None, envs: Iterable[str] | None = None,
         reset: bool = False) -> list[Change]:
    """Seed every service into `envs` (default: all); the changes made (none when all was in place)."""
    estate = estate or Estate()
    estate.check_up()
    changes: list[Change] = []
    packages = Packages(estate.state_dir)
    for env in envs or catalog.ENVS:
        for region in catalog.REGIONS_OF_ENV[catalog.check_env(env)]:
            account = Account(estate, env, region, changes)
            role_arn = account.ensure_role()
            if region == catalog.PRIMARY_REGION:
                account.ensure_tenant_platform()
            for service in catalog.SERVICES.values():
                for fn in service.functions:
                    seed_function(account, packages, service, fn, role_arn, reset)
                seed_rules(account, service)
    return changes


def deploy_variant(env: str, service_name: str, variant: str, build: str, estate: Estate | None = None,
                   functions: Iterable[str] | None = None,
                   regions: Iterable[str] | None = None) -> list[Change]:
    """Deploy `variant` of `build` as the newest version of the service's functions and move latest-<env>.

    The package is published as a new version (or the version already running it is reused) in every
    region of `env` (or `regions`); `functions` overrides the catalog's function names.
    """
    estate = estate or Estate()
    estate.check_up()
    service = catalog.service(service_name)
    catalog.check_env(env)
    changes: list[Change] = []
    package = Packages(estate.state_dir).get(service.name, catalog.check_variant(variant),
                                             catalog.check_build(build))
    names = list(functions or service.function_names(env))
    for region in regions or catalog.REGIONS_OF_ENV[env]:
        account = Account(estate, env, region, changes)
        for name in names:
            account.require_configuration(name)
            version = account.ensure_published(name, package)
            account.ensure_alias(name, catalog.alias_of(env), version, move=True)
    return changes


# ---------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionStatus:
    """Where a function's alias points and what runs there."""

    env: str
    region: str
    function: str
    alias: str
    version: str | None
    description: str
    code_sha256: str

    def __str__(self) -> str:
        if self.version is None:
            return f"{self.env:<4} {self.region:<10} {self.function:<40} (missing)"
        return (f"{self.env:<4} {self.region:<10} {self.function:<40} {self.alias} -> {self.version:<3} "
                f"{self.description:<32} {self.code_sha256}")


def function_status(account: Account, name: str) -> FunctionStatus:
    """The status of one function: its alias's version, that version's description and CodeSha256."""
    alias = catalog.alias_of(account.env)
    version = account.alias_version(name, alias) if account.configuration(name) else None
    if version is None:
        return FunctionStatus(account.env, account.region, name, alias, None, "", "")
    config = account.lam.get_function_configuration(FunctionName=name, Qualifier=version)
    return FunctionStatus(account.env, account.region, name, alias, version, config.get("Description", ""),
                          config["CodeSha256"])


def status(estate: Estate | None = None, envs: Iterable[str] | None = None) -> list[FunctionStatus]:
    """The status of every fixture function in `envs` (default: all)."""
    estate = estate or Estate()
    estate.check_up()
    out: list[FunctionStatus] = []
    for env in envs or catalog.ENVS:
        for region in catalog.REGIONS_OF_ENV[catalog.check_env(env)]:
            account = Account(estate, env, region, [])
            for service in catalog.SERVICES.values():
                out.extend(function_status(account, name) for name in service.function_names(env))
    return out


# ---------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------

COMMANDS = ("seed", "deploy-variant", "status")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seed.py",
                                     description="The BBWS service fixtures of the local estate.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_seed = sub.add_parser("seed", help="create the fixtures (the default command); idempotent")
    p_seed.add_argument("--env", action="append", choices=catalog.ENVS, help="an environment (default: all)")
    p_seed.add_argument("--reset", action="store_true",
                        help="also move latest-<env> and $LATEST back to the baseline builds")
    p_dep = sub.add_parser("deploy-variant", help="publish a build of a service and move latest-<env> to it")
    p_dep.add_argument("--env", default="dev", choices=catalog.ENVS)
    p_dep.add_argument("--service", required=True, choices=sorted(catalog.SERVICES))
    p_dep.add_argument("--variant", required=True, choices=catalog.VARIANTS)
    p_dep.add_argument("--build", required=True, help="build number, e.g. 1.4.3")
    p_dep.add_argument("--function", action="append", help="a function name (default: the service's functions)")
    p_dep.add_argument("--region", action="append", help="a region (default: the environment's regions)")
    p_status = sub.add_parser("status", help="where each function's latest-<env> alias points")
    p_status.add_argument("--env", action="append", choices=catalog.ENVS, help="an environment (default: all)")
    if not argv or argv[0] not in COMMANDS + ("-h", "--help"):
        argv = ["seed", *argv]
    return parser.parse_args(argv)


def print_changes(changes: list[Change], started: float, what: str) -> None:
    for change in changes:
        print(change)
    elapsed = time.monotonic() - started
    print(f"{what}: {len(changes) or 'no'} change{'s' if len(changes) != 1 else ''} in {elapsed:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: seed (default), deploy-variant, status."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    started = time.monotonic()
    try:
        if args.command == "seed":
            print_changes(seed(envs=args.env, reset=args.reset), started, "seed")
        elif args.command == "deploy-variant":
            changes = deploy_variant(args.env, args.service, args.variant, args.build,
                                     functions=args.function, regions=args.region)
            print_changes(changes, started, f"deploy-variant {args.service} {args.variant} {args.build}")
        else:
            for line in status(envs=args.env):
                print(line)
    except (EstateUnavailable, SeedError, catalog.CatalogError) as e:
        print(f"seed.py: {e}", file=sys.stderr)
        return 1
    except ClientError as e:
        print(f"seed.py: AWS refused a call: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
