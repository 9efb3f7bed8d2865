"""WordPress single sign-on (CONTRACT §6): one-time tickets and logout from WordPress.

WordPress signs a call vouching for one of its users; we answer with a ticket
URL that the browser opens within 60 seconds, exactly once. Redeeming it
creates the account when needed, links the WordPress user id and starts a
session. The ticket lives only in Redis (hashed key, GETDEL on use).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from loginsvc.admin.shop_settings import account_mode
from loginsvc.auth import sessions
from loginsvc.auth.admission import Refused, admit
from loginsvc.auth.login import safe_next
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer
from loginsvc.core.runtime import now, settings, store
from loginsvc.customers import service as customers_svc

log = logging.getLogger("loginsvc.wordpress")

TICKET_TTL = 60  # seconds; the contract's `expires_in`
TICKET_PATH = "/sso/wordpress/ticket"
MAX_TICKET = 128  # token_urlsafe(32) is 43 characters; longer input is never a ticket


@dataclass
class TicketSignIn:
    customer: Customer
    session_token: str
    next_url: str | None


def issue_ticket(
    *, email: str, name: str | None, wp_user_id: str, next_url: str | None
) -> tuple[str, int]:
    """Store a one-time ticket for a user WordPress vouches for; (login_url, expires_in).

    Nothing about the customer is decided here: the account mode or a block can
    change within the minute, so the ticket's redemption decides.
    """
    address = parse_email(email)
    ticket = secrets.token_urlsafe(32)
    store().put_ticket(
        ticket,
        {
            "email": address.display,
            "name": name,
            "wp_user_id": wp_user_id,
            "next": safe_next(next_url),
            # Redis expires the key; the timestamp makes expiry hold even if the
            # key outlived its TTL (and lets tests move the clock).
            "exp": now() + TICKET_TTL,
        },
        ttl=TICKET_TTL,
    )
    return f"{settings().public_url}{TICKET_PATH}?{urlencode({'t': ticket})}", TICKET_TTL


def redeem_ticket(ticket: str) -> TicketSignIn:
    """Consume a ticket exactly once and sign its customer in."""
    data = store().take_ticket(ticket) if ticket and len(ticket) <= MAX_TICKET else None
    if data is None or float(data.get("exp", 0)) < now():
        raise ProblemError(
            410,
            "invalid_ticket",
            "This sign-in link is unknown, was used already or has expired. "
            "Sign in on the website again.",
        )
    try:
        customer = _apply(data)
    except ProblemError:
        db.session.rollback()
        raise
    except Exception:
        # Nothing half-done: a database failure gives the ticket back for its
        # remaining lifetime, so the browser's retry can still succeed.
        db.session.rollback()
        remaining = int(float(data["exp"]) - now())
        if remaining > 0:
            store().put_ticket(ticket, data, ttl=remaining)
        raise
    session_token, _ = sessions.start_session(customer_id=customer.id, method="sso")
    return TicketSignIn(
        customer=customer, session_token=session_token, next_url=safe_next(data.get("next"))
    )


def _apply(data: dict[str, Any]) -> Customer:
    """Create or find the account and link the WordPress user; commits."""
    for attempt in (1, 2):
        try:
            return _apply_once(data)
        except IntegrityError:
            # Two redemptions raced for the same wp_user_id; the second one sees
            # the first one's link after the rollback and moves it cleanly.
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _apply_once(data: dict[str, Any]) -> Customer:
    sess = db.session
    mode = account_mode()
    address = parse_email(str(data["email"]))
    # Decided on the locked row; a refusal rolls back the guest row made for it.
    customer, _ = customers_svc.get_or_create(sess, email=address.display, email_norm=address.norm)
    decision = admit(way="sso", mode=mode, customer=customer)
    if isinstance(decision, Refused):
        raise decision.error()
    opened = decision.open_account and customers_svc.open_account(customer, status=decision.status)
    name = data.get("name")
    if name and not customer.name:
        customer.name = str(name)[:200]
        customers_svc.refresh_search_text(customer)
    wp_user_id = str(data["wp_user_id"])
    if customer.wp_user_id != wp_user_id:
        # WordPress is the authority on its own user ids: when this id was linked
        # to another customer (the WordPress user changed their address), the
        # link moves to the address WordPress vouches for now.
        sess.execute(
            update(Customer)
            .where(Customer.wp_user_id == wp_user_id, Customer.id != customer.id)
            .values(wp_user_id=None)
            .execution_options(synchronize_session=False)
        )
        customer.wp_user_id = wp_user_id
    pending = customer.status == "pending"
    sess.commit()
    if pending:
        if opened:
            from loginsvc.core.notifications import notify_pending_registration

            notify_pending_registration(customer)
        raise ProblemError(
            403,
            "account_pending",
            "Your account is waiting for the shop's approval; we will e-mail you when it is ready.",
        )
    return customer


def logout(*, wp_user_id: str | None, email: str | None) -> int:
    """End every session of the customer WordPress names; unknown users are fine."""
    if wp_user_id is not None:
        customer = db.session.scalars(
            select(Customer).where(Customer.wp_user_id == wp_user_id)
        ).first()
    else:
        customer = customers_svc.find_by_email(db.session, parse_email(email or "").norm)
    customer_id = customer.id if customer is not None else None
    db.session.rollback()
    if customer_id is None:
        return 0
    return sessions.end_all(customer_id)
