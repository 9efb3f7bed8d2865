"""The owner side's tables: who may use the console, what they did, what happened to whom."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loginsvc.core.models import Base, BigId, Json, UTCDateTime, utcnow


class Owner(Base):
    """A person who may sign in to /admin. ADMIN_EMAIL is an owner without a row."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    email_norm: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="owner")  # owner | staff
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """One owner write. `customer_id` is a plain number: the entry outlives the customer."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(BigId)
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (Index("ix_audit_entries_customer", "customer_id", "id"),)


class CustomerEvent(Base):
    """A line of a customer's timeline: links, mails, sessions, orders, owner actions."""

    __tablename__ = "customer_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    customer_id: Mapped[int | None] = mapped_column(BigId)
    # Events before a customer row exists (a link to a new address) are found by address.
    email_norm: Mapped[str | None] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (
        Index("ix_customer_events_customer", "customer_id", "id"),
        Index("ix_customer_events_email", "email_norm", "id"),
    )
