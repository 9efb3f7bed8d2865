"""Migration 0003: existing rows move to the normalized form; one mailbox becomes one customer.

A real database at revision 0002 (SQLite and PostgreSQL), rows as the old
`lower()` comparison left them, then `upgrade` to head.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import MetaData, create_engine, insert, select
from sqlalchemy.orm import Session

from loginsvc.core.migrate import upgrade
from loginsvc.core.models import ConsentEvent, Customer, CustomerGroup, Order, WishlistItem
from tests.conftest import CI, PG_ADMIN, _pg_available

NFD = unicodedata.normalize("NFD", "Señor@example.com")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0002")
        yield url
        return
    if not _pg_available():
        if CI:
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL is not running")
    name = f"loginsvc_t_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, "0002")
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _customer(email: str, **fields: Any) -> Customer:
    values: dict[str, Any] = {
        "email": email, "email_norm": email.strip().lower(), "status": "active",
        "has_account": False, "newsletter": False, "order_count": 0,
        "total_spent": Decimal(0), "totals": {}, "search_text": email.lower(),
        "created_at": T0, "updated_at": T0,
    }
    values.update(fields)
    return Customer(**values)


def _order(order_id: str, customer_id: int, total: str) -> Order:
    return Order(order_id=order_id, customer_id=customer_id, placed_at=T0, status="paid",
                 currency="EUR", total=Decimal(total), items=[])


def _engine(url: str) -> Any:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_spellings_of_one_mailbox_merge_and_nothing_is_lost(old_database):
    # The rows are written as revision 0002 had them: through its own tables
    # (reflected), not today's models, which know columns later migrations add.
    engine = _engine(old_database)
    old = MetaData()
    old.reflect(engine)

    def add(conn: Any, table: str, values: dict[str, Any]) -> int:
        return int(conn.execute(insert(old.tables[table]).values(**values).returning(
            old.tables[table].c.id)).scalar_one())

    def columns_of(obj: Any, table: str) -> dict[str, Any]:
        """The object's values for the old table's columns, model defaults filled in."""
        known = set(old.tables[table].c.keys())
        values = {k: v for k, v in vars(obj).items() if k in known and v is not None}
        for col in type(obj).__table__.columns:
            if col.key in known and col.key not in values and col.default is not None:
                arg = col.default.arg
                values[col.key] = arg(None) if callable(arg) else arg
        return values

    with engine.begin() as conn:
        unicode_form = _customer(
            "X@bücher.de", has_account=True, account_created_at=T0, name="Ana",
            order_count=1, total_spent=Decimal("10"), totals={"EUR": "10.00"},
            notes="VIP", created_at=T0, newsletter=True)
        punycode = _customer(
            "x@xn--bcher-kva.de", status="blocked", phone="+34 600", customer_number="C-9",
            order_count=1, total_spent=Decimal("5.5"), totals={"EUR": "5.50"},
            created_at=T0 + dt.timedelta(days=3), wp_user_id="77")
        nfd = _customer(NFD)
        plain = _customer("Ana@Example.com", has_account=True)
        ids = {}
        for key, c in (("unicode", unicode_form), ("punycode", punycode), ("nfd", nfd),
                       ("plain", plain)):
            ids[key] = add(conn, "customers", columns_of(c, "customers"))
        g1 = add(conn, "groups", {"name": "wholesale", "created_at": T0, "updated_at": T0})
        g2 = add(conn, "groups", {"name": "newsletter-de", "created_at": T0, "updated_at": T0})

        for oid, who, total in (("1001", "unicode", "10.00"), ("1002", "punycode", "5.50")):
            order_row = _order(oid, ids[who], total)
            conn.execute(insert(old.tables["orders"]).values(**columns_of(order_row, "orders")))
        for who, product in (("unicode", "p-1"), ("punycode", "p-1"), ("punycode", "p-2")):
            item = WishlistItem(customer_id=ids[who], product_id=product)
            conn.execute(insert(old.tables["wishlist_items"]).values(
                **columns_of(item, "wishlist_items")))
        for who, gid in (("unicode", g1), ("punycode", g1), ("punycode", g2)):
            conn.execute(insert(old.tables["customer_groups"]).values(
                customer_id=ids[who], group_id=gid))
        event = ConsentEvent(customer_id=ids["punycode"], newsletter=False, source="order", at=T0)
        conn.execute(insert(old.tables["consent_events"]).values(
            **columns_of(event, "consent_events")))
        keep_id, gone_id, nfd_id, plain_id = (
            ids["unicode"], ids["punycode"], ids["nfd"], ids["plain"])
        group_ids = sorted([g1, g2])
    engine.dispose()

    upgrade(old_database)

    engine = _engine(old_database)
    with Session(engine) as s:
        rows = {c.id: c for c in s.scalars(select(Customer))}
        assert sorted(rows) == sorted([keep_id, nfd_id, plain_id])  # the later spelling merged
        kept = rows[keep_id]
        assert kept.email == "X@bücher.de" and kept.email_norm == "x@xn--bcher-kva.de"
        assert kept.status == "blocked"  # the block on one spelling holds for the mailbox
        assert kept.has_account is True and kept.name == "Ana" and kept.phone == "+34 600"
        assert kept.customer_number == "C-9" and kept.wp_user_id == "77"
        assert kept.order_count == 2 and kept.totals == {"EUR": "15.50"}
        assert kept.total_spent == Decimal("15.5") and kept.newsletter is True
        assert kept.notes.startswith("VIP") and f"#{gone_id} <x@xn--bcher-kva.de>" in kept.notes
        assert "c-9" in kept.search_text and "ana" in kept.search_text
        assert set(s.scalars(select(Order.customer_id))) == {keep_id}
        assert sorted(s.scalars(select(WishlistItem.product_id))) == ["p-1", "p-2"]
        assert set(s.scalars(select(WishlistItem.customer_id))) == {keep_id}
        assert sorted(s.scalars(select(CustomerGroup.group_id))) == group_ids
        assert set(s.scalars(select(ConsentEvent.customer_id))) == {keep_id}
        assert rows[nfd_id].email_norm == unicodedata.normalize("NFC", "señor@example.com")
        assert rows[plain_id].email_norm == "ana@example.com"
    engine.dispose()
