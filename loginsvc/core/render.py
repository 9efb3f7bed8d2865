"""Rendering helpers shared by every server-rendered page."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Response, g, make_response, render_template, request
from flask_babel import refresh

from loginsvc.admin.branding import branding
from loginsvc.core.error_texts import error_text
from loginsvc.core.errors import ProblemError
from loginsvc.core.i18n import pick_locale, supported_locales
from loginsvc.core.runtime import settings


def page_locale() -> str:
    if "page_locale" not in g:
        explicit = request.args.get("lang") or request.form.get("lang") if request else None
        fallback = None
        auth = g.get("auth")
        if auth is not None:
            fallback = auth.customer.locale
        g.page_locale = pick_locale(explicit if explicit in supported_locales() else None, fallback)
    return str(g.page_locale)


def csrf_token() -> str:
    """A per-session form token: forms of signed-in pages carry it."""
    auth = g.get("auth")
    if auth is None:
        return ""
    key = settings().secret_keys[0].encode()
    return hmac.new(key, b"csrf:" + auth.record.id.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf_form() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, csrf_token()):
        raise ProblemError(403, "csrf_failed", "The form has expired; reload the page.")


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    loc = page_locale()
    refresh()  # the page's language may have been chosen after a text was translated
    brand = branding(settings().shop_name)
    html = render_template(
        template,
        locale=loc,
        error_text=error_text,
        shop_name=brand["shop_name"],
        brand=brand,
        csrf_token=csrf_token(),
        **context,
    )
    resp = make_response(html, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def render_error_page(err: ProblemError) -> Response:
    resp = render_page("pages/error.html", status=err.status, code=err.code, detail=err.detail)
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp
