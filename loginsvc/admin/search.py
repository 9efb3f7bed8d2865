"""The shop owner's customer list: search `q`, filters, sorts and keyset pages."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select, text, tuple_

from loginsvc.core.emails import normalise
from loginsvc.core.errors import InvalidRequest
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer, CustomerGroup, Group
from loginsvc.core.pagination import decode_cursor, encode_cursor
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
    cursor: str | None = Field(default=None, max_length=512)


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
        gids = select(Group.id).where(Group.name == f.group)
        if f.group.isdigit():
            gids = select(Group.id).where(or_(Group.name == f.group, Group.id == int(f.group)))
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


def _bad_cursor() -> InvalidRequest:
    return InvalidRequest(
        "The cursor is not valid.", [{"field": "cursor", "message": "not a cursor for this sort"}]
    )


def _cursor_value(key: str, raw: Any) -> Any:
    try:
        if key == "created_at":
            value = dt.datetime.fromisoformat(raw)
            if value.tzinfo is None:
                raise ValueError
            return value
        if key == "total_spent":
            return Decimal(raw)
        if key == "order_count":
            if not isinstance(raw, int):
                raise ValueError
            return raw
        if raw is not None and not isinstance(raw, str):
            raise ValueError
        return raw
    except (TypeError, ValueError, InvalidOperation):
        raise _bad_cursor() from None


def ordered_page(
    stmt: Select[Customer], *, sort: str, limit: int, cursor: str | None
) -> tuple[list[Customer], str | None]:
    """One keyset page in `sort` order, id as the tie-breaker; the cursor names its sort."""
    key = sort.lstrip("-")
    col = _COLUMNS[key]
    desc = sort.startswith("-")
    after = decode_cursor(cursor, arity=3)
    if after is not None:
        if after[0] != sort or not isinstance(after[2], int):
            raise _bad_cursor()
        value, last_id = _cursor_value(key, after[1]), after[2]
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
