"""Passkeys and social sign-in at the door: the one admission policy, applied.

The decision is `admission.admit` (the same as for links, SSO and orders);
this module turns it into the refusals these two ways answer with and opens
the account when the policy says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from loginsvc.admin.shop_settings import account_mode
from loginsvc.auth import login, sessions
from loginsvc.auth.admission import Refused, Way, admit
from loginsvc.core import throttle
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import ProblemError
from loginsvc.core.models import Customer
from loginsvc.core.runtime import settings
from loginsvc.customers import service as customers_svc


def limit_attempts(*, kind: str, ip: str) -> None:
    """Opening a ceremony writes to Redis: as many per IP as login links may be asked for."""
    throttle.per_ip(kind, ip)


def check_may_sign_in(customer: Customer | None, *, way: Way = "passkey") -> Customer:
    """An existing account holder may start a session; else the policy's refusal."""
    if customer is None or not customer.has_account:
        raise ProblemError(410, "token_revoked", "This account no longer exists.")
    decision = admit(way=way, mode=account_mode(), customer=customer)
    if isinstance(decision, Refused):
        raise decision.error()
    return customer


def open_or_join(sess: Session, *, email: str) -> tuple[Customer, bool]:
    """The account for a proven address, opened as a verified link opens it.

    Runs in the caller's transaction; (customer, True) when the account was
    opened now (it may be `pending` in the `required` mode).
    """
    try:
        parsed = parse_email(email)
    except ValueError:
        raise ProblemError(
            403, "email_not_verified", "The address the provider gave is not usable."
        ) from None
    address = parsed.display
    customer = customers_svc.find_by_email(sess, parsed.norm, for_update=True)
    if customer is not None and customer.has_account:
        return customer, False
    decision = admit(way="oidc", mode=account_mode(), customer=customer)
    if isinstance(decision, Refused):
        raise decision.error()
    customer, _ = customers_svc.get_or_create(sess, email=address, email_norm=parsed.norm)
    # The row may have appeared meanwhile (a concurrent order): decide on it again.
    decision = admit(way="oidc", mode=account_mode(), customer=customer)
    if isinstance(decision, Refused):
        raise decision.error()
    opened = decision.open_account and customers_svc.open_account(customer, status=decision.status)
    return customer, opened


def after_open(customer: Customer) -> None:
    """What a link does once a new account is committed in `required` mode."""
    if customer.status == "pending":
        from loginsvc.core.notifications import notify_pending_registration

        notify_pending_registration(customer)


@dataclass
class Started:
    customer: Customer
    session_token: str
    expires_at: dt.datetime
    next_url: str | None


def start(customer: Customer, *, method: str, next_url: str | None = None) -> Started:
    token, record = sessions.start_session(customer_id=customer.id, method=method)
    expires_at = dt.datetime.fromtimestamp(
        record.created_at + settings().session_idle_days * 86400, dt.UTC
    )
    return Started(
        customer=customer,
        session_token=token,
        expires_at=expires_at,
        next_url=login.safe_next(next_url),
    )
