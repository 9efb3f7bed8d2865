"""Shopify order webhooks → our order (REST Admin API `Order` shape, as webhooks send it).

Reference: https://shopify.dev/docs/api/admin-rest/latest/resources/order and the
webhook topics list https://shopify.dev/docs/api/webhooks (orders/create …).
"""

from __future__ import annotations

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
    unix_time,
)

ORDER_TOPICS = {
    "orders/create": "order.placed",
    "orders/updated": "order.updated",
    "orders/paid": "order.updated",
    "orders/cancelled": "order.updated",
    "orders/fulfilled": "order.updated",
}
PRIVACY_TOPICS = frozenset({"customers/redact", "customers/data_request", "shop/redact"})


def status_of(order: dict[str, Any]) -> str:
    financial = (order.get("financial_status") or "").lower()
    if order.get("cancelled_at") or financial == "voided":
        return CANCELLED
    if financial == "refunded":
        return REFUNDED
    if (order.get("fulfillment_status") or "").lower() == "fulfilled":
        return FULFILLED
    if financial in {"paid", "partially_refunded"}:
        return PAID
    return PENDING  # pending, authorized, partially_paid, expired


def _address(a: dict[str, Any] | None) -> dict[str, Any] | None:
    if not a:
        return None
    return address(
        name=a.get("name") or full_name(a.get("first_name"), a.get("last_name")),
        company=a.get("company"),
        line1=a.get("address1"),
        line2=a.get("address2"),
        city=a.get("city"),
        postal_code=a.get("zip"),
        region=a.get("province_code") or a.get("province"),
        country=a.get("country_code"),
        phone=a.get("phone"),
    )


def _tracking(order: dict[str, Any]) -> dict[str, Any] | None:
    for f in reversed(order.get("fulfillments") or []):
        number = f.get("tracking_number") or next(iter(f.get("tracking_numbers") or []), None)
        url = f.get("tracking_url") or next(iter(f.get("tracking_urls") or []), None)
        if number or url:
            return {
                "carrier": text(f.get("tracking_company"), 100),
                "number": text(number, 100),
                "url": url
                if isinstance(url, str) and url.startswith(("http://", "https://"))
                else None,
            }
    return None


def _newsletter(order: dict[str, Any], customer: dict[str, Any]) -> bool | None:
    consent = customer.get("email_marketing_consent") or {}
    if (consent.get("state") or "").lower() == "subscribed":
        return True
    return True if order.get("buyer_accepts_marketing") is True else None


def to_order(order: dict[str, Any]) -> dict[str, Any]:
    """The §4 `data` object for a Shopify order; Unmappable when it names no one."""
    customer = order.get("customer") or {}
    email = order.get("email") or order.get("contact_email") or customer.get("email")
    if not email:
        raise Unmappable("the order carries no e-mail address (e.g. a POS sale)")
    currency = order.get("currency") or ""
    # current_total_price follows refunds and order edits; total_price is as placed.
    total = order.get("current_total_price") or order.get("total_price")
    billing = order.get("billing_address") or {}
    number = str(order.get("name") or order.get("order_number") or order.get("id"))
    items = []
    for li in order.get("line_items") or []:
        if int(li.get("quantity") or 0) <= 0:
            continue  # a line removed by an order edit keeps quantity 0
        items.append(
            {
                "product_id": str(li["product_id"]) if li.get("product_id") else None,
                "sku": text(li.get("sku"), 128),
                "name": text(li.get("name") or li.get("title"), 500) or "—",
                "quantity": int(li["quantity"]),
                "unit_price": amount(li.get("price") or "0", currency),
            }
        )
    return {
        # The number the shopper sees in Shopify's mails ("#1001" → "1001").
        "order_id": number.lstrip("#").strip(),
        "email": email,
        "placed_at": order.get("processed_at") or order.get("created_at"),
        "status": status_of(order),
        "currency": currency,
        "total": amount(total if total is not None else Decimal(0), currency),
        "customer": {
            "name": full_name(customer.get("first_name"), customer.get("last_name"))
            or (billing.get("name") if billing else None),
            "phone": text(customer.get("phone") or order.get("phone") or billing.get("phone"), 50),
            "company": text(billing.get("company")),
            "newsletter": _newsletter(order, customer),
        },
        "billing_address": _address(order.get("billing_address")),
        "shipping_address": _address(order.get("shipping_address")),
        "items": items,
        "tracking": _tracking(order),
        "locale": text((order.get("customer_locale") or "").split("-")[0], 35),
        "platform": {
            "name": "shopify",
            "id": str(order.get("id")),
            "changed_at": unix_time(order.get("updated_at")),
        },
    }
