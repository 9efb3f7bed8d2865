"""Orders in from the shop backend (CONTRACT §4): store, open accounts, keep aggregates.

Concurrency is settled by the database, not by timing:

- one customer row per address: the unique ``email_norm`` index and
  INSERT .. ON CONFLICT DO NOTHING (``customers.get_or_create``);
- one order per shop ``order_id``: the unique index and ON CONFLICT DO NOTHING;
- aggregates change only while the customer row is locked (SELECT .. FOR UPDATE
  on PostgreSQL; SQLite's BEGIN IMMEDIATE already admits one writer at a time).
  Locks are always taken customer first, then order, so two deliveries never
  wait on each other in opposite order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from loginsvc.admin.shop_settings import account_mode
from loginsvc.admin.timeline import record as timeline_event
from loginsvc.auth.admission import Admitted, admit
from loginsvc.core import notifications
from loginsvc.core.emails import normalise
from loginsvc.core.extensions import db
from loginsvc.core.i18n import normalise_locale
from loginsvc.core.models import ConsentEvent, Customer, Order, utcnow
from loginsvc.core.money import format_amount
from loginsvc.customers import service as customers_svc
from loginsvc.orders.schemas import OrderEvent

# Orders in these states are listed but do not count as money spent.
NOT_SPENT = frozenset({"cancelled", "canceled", "refunded", "failed", "voided"})


@dataclass(frozen=True)
class IngestResult:
    order_id: str
    customer_id: int | None  # the account's id; None for a guest order
    account_created: bool
    created: bool  # a new order (201) or a known one (200)


def ingest_order(event: OrderEvent) -> IngestResult:
    """Store one order event in one transaction; mail is queued after the commit."""
    sess = db.session
    sess.rollback()  # start from a fresh transaction: nothing half-done is ever committed
    known = sess.scalar(select(Order.id).where(Order.order_id == event.data.order_id))
    opened: Customer | None = None
    result: IngestResult | None = None
    if known is None:
        result, opened = _create(sess, event)
    if result is None:  # known before, or created by a concurrent delivery just now
        result = _known(sess, event)
    sess.commit()
    timeline_event(
        customer_id=result.customer_id,
        email=event.data.email,
        kind="order.received",
        detail={"order_id": result.order_id, "status": event.data.status, "new": result.created},
    )
    if opened is not None:
        _announce(opened, locale=event.data.locale)
    return result


def _lock(sess: Session, stmt: Any) -> Any:
    if sess.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def _create(sess: Session, event: OrderEvent) -> tuple[IngestResult | None, Customer | None]:
    d = event.data
    mode = account_mode()
    customer, _ = customers_svc.get_or_create(sess, email=d.email, email_norm=normalise(d.email))
    ins = pg_insert(Order) if sess.get_bind().dialect.name == "postgresql" else sqlite_insert(Order)
    stmt = (
        ins.values(
            order_id=d.order_id,
            customer_id=customer.id,
            placed_at=d.placed_at,
            status=d.status,
            currency=d.currency,
            total=event.total,
            items=event.items,
            customer_info=_customer_info(event),
            billing_address=d.billing_address,
            shipping_address=d.shipping_address,
            invoice_url=d.invoice_url,
            tracking=event.tracking,
            extra=event.unknown_fields,
        )
        .on_conflict_do_nothing(index_elements=["order_id"])
        .returning(Order.id)
    )
    if sess.execute(stmt).scalar() is None:
        return None, None
    opened = False
    # A refusal (accounts disabled, a blocked address) keeps the order as a guest order;
    # so does a guest checkout (§4a), which opens nothing: an address that already has
    # an account still sees the order in its history.
    decision = admit(way="order", mode=mode, customer=customer)
    if isinstance(decision, Admitted) and decision.open_account and not d.guest:
        opened = customers_svc.open_account(customer, status=decision.status)
    _fill_profile(sess, customer, event)
    _apply(customer, currency=d.currency, amount=event.total, status=d.status, sign=1)
    customer.order_count = (customer.order_count or 0) + 1
    if customer.last_order_at is None or d.placed_at > customer.last_order_at:
        customer.last_order_at = d.placed_at
    customer.updated_at = utcnow()
    result = IngestResult(
        order_id=d.order_id,
        customer_id=customer.id if customer.has_account else None,
        account_created=opened,
        created=True,
    )
    return result, (customer if opened else None)


def _known(sess: Session, event: OrderEvent) -> IngestResult:
    d = event.data
    owner_id = sess.scalar(select(Order.customer_id).where(Order.order_id == d.order_id))
    customer = None
    if owner_id is not None:
        customer = sess.scalars(
            _lock(sess, select(Customer).where(Customer.id == owner_id))
        ).one_or_none()
    order = sess.scalars(
        _lock(sess, select(Order).where(Order.order_id == d.order_id)).execution_options(
            populate_existing=True
        )
    ).one()
    if event.type == "order.updated":
        _update(sess, order, customer, event)
    return IngestResult(
        order_id=d.order_id,
        customer_id=customer.id if customer is not None and customer.has_account else None,
        account_created=False,
        created=False,
    )


def _update(sess: Session, order: Order, customer: Customer | None, event: OrderEvent) -> None:
    """order.updated: status, items, totals, addresses and the invoice link follow the shop."""
    d = event.data
    if _older_than_stored(order, event):
        return
    if customer is not None:
        _apply(customer, currency=order.currency, amount=order.total, status=order.status, sign=-1)
        _apply(customer, currency=d.currency, amount=event.total, status=d.status, sign=1)
        customer.updated_at = utcnow()
    order.status = d.status
    order.currency = d.currency
    order.total = event.total
    order.items = event.items
    order.customer_info = _customer_info(event)
    order.billing_address = d.billing_address
    order.shipping_address = d.shipping_address
    order.invoice_url = d.invoice_url
    if event.tracking is not None:  # an update without tracking does not forget the parcel
        order.tracking = event.tracking
    if event.unknown_fields is not None:
        order.extra = {**(order.extra or {}), **event.unknown_fields}
    order.updated_at = utcnow()
    sess.flush()


def _platform_changed_at(extra: dict[str, Any] | None) -> float | None:
    platform = ((extra or {}).get("data") or {}).get("platform")
    value = platform.get("changed_at") if isinstance(platform, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _older_than_stored(order: Order, event: OrderEvent) -> bool:
    """A platform's copy of the order older than the one stored (webhooks arrive in any order).

    The platform mappers put the order's own last-change time (unix seconds) in
    `data.platform.changed_at`; the row is locked, so this check cannot race.
    """
    new = _platform_changed_at(event.unknown_fields)
    old = _platform_changed_at(order.extra)
    return new is not None and old is not None and new < old


def _apply(customer: Customer, *, currency: str, amount: Decimal, status: str, sign: int) -> None:
    """Add (sign=1) or take back (sign=-1) one order's money, exactly, per currency."""
    if status in NOT_SPENT:
        return
    totals = dict(customer.totals or {})
    value = Decimal(totals.get(currency, "0")) + sign * Decimal(amount)
    if value == 0:
        totals.pop(currency, None)
    else:
        totals[currency] = format_amount(value, currency)
    customer.totals = totals  # a new dict, so the JSON column is written
    # total_spent only orders the admin list; with several currencies `totals` is the truth.
    customer.total_spent = sum((Decimal(v) for v in totals.values()), Decimal(0))


