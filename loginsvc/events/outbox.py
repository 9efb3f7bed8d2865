"""Writing events: in the same transaction as the change that causes them.

Most changes are seen where they are flushed: a listener on the ORM session
looks at the customers and consent records of each flush and adds the event
rows to that same flush's transaction, so no service has to remember to
announce its changes. Changes that bypass the ORM (deletion, a sign-in, which
lives in Redis) call `record_deleted` / `record_signed_in` themselves.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from loginsvc.core.models import ConsentEvent, Customer, utcnow
from loginsvc.core.runtime import settings
from loginsvc.core.timefmt import rfc3339
from loginsvc.events.models import OutboxEvent

log = logging.getLogger("loginsvc.events")

TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.status_changed",
    "customer.signed_in",
    "customer.consent_changed",
)
# What a shop mirrors; bookkeeping (order_count, totals, search_text, …) is not an update.
PROFILE = frozenset(
    {
        "email",
        "name",
        "phone",
        "company",
        "locale",
        "billing_address",
        "shipping_address",
        "customer_number",
        "groups",
    }
)
_PENDING = "loginsvc.events.pending"
_WRITTEN = "loginsvc.events.written"
_IN_TX = "loginsvc.events.in_transaction"  # (type, customer id) → its event, until commit


def enabled() -> bool:
    return has_app_context() and bool(settings().events_url)


def customer_data(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "email": c.email,
        "name": c.name,
        "phone": c.phone,
        "company": c.company,
        "locale": c.locale,
        "newsletter": bool(c.newsletter),
        "status": c.status,
        "has_account": bool(c.has_account),
        "customer_number": c.customer_number,
    }


def new_event(event_type: str, data: dict[str, Any]) -> OutboxEvent:
    at = utcnow()
    return OutboxEvent(
        webhook_id=f"msg_{uuid.uuid4().hex}",
        type=event_type,
        payload={"type": event_type, "timestamp": rfc3339(at), "data": data},
        status="pending",
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )


def _add(session: Session, events: list[OutboxEvent]) -> None:
    if events:
        session.add_all(events)
        session.info[_WRITTEN] = True


def record_deleted(session: Session, *, customer_id: int, email: str) -> None:
    """customer.deleted, in the deleting transaction (the row goes by a Core DELETE)."""
    if enabled():
        _add(session, [new_event("customer.deleted", {"id": customer_id, "email": email})])


def record_signed_in(*, customer_id: int, method: str) -> None:
    """customer.signed_in, written where the sign-in's own database work is.

    A sign-in that is still inside its transaction gets the event in it (the
    caller's commit writes both); one that has committed already gets a short
    transaction of its own. Never a second connection: on SQLite it would wait
    for the first one's lock.
    """
    if not enabled():
        return
    from loginsvc.core.extensions import db

    sess = db.session
    open_before = sess.in_transaction()
    try:
        c = sess.get(Customer, customer_id)
        data = customer_data(c) if c is not None else {"id": customer_id}
        _add(sess, [new_event("customer.signed_in", {**data, "method": method})])
        if not open_before:
            sess.commit()
    except Exception:
        # The sign-in stands (its session is in Redis); the missing event is logged.
        if not open_before:
            sess.rollback()
        log.exception("customer.signed_in for customer %s not recorded", customer_id)


def group_names(c: Customer) -> list[str]:
    return sorted(g.name for g in c.groups)


def updated_data(c: Customer, changed: list[str]) -> dict[str, Any]:
    """customer.updated: the customer as it is now, its groups, and what changed."""
    return {**customer_data(c), "groups": group_names(c), "changed": sorted(changed)}


def record_groups_changed(session: Session, *, customer_ids: set[int]) -> None:
    """customer.updated for memberships changed by a Core statement (bulk add or
    remove, a deleted group), in that statement's transaction."""
    if not enabled() or not customer_ids:
        return
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    rows = session.scalars(
        select(Customer)
        .where(Customer.id.in_(customer_ids))
        .options(selectinload(Customer.groups))
        .execution_options(populate_existing=True)
        .order_by(Customer.id)
    )
    _add(session, [new_event("customer.updated", updated_data(c, ["groups"])) for c in rows])


def _changed(obj: Any) -> dict[str, list[Any]]:
    """Attribute name → values before this flush, for attributes the flush changes."""
    out = {}
    for attr in inspect(obj).attrs:
        hist = attr.history
        if hist.has_changes():
            out[attr.key] = list(hist.deleted)
    return out


def _after_flush(session: Session, _ctx: Any) -> None:
    # Attribute history still shows this flush's changes here; new rows have their ids.
    if not enabled():
        return
    pending: list[OutboxEvent] = session.info.setdefault(_PENDING, [])
    seen: set[tuple[str, int]] = set()

    def emit(kind: str, data: dict[str, Any]) -> None:
        key = (kind, int(data["id"]))
        if key not in seen:
            seen.add(key)
            pending.append(new_event(kind, data))

    created: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Customer) and obj.has_account:
            created.add(obj.id)
            emit("customer.created", customer_data(obj))
    for obj in session.dirty:
        if not isinstance(obj, Customer) or obj in session.deleted:
            continue
        changed = _changed(obj)
        if not changed:
            continue
        if "has_account" in changed and obj.has_account:
            created.add(obj.id)
            emit("customer.created", customer_data(obj))
            continue
        if obj.id in created:
            continue
        if "status" in changed and changed["status"] and changed["status"][0] != obj.status:
            emit(
                "customer.status_changed",
                {**customer_data(obj), "previous_status": changed["status"][0]},
            )
        if PROFILE & changed.keys():
            emit("customer.updated", updated_data(obj, list(PROFILE & changed.keys())))
        if "newsletter" in changed:
            emit("customer.consent_changed", {**customer_data(obj), "source": None})
    for obj in session.new:
        if isinstance(obj, ConsentEvent) and obj.customer_id not in created:
            c = session.identity_map.get(
                inspect(Customer).identity_key_from_primary_key((obj.customer_id,))
            )
            data: dict[str, Any] = (
                customer_data(c) if isinstance(c, Customer) else {"id": obj.customer_id}
            )
            data.update(newsletter=obj.newsletter, source=obj.source)
            key = ("customer.consent_changed", int(obj.customer_id))
            # The consent record says more (its source) than the bare newsletter flag.
            pending[:] = [e for e in pending if (e.type, e.payload["data"]["id"]) != key]
            seen.discard(key)
            emit("customer.consent_changed", data)


