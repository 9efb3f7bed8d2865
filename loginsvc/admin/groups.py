"""Customer groups (member prices, group-only content): CRUD and bulk membership."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.ids import DbId
from loginsvc.core.models import Customer, CustomerGroup, Group, group_key
from loginsvc.core.pagination import as_id, as_text, decode_cursor, encode_cursor
from loginsvc.core.plain_text import SingleLine
from loginsvc.events import outbox

GroupName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine
]
MAX_BULK = 1000


def check_group_name(name: str) -> str:
    # ";" separates group names in the CSV export, so a name may not hold one.
    if ";" in name:
        raise ValueError("a group name may not contain ';'")
    return name


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: GroupName

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_group_name(v)


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    customer_ids: list[DbId] = Field(min_length=1, max_length=MAX_BULK)


def group_out(g: Group, member_count: int) -> dict[str, Any]:
    from loginsvc.customers.schemas import iso

    return {
        "id": g.id,
        "name": g.name,
        "member_count": member_count,
        "created_at": iso(g.created_at),
        "updated_at": iso(g.updated_at),
    }


def _member_counts(ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(CustomerGroup.group_id, func.count())
        .where(CustomerGroup.group_id.in_(ids))
        .group_by(CustomerGroup.group_id)
    )
    return {gid: int(n) for gid, n in rows}


def list_groups(*, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Alphabetical, keyset-paginated on (name, id)."""
    stmt = select(Group)
    after = decode_cursor(cursor, as_text, as_id)
    if after is not None:
        stmt = stmt.where(tuple_(Group.name, Group.id) > tuple_(after[0], after[1]))
    rows = list(db.session.scalars(stmt.order_by(Group.name, Group.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].name, rows[-1].id])
    counts = _member_counts(g.id for g in rows)
    return [group_out(g, counts.get(g.id, 0)) for g in rows], next_cursor


def get_group(group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    if group is None:
        raise ProblemError(404, "group_not_found", "No such group.")
    return group


def _name_taken(name: str) -> ProblemError:
    return ProblemError(409, "conflict", f"A group named {name!r} exists already.")


def _holder_of(name: str) -> Group | None:
    """The group whose name equals this one but for case (names are unique so)."""
    return db.session.scalars(select(Group).where(Group.name_key == group_key(name))).first()


def create_group(*, name: str) -> dict[str, Any]:
    holder = _holder_of(name)
    if holder is not None:
        raise _name_taken(holder.name)
    group = Group(name=name)
    db.session.add(group)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent create won the unique index
        db.session.rollback()
        raise _name_taken(name) from None
    return group_out(group, 0)


def rename_group(*, group_id: int, name: str) -> dict[str, Any]:
    group = get_group(group_id)
    if group.name != name:
        holder = _holder_of(name)
        if holder is not None and holder.id != group.id:  # a change of case is a rename
            raise _name_taken(holder.name)
        group.name = name
        try:
            # Each member's `groups` reads differently now: one customer.updated each
            # (the query flushes the new name, so a concurrent rename fails here too).
            members = db.session.scalars(
                select(CustomerGroup.customer_id).where(CustomerGroup.group_id == group.id)
            )
            outbox.record_groups_changed(db.session, customer_ids=set(members))
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise _name_taken(name) from None
    return group_out(group, _member_counts([group.id]).get(group.id, 0))


def delete_group(*, group_id: int) -> None:
    """Members lose this group only; their other groups stay."""
    group = get_group(group_id)
    gone = db.session.execute(
        delete(CustomerGroup)
        .where(CustomerGroup.group_id == group.id)
        .returning(CustomerGroup.customer_id)
    ).scalars()
    outbox.record_groups_changed(db.session, customer_ids=set(gone))
    db.session.delete(group)
    db.session.commit()


def _check_customers(ids: list[int]) -> list[int]:
    wanted = sorted(set(ids))
    found = set(db.session.scalars(select(Customer.id).where(Customer.id.in_(wanted))))
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20])
        raise InvalidRequest(
            "Some customers do not exist; nothing was changed.",
            [{"field": "customer_ids", "message": f"no such customers: {shown}"}],
        )
    return wanted


def add_members(*, group_id: int, customer_ids: list[int]) -> dict[str, Any]:
    group = get_group(group_id)
    ids = _check_customers(customer_ids)
    dialect = db.session.get_bind().dialect.name
    ins = pg_insert(CustomerGroup) if dialect == "postgresql" else sqlite_insert(CustomerGroup)
    rows = [{"customer_id": i, "group_id": group.id} for i in ids]
    stmt = ins.values(rows).on_conflict_do_nothing().returning(CustomerGroup.customer_id)
    try:
        added_ids = set(db.session.execute(stmt).scalars())
        outbox.record_groups_changed(db.session, customer_ids=added_ids)
        db.session.commit()
    except IntegrityError:  # a customer was deleted meanwhile: change nothing
        db.session.rollback()
        raise ProblemError(409, "conflict", "A customer changed meanwhile; try again.") from None
    return {
        "group": group_out(group, _member_counts([group.id]).get(group.id, 0)),
        "added": len(added_ids),
    }


def remove_members(*, group_id: int, customer_ids: list[int]) -> dict[str, Any]:
    group = get_group(group_id)
    removed = set(
        db.session.execute(
            delete(CustomerGroup)
            .where(
                CustomerGroup.group_id == group.id, CustomerGroup.customer_id.in_(set(customer_ids))
            )
            .returning(CustomerGroup.customer_id)
        ).scalars()
    )
    outbox.record_groups_changed(db.session, customer_ids=removed)
    db.session.commit()
    return {
        "group": group_out(group, _member_counts([group.id]).get(group.id, 0)),
        "removed": len(removed),
    }


def resolve_names(
    names: Iterable[str], *, create_missing: bool = False, field: str = "groups"
) -> dict[str, Group]:
    """Groups by name (whatever its case), in one query; unknown names are a 422
    unless created here. The result maps each name as given to its group."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        return {}
    keys = {n: group_key(n) for n in wanted}
    found = {
        g.name_key: g
        for g in db.session.scalars(select(Group).where(Group.name_key.in_(set(keys.values()))))
    }
    missing = [n for n in wanted if keys[n] not in found]
    if missing and not create_missing:
        raise InvalidRequest(
            "Unknown group.", [{"field": field, "message": f"no such group: {missing[0]!r}"}]
        )
    for name in missing:
        if keys[name] not in found:  # "New" and "new" in one file: one new group
            group = Group(name=name)
            db.session.add(group)
            found[keys[name]] = group
    if missing:
        db.session.flush()
    return {n: found[keys[n]] for n in wanted}
