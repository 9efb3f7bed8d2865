"""Orders: the shopper's history and invoices (ingest lives in order_ingest.py).

(Interface used by the account pages: list_orders_for, get_order_for, order_out.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_

from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Order
from loginsvc.core.money import format_amount
from loginsvc.core.pagination import as_datetime, as_id, decode_cursor, encode_cursor
from loginsvc.core.timefmt import rfc3339 as _iso


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
        "tracking": o.tracking,
        "item_count": sum(int(i.get("quantity") or 0) for i in (o.items or [])),
    }
    if with_items:
        # Unit prices are kept as the shop sent them ("19.9", "0019.90"); they leave in
        # the same canonical form as totals: the currency's minor units ("19.90").
        out["items"] = [_item_out(i, o.currency) for i in (o.items or [])]
    return out


def _item_out(item: dict[str, Any], currency: str) -> dict[str, Any]:
    try:
        return {**item, "unit_price": format_amount(str(item["unit_price"]).strip(), currency)}
    except (KeyError, ArithmeticError, ValueError):
        return item  # stored before validation existed: shown as it was


def list_orders_for(
    *, customer_id: int, limit: int, cursor: str | None
) -> tuple[list[Order], str | None]:
    """Newest first, keyset-paginated on (placed_at, id)."""
    after = decode_cursor(cursor, as_datetime, as_id)
    stmt = select(Order).where(Order.customer_id == customer_id)
    if after is not None:
        at, last_id = after
        # A row-value comparison lets the (customer_id, placed_at, id) index start
        # right after the cursor instead of filtering from the newest order down.
        stmt = stmt.where(tuple_(Order.placed_at, Order.id) < tuple_(at, last_id))
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


def invoice_for(order: Order) -> dict[str, Any]:
    """What the printable invoice shows, with exact line totals."""
    lines = []
    for item in order.items or []:
        qty = int(item.get("quantity") or 0)
        price = Decimal(str(item.get("unit_price") or "0"))
        lines.append(
            {
                "name": item.get("name") or "",
                "sku": item.get("sku") or "",
                "quantity": qty,
                "unit_price": format_amount(price, order.currency),
                "line_total": format_amount(price * qty, order.currency),
            }
        )
    return {
        "order": order_out(order, with_items=False),
        "lines": lines,
        "customer": order.customer_info or {},
    }
