"""Sign-in attempts: one per login mail, shared by its link and its 6-digit code (§3a).

An attempt lives in Redis (``attempt:{id}``, see core/store.py). Its id is the
link token's ``jti``, so the link and the code are spent by the one single-use
mark a link already has (Redis ``used:{id}`` plus the durable ``used_tokens``
row): whichever is used first spends both.

The asker gets a *handle* ``{id}.{secret}``; only the SHA-256 of the secret is
stored. The link carries the id alone, so whoever holds the link (or reads the
id anywhere else) can approve with the number, but cannot read the number nor
complete the sign-in: that needs the secret, which only the asking browser has
(in the API answer, or in an HttpOnly cookie for the HTML flow).

The code itself is never stored: only HMAC-SHA256(secret key, id + code).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from loginsvc.core.emails import normalise
from loginsvc.core.runtime import now, settings, store

CODE_TRIES = 5  # wrong codes before the code is void (the link still works)
MATCH_TRIES = 3  # wrong numbers before approval from another device is closed
# Wrong codes per address per day, over all its attempts: bounds guessing by an
# asker who starts attempt after attempt for someone else's address.
CODE_TRIES_PER_ADDRESS = 20
ADDRESS_WINDOW = 86400
GRACE = 3600  # seconds the record outlives the code, so late pollers learn "expired"


@dataclass(frozen=True)
class Attempt:
    id: str
    secret_hash: str
    match: str
    created_at: float
    expires_at: float
    device: str  # "Firefox on Windows"; empty when no device asked (welcome mails)
    ip_prefix: str
    status: str  # pending | approved | signed_in (expired is derived)
    next_url: str | None
    code_hash: str | None  # None until the mail went out (and for addresses that get none)
    email: str | None
    customer_id: int | None
    locale: str | None
    issued_at: float | None
    approved_customer: int | None
    code_fails: int
    match_fails: int

    @property
    def current_status(self) -> str:
        if self.status == "pending" and now() > self.expires_at:
            return "expired"
        return self.status


def split_handle(value: str) -> tuple[str, str | None]:
    """(id, secret or None) from a handle or a bare id; garbage gives an id that exists nowhere."""
    if not isinstance(value, str) or len(value) > 200:
        return "", None
    attempt_id, _, secret = value.partition(".")
    return attempt_id, (secret or None)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _ttl() -> int:
    return settings().login_code_max_age + GRACE


def start(*, device: str, ip_prefix: str, next_url: str | None) -> str:
    """A new attempt; the handle for the asker."""
    attempt_id = secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(24)
    t = now()
    store().put_attempt(
        attempt_id,
        {
            "sh": _sha(secret),
            "m": f"{secrets.randbelow(100):02d}",
            "at": repr(t),
            "exp": repr(t + settings().login_code_max_age),
            "ua": device,
            "ip": ip_prefix,
            "st": "pending",
            "n": next_url or "",
        },
        ttl=_ttl(),
    )
    return f"{attempt_id}.{secret}"


def code_hashes(attempt_id: str, code: str) -> list[str]:
    """The code's HMAC under every secret key (the first signs; all verify, for rotation)."""
    msg = f"login-code:{attempt_id}:{code}".encode()
    return [hmac.new(k.encode(), msg, hashlib.sha256).hexdigest() for k in settings().secret_keys]


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def attach_mail(
    *,
    attempt_id: str,
    code: str,
    email: str,
    customer_id: int | None,
    locale: str | None,
    issued_at: float,
) -> bool:
    """Worker side: the mail for this attempt is going out with this code."""
    live = store().update_attempt(
        attempt_id,
        {
            "ch": code_hashes(attempt_id, code)[0],
            "e": email,
            "c": "" if customer_id is None else str(customer_id),
            "l": locale or "",
            "t": repr(issued_at),
        },
    )
    if live:
        # The code is also typed with the address alone (the welcome mail's reader
        # has no attempt): the newest mail of an address is the one that counts.
        store().set_latest_attempt(email.lower(), attempt_id, ttl=settings().login_code_max_age)
    return live


