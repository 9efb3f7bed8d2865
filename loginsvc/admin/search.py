"""The shop owner's customer list: search `q`, filters, sorts and keyset pages."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select, text, tuple_

from loginsvc.core.emails import normalise
from loginsvc.core.extensions import db
from loginsvc.core.ids import parse_id
from loginsvc.core.models import Customer, CustomerGroup, Group, group_key
from loginsvc.core.pagination import (
    MAX_CURSOR,
    FieldParser,
    as_count,
    as_datetime,
    as_id,
    as_money,
    as_optional_text,
    decode_cursor,
    encode_cursor,
    exactly,
)
from loginsvc.customers.service import fold

Sort = Literal[
    "created_at",
    "-created_at",
    "total_spent",
    "-total_spent",
    "order_count",
    "-order_count",
    "name",
]


class FilterQuery(BaseModel):
    # Query strings are text: lax parsing ("true", "1"), but unknown keys are refused
    # so a typo never silently returns the unfiltered list.
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=200)
    group: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    newsletter: bool | None = None
    has_account: bool | None = None
    status: Literal["active", "pending", "blocked"] | None = None
    sort: Sort = "-created_at"


class ListQuery(FilterQuery):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]+$")


# -- the list -------------------------------------------------------------------


def _like_pattern(q: str) -> str:
    folded = fold(q.strip())
    return "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filtered(f: FilterQuery) -> Select[Customer]:
    stmt = select(Customer)
    if f.q and f.q.strip():
        # On PostgreSQL the pg_trgm GIN index on search_text serves this LIKE.
        match: ColumnElement[bool] = Customer.search_text.like(_like_pattern(f.q), escape="\\")
        with contextlib.suppress(ValueError):  # not a whole address: the LIKE alone
            # A whole address finds its mailbox however it is spelled (IDNA, NFD, case).
            match = or_(match, Customer.email_norm == normalise(f.q))
        stmt = stmt.where(match)
    if f.group:
        by_name = Group.name_key == group_key(f.group)
        group_id = parse_id(f.group)  # a number is an id too, when it can be one
        gids = select(Group.id).where(
            by_name if group_id is None else or_(by_name, Group.id == group_id)
        )
        stmt = stmt.where(
            exists().where(
                CustomerGroup.customer_id == Customer.id, CustomerGroup.group_id.in_(gids)
            )
        )
    if f.country:
        stmt = stmt.where(Customer.country == f.country.upper())
    if f.newsletter is not None:
        stmt = stmt.where(Customer.newsletter.is_(f.newsletter))
    if f.has_account is not None:
        stmt = stmt.where(Customer.has_account.is_(f.has_account))
    if f.status:
        stmt = stmt.where(Customer.status == f.status)
    return stmt


_COLUMNS: dict[str, Any] = {
    "created_at": Customer.created_at,
    "total_spent": Customer.total_spent,
    "order_count": Customer.order_count,
    "name": Customer.name,
}


# How each sort's key value travels in a cursor.
_CURSOR_VALUE: dict[str, FieldParser] = {
    "created_at": as_datetime,
    "total_spent": as_money,
    "order_count": as_count,
    "name": as_optional_text,
}


def ordered_page(
    stmt: Select[Customer], *, sort: str, limit: int, cursor: str | None
) -> tuple[list[Customer], str | None]:
    """One keyset page in `sort` order, id as the tie-breaker; the cursor names its sort."""
    key = sort.lstrip("-")
    col = _COLUMNS[key]
    desc = sort.startswith("-")
    after = decode_cursor(cursor, exactly(sort), _CURSOR_VALUE[key], as_id)
    if after is not None:
        _, value, last_id = after
        if key == "name":
            # Names sort A→Z with the nameless last.
            stmt = stmt.where(
                and_(col.is_(None), Customer.id > last_id)
                if value is None
                else or_(tuple_(col, Customer.id) > tuple_(value, last_id), col.is_(None))
            )
        elif desc:
            stmt = stmt.where(tuple_(col, Customer.id) < tuple_(value, last_id))
        else:
            stmt = stmt.where(tuple_(col, Customer.id) > tuple_(value, last_id))
    if key == "name":
        stmt = stmt.order_by(col.asc().nulls_last(), Customer.id.asc())
    elif desc:
        stmt = stmt.order_by(col.desc(), Customer.id.desc())
    else:
        stmt = stmt.order_by(col.asc(), Customer.id.asc())
    if db.session.get_bind().dialect.name == "postgresql":
        # psycopg prepares repeated statements, and a generic plan cannot see how
        # selective this `q` is: it may walk the whole sort index for a rare name.
        # A plan per search keeps every page on the right index (trigram or sort).
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        raw = getattr(last, key)
        if isinstance(raw, dt.datetime):
            raw = raw.isoformat()
        elif isinstance(raw, Decimal):
            raw = str(raw)
        next_cursor = encode_cursor([sort, raw, last.id])
    return rows, next_cursor


def list_customers(f: ListQuery) -> tuple[list[Customer], str | None]:
    return ordered_page(filtered(f), sort=f.sort, limit=f.limit, cursor=f.cursor)
