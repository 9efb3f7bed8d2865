"""The `loginsvc_admin` session: in Redis, idle for at most 12 hours, listed and revocable.

Its own cookie and keys (``adm:sess:{sha256(token)}``, ``adm:member:{sha256(address)}``
under the prefix), never a shopper's: a shopper session cannot open the console.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from flask import current_app, g, request
from werkzeug.wrappers import Response

from loginsvc.admin.owners import Member, find_member
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.runtime import now, settings

COOKIE = "loginsvc_admin"
IDLE_SECONDS = 12 * 3600
TOUCH_EVERY = 60


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- sessions ---------------------------------------------------------------------


@dataclass
class AdminSession:
    id: str
    email_norm: str
    created_at: float
    last_seen: float
    user_agent: str
    ip: str


@dataclass
class Console:
    """Who is using the console in this request."""

    member: Member
    session: AdminSession
    token: str


def _keys(token: str | None = None, email_norm: str | None = None) -> tuple[str, str]:
    p = settings().redis_prefix
    return (
        f"{p}adm:sess:{_h(token)}" if token else "",
        f"{p}adm:member:{_h(email_norm)}" if email_norm else "",
    )


def start_admin_session(member: Member) -> str:
    token = secrets.token_urlsafe(32)
    t = now()
    record = AdminSession(
        id=secrets.token_hex(8),
        email_norm=member.email_norm,
        created_at=t,
        last_seen=t,
        user_agent=(request.headers.get("User-Agent") or "")[:300],
        ip=request.remote_addr or "unknown",
    )
    skey, mkey = _keys(token, member.email_norm)
    r = current_app.extensions["loginsvc.redis"]
    pipe = r.pipeline(transaction=True)
    pipe.set(skey, json.dumps(asdict(record)), ex=IDLE_SECONDS)
    pipe.hset(mkey, record.id, _h(token))
    pipe.expire(mkey, IDLE_SECONDS)
    pipe.execute()
    return token


def current_console() -> Console | None:
    """The signed-in owner of this request (cached on g); None without a live session."""
    if "console" in g:
        cached: Console | None = g.console
        return cached
    g.console = None
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    r = current_app.extensions["loginsvc.redis"]
    skey, _ = _keys(token)
    raw = r.get(skey)
    if not raw:
        return None
    record = AdminSession(**json.loads(raw))
    member = find_member(db.session, email=record.email_norm, admin_email=settings().admin_email)
    if member is None:  # removed since: the session ends with the membership
        end_admin_session(record.email_norm, record.id)
        return None
    t = now()
    if t - record.last_seen > TOUCH_EVERY:
        record.last_seen = t
        record.ip = request.remote_addr or "unknown"
        _, mkey = _keys(email_norm=record.email_norm)
        pipe = r.pipeline(transaction=False)
        pipe.set(skey, json.dumps(asdict(record)), ex=IDLE_SECONDS, xx=True)
        pipe.expire(mkey, IDLE_SECONDS)
        pipe.execute()
    g.console = Console(member=member, session=record, token=token)
    return g.console


def list_admin_sessions(email_norm: str) -> list[AdminSession]:
    r = current_app.extensions["loginsvc.redis"]
    _, mkey = _keys(email_norm=email_norm)
    mapping = r.hgetall(mkey)
    p = settings().redis_prefix
    out: list[AdminSession] = []
    stale = []
    for sid, th in mapping.items():
        raw = r.get(f"{p}adm:sess:{th.decode() if isinstance(th, bytes) else th}")
        if raw:
            out.append(AdminSession(**json.loads(raw)))
        else:
            stale.append(sid)
    if stale:
        r.hdel(mkey, *stale)
    out.sort(key=lambda s: s.created_at, reverse=True)
    return out


def end_admin_session(email_norm: str, session_id: str) -> bool:
    r = current_app.extensions["loginsvc.redis"]
    _, mkey = _keys(email_norm=email_norm)
    th = r.hget(mkey, session_id)
    if th is None:
        return False
    th = th.decode() if isinstance(th, bytes) else th
    pipe = r.pipeline(transaction=True)
    pipe.delete(f"{settings().redis_prefix}adm:sess:{th}")
    pipe.hdel(mkey, session_id)
    pipe.execute()
    return True


def csrf_token() -> str:
    console = g.get("console")
    if console is None:
        return ""
    key = settings().secret_keys[0].encode()
    msg = b"admin-csrf:" + console.session.id.encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:40]


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = csrf_token()
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise ProblemError(403, "csrf_failed", "The form has expired; reload the page.")


def set_cookie(response: Response, token: str) -> None:
    secure = settings().public_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        token,
        max_age=IDLE_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/admin",
    )


def clear_cookie(response: Response) -> None:
    secure = settings().public_url.startswith("https://")
    response.delete_cookie(COOKIE, httponly=True, samesite="Strict", secure=secure, path="/admin")
