"""ECS Event Handler (RB-003 §1.4, `2_bbws_tenants_event_handler`).

Function: `bbws-ecs-event-handler-{env}`, the target of the EventBridge rules
`bbws-ecs-event-handler-{env}-*` (ECS task and service events of the tenants' WordPress services).
"""
from __future__ import annotations

from typing import Any

import bbws_service as svc

SERVICE = "ecs-event-handler"
HANDLED_DETAIL_TYPES = ("ECS Task State Change", "ECS Service Action")

RECENT = [
    {"detailType": "ECS Task State Change", "tenantId": "tenant-001", "lastStatus": "RUNNING"},
    {"detailType": "ECS Service Action", "tenantId": "tenant-002", "eventName": "SERVICE_STEADY_STATE"},
]


def recent_events() -> dict[str, Any]:
    """GET /events"""
    return {"events": RECENT, "count": len(RECENT)}


ROUTES = [svc.route("GET", "/events", recent_events)]


def tenant_of(detail: dict[str, Any]) -> str | None:
    """The tenant whose ECS service (`<tenant>-wordpress`) the event is about."""
    ref = str(detail.get("group") or detail.get("serviceName") or "")
    name = ref.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return name[: -len("-wordpress")] if name.endswith("-wordpress") else None


def handle_ecs_event(event: dict[str, Any]) -> dict[str, Any]:
    """One EventBridge event from aws.ecs."""
    detail_type = event.get("detail-type", "")
    svc.ordinary_work(f"handling '{detail_type}'")
    detail = event.get("detail") or {}
    return {
        "handled": detail_type in HANDLED_DETAIL_TYPES,
        "detailType": detail_type,
        "tenantId": tenant_of(detail),
        "lastStatus": detail.get("lastStatus"),
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (handler.handler)."""
    if svc.is_http(event):
        return svc.handle_http(event, ROUTES, SERVICE)
    if isinstance(event, dict) and event.get("source") == "aws.ecs":
        return handle_ecs_event(event)
    return svc.bad_request(SERVICE, "expected an API Gateway request or an aws.ecs event")
