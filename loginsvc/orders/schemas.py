"""The order webhook body (CONTRACT §4), validated field by field.

Past 300 lines on purpose: one schema for the whole order body, field by field,
so every rule of CONTRACT §4 is found in one place.

Shops add fields of their own; those are accepted and handed back separately
(``OrderEvent.unknown_fields``) so they can be kept as raw JSON instead of
being dropped or refused.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from loginsvc.core.emails import parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.i18n import SUPPORTED
from loginsvc.core.iso_codes import CURRENCIES
from loginsvc.core.money import parse_amount
from loginsvc.core.plain_text import SingleLine, has_control

# ASCII digits only: \d would also take Arabic-Indic or full-width digits.
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
_DECIMAL = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,4})?\Z")
_STATUS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
MAX_ITEMS = 2000


def _rfc3339(value: Any) -> dt.datetime:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 time with a timezone, e.g. 2026-11-22T10:00:00Z")
    text = value.upper().replace(" ", "T")
    frac = re.search(r"\.([0-9]+)", text)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds; drop the rest
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a real date and time") from None
    if not 1970 <= parsed.year <= 2200:
        raise ValueError("is out of range (1970..2200)")
    return parsed.astimezone(dt.UTC)


def _decimal_string(value: Any) -> str:
    # Floats lose cents in transit; the contract asks for strings, so numbers are refused.
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "59.90", not a JSON number')
    text = value.strip()
    if not _DECIMAL.match(text):
        raise ValueError('must be a decimal string such as "59.90"')
    if text.startswith("-"):
        raise ValueError("must not be negative")
    return text


def _id_string(value: Any) -> str:
    # Shop ids are often integers in their own database; 1001 and "1001" are one order.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if has_control(text):
        raise ValueError("must not contain control characters")
    return text


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return parse_email(value).display


def _status(value: Any) -> str:
    if not isinstance(value, str) or not _STATUS.match(value.strip().lower()):
        raise ValueError("must be a short status word such as paid, processing, cancelled")
    return value.strip().lower()


def _currency(value: Any) -> str:
    # Three capital letters is not enough: "XYZ" would be stored and totalled as money.
    if not isinstance(value, str) or not _CURRENCY.match(value) or value not in CURRENCIES:
        raise ValueError("must be an ISO 4217 code of three capital letters, e.g. EUR")
    return value


def _http_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/?#]+[^\s]*\Z", value):
        raise ValueError("must be an http(s) URL")
    return value


Money = Annotated[str, BeforeValidator(_decimal_string)]
ShopId = Annotated[str, BeforeValidator(_id_string), Field(max_length=64)]
Address = dict[str, Any]


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    product_id: ShopId | None = None
    sku: Annotated[str, SingleLine] | None = Field(default=None, max_length=128)
    name: Annotated[str, SingleLine] = Field(min_length=1, max_length=500)
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price: Money


class OrderCustomerIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    # The same rule as the profile API: a name with CR/LF would reach mail headers.
    name: Annotated[str, SingleLine] | None = Field(default=None, max_length=200)
    phone: Annotated[str, SingleLine] | None = Field(default=None, max_length=50)
    company: Annotated[str, SingleLine] | None = Field(default=None, max_length=200)
    newsletter: bool | None = Field(default=None, description="true: opted in at checkout")


class TrackingIn(BaseModel):
    """Where the parcel is (CONTRACT §4a); every part optional, as carriers differ."""

    model_config = ConfigDict(extra="forbid", strict=True)

    carrier: str | None = Field(default=None, max_length=100)
    number: str | None = Field(default=None, max_length=100)
    url: Annotated[str | None, BeforeValidator(_http_url)] = Field(default=None, max_length=2048)


class OrderDataIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    order_id: ShopId
    email: Annotated[str, BeforeValidator(_email)] = Field(
        description="trimmed; any case", json_schema_extra={"format": "email"}
    )
    placed_at: Annotated[dt.datetime, BeforeValidator(_rfc3339)] = Field(
        description="RFC 3339 with a timezone"
    )
    status: Annotated[str, BeforeValidator(_status)]
    currency: Annotated[str, BeforeValidator(_currency)] = Field(description="ISO 4217")
    total: Money
    customer: OrderCustomerIn | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    items: list[OrderItemIn] = Field(default_factory=list, max_length=MAX_ITEMS)
    invoice_url: Annotated[str | None, BeforeValidator(_http_url)] = Field(
        default=None, max_length=2048
    )
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="language of the welcome e-mail (" + ", ".join(SUPPORTED) + ")",
    )
    guest: bool | None = Field(
        default=None, description="true: a guest checkout; the order is kept, no account opened"
    )
    tracking: TrackingIn | None = None


class OrderEventIn(BaseModel):
    """The webhook body: `{"type": "order.placed" | "order.updated", "data": {...}}`."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["order.placed", "order.updated"]
    data: OrderDataIn


