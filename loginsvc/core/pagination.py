"""Keyset pagination with opaque cursors (CONTRACT §2: newest first, ?limit=&cursor=).

A cursor is base64url JSON of the last row's key values. It comes back from
the client, so it is input like any other: every field is checked against
the type its list made it with (a field parser below) before it reaches a
query. An integer past 64 bits, `1e999999`, a NUL or a nested value is
"not a cursor from this API" (422), never a driver error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loginsvc.core.errors import InvalidRequest
from loginsvc.core.ids import MAX_ID

MAX_CURSOR = 512
FieldParser = Callable[[Any], Any]


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100, description="1..100")
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="opaque, from next_cursor",
    )


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def bad_cursor(message: str = "not a cursor from this API") -> InvalidRequest:
    return InvalidRequest("The cursor is not valid.", [{"field": "cursor", "message": message}])


# -- field parsers: each returns the value for the query or raises ValueError ----


def as_id(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_ID:
        raise ValueError("not an id")
    return v


def as_count(v: Any) -> int:
    """A non-negative 32-bit counter (order_count)."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**31:
        raise ValueError("not a count")
    return v


def as_text(v: Any) -> str:
    if not isinstance(v, str) or "\x00" in v or len(v) > MAX_CURSOR:
        raise ValueError("not text")
    return v


def as_optional_text(v: Any) -> str | None:
    return None if v is None else as_text(v)


def as_datetime(v: Any) -> dt.datetime:
    """An ISO 8601 instant with its offset (naive times compare wrongly)."""
    value = dt.datetime.fromisoformat(as_text(v))
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


def as_timestamp(v: Any) -> float:
    """Unix seconds as JSON number (Redis-held records)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError("not a timestamp")
    if not 0 <= v < 2**40:
        raise ValueError("out of range")
    return float(v)


def as_money(v: Any) -> Decimal:
    """A decimal string that fits Numeric(19, 4)."""
    try:
        value = Decimal(as_text(v))
    except InvalidOperation:
        raise ValueError("not a decimal") from None
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        raise ValueError("out of range")
    return value


def exactly(expected: str) -> FieldParser:
    def check(v: Any) -> str:
        if v != expected:
            raise ValueError("another list's cursor")
        return expected

    return check


def decode_cursor(cursor: str | None, *fields: FieldParser) -> list[Any] | None:
    """The key values after which the next page starts, each parsed; 422 when not ours."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(
            base64.urlsafe_b64decode(padded.encode()),
            parse_constant=_refuse_constant,
        )
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise bad_cursor() from None
    if not isinstance(values, list) or len(values) != len(fields):
        raise bad_cursor()
    try:
        return [parse(v) for parse, v in zip(fields, values, strict=True)]
    except (TypeError, ValueError, OverflowError):
        raise bad_cursor() from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
