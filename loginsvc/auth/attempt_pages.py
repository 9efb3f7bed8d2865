"""HTML for §3a: the "check your mail" page (code, number, wait) and approving from the link.

Works without JavaScript (each step is a form); with it, static/attempt.js
polls the attempt and finishes the sign-in by itself once it is approved.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from loginsvc.auth import attempt_signin, attempts, sessions
from loginsvc.auth.attempt_views import ATTEMPT_COOKIE
from loginsvc.auth.login import SignIn
from loginsvc.auth.pages import _check_form_origin, _token_error_page
from loginsvc.core.errors import ProblemError
from loginsvc.core.i18n import duration_in_words
from loginsvc.core.render import page_locale, render_page
from loginsvc.core.runtime import settings
from loginsvc.core.timefmt import rfc3339

bp = Blueprint("attempt_pages", __name__)

# Failures the pages explain in place; anything else (503, 500) is not theirs.
_CODE_ERRORS = (
    "invalid_code",
    "code_expired",
    "too_many_attempts",
    "token_used",
    "not_approved",
    "not_found",
    "account_blocked",
    "account_pending",
    "token_revoked",
    "accounts_disabled",
)


def _set_attempt_cookie(resp: Response, handle: str) -> None:
    resp.set_cookie(
        ATTEMPT_COOKIE,
        handle,
        max_age=settings().login_code_max_age + attempts.GRACE,
        httponly=True,
        samesite="Lax",
        secure=settings().public_url.startswith("https://"),
        path="/",
    )


def waiting_page(
    handle: str, *, status: int = 200, error: ProblemError | None = None, set_cookie: bool = True
) -> Response:
    """ "Check your inbox": type the code here, or approve this device from the link."""
    attempt_id, _ = attempts.split_handle(handle)
    a = attempts.load(attempt_id)
    resp = render_page(
        "pages/sent.html",
        status=status,
        attempt_id=attempt_id,
        match=a.match if a else "",
        attempt_status=a.current_status if a else "expired",
        error_code=error.code if error else None,
        error_detail=error.detail if error else "",
        attempts_left=error.extra.get("attempts_left") if error else None,
        # The page says how long the link works: LOGIN_LINK_MAX_AGE in the page's words.
        valid_for=duration_in_words(settings().login_link_max_age, page_locale()),
    )
    if set_cookie:
        _set_attempt_cookie(resp, handle)
    return resp


def _signed_in(result: SignIn) -> BaseResponse:
    resp = redirect(result.next_url or "/account", code=303)
    resp.headers["Referrer-Policy"] = "no-referrer"
    sessions.set_cookie(resp, result.session_token)
    resp.delete_cookie(ATTEMPT_COOKIE, path="/")
    return resp


def _handle() -> str | None:
    return request.cookies.get(ATTEMPT_COOKIE) or None


@bp.get("/login/code")
def code_page() -> Any:
    handle = _handle()
    if handle is None or attempts.owned(handle) is None:
        return redirect("/login", code=303)
    return waiting_page(handle, set_cookie=False)


@bp.post("/login/code")
def code_submit() -> Any:
    _check_form_origin()
    handle = _handle()
    if handle is None:
        return redirect("/login", code=303)
    try:
        result = attempt_signin.verify_code(attempt=handle, code=request.form.get("code", ""))
    except ProblemError as err:
        if err.code not in _CODE_ERRORS:
            raise
        return waiting_page(handle, status=err.status, error=err, set_cookie=False)
    return _signed_in(result)


@bp.route("/login/with-code", methods=["GET", "POST"])
def code_by_address() -> Any:
    """A code from any login mail (a welcome mail, say), typed with its address."""
    email = (request.values.get("email") or "")[:320]
    if request.method == "GET":
        return render_page("pages/code.html", email=email, error_code=None, attempts_left=None)
    _check_form_origin()
    try:
        result = attempt_signin.verify_code(email=email, code=request.form.get("code", ""))
    except ProblemError as err:
        if err.code not in _CODE_ERRORS:
            raise
        return render_page(
            "pages/code.html",
            status=err.status,
            email=email,
            error_code=err.code,
            attempts_left=err.extra.get("attempts_left"),
        )
    return _signed_in(result)


@bp.post("/login/attempt/complete")
def complete_submit() -> Any:
    """The "continue" button of the waiting page (the script does the same by itself)."""
    _check_form_origin()
    handle = _handle()
    if handle is None:
        return redirect("/login", code=303)
    try:
        result = attempt_signin.complete(attempt=handle, cookie=None)
    except ProblemError as err:
        if err.code not in _CODE_ERRORS:
            raise
        return waiting_page(handle, status=err.status, error=err, set_cookie=False)
    return _signed_in(result)


def device_context(token: str) -> dict[str, Any]:
    """What the link's page says about the device that asked (read only: GET-safe)."""
    a = attempt_signin.device_that_asked(token)
    if a is None:
        return {"device": None}
    return {
        "device": {
            "name": a.device,
            "ip_prefix": a.ip_prefix,
            "asked_at": rfc3339(a.created_at),
        }
    }


@bp.post("/login/approve")
def approve_submit() -> Any:
    _check_form_origin()
    token = request.form.get("token", "")
    try:
        attempt_signin.approve(token=token, match=request.form.get("match", ""))
    except ProblemError as err:
        if err.code in ("match_mismatch", "approval_closed"):
            resp = render_page(
                "pages/verify.html",
                status=err.status,
                token=token,
                error_code=err.code,
                attempts_left=err.extra.get("attempts_left"),
                **device_context(token),
            )
            resp.headers["Referrer-Policy"] = "no-referrer"
            return resp
        if err.code == "service_unavailable":
            raise
        return _token_error_page(err, token)
    resp = render_page("pages/approved.html")
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
