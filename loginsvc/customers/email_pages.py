"""/account/email: change the sign-in address; /account/email/confirm: the new address's link.

The confirmation pages work without a session (the link may be opened on any
device); the GET only shows a button, since mail scanners open links.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, request

from loginsvc.auth import login, sessions
from loginsvc.auth.pages import _check_form_origin, require_page_session
from loginsvc.core.errors import ProblemError
from loginsvc.core.i18n import duration_in_words
from loginsvc.core.render import check_csrf_form, page_locale, render_page
from loginsvc.core.runtime import settings
from loginsvc.customers import account_data, email_change
from loginsvc.customers.pages import _page

bp = Blueprint("email_pages", __name__)

_PUBLIC = ("email_pages.confirm_page", "email_pages.confirm_submit")


@bp.before_request
def _guard() -> Any:
    if request.endpoint in _PUBLIC:
        return None
    auth, redirect_resp = require_page_session()
    if auth is None:
        return redirect("/login?next=%2Faccount%2Femail", code=303)
    if request.method == "POST":
        check_csrf_form()
    return None


def _email_page(status: int = 200, **context: Any) -> Any:
    context.setdefault("fresh", account_data.is_fresh(g.auth.record))
    context.setdefault("error_code", None)
    context.setdefault("sent_to", None)
    context.setdefault("value", "")
    # The confirmation sends a code and a link; the page says how long the code lives.
    context.setdefault(
        "code_within", duration_in_words(settings().login_code_max_age, page_locale())
    )
    return _page("pages/account/email.html", status=status, **context)


@bp.get("/account/email")
def email_page() -> Any:
    return _email_page()


@bp.post("/account/email")
def email_submit() -> Any:
    new_email = request.form.get("email", "")[:320]
    try:
        email_change.request_change(
            customer=g.auth.customer, session=g.auth.record, new_email=new_email
        )
    except ProblemError as err:
        if err.code not in ("invalid_request", "reauth_required", "rate_limited"):
            raise
        return _email_page(status=err.status, error_code=err.code, value=new_email)
    return _email_page(status=202, sent_to=new_email.strip())


@bp.post("/account/email/reauth")
def email_reauth() -> Any:
    """ "Confirm it's you": a fresh code and link to the current address, back to this page."""
    from loginsvc.auth.attempt_pages import waiting_page

    try:
        handle = login.request_login_link(
            email=g.auth.customer.email,
            next_url="/account/email",
            locale=g.auth.customer.locale,
            ip=sessions.client_ip(),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except ProblemError as err:
        if err.code != "rate_limited":
            raise
        return _email_page(status=429, error_code=err.code)
    return waiting_page(handle, status=202)


def _confirm_error(err: ProblemError) -> Any:
    resp = render_page("pages/email_confirm.html", status=err.status, error_code=err.code)
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/account/email/confirm")
def confirm_page() -> Any:
    token = request.args.get("token", "")
    try:
        change = email_change.check_confirmation(token)
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _confirm_error(err)
    resp = render_page(
        "pages/email_confirm.html", token=token, new_email=change.new_email, error_code=None
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.post("/account/email/confirm")
def confirm_submit() -> Any:
    _check_form_origin()
    try:
        customer = email_change.confirm(request.form.get("token", ""))
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _confirm_error(err)
    resp = render_page(
        "pages/email_confirm.html", done=True, new_email=customer.email, error_code=None
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
