"""Orders: ingest from the shop backend, history for the shopper.

(Interface used by the account pages: list_orders_for, get_order_for, order_out.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select

from ..errors import ProblemError
from ..extensions import db
from ..models import Order
from ..money import format_amount
from ..pagination import decode_cursor, encode_cursor


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_out(o: Order, *, with_items: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "order_id": o.order_id,
        "placed_at": _iso(o.placed_at),
        "status": o.status,
        "currency": o.currency,
        "total": format_amount(o.total, o.currency),
        "billing_address": o.billing_address,
        "shipping_address": o.shipping_address,
        "invoice_url": o.invoice_url,
        "item_count": sum(int(i.get("quantity") or 0) for i in (o.items or [])),
    }
    if with_items:
        out["items"] = o.items or []
    return out


def list_orders_for(*, customer_id: int, limit: int, cursor: str | None
                    ) -> tuple[list[Order], str | None]:
    """Newest first, keyset-paginated on (placed_at, id)."""
    after = decode_cursor(cursor, arity=2)
    stmt = select(Order).where(Order.customer_id == customer_id)
    if after is not None:
        try:
            at = dt.datetime.fromisoformat(str(after[0]))
            last_id = int(after[1])
        except (TypeError, ValueError):
            from ..errors import InvalidRequest

            raise InvalidRequest("The cursor is not valid.",
                                 [{"field": "cursor", "message": "not a cursor"}]) from None
        stmt = stmt.where(or_(Order.placed_at < at,
                              and_(Order.placed_at == at, Order.id < last_id)))
    stmt = stmt.order_by(Order.placed_at.desc(), Order.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last.placed_at.isoformat(), last.id])
    return rows, next_cursor


def get_order_for(*, customer_id: int, order_id: str) -> Order:
    """One order of this customer; 404 whether it is someone else's or absent."""
    order = db.session.scalars(
        select(Order).where(Order.order_id == order_id, Order.customer_id == customer_id)
    ).first()
    if order is None:
        raise ProblemError(404, "order_not_found", "No such order.")
    return order
