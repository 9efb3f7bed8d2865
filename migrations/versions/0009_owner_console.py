"""owner console: owners, audit entries, customer timeline events

Revision ID: 0009
Revises: 0002
Create Date: 2026-12-01 21:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_norm", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owners")),
        sa.UniqueConstraint("email_norm", name=op.f("uq_owners_email_norm")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("detail", Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_customer", "audit_entries", ["customer_id", "id"])
    op.create_table(
        "customer_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("email_norm", sa.String(length=320), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("detail", Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_events")),
    )
    op.create_index("ix_customer_events_customer", "customer_events", ["customer_id", "id"])
    op.create_index("ix_customer_events_email", "customer_events", ["email_norm", "id"])


def downgrade() -> None:
    op.drop_index("ix_customer_events_email", table_name="customer_events")
    op.drop_index("ix_customer_events_customer", table_name="customer_events")
    op.drop_table("customer_events")
    op.drop_index("ix_audit_entries_customer", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_table("owners")
