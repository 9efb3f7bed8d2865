"""The 6-digit code in an owner's sign-in mail: the same attempt as its link, typed instead.

The browser that asked keeps the attempt id (in the "check your inbox" page); the
code is stored only as a keyed hash under it, for as long as the link lives. Five
wrong codes void it; link and code are one attempt, so whichever is used first
spends both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from flask import current_app

from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import now, settings

MAX_TRIES = 5


def _keys(attempt: str) -> tuple[str, str]:
    h = hashlib.sha256(attempt.encode()).hexdigest()
    p = settings().redis_prefix
    return f"{p}adm:code:{h}", f"{p}adm:code-tries:{h}"


def _digest(attempt: str, code: str) -> str:
    key = settings().secret_keys[0].encode()
    return hmac.new(key, f"admin-code:{attempt}:{code}".encode(), hashlib.sha256).hexdigest()


def store_code(*, attempt: str, email_norm: str, jti: str, expires_at: float) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = max(1, int(expires_at - now()))
    key, tries = _keys(attempt)
    record = {"e": email_norm, "h": _digest(attempt, code), "j": jti, "x": expires_at}
    r = current_app.extensions["loginsvc.redis"]
    pipe = r.pipeline(transaction=True)
    pipe.set(key, json.dumps(record), ex=ttl)
    pipe.delete(tries)
    pipe.execute()
    return code


def forget(attempt: str | None) -> None:
    if attempt:
        current_app.extensions["loginsvc.redis"].delete(*_keys(attempt))


def check_code(*, attempt: str, code: str) -> tuple[str, str, float]:
    """(email_norm, jti, expires_at) of a right code; the code is void from then on."""
    bad = ProblemError(400, "invalid_code", "This code is not right.")
    if not attempt or len(attempt) > 64 or not code.strip().isdigit():
        raise bad
    key, tries = _keys(attempt)
    r = current_app.extensions["loginsvc.redis"]
    raw = r.get(key)
    if not raw:  # unknown address, expired, already used or voided: one answer
        raise bad
    record = json.loads(raw)
    if not hmac.compare_digest(record["h"], _digest(attempt, code.strip())):
        pipe = r.pipeline(transaction=True)
        pipe.incr(tries)
        pipe.expire(tries, max(1, int(record["x"] - now())))
        count, _ = pipe.execute()
        if int(count) >= MAX_TRIES:
            r.delete(key, tries)
            raise ProblemError(429, "too_many_attempts", "Too many wrong codes; use the link.")
        raise bad
    if not r.delete(key):  # a concurrent right code won
        raise bad
    r.delete(tries)
    return str(record["e"]), str(record["j"]), float(record["x"])