class OrderEvent:
    """A validated event: typed fields plus the exact amounts and the unknown fields."""

    def __init__(self, parsed: OrderEventIn) -> None:
        self.type = parsed.type
        self.data = parsed.data
        d = parsed.data
        self.total: Decimal = parse_amount(d.total, d.currency)
        self.items: list[dict[str, Any]] = [
            {
                "product_id": i.product_id,
                "sku": i.sku,
                "name": i.name,
                "quantity": i.quantity,
                "unit_price": i.unit_price,
            }
            for i in d.items
        ]
        self.unknown_fields = _unknown(parsed)
        t = d.tracking
        self.tracking: dict[str, Any] | None = (
            None
            if t is None or not (t.carrier or t.number or t.url)
            else {"carrier": t.carrier, "number": t.number, "url": t.url}
        )


def _unknown(parsed: OrderEventIn) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if parsed.model_extra:
        out["event"] = dict(parsed.model_extra)
    if parsed.data.model_extra:
        out["data"] = dict(parsed.data.model_extra)
    if parsed.data.customer is not None and parsed.data.customer.model_extra:
        out["customer"] = dict(parsed.data.customer.model_extra)
    items = {str(n): dict(i.model_extra) for n, i in enumerate(parsed.data.items) if i.model_extra}
    if items:
        out["items"] = items  # keyed by the item's position in `items`
    return out or None


def _amount_errors(d: OrderDataIn) -> list[dict[str, str]]:
    """Amounts checked against the currency's minor units (needs the currency first)."""
    errors = []
    try:
        parse_amount(d.total, d.currency)
    except ValueError as exc:
        errors.append({"field": "data.total", "message": str(exc)})
    # Unit prices too: "19.95" in JPY would otherwise be shown rounded to "20".
    for n, item in enumerate(d.items):
        try:
            parse_amount(item.unit_price, d.currency)
        except ValueError as exc:
            errors.append({"field": f"data.items.{n}.unit_price", "message": str(exc)})
    return errors


def _loc(loc: tuple[Any, ...]) -> str:
    # A failing BeforeValidator on `str | None` reports e.g. data.invoice_url.function-before[..]
    return ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "body"


def _unstorable_text(value: Any, path: str, depth: int = 0) -> str | None:
    """The path of a string the database cannot store (NUL, lone surrogate), if any.

    PostgreSQL text and JSONB refuse U+0000, and UTF-8 has no lone surrogates,
    though JSON allows both ("\\u0000", "\\ud800").
    """
    if depth > 32:  # deeper than any order needs; also keeps this walk cheap
        raise InvalidRequest(
            "The body is nested too deeply.",
            [{"field": path or "body", "message": "nested too deeply"}],
        )
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            found = _unstorable_text(k, sub, depth + 1)
            if found is None:
                found = _unstorable_text(v, sub, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for n, v in enumerate(value):
            found = _unstorable_text(v, f"{path}.{n}" if path else str(n), depth + 1)
            if found is not None:
                return found
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; the DB not


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")  # 1e400 would become Infinity
    return value


def parse_event(raw: bytes) -> OrderEvent:
    """Parse and validate a raw webhook body; 400 when not JSON, 422 with per-field errors."""
    try:
        payload = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProblemError(400, "invalid_request", "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest(
            "The body must be a JSON object.",
            [{"field": "body", "message": "must be a JSON object"}],
        )
    bad = _unstorable_text(payload, "")
    if bad is not None:
        raise InvalidRequest(
            "The order is not valid.",
            [
                {
                    "field": bad or "body",
                    "message": "contains a NUL character or an unpaired surrogate",
                }
            ],
        )
    try:
        parsed = OrderEventIn.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {
                "field": _loc(tuple(e.get("loc", ()))),
                "message": str(e.get("msg", "invalid value")).removeprefix("Value error, "),
            }
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest("The order is not valid.", errors) from None
    except RecursionError:
        raise InvalidRequest(
            "The body is nested too deeply.", [{"field": "body", "message": "nested too deeply"}]
        ) from None
    errors = _amount_errors(parsed.data)
    if errors:
        raise InvalidRequest("The order is not valid.", errors)
    return OrderEvent(parsed)
