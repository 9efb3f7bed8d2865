"""Changing a customer's e-mail address (CONTRACT §5a).

The shopper asks (signed in within the last 15 minutes); the new address proves
itself with a single-use link; on confirmation the old address is told, with
the shop's contact, and every login link issued before then stops working.
Orders stay with the customer (they hang on the customer id, not the address).

Token (itsdangerous, salt ``loginsvc.email-change.v1``)::

    {"v": 1, "c": customer_id, "o": old email_norm, "e": new address, "j": jti, "t": ms}
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_timedelta
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loginsvc.auth.tokens import TokenInvalid, TokenSigner
from loginsvc.core import mailer, throttle
from loginsvc.core.emails import Address, parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import pick_locale
from loginsvc.core.models import Customer, UsedToken
from loginsvc.core.runtime import now, settings, store
from loginsvc.core.store import SessionRecord
from loginsvc.customers import account_data
from loginsvc.customers.service import refresh_search_text

SALT = "loginsvc.email-change.v1"


@dataclass(frozen=True)
class Change:
    customer_id: int
    old_norm: str
    new_email: str
    jti: str
    issued_at: float


def _signer() -> TokenSigner:
    s = settings()
    return TokenSigner(s.secret_keys, salt=SALT, max_age=s.email_change_max_age)


def _address(raw: str) -> Address:
    try:
        return parse_email(raw, check_deliverability=settings().check_deliverability)
    except ValueError as exc:
        raise InvalidRequest(
            "The e-mail address is not valid.", [{"field": "email", "message": str(exc)}]
        ) from None


def confirm_link(token: str) -> str:
    return f"{settings().public_url}/account/email/confirm?{urlencode({'token': token})}"


def request_change(*, customer: Customer, session: SessionRecord, new_email: str) -> None:
    """Mail a confirmation link to the new address. Needs a fresh sign-in."""
    if not account_data.is_fresh(session):
        raise ProblemError(
            403,
            "reauth_required",
            "Changing the e-mail address needs a sign-in from the last "
            f"{settings().reauth_seconds // 60} minutes. Sign in again, then retry.",
        )
    address = _address(new_email)
    if address.norm == customer.email_norm:
        raise InvalidRequest(
            "This is already your address.",
            [{"field": "email", "message": "is your current address"}],
        )
    s = settings()
    throttle.enforce("email-change", str(customer.id), limit=s.email_limit, window=s.email_window)
    token = _signer().dumps(
        {
            "v": 1,
            "c": customer.id,
            "o": customer.email_norm,
            "e": address.display,
            "j": secrets.token_urlsafe(16),
            "t": int(now() * 1000),
        }
    )
    loc = pick_locale(customer.locale)
    # Whether the new address is taken is said at confirmation (409), to its owner only.
    mailer.enqueue(
        "loginsvc.core.jobs.send_template",
        to=address.display,
        template="email_change_confirm",
        locale=loc,
        context={
            "link": confirm_link(token),
            "name": customer.name or "",
            "valid_for": format_timedelta(
                dt.timedelta(seconds=s.email_change_max_age), locale=loc, format="long"
            ),
        },
    )


def _parse(token: str) -> Change:
    try:
        data = _signer().loads(token)
        change = Change(
            customer_id=int(data["c"]),
            old_norm=str(data["o"]),
            new_email=str(data["e"]),
            jti=str(data["j"]),
            issued_at=int(data["t"]) / 1000.0,
        )
        if data.get("v") != 1 or not change.jti:
            raise TokenInvalid("unknown version")
    except (TokenInvalid, KeyError, TypeError, ValueError):
        raise ProblemError(400, "invalid_token", "This is not a valid confirmation link.") from None
    if now() - change.issued_at > settings().email_change_max_age:
        raise ProblemError(410, "token_expired", "This confirmation link has expired.")
    return change


def _customer_for(change: Change) -> Customer:
    customer = db.session.get(Customer, change.customer_id)
    if customer is None or not customer.has_account or customer.email_norm != change.old_norm:
        # Deleted, or the address changed since: this link belongs to the past.
        raise ProblemError(410, "token_revoked", "This confirmation link no longer works.")
    return customer


def check_confirmation(token: str) -> Change:
    """For the GET page: a usable link, nothing changed (mail scanners open links)."""
    change = _parse(token)
    if store().token_used(change.jti) or db.session.get(UsedToken, change.jti) is not None:
        raise ProblemError(410, "token_used", "This confirmation link was already used.")
    _customer_for(change)
    db.session.rollback()
    return change


def _taken() -> ProblemError:
    return ProblemError(409, "email_taken", "Another account uses this e-mail address.")


def confirm(token: str) -> Customer:
    """Spend the link once and move the account to the new address."""
    change = _parse(token)
    expires = change.issued_at + settings().email_change_max_age
    if not store().mark_token_used(change.jti, expires_at=expires):
        raise ProblemError(410, "token_used", "This confirmation link was already used.")
    try:
        customer, old_email = _apply(change, expires)
    except Exception as exc:
        # A refused or failed confirmation changes nothing and may be tried again.
        db.session.rollback()
        if not (isinstance(exc, ProblemError) and exc.code == "token_used"):
            store().unmark_token_used(change.jti)
        raise
    notify_old_address(customer, old_email=old_email)
    return customer


def _apply(change: Change, expires: float) -> tuple[Customer, str]:
    sess = db.session
    sess.rollback()
    sess.add(UsedToken(jti=change.jti, expires_at=dt.datetime.fromtimestamp(expires, dt.UTC)))
    try:
        sess.flush()
    except IntegrityError:
        sess.rollback()
        raise ProblemError(410, "token_used", "This confirmation link was already used.") from None
    customer = _customer_for(change)
    old_email = customer.email
    try:
        set_email(customer, change.new_email, taken=_taken)
        sess.commit()
    except IntegrityError:
        raise _taken() from None
    return customer, old_email


def set_email(customer: Customer, raw: str, *, taken: Any = None) -> str | None:
    """Move a customer to a new address (no commit); the old address, or None if unchanged.

    Every login link issued before now stops working: links to the old address
    must not open the account any more.
    """
    address = _address(raw)
    if address.norm == customer.email_norm:
        customer.email = address.display
        return None
    other = db.session.scalars(
        select(Customer.id).where(Customer.email_norm == address.norm, Customer.id != customer.id)
    ).first()
    if other is not None:
        raise (taken or _conflict)()
    old = customer.email
    customer.email = address.display
    customer.email_norm = address.norm
    customer.links_valid_after = dt.datetime.fromtimestamp(now(), dt.UTC)
    refresh_search_text(customer)
    return old


def _conflict() -> ProblemError:
    return ProblemError(409, "conflict", "Another customer has this e-mail address.")


def notify_old_address(customer: Customer, *, old_email: str) -> None:
    """Tell the old address, with a way to reach the shop if it was not them."""
    s = settings()
    mailer.enqueue(
        "loginsvc.core.jobs.send_template",
        to=old_email,
        template="email_changed",
        locale=pick_locale(customer.locale),
        context={
            "name": customer.name or "",
            "new_email": _mask(customer.email),
            "contact": s.admin_email or s.public_url,
        },
    )


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}…@{domain}" if domain else "…"
