"""Shopper sessions: server-side in Redis, revocable, long-lived."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import g, request
from werkzeug.wrappers import Response

from loginsvc.admin.timeline import record as timeline_event
from loginsvc.core.errors import ProblemError, Unauthorized
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer
from loginsvc.core.runtime import now, settings, store
from loginsvc.core.store import SessionRecord
from loginsvc.events import outbox

COOKIE = "loginsvc_session"
TOUCH_EVERY = 60  # seconds between last-seen updates


def _ttl() -> int:
    return settings().session_idle_days * 86400


def client_ip() -> str:
    return request.remote_addr or "unknown"


def ip_prefix(ip: str) -> str:
    """Enough of an address to recognise a network, not a person."""
    if ":" in ip:
        return ":".join(ip.split(":")[:3]) + "::/48"
    parts = ip.split(".")
    if len(parts) == 4:
        return ".".join(parts[:3]) + ".0/24"
    return ip


def start_session(
    *, customer_id: int, method: str, update_attempt: tuple[str, dict[str, str]] | None = None
) -> tuple[str, SessionRecord]:
    """A fresh session id every sign-in; any session the browser had is ended.

    `update_attempt` (id, fields): the sign-in attempt this session completes,
    updated in the same Redis round trip that writes the session.
    """
    previous = presented_token()
    if previous:
        old = store().get_session(previous)
        if old is not None:
            store().delete_session(old.customer_id, old.id)
    token = secrets.token_urlsafe(32)
    t = now()
    record = SessionRecord(
        id=secrets.token_hex(8),
        customer_id=customer_id,
        created_at=t,
        last_seen=t,
        auth_at=t,
        user_agent=(request.headers.get("User-Agent") or "")[:300],
        ip=client_ip(),
        method=method,
    )
    store().create_session(token, record, ttl=_ttl(), update_attempt=update_attempt)
    outbox.record_signed_in(customer_id=customer_id, method=method)
    timeline_event(customer_id=customer_id, kind="session.started", detail={"method": method})
    return token, record


def presented_token() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return request.cookies.get(COOKIE) or None


def _via_cookie() -> bool:
    auth = request.headers.get("Authorization", "")
    return not (auth[:7].lower() == "bearer " and auth[7:].strip())


@dataclass
class Authenticated:
    token: str
    record: SessionRecord
    customer: Customer


_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


def allowed_origins() -> set[str]:
    s = settings()
    origins = {_origin(s.public_url), *(o.lower() for o in s.allowed_redirect_origins)}
    parts = urlsplit(s.public_url)
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        # A service on loopback is the same server whichever loopback name the
        # browser used (a newcomer opens http://localhost:8000 as often as 127.0.0.1).
        port = f":{parts.port}" if parts.port else ""
        origins |= {f"http://{host}{port}" for host in _LOOPBACK}
    return origins


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin() -> None:
    """Cookie-authenticated unsafe requests must come from our own pages."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        referer = request.headers.get("Referer")
        origin = _origin(referer) if referer else None
    if not origin or origin.rstrip("/").lower() not in allowed_origins():
        raise ProblemError(
            403, "csrf_failed", "This request did not come from the shop's own pages."
        )


def check_sign_in_origin(*, navigation: bool = False) -> None:
    """Before anything that sets the session cookie (or posts a sign-in form): no login CSRF.

    A browser sends `Origin` with every cross-site POST (forms and fetch
    alike); it must be ours. `Origin: null` (a sandboxed frame, a data: page, a
    redirect chain) is foreign. Without `Origin`, a Referer from our pages
    vouches and a foreign one refuses; with neither, the caller is not a
    browser posting cross-site (a server-side API client) and passes.

    A `navigation` (a GET the browser follows from another site, such as the
    WordPress ticket) carries no Origin and a foreign Referer by design; there
    only an Origin that is sent (a script's fetch) must be ours.
    """
    g.sign_in_origin_checked = True
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if navigation or not referer:
            return
        origin = _origin(referer)
    if origin.rstrip("/").lower() not in allowed_origins():
        raise ProblemError(
            403, "csrf_failed", "This sign-in did not come from the shop's own pages."
        )


def current(*, required: bool = True) -> Authenticated | None:
    """The signed-in shopper of this request (cached on g)."""
    if "auth" in g:
        auth: Authenticated | None = g.auth
        if auth is None and required:
            raise Unauthorized()
        if auth is not None:
            _check_accounts_on()
        return auth
    token = presented_token()
    auth = None
    if token:
        record = store().get_session(token)
        if record is not None:
            customer = db.session.get(Customer, record.customer_id)
            if customer is not None and customer.has_account and customer.status == "active":
                auth = Authenticated(token=token, record=record, customer=customer)
                t = now()
                if t - record.last_seen > TOUCH_EVERY:
                    record.last_seen = t
                    record.ip = client_ip()
                    store().touch_session(token, record, ttl=_ttl())
            else:
                store().delete_all_sessions(record.customer_id)
    g.auth = auth
    if auth is None and required:
        raise Unauthorized()
    if auth is not None:
        _check_accounts_on()
        if _via_cookie():
            check_origin()
    return auth


# Signing out works whatever the account mode: it only ends what exists.
SIGN_OUT_ENDPOINTS = frozenset({"auth.logout", "auth.logout_all", "pages.logout_submit"})


def _check_accounts_on() -> None:
    """Disabled means no customer accounts: a session from before answers 403 until
    the owner turns accounts on again (it is kept, not destroyed)."""
    from loginsvc.admin.shop_settings import account_mode

    if request.endpoint not in SIGN_OUT_ENDPOINTS and account_mode() == "disabled":
        raise ProblemError(
            403,
            "accounts_disabled",
            "This shop has turned customer accounts off for now; your account is kept.",
        )


def end_current() -> None:
    auth = current()
    assert auth is not None
    store().delete_session(auth.customer.id, auth.record.id)
    timeline_event(customer_id=auth.customer.id, kind="session.ended", detail={"by": "sign-out"})


def end_all(customer_id: int) -> int:
    ended = store().delete_all_sessions(customer_id)
    timeline_event(customer_id=customer_id, kind="session.ended", detail={"sessions": ended})
    return ended


def is_current(record: SessionRecord) -> bool:
    auth = g.get("auth")
    return bool(auth and hmac.compare_digest(auth.record.id, record.id))


def origin_vouched_by_binding() -> None:
    """This sign-in proved it belongs to this browser another way (a state bound to
    a cookie of ours, as the OpenID callback does), so a foreign Origin is expected."""
    g.sign_in_origin_checked = True


def set_cookie(response: Response, token: str) -> None:
    if not g.get("sign_in_origin_checked"):
        # A safety net for a new way in that forgot the check: it belongs before
        # the credential is spent (a refusal here comes after), but never no check.
        check_sign_in_origin()
    secure = settings().public_url.startswith("https://")
    response.set_cookie(
        COOKIE, token, max_age=_ttl(), httponly=True, samesite="Lax", secure=secure, path="/"
    )


def clear_cookie(response: Response) -> None:
    secure = settings().public_url.startswith("https://")
    response.delete_cookie(COOKIE, httponly=True, samesite="Lax", secure=secure, path="/")
