"""The audit log: every owner write, by an admin API key (actor: its name) or the console.

A write stages its entry before calling the service; the entry is added to the
service's own transaction when that commits (a session `before_commit` hook), so
a change and its record are one transaction: both or neither.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from loginsvc.admin.models import AuditEntry, CustomerEvent
from loginsvc.core.models import Customer
from loginsvc.core.pagination import encode_cursor
from loginsvc.core.timefmt import rfc3339

MAX_DETAIL_TEXT = 200


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_DETAIL_TEXT:
        return value[:MAX_DETAIL_TEXT] + "…"
    if isinstance(value, dict):
        return {str(k)[:50]: _short(v) for k, v in list(value.items())[:30]}
    if isinstance(value, list):
        return [_short(v) for v in value[:30]]
    return value


def stage(
    *, actor: str, action: str, customer_id: int | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Record `action` with the next commit of this request's session (the change's own)."""
    pending: list[dict[str, Any]] = g.setdefault("_audit_pending", [])
    pending.append(
        {
            "actor": actor[:320],
            "action": action[:64],
            "customer_id": customer_id,
            "detail": _short(detail) if detail else None,
        }
    )


def discard() -> None:
    g.pop("_audit_pending", None)
    g.pop("_audit_new_customers", None)


@event.listens_for(Session, "after_flush")
def _note_new_customers(session: Session, _ctx: Any) -> None:
    if not has_app_context() or not g.get("_audit_pending"):
        return
    ids = [o.id for o in session.new if isinstance(o, Customer)]
    if ids:
        g.setdefault("_audit_new_customers", []).extend(ids)


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    if not has_app_context() or g.get("_db_session") is not session:
        return
    pending = g.pop("_audit_pending", None)
    if not pending:
        return
    session.flush()  # a create's new customer gets its id (noted by after_flush)
    created = g.pop("_audit_new_customers", [])
    for entry in pending:
        if entry["customer_id"] is None and entry["action"] == "customer.create" and created:
            entry["customer_id"] = created[0]
        session.add(AuditEntry(**entry))
        if entry["customer_id"] is not None:
            detail = {"actor": entry["actor"], "action": entry["action"]}
            session.add(
                CustomerEvent(customer_id=entry["customer_id"], kind="owner.action", detail=detail)
            )


def entry_out(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "customer_id": e.customer_id,
        "detail": e.detail,
    }


def id_cursor(cursor: str | None) -> int | None:
    """The id a newest-first page continues below; 422 for anything not made by us."""
    from loginsvc.core.errors import InvalidRequest
    from loginsvc.core.pagination import as_id, decode_cursor

    after = decode_cursor(cursor, as_id)
    if after is None:
        return None
    value = after[0]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise InvalidRequest(
            "The cursor is not valid.",
            [{"field": "cursor", "message": "not a cursor from this API"}],
        )
    return value


def list_entries(
    session: Session, *, customer_id: int | None, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    """Newest first, keyset paging on id (§2)."""
    after = id_cursor(cursor)
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if customer_id is not None:
        stmt = stmt.where(AuditEntry.customer_id == customer_id)
    if after is not None:
        stmt = stmt.where(AuditEntry.id < after)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# -- the admin API's writes ---------------------------------------------------------

API_ACTIONS = {
    "admin.create_customer": "customer.create",
    "admin.patch_customer": "customer.update",
    "admin.delete_customer": "customer.delete",
    "admin.import_customers": "customer.import",
    "admin.create_group": "group.create",
    "admin.rename_group": "group.rename",
    "admin.delete_group": "group.delete",
    "admin.add_members": "group.add_members",
    "admin.remove_members": "group.remove_members",
    "admin.patch_settings": "settings.update",
}


def stage_api_write(*, endpoint: str | None, view_args: dict[str, Any], body: Any) -> None:
    """Before an admin API write: stage its entry (actor: the API key's name)."""
    action = API_ACTIONS.get(endpoint or "", (endpoint or "unknown").removeprefix("admin."))
    detail: dict[str, Any] = {k: v for k, v in view_args.items() if k != "customer_id"}
    if isinstance(body, dict):
        detail.update(body)
    stage(
        actor=str(g.get("admin_key_name") or "api key"),
        action=action,
        customer_id=view_args.get("customer_id"),
        detail=detail or None,
    )
