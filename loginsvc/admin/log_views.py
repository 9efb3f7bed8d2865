"""/api/v1/admin/audit and a customer's timeline (CONTRACT §7a), behind an admin API key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from loginsvc.admin import audit, timeline
from loginsvc.admin.customers import get_customer
from loginsvc.core.admin_auth import require_admin_key
from loginsvc.core.extensions import db
from loginsvc.core.pagination import PageQuery
from loginsvc.core.spec import endpoint

bp = Blueprint("admin_log", __name__)
bp.before_request(require_admin_key)

P = "/api/v1/admin"


class AuditQuery(PageQuery):
    customer_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="only this customer's"
    )


@endpoint(
    bp,
    f"{P}/audit",
    "GET",
    summary="Every owner write, newest first",
    query=AuditQuery,
    auth="admin",
)
def list_audit(query: AuditQuery) -> Any:
    rows, next_cursor = audit.list_entries(
        db.session, customer_id=query.customer_id, limit=query.limit, cursor=query.cursor
    )
    return {"entries": [audit.entry_out(e) for e in rows], "next_cursor": next_cursor}


@endpoint(
    bp,
    f"{P}/customers/<id:customer_id>/timeline",
    "GET",
    summary="What happened to this customer (links, mails, sessions, orders, owner actions)",
    query=PageQuery,
    errors=["customer_not_found"],
    auth="admin",
)
def customer_timeline(customer_id: int, query: PageQuery) -> Any:
    customer = get_customer(customer_id)
    rows, next_cursor = timeline.list_events(
        db.session,
        customer_id=customer.id,
        email_norm=customer.email_norm,
        limit=query.limit,
        cursor=query.cursor,
    )
    return {"events": [timeline.event_out(e) for e in rows], "next_cursor": next_cursor}
