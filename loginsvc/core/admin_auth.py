"""The admin API key check (CONTRACT §2): `Authorization: Bearer <admin API key>`."""

from __future__ import annotations

import datetime as dt

from flask import g, request
from sqlalchemy import or_, update

from loginsvc.admin.api_keys import find_active
from loginsvc.core.errors import ProblemError, Unauthorized
from loginsvc.core.extensions import db
from loginsvc.core.models import ApiKey
from loginsvc.core.runtime import now

# A busy admin client must not turn every read into a write: last use is
# recorded at most once a minute per key.
TOUCH_EVERY = 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _presented_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 200:
        return None
    return value.strip()


def require_admin_key() -> None:
    """Run before every admin view: 401 without a valid key, 403 for read keys writing."""
    key = _presented_key()
    row = find_active(key) if key else None
    if row is None:
        db.session.rollback()
        raise Unauthorized("A valid admin API key is required.")
    if request.method not in SAFE_METHODS and row.scope != "admin":
        db.session.rollback()
        raise ProblemError(403, "forbidden", "This API key may only read.")
    _touch(row)
    g.admin_key_name = row.name


def _touch(row: ApiKey) -> None:
    at = dt.datetime.fromtimestamp(now(), dt.UTC)
    cutoff = at - dt.timedelta(seconds=TOUCH_EVERY)
    if row.last_used_at is not None and row.last_used_at > cutoff:
        db.session.rollback()
        return
    # Conditional, so concurrent requests by one key write once between them.
    db.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == row.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= cutoff)
        )
        .values(last_used_at=at)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
