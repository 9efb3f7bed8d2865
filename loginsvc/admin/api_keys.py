"""Admin API keys: shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from loginsvc.core.extensions import db
from loginsvc.core.models import ApiKey, utcnow

PREFIX = "lsk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(*, name: str, scope: str = "admin") -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a key name of 1 to 100 characters is needed")
    if scope not in ("admin", "read"):
        raise ValueError("scope must be admin or read")
    existing = db.session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if existing is not None and existing.revoked_at is None:
        raise ValueError(f"an active key named {name!r} exists; revoke it first")
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()
    key = PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiKey(name=name, key_hash=hash_key(key), prefix=key[:10], scope=scope))
    db.session.commit()
    return key


def revoke_api_key(*, name: str) -> bool:
    row = db.session.scalars(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return False
    row.revoked_at = utcnow()
    db.session.commit()
    return True


def find_active(key: str) -> ApiKey | None:
    """The active key matching `key` (looked up by hash, so timing reveals nothing)."""
    row = db.session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row
