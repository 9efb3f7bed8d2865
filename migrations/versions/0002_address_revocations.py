"""address revocations: deleted accounts' addresses (hashed) while their links live

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_revocations",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_address_revocations")),
    )
    with op.batch_alter_table("address_revocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_revocations_expires_at"), ["expires_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("address_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_revocations_expires_at"))
    op.drop_table("address_revocations")
