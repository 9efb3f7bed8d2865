"""/admin/login, the link's landing page, sign-out and the owner's own sessions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import redirect, request

from loginsvc.admin.console import auth, sessions
from loginsvc.admin.console.base import bp, console, done, page
from loginsvc.auth.sessions import client_ip
from loginsvc.core.errors import ProblemError


@bp.get("")
@bp.get("/")
def home() -> Any:
    return redirect("/admin/customers", code=302)


@bp.get("/login")
def login_form() -> Any:
    attempt = request.args.get("attempt", "")[:64]
    return page("pages/admin/login.html", sent=bool(attempt), attempt=attempt, code_error=None)


@bp.post("/login")
def login_submit() -> Any:
    email = request.form.get("email", "")[:320]
    attempt = auth.request_admin_link(email=email, ip=client_ip())
    # The same answer whether or not the address may use the console.
    return redirect(f"/admin/login?{urlencode({'attempt': attempt})}", code=303)


@bp.post("/login/code")
def login_code() -> Any:
    attempt = request.form.get("attempt", "")[:64]
    try:
        member = auth.consume_admin_code(attempt=attempt, code=request.form.get("code", "")[:12])
    except ProblemError as err:
        return page(
            "pages/admin/login.html",
            status=err.status,
            sent=err.code == "invalid_code",
            attempt=attempt,
            code_error=err.code,
        )
    return _signed_in(member)


def _signed_in(member: Any) -> Any:
    token = sessions.start_admin_session(member)
    resp = redirect("/admin/customers", code=303)
    sessions.set_cookie(resp, token)
    return resp


@bp.get("/login/verify")
def verify_form() -> Any:
    # A GET never spends the link: mail scanners fetch links before people click them.
    token = request.args.get("token", "")
    try:
        auth.check_admin_token(token)
    except ProblemError as err:
        return page("pages/admin/link_error.html", status=err.status, code=err.code)
    return page("pages/admin/verify.html", token=token)


@bp.post("/login/verify")
def verify() -> Any:
    try:
        member = auth.consume_admin_token(request.form.get("token", ""))
    except ProblemError as err:
        return page("pages/admin/link_error.html", status=err.status, code=err.code)
    return _signed_in(member)


@bp.post("/logout")
def logout() -> Any:
    c = console()
    sessions.end_admin_session(c.member.email_norm, c.session.id)
    resp = redirect("/admin/login", code=303)
    sessions.clear_cookie(resp)
    return resp


@bp.get("/sessions")
def sessions_page() -> Any:
    c = console()
    return page(
        "pages/admin/sessions.html",
        sessions=sessions.list_admin_sessions(c.member.email_norm),
        current_id=c.session.id,
    )


@bp.post("/sessions/<session_id>/end")
def end_session(session_id: str) -> Any:
    c = console()
    sessions.end_admin_session(c.member.email_norm, session_id[:32])
    if session_id == c.session.id:
        resp = redirect("/admin/login", code=303)
        sessions.clear_cookie(resp)
        return resp
    return done("/admin/sessions", "session_ended")
