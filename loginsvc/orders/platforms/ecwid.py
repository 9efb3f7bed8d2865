"""Ecwid order webhooks: the webhook names the order; the order is read from Ecwid's REST API.

References: https://docs.ecwid.com/webhook-automations/learn-ecwid-webhooks/event-data-in-webhooks
(webhook body), https://api-docs.ecwid.com/reference/get-order (the order),
https://api-docs.ecwid.com/reference/get-store-profile (the store's currency).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

from loginsvc.core.runtime import settings
from loginsvc.orders.platforms.common import (
    CANCELLED,
    FULFILLED,
    PAID,
    PENDING,
    REFUNDED,
    Unmappable,
    address,
    amount,
    text,
    unix_time,
    utc_from_unix,
)

ORDER_TOPICS = {"order.created": "order.placed", "order.updated": "order.updated"}
TIMEOUT = 4  # seconds: Ecwid waits 10 s for the webhook's answer, and may need two reads


class EcwidUnavailable(Exception):
    """Ecwid's API did not answer usefully; the webhook is answered 503 so Ecwid retries."""


class OrderGone(Exception):
    """Ecwid says there is no such order (deleted since the event)."""


_currency_cache: dict[str, str] = {}


def _get(path: str) -> Any:
    s = settings()
    url = f"{s.ecwid_api_url.rstrip('/')}/{urllib.parse.quote(s.ecwid_store_id)}{path}"
    req = urllib.request.Request(  # noqa: S310 - the URL is the operator's ECWID_API_URL
        url, headers={"Authorization": f"Bearer {s.ecwid_api_token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
            return json.loads(resp.read(), parse_float=Decimal)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise OrderGone(path) from None
        raise EcwidUnavailable(f"Ecwid answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EcwidUnavailable(f"Ecwid could not be read: {type(exc).__name__}") from None


def fetch_order(order_id: str) -> dict[str, Any]:
    order = _get(f"/orders/{urllib.parse.quote(order_id, safe='')}")
    if not isinstance(order, dict):
        raise EcwidUnavailable("Ecwid answered something that is not an order")
    return order


def store_currency() -> str:
    """Ecwid orders carry no currency: it is the store's (profile formatsAndUnits.currency)."""
    s = settings()
    key = f"{s.ecwid_api_url}|{s.ecwid_store_id}"
    if key not in _currency_cache:
        profile = _get("/profile")
        currency = ((profile or {}).get("formatsAndUnits") or {}).get("currency")
        if not currency:
            raise EcwidUnavailable("the store profile names no currency")
        _currency_cache[key] = str(currency)
    return _currency_cache[key]


def status_of(order: dict[str, Any]) -> str:
    payment = str(order.get("paymentStatus") or "").upper()
    fulfillment = str(order.get("fulfillmentStatus") or "").upper()
    if payment == "CANCELLED" or fulfillment == "WILL_NOT_DELIVER":
        return CANCELLED
    if payment == "REFUNDED":
        return REFUNDED
    if payment in {"PAID", "PARTIALLY_REFUNDED"}:
        return FULFILLED if fulfillment in {"SHIPPED", "DELIVERED"} else PAID
    return PENDING  # AWAITING_PAYMENT, INCOMPLETE, custom statuses


def _address(p: dict[str, Any] | None) -> dict[str, Any] | None:
    if not p:
        return None
    return address(
        name=p.get("name"),
        company=p.get("companyName"),
        line1=p.get("street"),
        city=p.get("city"),
        postal_code=p.get("postalCode"),
        region=p.get("stateOrProvinceCode") or p.get("stateOrProvinceName"),
        country=p.get("countryCode"),
        phone=p.get("phone"),
    )


def _tracking(order: dict[str, Any]) -> dict[str, Any] | None:
    number = text(order.get("trackingNumber"), 100)
    url = order.get("trackingUrl")
    if not number and not url:
        return None
    carrier = (order.get("shippingOption") or {}).get("shippingCarrierName")
    return {
        "carrier": text(carrier, 100),
        "number": number,
        "url": url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
    }


def to_order(order: dict[str, Any], *, currency: str) -> dict[str, Any]:
    email = order.get("email")
    if not email:
        raise Unmappable("the order carries no e-mail address")
    billing = order.get("billingPerson") or {}
    total = Decimal(amount(order.get("total", 0), currency))
    if str(order.get("paymentStatus") or "").upper() == "PARTIALLY_REFUNDED":
        total -= Decimal(amount(order.get("refundedAmount") or 0, currency))
    items = [
        {
            "product_id": str(i["productId"]) if i.get("productId") else None,
            "sku": text(i.get("sku"), 128),
            "name": text(i.get("name"), 500) or "—",
            "quantity": max(int(i.get("quantity") or 1), 1),
            "unit_price": amount(i.get("price", 0), currency),
        }
        for i in order.get("items") or []
    ]
    placed = order.get("createTimestamp")
    return {
        # The id Ecwid shows the shopper ("K8XTQ", with the store's prefix/suffix).
        "order_id": str(order.get("id") or order.get("orderNumber")),
        "email": email,
        "placed_at": utc_from_unix(placed) if placed is not None else None,
        "status": status_of(order),
        "currency": currency,
        "total": amount(max(total, Decimal(0)), currency),
        "customer": {
            "name": text(billing.get("name")),
            "phone": text(billing.get("phone"), 50),
            "company": text(billing.get("companyName")),
        },
        "billing_address": _address(billing),
        "shipping_address": _address(order.get("shippingPerson")),
        "items": items,
        "tracking": _tracking(order),
        "platform": {
            "name": "ecwid",
            "id": str(order.get("internalId") or order.get("id")),
            "changed_at": unix_time(order.get("updateTimestamp")),
        },
    }
