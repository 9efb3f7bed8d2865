"""The owner's view of the outbox: list deliveries, send one again now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, tuple_

from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.pagination import as_id, as_text, decode_cursor, encode_cursor
from loginsvc.core.timefmt import rfc3339
from loginsvc.events import delivery
from loginsvc.events.models import OutboxEvent


def event_out(e: OutboxEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "webhook_id": e.webhook_id,
        "status": e.status,
        "attempts": e.attempts,
        "last_error": e.last_error,
        "next_attempt_at": rfc3339(e.next_attempt_at) if e.status == "pending" else None,
        "delivered_at": rfc3339(e.delivered_at),
        "created_at": rfc3339(e.created_at),
        "data": e.payload.get("data"),
    }


def list_events(
    *, limit: int, cursor: str | None, status: str | None = None
) -> tuple[list[OutboxEvent], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt = select(OutboxEvent)
    if status:
        stmt = stmt.where(OutboxEvent.status == status)
    after = decode_cursor(cursor, as_text, as_id)
    if after is not None:
        try:
            at = dt.datetime.fromisoformat(str(after[0]))
            last_id = int(after[1])
        except (TypeError, ValueError, OverflowError):
            raise InvalidRequest(
                "The cursor is not valid.", [{"field": "cursor", "message": "not a cursor"}]
            ) from None
        if at.tzinfo is None:
            raise InvalidRequest(
                "The cursor is not valid.", [{"field": "cursor", "message": "not a cursor"}]
            )
        stmt = stmt.where(tuple_(OutboxEvent.created_at, OutboxEvent.id) < tuple_(at, last_id))
    stmt = stmt.order_by(OutboxEvent.created_at.desc(), OutboxEvent.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id])
    return rows, next_cursor


def retry_now(*, event_id: int) -> OutboxEvent:
    """Send one event again now, whatever its state, under its own webhook-id."""
    if db.session.get(OutboxEvent, event_id) is None:
        raise ProblemError(404, "event_not_found", "No such event.")
    db.session.rollback()
    delivery.attempt(event_id, force=True)
    ev = db.session.get(OutboxEvent, event_id, populate_existing=True)
    assert ev is not None
    return ev
