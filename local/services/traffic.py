"""Send ordinary traffic to a BBWS service in the local estate, so its AWS/Lambda metrics are real.

Each request is a Lambda Invoke of one of the service's functions with one of its ordinary requests
(GET /tenants, GET /sites, an ECS task event...), round robin over functions and requests. Nothing is
retried: a throttle or an error is counted as such, and every attempt is one Invocations datapoint.

    python local/services/traffic.py --env sit --service tenant-instance-management --requests 20 \\
        [--qualifier latest-sit] [--region af-south-1] [--function NAME ...]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

if __package__ in (None, ""):  # run as a script: make `services` and `bbws_local` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botocore.exceptions import ClientError  # noqa: E402

from bbws_local.settings import PRIMARY_REGION  # noqa: E402
from services import catalog  # noqa: E402
from services.estate import Estate, EstateUnavailable  # noqa: E402


@dataclass
class Tally:
    """What the invocations of one function came back with."""

    ok: int = 0  # 2xx, or a successful non-HTTP event
    client_errors: int = 0  # 4xx
    server_errors: int = 0  # 5xx
    function_errors: int = 0  # FunctionError: the handler raised, timed out or crashed
    throttled: int = 0  # TooManyRequestsException

    @property
    def total(self) -> int:
        return self.ok + self.client_errors + self.server_errors + self.function_errors + self.throttled

    @property
    def errors(self) -> int:
        """Everything that is not a success."""
        return self.total - self.ok

    def add(self, other: Tally) -> None:
        """Add `other`'s counts to this tally."""
        for name in ("ok", "client_errors", "server_errors", "function_errors", "throttled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> str:
        return (f"2xx={self.ok} errors={self.errors} (4xx={self.client_errors} 5xx={self.server_errors} "
                f"function_errors={self.function_errors} throttled={self.throttled})")


@dataclass
class TrafficReport:
    """The tallies of one traffic run, per function (as invoked, with its qualifier)."""

    per_function: dict[str, Tally] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        out = Tally()
        for tally in self.per_function.values():
            out.add(tally)
        return out


def classify(response: dict[str, Any], tally: Tally) -> None:
    """Count one Invoke response in `tally`."""
    if response.get("FunctionError"):
        tally.function_errors += 1
        return
    raw = response["Payload"].read()
    try:
        result = json.loads(raw) if raw else None
    except ValueError:
        result = None
    status = result.get("statusCode") if isinstance(result, dict) else None
    if status is None or 200 <= int(status) < 300:
        tally.ok += 1
    elif 400 <= int(status) < 500:
        tally.client_errors += 1
    else:
        tally.server_errors += 1


def plan(service: catalog.Service, env: str, requests: int,
         functions: Iterable[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The `requests` (function name, event) pairs to send, round robin over functions and their requests.

    `functions` overrides the catalog's names: one name per function of the service, in catalog order.
    """
    names = list(functions) if functions else service.function_names(env)
    if len(names) != len(service.functions):
        raise catalog.CatalogError(f"{service.name} has {len(service.functions)} functions "
                                   f"({', '.join(service.function_names(env))}); {len(names)} names given")
    cycles = [(name, itertools.cycle(fn.requests)) for name, fn in zip(names, service.functions, strict=True)]
    order = itertools.islice(itertools.cycle(cycles), requests)
    return [(name, next(events)) for name, events in order]


def send_traffic(env: str, service_name: str, requests: int = 20, qualifier: str | None = None,
                 region: str = PRIMARY_REGION, functions: Iterable[str] | None = None,
                 estate: Estate | None = None) -> TrafficReport:
    """Invoke the service's functions `requests` times in all with ordinary requests; the tallies.

    `qualifier` defaults to the environment's alias (latest-<env>); pass "$LATEST" for the unpublished
    code. `functions` overrides the catalog's function names (e.g. a test's own copy of a function).
    """
    catalog.check_env(env)
    service = catalog.service(service_name)
    if requests < 1:
        raise ValueError("requests must be at least 1")
    estate = estate or Estate()
    estate.check_up()
    lam = estate.client(env, "lambda", region, retries=False)
    qualifier = qualifier or catalog.alias_of(env)
    report = TrafficReport()
    for name, event in plan(service, env, requests, functions):
        tally = report.per_function.setdefault(f"{name}:{qualifier}", Tally())
        try:
            response = lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode())
        except lam.exceptions.TooManyRequestsException:
            tally.throttled += 1
            continue
        classify(response, tally)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Send ordinary requests to a BBWS service in the local estate.")
    parser.add_argument("--env", required=True, choices=catalog.ENVS)
    parser.add_argument("--service", required=True, choices=sorted(catalog.SERVICES))
    parser.add_argument("--requests", type=int, default=20, help="invocations in all (default: 20)")
    parser.add_argument("--qualifier", help="alias or version to invoke (default: latest-<env>)")
    parser.add_argument("--region", default=PRIMARY_REGION, help=f"default: {PRIMARY_REGION}")
    parser.add_argument("--function", action="append", help="a function name (default: the service's functions)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI: send the traffic and print the counts; exit 0 when every call reached the function."""
    args = parse_args(argv)
    try:
        report = send_traffic(args.env, args.service, args.requests, args.qualifier, args.region,
                              args.function)
    except (EstateUnavailable, catalog.CatalogError, ValueError) as e:
        print(f"traffic.py: {e}", file=sys.stderr)
        return 1
    except ClientError as e:
        print(f"traffic.py: AWS refused a call: {e}", file=sys.stderr)
        return 1
    for name, tally in report.per_function.items():
        print(f"{name:<50} {tally.summary()}")
    total = report.total
    print(f"total: {total.total} requests, 2xx: {total.ok}, errors: {total.errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
