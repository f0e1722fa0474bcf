"""Site Management (RB-003 §1.4, `2_bbws_wordpress_site_management_lambda`): one package, four functions.

Functions: `{env}-bbws-sites-service`, `{env}-bbws-templates-service`, `{env}-bbws-plugins-service` and
`{env}-bbws-async-processor`. Each function's `BBWS_COMPONENT` environment variable (set by its
deployment) names the component it serves; /health reports that component as its service.
"""
from __future__ import annotations

import json
import os
from typing import Any

import bbws_service as svc

SERVICE = "site-management"

SITES = {
    "site-001": {"siteId": "site-001", "tenantId": "tenant-001", "domain": "acmebakery.co.za",
                 "status": "LIVE"},
    "site-002": {"siteId": "site-002", "tenantId": "tenant-002", "domain": "karoosafaris.co.za",
                 "status": "LIVE"},
}
TEMPLATES = [{"templateId": "starter"}, {"templateId": "storefront"}, {"templateId": "portfolio"}]
PLUGINS = [{"plugin": "woocommerce", "version": "8.5.2"}, {"plugin": "wordfence", "version": "7.11.1"}]
JOBS = {"job-001": {"jobId": "job-001", "type": "provision-site", "siteId": "site-001", "status": "DONE"}}


def list_sites() -> dict[str, Any]:
    """GET /sites"""
    return {"sites": list(SITES.values()), "count": len(SITES)}


def get_site(site_id: str) -> dict[str, Any] | None:
    """GET /sites/{site_id}"""
    return SITES.get(site_id)


def list_templates() -> dict[str, Any]:
    """GET /templates"""
    return {"templates": TEMPLATES}


def list_plugins() -> dict[str, Any]:
    """GET /plugins"""
    return {"plugins": PLUGINS}


def get_job(job_id: str) -> dict[str, Any] | None:
    """GET /jobs/{job_id}"""
    return JOBS.get(job_id)


ROUTES = {
    "sites-service": [svc.route("GET", "/sites", list_sites), svc.route("GET", "/sites/{site_id}", get_site)],
    "templates-service": [svc.route("GET", "/templates", list_templates)],
    "plugins-service": [svc.route("GET", "/plugins", list_plugins)],
    "async-processor": [svc.route("GET", "/jobs/{job_id}", get_job)],
}


def process_jobs(event: dict[str, Any]) -> dict[str, Any]:
    """The async processor's SQS batch: every job is accepted; malformed bodies are reported as failures."""
    svc.ordinary_work(f"a batch of {len(event['Records'])} jobs")
    failures = []
    for record in event["Records"]:
        try:
            json.loads(record.get("body") or "")
        except ValueError:
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}


def component() -> str:
    """The component this function serves (all of them when BBWS_COMPONENT is not set)."""
    return os.environ.get("BBWS_COMPONENT", SERVICE)


def routes_of(name: str) -> list[svc.Route]:
    """The routes of component `name`; every component's routes for the whole service."""
    if name in ROUTES:
        return ROUTES[name]
    return [r for routes in ROUTES.values() for r in routes]


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (handler.handler)."""
    name = component()
    if svc.is_http(event):
        return svc.handle_http(event, routes_of(name), name)
    is_batch = isinstance(event, dict) and isinstance(event.get("Records"), list)
    if is_batch and name in ("async-processor", SERVICE):
        return process_jobs(event)
    return svc.bad_request(name, "expected an API Gateway request or an SQS batch")
