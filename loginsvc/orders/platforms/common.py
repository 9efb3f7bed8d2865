"""What the platform mappers share: signatures, exact money, the hand-over to ingest."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, jsonify, make_response

from loginsvc.core.errors import ProblemError
from loginsvc.core.money import minor_units
from loginsvc.orders.ingest import ingest_order
from loginsvc.orders.schemas import parse_event

# Our order statuses (CONTRACT §4b); every platform's own maps onto these.
PAID, PENDING, CANCELLED, REFUNDED, FULFILLED = (
    "paid",
    "pending",
    "cancelled",
    "refunded",
    "fulfilled",
)


class Unmappable(Exception):
    """The delivery is genuine but holds no order we can keep (e.g. no e-mail address)."""


def hmac_b64_matches(secrets: Sequence[str], message: bytes, given: str | None) -> bool:
    """True when `given` is base64(HMAC-SHA256(secret, message)) for one of the secrets."""
    if not given or not secrets:
        return False
    try:
        sig = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    for secret in secrets:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).digest()
        if hmac.compare_digest(expected, sig):
            return True
    return False


def require_signature(ok: bool) -> None:
    if not ok:
        raise ProblemError(401, "invalid_signature", "The signature does not match.")


def load_json(body: bytes) -> Any:
    """JSON with numbers as exact decimals: Ecwid and WooCommerce send some money as numbers."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProblemError(400, "invalid_request", "The body is not valid JSON.") from None


def amount(value: Any, currency: str) -> str:
    """An exact decimal string in the currency's minor units ("59.9" EUR → "59.90").

    Never rounds: a value with more non-zero decimals than the currency has is
    refused with 422 rather than silently changed.
    """
    if isinstance(value, bool) or value is None:
        raise Unmappable("an amount is missing")
    try:
        d = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise Unmappable(f"{value!r} is not an amount") from None
    if not d.is_finite():
        raise Unmappable(f"{value!r} is not an amount")
    q = Decimal(1).scaleb(-minor_units(currency))
    exact = d.quantize(q)
    if exact != d:
        raise ProblemError(
            422,
            "invalid_request",
            f"The amount {value} has more decimals than {currency} allows.",
            errors=[{"field": "total", "message": f"more decimals than {currency} allows"}],
        )
    return str(exact)


def unit_price(line_total: Decimal, quantity: int, currency: str) -> str:
    """The unit price of a line; exact when the line splits evenly, else to the minor unit."""
    q = Decimal(1).scaleb(-minor_units(currency))
    if quantity <= 0:
        return str(line_total.quantize(q))
    return str((line_total / quantity).quantize(q))


def utc_from_unix(ts: Any) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_time(value: Any, *, assume_utc: bool = False) -> float | None:
    """An RFC 3339 / ISO time (or unix seconds) as unix seconds; None when unreadable."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not assume_utc:
            return None
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def text(value: Any, limit: int = 200) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s[:limit] or None


def full_name(*parts: Any) -> str | None:
    return text(" ".join(str(p).strip() for p in parts if p and str(p).strip()))


def address(**fields: Any) -> dict[str, Any] | None:
    """Our address shape (line1, city, postal_code, region, country, …) without blanks."""
    out = {k: text(v) for k, v in fields.items()}
    if out.get("country"):
        out["country"] = str(out["country"]).upper()[:2]
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)


def ignored(reason: str | None = None) -> Response:
    body: dict[str, Any] = {"ignored": True}
    if reason:
        body["reason"] = reason
    return make_response(jsonify(body), 200)


def ingest(order_type: str, data: dict[str, Any]) -> Response:
    """Hand a mapped order to the one ingest and answer as §4 does (201 new / 200 known)."""
    payload = {"type": order_type, "data": data}
    event = parse_event(json.dumps(payload, default=str).encode())
    result = ingest_order(event)
    body = {
        "order_id": result.order_id,
        "customer_id": result.customer_id,
        "account_created": result.account_created,
    }
    return make_response(jsonify(body), 201 if result.created else 200)
