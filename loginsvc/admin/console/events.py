"""/admin/events: the outbound events, with "Retry now" for those not delivered.

Thin: loginsvc/events/service.py lists and re-sends, as for the admin API's
GET /api/v1/admin/events and POST /api/v1/admin/events/{id}/retry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import request

from loginsvc.admin.console.base import bp, done, page, stage
from loginsvc.core.errors import InvalidRequest
from loginsvc.events import service

STATUSES = ("pending", "delivered", "failed")
PAGE_SIZE = 50


def _status(raw: str | None) -> str | None:
    return raw if raw in STATUSES else None


def _url(**args: str | None) -> str:
    kept = {k: v for k, v in args.items() if v}
    return "/admin/events?" + urlencode(kept) if kept else "/admin/events"


@bp.get("/events")
def events_page() -> Any:
    status = _status(request.args.get("status"))
    cursor = request.args.get("cursor") or None
    try:
        rows, next_cursor = service.list_events(limit=PAGE_SIZE, cursor=cursor, status=status)
    except InvalidRequest:  # a cursor that is not ours: start at the newest
        cursor = None
        rows, next_cursor = service.list_events(limit=PAGE_SIZE, cursor=None, status=status)
    return page(
        "pages/admin/events.html",
        events=[service.event_out(e) for e in rows],
        shown=status,  # not `status`: page() takes that as the HTTP status
        statuses=STATUSES,
        next_url=_url(status=status, cursor=next_cursor) if next_cursor else None,
        first_url=_url(status=status) if cursor else None,
    )


@bp.post("/events/<id:event_id>/retry")
def retry_event(event_id: int) -> Any:
    status = _status(request.form.get("status"))
    stage("event.retry", None, event_id=event_id)
    service.retry_now(event_id=event_id)  # the entry is written with the attempt's claim
    return done(_url(status=status), "event_retried")
