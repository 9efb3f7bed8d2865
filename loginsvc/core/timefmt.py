"""RFC 3339 UTC timestamps (`2026-11-22T10:00:00Z`), the one format the API speaks."""

from __future__ import annotations

import datetime as dt
from typing import overload


@overload
def rfc3339(value: dt.datetime | float) -> str: ...
@overload
def rfc3339(value: None) -> None: ...
@overload
def rfc3339(value: dt.datetime | float | None) -> str | None: ...


def rfc3339(value: dt.datetime | float | None) -> str | None:
    """A datetime or a unix time as RFC 3339 UTC; None stays None."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