def _customer_info(event: OrderEvent) -> dict[str, Any] | None:
    c = event.data.customer
    if c is None:
        return None
    return {"name": c.name, "phone": c.phone, "company": c.company}


def _fill_profile(sess: Session, customer: Customer, event: OrderEvent) -> None:
    """What the order tells about the person fills the blanks; it never overwrites."""
    d = event.data
    c = d.customer
    if c is not None:
        customer.name = customer.name or (c.name or "").strip() or None
        customer.phone = customer.phone or (c.phone or "").strip() or None
        customer.company = customer.company or (c.company or "").strip() or None
        if c.newsletter and not customer.newsletter:
            # Only an opt-in travels with an order; an unticked box never unsubscribes.
            customer.newsletter = True
            sess.add(
                ConsentEvent(customer_id=customer.id, newsletter=True, source="order", at=utcnow())
            )
    if customer.billing_address is None and d.billing_address:
        customer.billing_address = d.billing_address
    if customer.shipping_address is None and d.shipping_address:
        customer.shipping_address = d.shipping_address
    if not customer.locale:
        customer.locale = normalise_locale(d.locale)
    if not customer.country:
        customer.country = customers_svc.country_of(customer)
    customers_svc.refresh_search_text(customer)


def _announce(customer: Customer, *, locale: str | None) -> None:
    """Tell the new account holder (or, in `required` mode, the shop owner)."""
    if customer.status == "pending":
        # "Your account is ready" would be untrue; the approval mail carries the link.
        notifications.notify_pending_registration(customer)
    else:
        notifications.send_welcome(customer, locale=normalise_locale(locale))
