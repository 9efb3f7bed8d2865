"""Keyset pagination with opaque cursors (CONTRACT §2: newest first, ?limit=&cursor=)."""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loginsvc.core.errors import InvalidRequest


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=20, ge=1, le=100, description="1..100")
    cursor: str | None = Field(default=None, max_length=512, description="opaque, from next_cursor")


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, arity: int) -> list[Any] | None:
    """The key values after which the next page starts; 422 when not ours."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception:
        raise InvalidRequest(
            "The cursor is not valid.",
            [{"field": "cursor", "message": "not a cursor from this API"}],
        ) from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidRequest(
            "The cursor is not valid.",
            [{"field": "cursor", "message": "not a cursor from this API"}],
        )
    return values
