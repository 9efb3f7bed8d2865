"""/branding.css: the accent colour for every page (a file: the CSP allows no inline style)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from loginsvc.admin.branding import branding, stylesheet
from loginsvc.core.runtime import settings

bp = Blueprint("branding", __name__)


@bp.get("/branding.css")
def branding_css() -> Any:
    css = stylesheet(branding(settings().shop_name).get("accent_color"))
    resp = Response(css, mimetype="text/css")
    resp.headers["Cache-Control"] = "public, max-age=60"
    return resp
