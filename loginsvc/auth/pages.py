"""Server-rendered pages: sign-in, the link landing page and the account placeholder.

Plain HTML forms, usable without JavaScript, no external assets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, redirect, request

from loginsvc.auth import login, sessions
from loginsvc.core.error_texts import error_text
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.render import page_locale, render_page
from loginsvc.core.runtime import login_tokens

bp = Blueprint("pages", __name__)


def _check_form_origin() -> None:
    """Forms may only be posted from our own pages (no login CSRF)."""
    sessions.check_sign_in_origin()


@bp.get("/")
def index() -> Any:
    return redirect("/account", code=302)


@bp.get("/login")
def login_form() -> Any:
    return render_page(
        "pages/login.html",
        email=request.args.get("email", "")[:320],
        next=login.safe_next(request.args.get("next")) or "",
    )


@bp.post("/login")
def login_submit() -> Any:
    _check_form_origin()
    email = request.form.get("email", "")
    nxt = request.form.get("next") or None
    try:
        handle = login.request_login_link(
            email=email,
            next_url=nxt,
            locale=page_locale(),
            ip=sessions.client_ip(),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except (ValueError, InvalidRequest):
        return render_page(
            "pages/login.html",
            status=422,
            email=email[:320],
            next=nxt or "",
            error=error_text("invalid_request"),
        )
    except ProblemError as err:
        if err.code in ("rate_limited", "accounts_disabled"):
            resp = render_page(
                "pages/login.html",
                status=err.status,
                email=email[:320],
                next=nxt or "",
                error=error_text(err.code),
            )
            resp.headers.update(err.headers)
            return resp
        raise
    from loginsvc.auth.attempt_pages import waiting_page

    return waiting_page(handle, status=202)


def _token_error_page(err: ProblemError, token: str | None) -> Any:
    # A genuine but used or expired link names its address: one press sends a new link.
    email = login_tokens().peek_email(token) if token else None
    resp = render_page(
        "pages/token_error.html", status=err.status, code=err.code, email=email or ""
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/login/verify")
def verify_page() -> Any:
    # Mail scanners open links to check them: the GET only shows a button, and
    # the token is consumed by the POST that button sends.
    token = request.args.get("token", "")
    try:
        login.check_token(token)
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _token_error_page(err, token)
    from loginsvc.auth.attempt_pages import device_context

    resp = render_page("pages/verify.html", token=token, **device_context(token))
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.post("/login/verify")
def verify_submit() -> Any:
    _check_form_origin()
    token = request.form.get("token", "")
    try:
        result = login.verify_and_sign_in(token)
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _token_error_page(err, token)
    resp = redirect(result.next_url or "/account", code=303)
    resp.headers["Referrer-Policy"] = "no-referrer"
    sessions.set_cookie(resp, result.session_token)
    return resp


@bp.post("/logout")
def logout_submit() -> Any:
    auth = sessions.current(required=False)
    if auth is not None:
        from loginsvc.core.render import check_csrf_form

        check_csrf_form()
        sessions.end_current()
    resp = redirect("/login", code=303)
    sessions.clear_cookie(resp)
    return resp


def require_page_session() -> Any:
    """The signed-in shopper, or a redirect response to the sign-in page."""
    auth = sessions.current(required=False)
    if auth is None:
        return None, redirect(
            "/login?" + urlencode({"next": request.full_path.rstrip("?")}), code=302
        )
    return auth, None
