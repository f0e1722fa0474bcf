"""Tenant + Instance Management (RB-003 §1.4, `2_bbws_tenants_instances_lambda`).

Function: `bbws-tenant-instance-management-{env}`. Reads tenants and their WordPress instances.
"""
from __future__ import annotations

from typing import Any

import bbws_service as svc

SERVICE = "tenant-instance-management"

TENANTS = {
    "tenant-001": {"tenantId": "tenant-001", "name": "Acme Bakery", "plan": "standard", "status": "ACTIVE"},
    "tenant-002": {"tenantId": "tenant-002", "name": "Karoo Safaris", "plan": "premium", "status": "ACTIVE"},
}
INSTANCES = {
    "tenant-001": [{"instanceId": "tenant-001-wordpress", "cluster": "bbws-cluster", "desiredCount": 1}],
    "tenant-002": [{"instanceId": "tenant-002-wordpress", "cluster": "bbws-cluster", "desiredCount": 2}],
}


def list_tenants() -> dict[str, Any]:
    """GET /tenants"""
    return {"tenants": list(TENANTS.values()), "count": len(TENANTS)}


def get_tenant(tenant_id: str) -> dict[str, Any] | None:
    """GET /tenants/{tenant_id}"""
    return TENANTS.get(tenant_id)


def list_instances(tenant_id: str) -> dict[str, Any] | None:
    """GET /tenants/{tenant_id}/instances"""
    if tenant_id not in TENANTS:
        return None
    return {"tenantId": tenant_id, "instances": INSTANCES.get(tenant_id, [])}


ROUTES = [
    svc.route("GET", "/tenants", list_tenants),
    svc.route("GET", "/tenants/{tenant_id}", get_tenant),
    svc.route("GET", "/tenants/{tenant_id}/instances", list_instances),
]


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (handler.handler)."""
    if not svc.is_http(event):
        return svc.bad_request(SERVICE, "expected an API Gateway request")
    return svc.handle_http(event, ROUTES, SERVICE)
