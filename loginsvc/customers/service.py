"""Finding and creating customers; shared by login, orders, SSO and admin."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, lazyload

from loginsvc.core.models import Customer, utcnow


def fold(text: str | None) -> str:
    """Lower-case and strip accents, for accent-insensitive search."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def refresh_search_text(customer: Customer) -> None:
    customer.search_text = " ".join(
        fold(p)
        for p in (customer.email, customer.name, customer.company, customer.customer_number)
        if p
    )


def country_of(customer: Customer) -> str | None:
    for addr in (customer.shipping_address, customer.billing_address):
        if isinstance(addr, dict) and isinstance(addr.get("country"), str):
            return addr["country"].upper()[:2] or None
    return None


def find_by_email(
    session: Session, email_norm: str, *, for_update: bool = False
) -> Customer | None:
    # Groups load only when read: the login path never needs them.
    stmt = (
        select(Customer).where(Customer.email_norm == email_norm).options(lazyload(Customer.groups))
    )
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def get_or_create(
    session: Session,
    *,
    email: str,
    email_norm: str,
    defaults: dict[str, Any] | None = None,
    missing: bool = False,
) -> tuple[Customer, bool]:
    """The customer row for an address, created if missing; (customer, created).

    Concurrent callers for one new address get one row: the unique index on
    email_norm decides, with INSERT .. ON CONFLICT DO NOTHING, so nobody fails.
    Runs inside the caller's transaction and does not commit. `missing`: the
    caller has just looked in this transaction and found no row, so the insert
    goes first (a row that appeared meanwhile is found by its conflict).
    """
    if not missing:
        existing = find_by_email(session, email_norm, for_update=True)
        if existing is not None:
            return existing, False
    now = utcnow()
    values: dict[str, Any] = {
        "email": email,
        "email_norm": email_norm,
        "newsletter": False,
        "status": "active",
        "has_account": False,
        "order_count": 0,
        "total_spent": 0,
        "totals": {},
        "search_text": fold(email),
        "created_at": now,
        "updated_at": now,
    }
    values.update(defaults or {})
    dialect = session.get_bind().dialect.name
    ins = pg_insert(Customer) if dialect == "postgresql" else sqlite_insert(Customer)
    stmt = (
        ins.values(**values)
        .on_conflict_do_nothing(index_elements=["email_norm"])
        .returning(Customer.id)
    )
    new_id = session.execute(stmt).scalar()
    customer = find_by_email(session, email_norm, for_update=True)
    assert customer is not None
    if new_id is not None:
        refresh_search_text(customer)
    return customer, new_id is not None


def open_account(customer: Customer, *, status: str) -> bool:
    """Turn a guest record into an account; True when it was opened now.

    `status` is what the admission policy (auth/admission.py) decided.
    """
    if customer.has_account:
        return False
    customer.has_account = True
    customer.account_created_at = utcnow()
    customer.status = status
    return True
