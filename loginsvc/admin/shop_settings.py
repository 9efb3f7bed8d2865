"""Shop-wide settings stored in the database (the account mode and friends)."""

from __future__ import annotations

from typing import Any, Literal

from flask import g
from sqlalchemy import select

from loginsvc.core.extensions import db
from loginsvc.core.models import Setting

AccountMode = Literal["disabled", "optional", "required"]
ACCOUNT_MODES: tuple[str, ...] = ("disabled", "optional", "required")
DEFAULTS: dict[str, Any] = {"account_mode": "optional"}


def get_setting(key: str) -> Any:
    row = db.session.get(Setting, key)
    return row.value if row is not None else DEFAULTS.get(key)


def account_mode() -> AccountMode:
    """The shop's account mode, read once per request (or job)."""
    cached = g.get("_account_mode")
    if cached is not None:
        return cached
    mode = get_setting("account_mode")
    result: AccountMode = mode if mode in ACCOUNT_MODES else "optional"
    g._account_mode = result
    return result


def all_settings() -> dict[str, Any]:
    rows = db.session.scalars(select(Setting)).all()
    out = dict(DEFAULTS)
    out.update({r.key: r.value for r in rows})
    return out


def put_settings(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value))
        else:
            row.value = value
    db.session.commit()
    g.pop("_account_mode", None)
    return all_settings()
