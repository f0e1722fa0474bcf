"""Request handling shared by the BBWS service packages (stdlib only; packaged into every zip).

A package's `build_info.py` is written by `local/services/build.py`: it fixes the build number and the
variant of the package at build time. Variants:

- `healthy`: every route answers as it should;
- `broken-health`: `GET /health` answers 500, ordinary requests still answer;
- `errors-under-traffic`: `GET /health` answers 200, every ordinary request raises `ServiceFault`;
- `unhealthy-outside-dev`: `GET /health` answers 500 in every environment but DEV (`BBWS_ENVIRONMENT`),
  ordinary requests still answer: a build that depends on something only DEV has. It passes the
  preflight's health check of the DEV version and fails the one after the deploy.
"""
from __future__ import annotations

import json
import os
from typing import Any
from collections.abc import Callable

from build_info import BUILD, VARIANT

HEALTHY = "healthy"
BROKEN_HEALTH = "broken-health"
ERRORS_UNDER_TRAFFIC = "errors-under-traffic"
UNHEALTHY_OUTSIDE_DEV = "unhealthy-outside-dev"

Action = Callable[..., "dict[str, Any] | None"]
Route = tuple[str, list[str], Action]


class ServiceFault(Exception):
    """An ordinary request failed inside the service: the errorType Lambda reports for this build."""


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """An API Gateway proxy response with a compact JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def route(method: str, pattern: str, action: Action) -> Route:
    """A route: `pattern` segments written `{name}` are passed to `action` as keyword arguments."""
    return method.upper(), _segments(pattern), action


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match(routes: list[Route], method: str, path: str) -> tuple[Action, dict[str, str]] | None:
    """The action and path parameters of the first route matching `method` and `path`."""
    wanted = _segments(path)
    for route_method, pattern, action in routes:
        if route_method != method or len(pattern) != len(wanted):
            continue
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, wanted, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                params[expected[1:-1].replace("-", "_")] = actual
            elif expected != actual:
                break
        else:
            return action, params
    return None


def health(service: str) -> dict[str, Any]:
    """The answer to `GET /health`: 200 and `healthy`, or 500 in the broken-health build (and in the
    unhealthy-outside-dev build outside DEV)."""
    outside_dev = os.environ.get("BBWS_ENVIRONMENT", "") != "dev"
    if VARIANT == BROKEN_HEALTH or (VARIANT == UNHEALTHY_OUTSIDE_DEV and outside_dev):
        return response(500, {"status": "unhealthy", "service": service, "version": BUILD})
    return response(200, {"status": "healthy", "service": service, "version": BUILD})


def ordinary_work(what: str) -> None:
    """Called before each ordinary request is served: the errors-under-traffic build fails here."""
    if VARIANT == ERRORS_UNDER_TRAFFIC:
        raise ServiceFault(f"{what} failed in build {BUILD}")


def is_http(event: Any) -> bool:
    """Whether `event` is an API Gateway (REST, payload 1.0) request."""
    return isinstance(event, dict) and "httpMethod" in event and "path" in event


def handle_http(event: dict[str, Any], routes: list[Route], service: str) -> dict[str, Any]:
    """Serve one API Gateway request: /health, a matching route (200 or 404 when absent), else 404."""
    method = str(event.get("httpMethod") or "").upper()
    path = str(event.get("path") or "/")
    if method == "GET" and _segments(path) == ["health"]:
        return health(service)
    found = _match(routes, method, path)
    if found is None:
        return response(404, {"message": f"no route for {method} {path}", "service": service})
    action, params = found
    ordinary_work(f"{method} {path}")
    body = action(**params)
    if body is None:
        return response(404, {"message": f"{path} not found", "service": service})
    return response(200, body)


def bad_request(service: str, why: str) -> dict[str, Any]:
    """The answer to an event this service does not handle."""
    return response(400, {"message": why, "service": service})
