"""one mailbox, one customer: addresses compared in email-validator's normalized form

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00

`customers.email_norm` was `lower()`; it becomes `loginsvc.core.emails.normalise`
(IDNA domain, NFC and case-folded local part). Rows whose addresses turn out to
be one mailbox (`x@bücher.de`, `x@xn--bcher-kva.de`, an NFD spelling) are
merged into one customer, because that is what they are: nothing is lost —
orders, wishlist, groups and consent history move to the kept row, totals
add up, blanks are filled from the others, a block on any of them holds, and
the kept row's notes say what was merged. Each merge is logged (ids only).
An address the validator now refuses keeps its old form and is logged.

The data change has no schema change; downgrade leaves the merged rows merged.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from loginsvc.core.emails import normalise
from loginsvc.core.money import format_amount
from loginsvc.customers.service import fold

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

Json = sa.JSON().with_variant(JSONB(), "postgresql")
When = sa.DateTime(timezone=True)

customers = sa.table(
    "customers",
    sa.column("id", sa.BigInteger),
    sa.column("email", sa.String),
    sa.column("email_norm", sa.String),
    sa.column("name", sa.String),
    sa.column("phone", sa.String),
    sa.column("company", sa.String),
    sa.column("locale", sa.String),
    sa.column("newsletter", sa.Boolean),
    sa.column("billing_address", Json),
    sa.column("shipping_address", Json),
    sa.column("country", sa.String),
    sa.column("status", sa.String),
    sa.column("has_account", sa.Boolean),
    sa.column("account_created_at", When),
    sa.column("customer_number", sa.String),
    sa.column("notes", sa.Text),
    sa.column("wp_user_id", sa.String),
    sa.column("links_valid_after", When),
    sa.column("order_count", sa.Integer),
    sa.column("total_spent", sa.Numeric(19, 4)),
    sa.column("totals", Json),
    sa.column("last_order_at", When),
    sa.column("search_text", sa.Text),
    sa.column("created_at", When),
    sa.column("updated_at", When),
)
orders = sa.table("orders", sa.column("customer_id", sa.BigInteger))
wishlist = sa.table(
    "wishlist_items", sa.column("customer_id", sa.BigInteger), sa.column("product_id", sa.String)
)
consent = sa.table("consent_events", sa.column("customer_id", sa.BigInteger))
members = sa.table(
    "customer_groups", sa.column("customer_id", sa.BigInteger), sa.column("group_id", sa.BigInteger)
)

FILLED = ("name", "phone", "company", "locale", "billing_address", "shipping_address", "country")
UNIQUE = ("customer_number", "wp_user_id")


def _new_norm(row: Any) -> str:
    try:
        return normalise(row.email)
    except ValueError:
        log.warning("customer %s: address not valid any more; its comparison form is kept", row.id)
        return str(row.email_norm)


def _keeper(rows: list[Any]) -> Any:
    """The account holder signed up first; else the first record."""
    return min(rows, key=lambda r: (not r.has_account, r.created_at, r.id))


def _latest(*values: Any) -> Any:
    given = [v for v in values if v is not None]
    return max(given) if given else None


def _earliest(*values: Any) -> Any:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def _merged_values(keep: Any, others: list[Any], norm: str, today: str) -> dict[str, Any]:
    everyone = [keep, *others]
    values: dict[str, Any] = {"email_norm": norm}
    for name in (*FILLED, *UNIQUE):
        if getattr(keep, name) in (None, ""):
            values[name] = next((getattr(o, name) for o in others if getattr(o, name)), None)
    values["has_account"] = any(r.has_account for r in everyone)
    account_holders = [r for r in everyone if r.has_account]
    if any(r.status == "blocked" for r in everyone):
        values["status"] = "blocked"  # a block on any spelling holds for the mailbox
    elif account_holders:
        values["status"] = _keeper(account_holders).status
    values["account_created_at"] = _earliest(*(r.account_created_at for r in everyone))
    values["links_valid_after"] = _latest(*(r.links_valid_after for r in everyone))
    values["newsletter"] = any(r.newsletter for r in everyone)  # one mailbox opted in
    values["order_count"] = sum(r.order_count or 0 for r in everyone)
    totals: dict[str, Decimal] = {}
    for r in everyone:
        for currency, amount in (r.totals or {}).items():
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount)
    values["totals"] = {c: format_amount(a, c) for c, a in sorted(totals.items()) if a}
    values["total_spent"] = sum(totals.values(), Decimal(0))
    values["last_order_at"] = _latest(*(r.last_order_at for r in everyone))
    values["created_at"] = _earliest(*(r.created_at for r in everyone))
    merged = "; ".join(f"#{o.id} <{o.email}>" for o in others)
    note = f"[{today}] One mailbox, several spellings: merged customers {merged} into this one."
    notes = [n for n in (keep.notes, *(o.notes for o in others)) if n]
    values["notes"] = "\n\n".join([*notes, note])
    searchable = [keep.email, *(values.get(n, getattr(keep, n)) for n in ("name", "company"))]
    searchable.append(values.get("customer_number", keep.customer_number))
    values["search_text"] = " ".join(fold(p) for p in searchable if p)
    return values


def _merge(conn: sa.Connection, keep: Any, others: list[Any], norm: str, today: str) -> None:
    ids = [o.id for o in others]
    values = _merged_values(keep, others, norm, today)
    conn.execute(orders.update().where(orders.c.customer_id.in_(ids)).values(customer_id=keep.id))
    conn.execute(consent.update().where(consent.c.customer_id.in_(ids)).values(customer_id=keep.id))
    kept_products = set(
        conn.scalars(sa.select(wishlist.c.product_id).where(wishlist.c.customer_id == keep.id))
    )
    for cid in ids:
        for product in conn.scalars(
            sa.select(wishlist.c.product_id).where(wishlist.c.customer_id == cid)
        ):
            if product in kept_products:
                continue
            conn.execute(
                wishlist.update()
                .where(wishlist.c.customer_id == cid, wishlist.c.product_id == product)
                .values(customer_id=keep.id)
            )
            kept_products.add(product)
    kept_groups = set(
        conn.scalars(sa.select(members.c.group_id).where(members.c.customer_id == keep.id))
    )
    for gid in set(conn.scalars(sa.select(members.c.group_id).where(members.c.customer_id.in_(ids)))):
        if gid not in kept_groups:
            conn.execute(members.insert().values(customer_id=keep.id, group_id=gid))
    for table in (wishlist, members):
        conn.execute(table.delete().where(table.c.customer_id.in_(ids)))
    # The merged rows go first: their unique values (number, WordPress id) move.
    conn.execute(customers.delete().where(customers.c.id.in_(ids)))
    conn.execute(customers.update().where(customers.c.id == keep.id).values(**values))
    log.warning(
        "customers %s merged into customer %s: one mailbox spelled %d ways",
        ", ".join(map(str, ids)),
        keep.id,
        len(ids) + 1,
    )


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(customers).order_by(customers.c.id)).all()
    by_norm: dict[str, list[Any]] = {}
    for row in rows:
        by_norm.setdefault(_new_norm(row), []).append(row)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    # First out of the way (a temporary form per row), then into place, so no
    # row ever takes a value another row still holds.
    changing = {
        r.id: norm
        for norm, group in by_norm.items()
        if len(group) == 1
        for r in group
        if r.email_norm != norm
    }
    for cid in changing:
        conn.execute(
            customers.update().where(customers.c.id == cid).values(email_norm=f"~0003~{cid}")
        )
    for norm, group in by_norm.items():
        if len(group) > 1:
            keep = _keeper(group)
            _merge(conn, keep, [r for r in group if r.id != keep.id], norm, today)
    for cid, norm in changing.items():
        conn.execute(customers.update().where(customers.c.id == cid).values(email_norm=norm))
    merged = sum(len(g) - 1 for g in by_norm.values() if len(g) > 1)
    if changing or merged:
        log.warning(
            "0003: %d addresses now in their normalized form, %d duplicate customers merged",
            len(changing),
            merged,
        )


def downgrade() -> None:
    # The comparison form before 0003; merged customers stay merged (nothing to split back).
    conn = op.get_bind()
    for cid, email in conn.execute(sa.select(customers.c.id, customers.c.email)).all():
        conn.execute(
            customers.update()
            .where(customers.c.id == cid)
            .values(email_norm=str(email).strip().lower())
        )
