"""Rate limits that refuse: 429 `rate_limited` with Retry-After (the moving window is Store.hit)."""

from __future__ import annotations

from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import settings, store


def enforce(name: str, key: str, *, limit: int, window: int) -> None:
    """Count one request for `key`; over `limit` in `window` seconds → 429."""
    allowed, retry_after = store().hit(name, key, limit=limit, window=window)
    if not allowed:
        raise ProblemError(
            429,
            "rate_limited",
            "Too many requests; try again later.",
            headers={"Retry-After": str(retry_after)},
        )


def per_ip(name: str, ip: str) -> None:
    """The per-IP limit (RATE_LIMIT_IP per window) every open door shares."""
    s = settings()
    enforce(name, ip, limit=s.ip_limit, window=s.ip_window)