def latest_for(email: str) -> str:
    """The id of the address's newest mailed attempt ("" when there is none)."""
    return store().latest_attempt(email.strip().lower()) or ""


def load(attempt_id: str) -> Attempt | None:
    if not attempt_id:
        return None
    raw = store().get_attempt(attempt_id)
    if not raw or "sh" not in raw:
        return None
    return Attempt(
        id=attempt_id,
        secret_hash=raw["sh"],
        match=raw.get("m", ""),
        created_at=float(raw.get("at", 0)),
        expires_at=float(raw.get("exp", 0)),
        device=raw.get("ua", ""),
        ip_prefix=raw.get("ip", ""),
        status=raw.get("st", "pending"),
        next_url=raw.get("n") or None,
        code_hash=raw.get("ch") or None,
        email=raw.get("e") or None,
        customer_id=int(raw["c"]) if raw.get("c") else None,
        locale=raw.get("l") or None,
        issued_at=float(raw["t"]) if raw.get("t") else None,
        approved_customer=int(raw["ac"]) if raw.get("ac") else None,
        code_fails=int(raw.get("cf", 0)),
        match_fails=int(raw.get("mf", 0)),
    )


def owned(handle: str, cookie_handle: str | None = None) -> Attempt | None:
    """The attempt when the caller proves to be the asker (secret in the handle or cookie)."""
    attempt_id, secret = split_handle(handle)
    if secret is None and cookie_handle:
        cookie_id, cookie_secret = split_handle(cookie_handle)
        if hmac.compare_digest(cookie_id, attempt_id):
            secret = cookie_secret
    attempt = load(attempt_id)
    if attempt is None or secret is None:
        return None
    if not hmac.compare_digest(_sha(secret), attempt.secret_hash):
        return None
    return attempt


def code_matches(attempt: Attempt, code: str) -> bool:
    """Constant-time comparison against the stored HMAC (every key is tried, always)."""
    if attempt.code_hash is None:
        # No mail went out: compare anyway, so the answer takes the same time.
        code_hashes(attempt.id, code)
        return False
    ok = False
    for candidate in code_hashes(attempt.id, code):
        ok |= hmac.compare_digest(candidate, attempt.code_hash)
    return ok


def _mailbox(email: str) -> str:
    """The address as every per-address rule compares it (one mailbox, one count)."""
    try:
        return normalise(email)
    except ValueError:
        return email.strip().lower()


def count_wrong_code(attempt_id: str, *, email: str | None) -> int:
    if email:
        store().hit(
            "code-wrong", _mailbox(email), limit=CODE_TRIES_PER_ADDRESS, window=ADDRESS_WINDOW
        )
    return store().count_attempt_failure(attempt_id, "cf")


def address_locked(email: str | None) -> bool:
    """Too many wrong codes for this address today: its codes are void (links still work)."""
    if not email:
        return False
    wrong = store().hits(
        "code-wrong", _mailbox(email), limit=CODE_TRIES_PER_ADDRESS, window=ADDRESS_WINDOW
    )
    return wrong >= CODE_TRIES_PER_ADDRESS


def wrong_codes(attempt_id: str) -> int:
    return store().attempt_counter(attempt_id, "cf")


def count_wrong_match(attempt_id: str) -> int:
    return store().count_attempt_failure(attempt_id, "mf")


def wrong_matches(attempt_id: str) -> int:
    return store().attempt_counter(attempt_id, "mf")


def mark_approved(attempt_id: str, *, customer_id: int, next_url: str | None) -> bool:
    fields = {"st": "approved", "ac": str(customer_id)}
    if next_url:
        fields["n"] = next_url
    return store().update_attempt(attempt_id, fields)


SIGNED_IN = {"st": "signed_in"}


def mark_signed_in(attempt_id: str) -> None:
    """The attempt was used to sign in (by its code, its link, or the device that asked)."""
    store().update_attempt(attempt_id, SIGNED_IN)


def claim_completion(attempt_id: str) -> bool:
    return store().claim_attempt(attempt_id, "done")


def release_completion(attempt_id: str) -> None:
    store().release_attempt(attempt_id, "done")
