"""Each listed customer's latest order (date, status, payment method) in one query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from loginsvc.core.extensions import db
from loginsvc.core.models import Order


@dataclass(frozen=True)
class LastOrder:
    placed_at: dt.datetime
    status: str
    payment_method: str | None


def _payment_method(extra: dict[str, Any] | None) -> str | None:
    # Sent as an optional `data.payment_method`; kept with the order's other extra fields.
    value = ((extra or {}).get("data") or {}).get("payment_method")
    return str(value)[:64] if isinstance(value, str | int) and value != "" else None


def last_orders(customer_ids: Sequence[int]) -> dict[int, LastOrder]:
    if not customer_ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=Order.customer_id, order_by=(Order.placed_at.desc(), Order.id.desc()))
        .label("rank")
    )
    ranked = (
        select(Order.customer_id, Order.placed_at, Order.status, Order.extra, rank)
        .where(Order.customer_id.in_(list(customer_ids)))
        .subquery()
    )
    rows = db.session.execute(select(ranked).where(ranked.c.rank == 1))
    return {
        r.customer_id: LastOrder(
            placed_at=r.placed_at, status=r.status, payment_method=_payment_method(r.extra)
        )
        for r in rows
    }
