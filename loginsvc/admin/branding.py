"""The shop's branding (name, shop URL, logo, accent colour), kept with the shop settings."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from loginsvc.admin.shop_settings import all_settings

KEYS = ("shop_name", "shop_url", "logo_url", "accent_color")
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]


def _http_url(value: str | None) -> str | None:
    if not value:
        return None
    if not value.startswith(("https://", "http://")) or any(c in value for c in " \"'<>\r\n"):
        raise ValueError("must be an http(s) address")
    return value


class BrandingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    shop_url: Url | None = None
    logo_url: Url | None = None
    accent_color: str | None = Field(default=None, pattern=r"^(#[0-9a-fA-F]{6})?$")

    @field_validator("shop_url", "logo_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return _http_url(v)

    @field_validator("shop_name", "accent_color")
    @classmethod
    def _blank(cls, v: str | None) -> str | None:
        return v or None


def branding(default_name: str) -> dict[str, Any]:
    """What pages and mails show: the stored branding, SHOP_NAME as the fallback name.

    Never the reason a page fails: with the database down the defaults are shown
    (the error page of that outage is rendered through here too).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from loginsvc.core.extensions import db

    try:
        values = all_settings()
    except SQLAlchemyError:
        db.session.rollback()
        values = {}
    out = {k: values.get(k) for k in KEYS}
    out["shop_name"] = out["shop_name"] or default_name
    return out


def darker(colour: str, factor: float = 0.75) -> str:
    """The accent's darker shade (hover, links) from "#rrggbb"."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


def stylesheet(accent: str | None) -> str:
    if not accent:
        return ""
    return f":root {{ --accent:{accent}; --accent-dark:{darker(accent)}; }}\n"
