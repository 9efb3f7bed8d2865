"""Owners' sign-in to /admin: an e-mailed single-use link (or its code); sessions: sessions.py.

Apart from shoppers' on purpose: its own token salt, its own cookie and its own
Redis keys, so no shopper session or link can ever open the console. The link
is spent by the same two marks as a shopper's (Redis SET NX and a used_tokens
row), and only by a POST: mail scanners that fetch the GET see a button.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError

from loginsvc.admin.console import codes
from loginsvc.admin.owners import Member, find_member
from loginsvc.auth.tokens import TokenInvalid, TokenSigner
from loginsvc.core import mailer, throttle
from loginsvc.core.emails import legacy_norm, normalise
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import duration_in_words
from loginsvc.core.models import UsedToken
from loginsvc.core.runtime import now, settings, store

log = logging.getLogger("loginsvc.admin.console")

SALT = "loginsvc.admin-link.v1"


# -- links ------------------------------------------------------------------------


def _signer() -> TokenSigner:
    s = settings()
    return TokenSigner(s.secret_keys, salt=SALT, max_age=s.admin_link_max_age)


def request_admin_link(*, email: str, ip: str) -> str:
    """Queue a sign-in link and code; the attempt id the code is typed against.

    The same answer, and no mail, for an address that is no owner.
    """
    s = settings()
    throttle.per_ip("admin-login-ip", ip)
    attempt = secrets.token_urlsafe(16)
    email = email.strip()
    if not email or len(email) > 320 or "@" not in email:
        return attempt
    try:
        mailbox = normalise(email)
    except ValueError:
        mailbox = legacy_norm(email)  # not an address we could mail; still rate-limited
    ok, _ = store().hit("admin-login-email", mailbox, limit=s.email_limit, window=3600)
    if ok:
        # Whether the address is an owner is decided in the worker: same timing for all.
        mailer.enqueue("loginsvc.admin.console.auth.send_admin_link", email=email, attempt=attempt)
    return attempt


def send_admin_link(*, email: str, attempt: str | None = None) -> None:
    """The mail job (runs in the worker)."""
    from loginsvc.core.jobs import app_context

    with app_context():
        send_admin_link_now(email=email, attempt=attempt)


def send_admin_link_now(*, email: str, attempt: str | None = None) -> None:
    s = settings()
    member = find_member(db.session, email=email, admin_email=s.admin_email)
    db.session.rollback()
    if member is None:
        return
    jti, issued = secrets.token_urlsafe(16), now()
    token = _signer().dumps(
        {"v": 1, "e": member.email_norm, "j": jti, "t": int(issued * 1000), "a": attempt}
    )
    code = None
    if attempt:
        code = codes.store_code(
            attempt=attempt,
            email_norm=member.email_norm,
            jti=jti,
            expires_at=issued + s.admin_link_max_age,
        )
    link = f"{s.public_url}/admin/login/verify?{urlencode({'token': token})}"
    subject, text, html = mailer.render(
        "admin_link",
        "en",
        {"link": link, "code": code, "valid_for": duration_in_words(s.admin_link_max_age)},
    )
    mailer.deliver(to=member.email, subject=subject, text=text, html=html)
    if not s.mail_server:
        log.warning("console sign-in link written to %s", s.outbox_path)


@dataclass(frozen=True)
class AdminToken:
    email_norm: str
    jti: str
    issued_at: float
    attempt: str | None = None


def parse_admin_token(token: str) -> AdminToken:
    try:
        data = _signer().loads(token)
        tok = AdminToken(
            email_norm=str(data["e"]),
            jti=str(data["j"]),
            issued_at=int(data["t"]) / 1000.0,
            attempt=data.get("a") if isinstance(data.get("a"), str) else None,
        )
        if data.get("v") != 1:
            raise TokenInvalid("unknown version")
    except (TokenInvalid, KeyError, TypeError, ValueError):
        raise ProblemError(400, "invalid_token", "This is not a valid sign-in link.") from None
    if now() - tok.issued_at > settings().admin_link_max_age:
        raise ProblemError(410, "token_expired", "This sign-in link has expired.")
    return tok


def check_admin_token(token: str) -> AdminToken:
    """For the GET page: valid and unused, without spending it."""
    tok = parse_admin_token(token)
    if store().token_used(tok.jti) or db.session.get(UsedToken, tok.jti) is not None:
        db.session.rollback()
        raise ProblemError(410, "token_used", "This sign-in link was already used.")
    db.session.rollback()
    return tok


def consume_admin_token(token: str) -> Member:
    """Spend the link once (POST) and name the member it signs in."""
    tok = parse_admin_token(token)
    member = spend(
        jti=tok.jti,
        expires=tok.issued_at + settings().admin_link_max_age,
        email_norm=tok.email_norm,
    )
    codes.forget(tok.attempt)  # link and code are one attempt
    return member


def consume_admin_code(*, attempt: str, code: str) -> Member:
    """The code typed on the page that asked: spends the attempt's link too."""
    email_norm, jti, expires = codes.check_code(attempt=attempt, code=code)
    return spend(jti=jti, expires=expires, email_norm=email_norm)


def spend(*, jti: str, expires: float, email_norm: str) -> Member:
    """Mark the attempt used (Redis SET NX, then the durable row) and name its member."""
    if not store().mark_token_used(jti, expires_at=expires):
        raise ProblemError(410, "token_used", "This sign-in link was already used.")
    sess = db.session
    sess.rollback()
    sess.add(UsedToken(jti=jti, expires_at=dt.datetime.fromtimestamp(expires, dt.UTC)))
    try:
        sess.commit()
    except IntegrityError:
        sess.rollback()
        raise ProblemError(410, "token_used", "This sign-in link was already used.") from None
    except Exception:
        sess.rollback()
        store().unmark_token_used(jti)
        raise
    member = find_member(sess, email=email_norm, admin_email=settings().admin_email)
    sess.rollback()
    if member is None:
        raise ProblemError(403, "forbidden", "This address may no longer use the console.")
    return member
