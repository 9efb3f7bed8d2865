"""The database schema (SQLAlchemy 2 typed models). Changes go through Alembic."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(19, 4)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """Everyone the shop knows by e-mail: account holders and guest buyers."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))  # as first given, for display
    email_norm: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    company: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(10))
    newsletter: Mapped[bool] = mapped_column(Boolean, default=False)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(Json)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(Json)
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    # active | pending | blocked
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    has_account: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    account_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    customer_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    notes: Mapped[str | None] = mapped_column(Text)
    wp_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Login links signed before this instant no longer work (logout-all).
    links_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    order_count: Mapped[int] = mapped_column(Integer, default=0)
    total_spent: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    totals: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    last_order_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Lower-cased, accent-free "email name company number" for admin search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    groups: Mapped[list[Group]] = relationship(
        secondary="customer_groups",
        back_populates="customers",
        lazy="selectin",
        order_by="Group.name",
    )

    __table_args__ = (
        Index("ix_customers_created", "created_at", "id"),
        Index("ix_customers_spent", "total_spent", "id"),
        Index("ix_customers_order_count", "order_count", "id"),
        Index("ix_customers_name", "name", "id"),
    )


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)  # the shop's id
    # Set to NULL when the person deletes their data; the order stays for the books.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    items: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    customer_info: Mapped[dict[str, Any] | None] = mapped_column(Json)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(Json)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(Json)
    invoice_url: Mapped[str | None] = mapped_column(String(2048))
    # {"carrier", "number", "url"} as the shop sent it (CONTRACT §4a); None until shipped.
    tracking: Mapped[dict[str, Any] | None] = mapped_column(Json)
    extra: Mapped[dict[str, Any] | None] = mapped_column(Json)  # unknown fields, kept
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_orders_history", "customer_id", "placed_at", "id"),)


class WishlistItem(Base):
    __tablename__ = "wishlist_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2048))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("customer_id", "product_id", name="uq_wishlist_customer_product"),
        Index("ix_wishlist_customer_added", "customer_id", "added_at"),
    )


class UsedToken(Base):
    """The durable mark of a used login link (Redis holds the fast one)."""

    __tablename__ = "used_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AddressRevocation(Base):
    """A deleted account's address, by SHA-256 only, while links sent to it can live.

    Links sent before the address had an account name no customer; this row (and
    its Redis twin) makes them fail with token_revoked even after Redis lost data.
    """

    __tablename__ = "address_revocations"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16), default="admin")  # admin | read
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def group_key(name: str) -> str:
    """What makes two group names the same: case and Unicode forms do not count."""
    return unicodedata.normalize("NFKC", name).casefold()


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # group_key(name), kept by the validator below; unique, so "VIP" and "vip"
    # cannot both exist (migration 0004). Computed in Python, not with SQL lower(),
    # which folds only ASCII on SQLite.
    name_key: Mapped[str] = mapped_column(String(400), unique=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customers: Mapped[list[Customer]] = relationship(
        secondary="customer_groups", back_populates="groups", lazy="select"
    )

    @validates("name")
    def _keep_key(self, _: str, name: str) -> str:
        self.name_key = group_key(name)
        return name


class CustomerGroup(Base):
    __tablename__ = "customer_groups"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(Json)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ConsentEvent(Base):
    """Newsletter consent history, for the shopper's export."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    newsletter: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))  # order | profile | admin | import
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
