"""Tables of the sign-in methods beside the e-mailed link: passkeys and social identities."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loginsvc.core.models import Base, BigId, Json, UTCDateTime, utcnow


class Passkey(Base):
    """A WebAuthn credential registered by a shopper (a discoverable one)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # base64url of the raw credential id, as browsers send it in `id`
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    user_handle: Mapped[str] = mapped_column(String(100))  # base64url WebAuthn user id
    sign_count: Mapped[int] = mapped_column(BigId, default=0)
    transports: Mapped[list[str] | None] = mapped_column(Json)
    aaguid: Mapped[str | None] = mapped_column(String(36))
    backed_up: Mapped[bool | None] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_passkeys_customer_created", "customer_id", "created_at", "id"),)


class Identity(Base):
    """An OpenID Connect account (issuer, sub) that signs a customer in."""

    __tablename__ = "identities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(40))  # the configured name, e.g. google
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))  # as the provider said, for display
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_identities_issuer_subject"),)
