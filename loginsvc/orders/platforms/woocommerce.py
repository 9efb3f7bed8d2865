"""WooCommerce order webhooks → our order (the REST API v3 order object webhooks carry).

Reference: https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from loginsvc.orders.platforms.common import (
    CANCELLED,
    FULFILLED,
    PAID,
    PENDING,
    REFUNDED,
    Unmappable,
    address,
    amount,
    full_name,
    text,
    unit_price,
    unix_time,
)

ORDER_TOPICS = {"order.created": "order.placed", "order.updated": "order.updated"}
# Sent once, unsigned, when a webhook is saved in WooCommerce → Settings → Advanced → Webhooks.
PING = re.compile(rb"^webhook_id=[0-9]+\Z")


def is_ping(body: bytes, mimetype: str, form: Mapping[str, str]) -> bool:
    """The unsigned `webhook_id=N` form post; it changes nothing, so it needs no signature."""
    if mimetype == "application/x-www-form-urlencoded" and not body:
        # The form was parsed before the view (the input guard), which consumed the body.
        return list(form.keys()) == ["webhook_id"] and bool(
            re.fullmatch("[0-9]+", form["webhook_id"])
        )
    return bool(PING.match(body))


_STATUS = {
    "pending": PENDING,
    "on-hold": PENDING,
    "checkout-draft": PENDING,
    "processing": PAID,  # paid, waiting to be shipped
    "completed": FULFILLED,
    "cancelled": CANCELLED,
    "failed": CANCELLED,
    "trash": CANCELLED,
    "refunded": REFUNDED,
}


def status_of(order: dict[str, Any]) -> str:
    # Shops add statuses of their own ("shipped", "wc-awaiting-pickup"): those count as pending.
    return _STATUS.get(str(order.get("status") or "").removeprefix("wc-"), PENDING)


def _utc(value: Any) -> str | None:
    # date_created_gmt has no offset but is UTC by definition ("2026-11-22T09:00:00").
    if not isinstance(value, str) or not value:
        return None
    return value if value.endswith("Z") or "+" in value[10:] else value + "Z"


def _address(a: dict[str, Any] | None) -> dict[str, Any] | None:
    if not a:
        return None
    return address(
        name=full_name(a.get("first_name"), a.get("last_name")),
        company=a.get("company"),
        line1=a.get("address_1"),
        line2=a.get("address_2"),
        city=a.get("city"),
        postal_code=a.get("postcode"),
        region=a.get("state"),
        country=a.get("country"),
        phone=a.get("phone"),
    )


def _tracking(order: dict[str, Any]) -> dict[str, Any] | None:
    """The Shipment Tracking extension's meta entry, when the shop uses it."""
    for meta in order.get("meta_data") or []:
        if meta.get("key") == "_wc_shipment_tracking_items" and meta.get("value"):
            t = meta["value"][-1]
            url = t.get("custom_tracking_link") or None
            return {
                "carrier": text(
                    t.get("tracking_provider") or t.get("custom_tracking_provider"), 100
                ),
                "number": text(t.get("tracking_number"), 100),
                "url": url
                if isinstance(url, str) and url.startswith(("http://", "https://"))
                else None,
            }
    return None


def _net_total(order: dict[str, Any], currency: str) -> str:
    """The order total less partial refunds (refund totals arrive negative: "-5.00")."""
    total = Decimal(amount(order.get("total") or "0", currency))
    if status_of(order) != REFUNDED:
        for r in order.get("refunds") or []:
            total += Decimal(amount(r.get("total") or "0", currency))
    return amount(max(total, Decimal(0)), currency)


def to_order(order: dict[str, Any]) -> dict[str, Any]:
    billing = order.get("billing") or {}
    email = billing.get("email")
    if not email:
        raise Unmappable("the order carries no e-mail address")
    currency = order.get("currency") or ""
    items = []
    for li in order.get("line_items") or []:
        qty = int(li.get("quantity") or 0)
        if qty <= 0:
            continue
        # What the shopper paid for the line, tax included, split over the quantity.
        line = Decimal(str(li.get("subtotal") or "0")) + Decimal(str(li.get("subtotal_tax") or "0"))
        items.append(
            {
                "product_id": str(li["product_id"]) if li.get("product_id") else None,
                "sku": text(li.get("sku"), 128),
                "name": text(li.get("name"), 500) or "—",
                "quantity": qty,
                "unit_price": unit_price(line, qty, currency),
            }
        )
    return {
        "order_id": str(order.get("number") or order.get("id")),
        "email": email,
        "placed_at": _utc(order.get("date_created_gmt")) or _utc(order.get("date_created")),
        "status": status_of(order),
        "currency": currency,
        "total": _net_total(order, currency),
        "customer": {
            "name": full_name(billing.get("first_name"), billing.get("last_name")),
            "phone": text(billing.get("phone"), 50),
            "company": text(billing.get("company")),
        },
        "billing_address": _address(billing),
        "shipping_address": _address(order.get("shipping")),
        "items": items,
        "tracking": _tracking(order),
        "platform": {
            "name": "woocommerce",
            "id": str(order.get("id")),
            "changed_at": unix_time(order.get("date_modified_gmt"), assume_utc=True),
        },
    }
