"""Identifiers from outside (URL paths, query strings, bodies, cursors), bounded.

Our primary keys are 64-bit signed integers (BIGINT on PostgreSQL, INTEGER on
SQLite). A larger number in a URL or body used to reach the driver, which
refused it with an overflow: a 500 instead of a 404 or 422. Everything that
turns outside text into an id goes through here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from werkzeug.routing import IntegerConverter, UnicodeConverter

MAX_ID = 2**63 - 1

# A database id in a pydantic model: 1..2**63-1, so it always fits the column.
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def parse_id(text: Any) -> int | None:
    """An id written in ASCII digits, in range; None for anything else."""
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


class IdConverter(IntegerConverter):
    """`<id:name>`: ASCII digits, 1..2**63-1; anything else does not match (404)."""

    regex = "[0-9]{1,19}"  # `\d` would take any Unicode digit; 19 digits hold 2**63-1

    def __init__(self, map: Any) -> None:  # noqa: A002  (werkzeug's signature)
        super().__init__(map, min=1, max=MAX_ID)


class TextConverter(UnicodeConverter):
    """The default path segment, without NUL: no stored key can hold one.

    PostgreSQL text cannot contain U+0000, so `/orders/a%00b` used to fail in
    the driver (a 500); now it matches no route, a 404 like any unknown id.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\x00]", 1)


def register_url_types(app: Any) -> None:
    """Before any route is added: `<id:…>` and NUL-free default segments."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter
