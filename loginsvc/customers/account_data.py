"""Everything held about one person: the export, and deletion for good.

Deletion keeps orders for the shop's books (tax law wants them) but detaches
them from the person: no customer link, and no name, e-mail, phone or address
left on them. Everything else personal is deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select, update

from loginsvc.auth import revocations, sessions
from loginsvc.auth.models import Identity, Passkey
from loginsvc.core import notifications
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import ConsentEvent, Customer, CustomerGroup, Order, WishlistItem
from loginsvc.core.runtime import now, settings, store
from loginsvc.core.store import SessionRecord
from loginsvc.core.timefmt import rfc3339 as _iso
from loginsvc.customers.devices import describe_user_agent
from loginsvc.customers.wishlist import item_out, list_items
from loginsvc.events import outbox
from loginsvc.orders.service import order_out

log = logging.getLogger("loginsvc.account")


# -- export -------------------------------------------------------------------


def export_for(customer: Customer, *, session_records: list[SessionRecord]) -> dict[str, Any]:
    """One JSON document with every personal datum held about this customer."""
    from loginsvc.customers.schemas import customer_out

    orders = db.session.scalars(
        select(Order)
        .where(Order.customer_id == customer.id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
    ).all()
    consent = db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.customer_id == customer.id)
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
    ).all()
    profile = customer_out(customer)
    profile.update(
        {
            "customer_number": customer.customer_number,
            "country": customer.country,
            "has_account": customer.has_account,
            "account_created_at": _iso(customer.account_created_at),
            "first_seen_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "last_order_at": _iso(customer.last_order_at),
            "wordpress_user_id": customer.wp_user_id,
            "notes_by_the_shop": customer.notes,
        }
    )
    return {
        "exported_at": _iso(now()),
        "shop": settings().shop_name,
        "profile": profile,
        "orders": [{**order_out(o), "customer": o.customer_info} for o in orders],
        "wishlist": [item_out(i) for i in list_items(customer_id=customer.id)],
        "sessions": [
            {
                "id": r.id,
                "created_at": _iso(r.created_at),
                "last_seen_at": _iso(r.last_seen),
                "signed_in_at": _iso(r.auth_at),
                "method": r.method,
                "user_agent": r.user_agent,
                "device": describe_user_agent(r.user_agent),
                "ip": r.ip,
            }
            for r in session_records
        ],
        "passkeys": [
            {"name": p.name, "created_at": _iso(p.created_at), "last_used_at": _iso(p.last_used_at)}
            for p in db.session.scalars(select(Passkey).where(Passkey.customer_id == customer.id))
        ],
        "linked_accounts": [
            {
                "provider": i.provider,
                "issuer": i.issuer,
                "subject": i.subject,
                "email": i.email,
                "created_at": _iso(i.created_at),
            }
            for i in db.session.scalars(select(Identity).where(Identity.customer_id == customer.id))
        ],
        "newsletter_consent": [
            {"newsletter": e.newsletter, "source": e.source, "at": _iso(e.at)} for e in consent
        ],
    }


# -- deletion -----------------------------------------------------------------


def is_fresh(record: SessionRecord) -> bool:
    """Signed in (the address proven) recently enough to do something irreversible."""
    return now() - record.auth_at <= settings().reauth_seconds


def require_fresh(record: SessionRecord) -> None:
    if not is_fresh(record):
        minutes = settings().reauth_seconds // 60
        raise ProblemError(
            403,
            "reauth_required",
            f"Deleting the account needs a sign-in from the last {minutes} "
            "minutes. Sign in again with a new link, then retry.",
        )


def delete_customer_data(customer_id: int, *, by: str, actor: str | None = None) -> str | None:
    """Delete the person and detach their orders; the deleted e-mail, or None if absent.

    `by` is "customer" or "admin", and `actor` names who exactly (the admin API
    key's name): both go into the shop owner's notification.
    One transaction for the database; sessions end after it commits, and any
    login link left over fails with token_revoked because its customer is gone.
    """
    sess = db.session
    stmt = select(Customer).where(Customer.id == customer_id)
    if sess.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    customer = sess.scalars(stmt).first()
    if customer is None:
        sess.rollback()
        return None
    email = customer.email
    sess.execute(
        update(Order)
        .where(Order.customer_id == customer_id)
        .values(
            customer_id=None,
            customer_info=None,
            billing_address=None,
            shipping_address=None,
            # Unknown webhook fields may name the person too.
            extra=None,
        )
    )
    # The foreign keys cascade on PostgreSQL and SQLite alike; spelled out so the
    # rows go even where the constraint was created without ON DELETE.
    for model in (WishlistItem, ConsentEvent, CustomerGroup, Passkey, Identity):
        sess.execute(delete(model).where(model.customer_id == customer_id))
    sess.execute(delete(Customer).where(Customer.id == customer_id))
    # A link sent before the address had an account names no customer, so the
    # missing row alone would not stop it: remember the deletion (by hash only)
    # for as long as such a link can live. Before the commit: Redis down → nothing done.
    store().mark_address_deleted(customer.email_norm, at=now(), ttl=settings().login_link_max_age)
    revocations.remember(sess, customer.email_norm, at=now(), ttl=settings().login_link_max_age)
    outbox.record_deleted(sess, customer_id=customer_id, email=email)
    sess.commit()
    sessions.end_all(customer_id)
    try:
        notifications.notify_account_deleted(
            customer_id=customer_id, email=email, by=by, actor=actor
        )
    except Exception:
        # The deletion stands; a lost notice is logged rather than undoing it.
        log.exception("could not queue the deletion notice for customer %s", customer_id)
    log.info("customer %s deleted (by %s)", customer_id, by)
    return email
