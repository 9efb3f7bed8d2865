"""/api/v1/admin/events: the owner sees and re-sends event deliveries (CONTRACT §9)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from loginsvc.core.admin_auth import require_admin_key
from loginsvc.core.spec import endpoint
from loginsvc.events import service

bp = Blueprint("events", __name__)
bp.before_request(require_admin_key)


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100, description="1..100")
    cursor: str | None = Field(default=None, max_length=512, description="opaque, from next_cursor")
    status: Literal["pending", "delivered", "failed"] | None = None


class EventOut(BaseModel):
    id: int
    type: str
    webhook_id: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    delivered_at: str | None
    created_at: str
    data: dict[str, Any] | None


class EventListOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None


@endpoint(
    bp,
    "/api/v1/admin/events",
    "GET",
    auth="admin",
    tags=["admin"],
    query=EventQuery,
    response=EventListOut,
    summary="Event deliveries to EVENTS_URL, newest first",
)
def list_events(query: EventQuery) -> Any:
    rows, next_cursor = service.list_events(
        limit=query.limit, cursor=query.cursor, status=query.status
    )
    return jsonify(events=[service.event_out(e) for e in rows], next_cursor=next_cursor)


@endpoint(
    bp,
    "/api/v1/admin/events/<id:event_id>/retry",
    "POST",
    auth="admin",
    tags=["admin"],
    response=EventOut,
    errors=["event_not_found"],
    body_required=False,
    summary="Send one event again now (same webhook-id); answers its new state",
)
def retry_event(event_id: int) -> Any:
    return jsonify(service.event_out(service.retry_now(event_id=event_id)))
