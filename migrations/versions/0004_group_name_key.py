"""group names unique whatever their case: groups.name_key (casefolded NFKC), unique

Existing groups whose names differ only in case (or Unicode form) are kept
apart: the oldest keeps its name, each later one is renamed "<name> (<id>)".
Every rename is reported in the migration's output, so the owner can merge or
delete them; no membership is changed.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
NAME_MAX = 100


def _key(name: str) -> str:
    # The same rule as loginsvc.core.models.group_key (a migration keeps its own copy).
    return unicodedata.normalize("NFKC", name).casefold()


def _free_name(name: str, gid: int, names: set[str], keys: set[str]) -> str:
    n = 1
    while True:
        suffix = f" ({gid})" if n == 1 else f" ({gid}-{n})"
        candidate = name[: NAME_MAX - len(suffix)] + suffix
        if candidate not in names and _key(candidate) not in keys:
            return candidate
        n += 1


def upgrade() -> None:
    # No batch (table copy) on SQLite: dropping the old groups table would cascade
    # to customer_groups and empty every membership. ADD COLUMN and CREATE UNIQUE
    # INDEX work in place on both databases; NOT NULL is added where it can be
    # (PostgreSQL), the model always sets the key.
    op.add_column("groups", sa.Column("name_key", sa.String(length=400), nullable=True))
    groups = sa.table(
        "groups",
        sa.column("id", sa.BigInteger),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(groups.c.id, groups.c.name).order_by(groups.c.id)).all()
    names = {name for _, name in rows}
    owner_of: dict[str, tuple[int, str]] = {}
    for gid, name in rows:
        key = _key(name)
        if key in owner_of:
            first_id, first_name = owner_of[key]
            new = _free_name(name, gid, names, set(owner_of))
            names.add(new)
            key = _key(new)
            log.warning(
                "group collision: group %d %r renamed to %r (the same name as group %d %r "
                "but for case); merge or delete it in the admin",
                gid, name, new, first_id, first_name,
            )
            conn.execute(groups.update().where(groups.c.id == gid).values(name=new))
        owner_of[key] = (gid, name)
        conn.execute(groups.update().where(groups.c.id == gid).values(name_key=key))
    if conn.dialect.name == "postgresql":
        op.alter_column("groups", "name_key", existing_type=sa.String(length=400), nullable=False)
    op.create_index(op.f("ix_groups_name_key"), "groups", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_groups_name_key"), table_name="groups")
    op.drop_column("groups", "name_key")  # SQLite 3.35+ drops a column in place
