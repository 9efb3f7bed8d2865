"""The console's blueprint and what every console page shares: the guard and rendering.

Every POST must come from our own pages (Origin, else 403 `csrf_failed`) and, once
signed in, carry the session's form token; staff may read every page and change
nothing (403 `forbidden`, and the forms are not shown to them). After a change
the browser is redirected (303) with `?done=` naming it, so a reload never posts twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, make_response, redirect, render_template, request
from flask_babel import refresh

from loginsvc.admin import audit
from loginsvc.admin.branding import branding
from loginsvc.admin.console import sessions
from loginsvc.auth.sessions import check_origin
from loginsvc.core.error_texts import error_text
from loginsvc.core.errors import ProblemError
from loginsvc.core.i18n import lazy_gettext, pick_locale, supported_locales
from loginsvc.core.runtime import settings

bp = Blueprint("console", __name__, url_prefix="/admin")

PUBLIC = {
    "console.login_form",
    "console.login_submit",
    "console.login_code",
    "console.verify_form",
    "console.verify",
}
# What staff may post: their own sign-out and sessions.
STAFF_MAY_POST = {"console.logout", "console.end_session"}

DONE = {
    "saved": lazy_gettext("Saved."),
    "created": lazy_gettext("The customer is created."),
    "invited": lazy_gettext("The invitation is on its way."),
    "deleted": lazy_gettext("The customer is deleted; their orders stay for the books."),
    "blocked": lazy_gettext("The customer is blocked and signed out everywhere."),
    "approved": lazy_gettext("The customer is approved; they get an e-mail."),
    "unblocked": lazy_gettext("The customer may sign in again."),
    "group_created": lazy_gettext("The group is created."),
    "group_renamed": lazy_gettext("The group is renamed."),
    "group_deleted": lazy_gettext("The group is deleted."),
    "members_added": lazy_gettext("The customers are added to the group."),
    "imported": lazy_gettext("The import is applied."),
    "key_revoked": lazy_gettext("The API key is revoked."),
    "session_ended": lazy_gettext("That session is ended."),
    "event_retried": lazy_gettext("The event was sent again; its state is below."),
    "email_changed": lazy_gettext(
        "The e-mail address is changed; sign-in links sent to the old one no longer work."
    ),
}


@bp.before_request
def _guard() -> Any:
    if request.method == "POST":
        check_origin()  # a foreign (or missing) Origin is refused before anything else
    if request.endpoint in PUBLIC:
        return None
    console = sessions.current_console()
    if console is None:
        if request.method == "POST":
            return redirect("/admin/login", code=303)
        return redirect("/admin/login?" + urlencode({"next": request.full_path}), code=303)
    if request.method == "POST":
        sessions.check_csrf()
        if not console.member.can_write and request.endpoint not in STAFF_MAY_POST:
            raise ProblemError(403, "forbidden", "Staff can look at everything and change nothing.")
    return None


def console() -> sessions.Console:
    c: sessions.Console = g.console
    return c


def actor() -> str:
    return console().member.email


def stage(action: str, customer_id: int | None = None, **detail: Any) -> None:
    """Record this owner's write with the change's own commit."""
    audit.stage(actor=actor(), action=action, customer_id=customer_id, detail=detail or None)


def done(path: str, what: str) -> Response:
    sep = "&" if "?" in path else "?"
    return redirect(f"{path}{sep}done={what}", code=303)  # type: ignore[return-value]


def page(template: str, status: int = 200, **context: Any) -> Response:
    explicit = request.args.get("lang")
    g.page_locale = pick_locale(explicit if explicit in supported_locales() else None)
    refresh()
    current = g.get("console")
    what = request.args.get("done", "")
    html = render_template(
        template,
        locale=g.page_locale,
        shop_name=branding(settings().shop_name)["shop_name"],
        error_text=error_text,
        csrf_token=sessions.csrf_token(),
        console=current,
        can_write=bool(current and current.member.can_write),
        section=request.endpoint,
        done_text=DONE.get(what),
        **context,
    )
    resp = make_response(html, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.app_template_filter("admin_time")
def admin_time(value: Any) -> str:
    """A moment for owners: UTC, to the minute."""
    import datetime as dt

    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
