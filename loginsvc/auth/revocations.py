"""The durable record of deleted accounts' addresses (SHA-256 only), for link revocation."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete
from sqlalchemy.orm import Session

from loginsvc.core.models import AddressRevocation
from loginsvc.core.runtime import now


def _hash(email_norm: str) -> str:
    return hashlib.sha256(email_norm.encode()).hexdigest()


def remember(sess: Session, email_norm: str, *, at: float, ttl: int) -> None:
    """Inside the caller's transaction: record the deletion, forget expired ones."""
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    sess.execute(delete(AddressRevocation).where(AddressRevocation.expires_at < when))
    row = sess.get(AddressRevocation, _hash(email_norm))
    if row is None:
        row = AddressRevocation(email_hash=_hash(email_norm), revoked_at=when, expires_at=when)
        sess.add(row)
    row.revoked_at = when
    row.expires_at = when + dt.timedelta(seconds=ttl)


def revoked_at(sess: Session, *email_norms: str) -> float | None:
    """When an account with one of these address forms was last deleted (None: not lately)."""
    rows = [sess.get(AddressRevocation, _hash(norm)) for norm in dict.fromkeys(email_norms)]
    live = [r.revoked_at.timestamp() for r in rows if r is not None and r.expires_at > _now()]
    return max(live) if live else None


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(now(), dt.UTC)
