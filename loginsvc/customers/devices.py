"""The shopper's signed-in devices (sessions), described in words a person recognises."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ua_parser import parse as parse_user_agent

from loginsvc.auth import sessions
from loginsvc.core.errors import ProblemError
from loginsvc.core.pagination import as_text, as_timestamp, decode_cursor, encode_cursor
from loginsvc.core.runtime import store
from loginsvc.core.store import SessionRecord
from loginsvc.core.timefmt import rfc3339 as _iso

# ua-parser (the uap-core patterns) names browsers and systems precisely; the
# device list speaks of them the way people do, so its families are folded here.
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
}
_SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}


@lru_cache(maxsize=1024)
def describe_user_agent(ua: str) -> str:
    """ "Firefox on Windows"; "Unknown device" when nothing is recognised."""
    parsed = parse_user_agent(ua) if ua else None
    browser = system = None
    if parsed is not None and parsed.user_agent and parsed.user_agent.family != "Other":
        browser = _BROWSER_NAMES.get(parsed.user_agent.family, parsed.user_agent.family)
    if parsed is not None and parsed.os and parsed.os.family != "Other":
        system = _SYSTEM_NAMES.get(parsed.os.family, parsed.os.family)
        if system == "iOS" and parsed.device and parsed.device.family == "iPad":
            system = "iPadOS"
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


def session_out(record: SessionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": _iso(record.created_at),
        "last_seen_at": _iso(record.last_seen),
        "user_agent": describe_user_agent(record.user_agent),
        "ip_prefix": sessions.ip_prefix(record.ip),
        "current": sessions.is_current(record),
        "method": record.method,
    }


def list_devices(*, customer_id: int) -> list[SessionRecord]:
    """Newest first."""
    return store().list_sessions(customer_id)


def page_devices(
    *, customer_id: int, limit: int, cursor: str | None
) -> tuple[list[SessionRecord], str | None]:
    """Newest first, keyset-paginated on (created_at, id) like every list (CONTRACT §2).

    Sessions live in Redis, a handful per person, so the page is cut in memory.
    """
    after = decode_cursor(cursor, as_timestamp, as_text)
    records = sorted(
        list_devices(customer_id=customer_id), key=lambda r: (r.created_at, r.id), reverse=True
    )
    if after is not None:
        at, last_id = after
        records = [r for r in records if (r.created_at, r.id) < (at, last_id)]
    page = records[:limit]
    more = len(records) > limit
    return page, encode_cursor([page[-1].created_at, page[-1].id]) if more else None


def sign_out_device(*, customer_id: int, session_id: str) -> None:
    """End one of this shopper's sessions; someone else's id is simply unknown."""
    if len(session_id) > 64 or not store().delete_session(customer_id, session_id):
        raise ProblemError(404, "not_found", "No such signed-in device.")