def _merge(earlier: OutboxEvent, later: OutboxEvent) -> None:
    """One change flushed in steps (an autoflush, then the commit): one event for it.

    The earlier event gets the customer as it is now; a customer created in this
    transaction stays one customer.created, whatever else the transaction did.
    """
    old, new = earlier.payload["data"], later.payload["data"]
    if earlier.type != later.type:
        data = {**old, **{k: v for k, v in new.items() if k in old}}
    else:
        data = {**new}
        if "changed" in old:
            data["changed"] = sorted(set(old["changed"]) | set(new["changed"]))
        if "previous_status" in old:
            data["previous_status"] = old["previous_status"]
    earlier.payload = {**earlier.payload, "data": data}


def _after_flush_postexec(session: Session, _ctx: Any) -> None:
    # Added after the flush, so the commit's next flush round writes them in this transaction.
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    written: dict[tuple[str, int], OutboxEvent] = session.info.setdefault(_IN_TX, {})
    fresh = []
    for ev in pending:
        cid = int(ev.payload["data"]["id"])
        earlier = written.get((ev.type, cid)) or written.get(("customer.created", cid))
        if earlier is not None:
            _merge(earlier, ev)
        else:
            written[(ev.type, cid)] = ev
            fresh.append(ev)
    _add(session, fresh)


def _after_commit(session: Session) -> None:
    session.info.pop(_IN_TX, None)
    if session.info.pop(_WRITTEN, False) and has_app_context():
        from loginsvc.events.delivery import wake

        wake(current_app.extensions["loginsvc.redis"])


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
    session.info.pop(_IN_TX, None)


def install() -> None:
    """Listen on every ORM session (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
