"""A customer's timeline: what happened to them, so support can answer "why can't they sign in?".

`record()` is the one call the places where things happen make (login links,
mails, sessions, orders). It writes its row in a transaction of its own on the
request's session, so callers place it where their own transaction is finished.
A timeline row is a record, never a reason to fail: errors are logged and dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from loginsvc.admin.audit import id_cursor
from loginsvc.admin.models import CustomerEvent
from loginsvc.core.pagination import encode_cursor
from loginsvc.core.timefmt import rfc3339

log = logging.getLogger("loginsvc.timeline")

KINDS = {
    "link.issued",
    "link.opened",
    "link.used",
    "link.refused",
    "mail.sent",
    "mail.failed",
    "session.started",
    "session.ended",
    "order.received",
    "owner.action",
}


def record(
    *,
    customer_id: int | None = None,
    email: str | None = None,
    kind: str,
    detail: dict[str, Any] | None = None,
) -> None:
    from loginsvc.core.extensions import db

    if customer_id is None and not email:
        return
    try:
        sess = db.session
        sess.add(
            CustomerEvent(
                customer_id=customer_id,
                email_norm=email.strip().lower()[:320] if email else None,
                kind=kind[:64],
                detail=detail or None,
            )
        )
        sess.commit()
    except Exception:  # the timeline must never break a sign-in, a mail or an order
        log.exception("timeline event %s not recorded", kind)
        try:
            db.session.rollback()
        except Exception:
            log.debug("rollback after a failed timeline write failed too")


def event_out(e: CustomerEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": rfc3339(e.at),
        "kind": e.kind,
        "detail": e.detail or {},
    }


def list_events(
    session: Session, *, customer_id: int, email_norm: str, limit: int, cursor: str | None
) -> tuple[list[CustomerEvent], str | None]:
    """Newest first: the customer's rows, and rows for their address before the row existed."""
    after = id_cursor(cursor)
    stmt = (
        select(CustomerEvent)
        .where(
            or_(
                CustomerEvent.customer_id == customer_id,
                (CustomerEvent.customer_id.is_(None)) & (CustomerEvent.email_norm == email_norm),
            )
        )
        .order_by(CustomerEvent.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(CustomerEvent.id < after)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor
