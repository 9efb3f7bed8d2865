"""Social sign-in pages: /login/oidc/{name} and its callback (CONTRACT §3c).

Every failure of the callback is an HTML page with a 4xx status and no session.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, g, redirect, request

from loginsvc.auth import login, oidc, sessions, signin_gate
from loginsvc.core.errors import ProblemError
from loginsvc.core.render import render_page
from loginsvc.core.runtime import settings, store

bp = Blueprint("oidc_pages", __name__)

BINDING_COOKIE = "loginsvc_oidc"


def _signed_in_customer() -> int | None:
    """Who this browser is signed in as, read without the write-origin check.

    The callback may be a cross-site POST (Apple's form_post): that is not a
    write by our session, and the state decides whether it is genuine.
    """
    token = sessions.presented_token()
    record = store().get_session(token) if token else None
    return record.customer_id if record is not None else None


def _cookie_args() -> dict[str, Any]:
    https = settings().public_url.startswith("https://")
    # A form_post callback is a cross-site POST: only SameSite=None (https) carries the cookie.
    return {
        "httponly": True,
        "secure": https,
        "samesite": "None" if https else "Lax",
        "path": "/login/oidc/",
    }


@bp.get("/login/oidc/<name>")
def start(name: str) -> Any:
    binding = request.cookies.get(BINDING_COOKIE) or ""
    if not 20 <= len(binding) <= 100:
        binding = secrets.token_urlsafe(32)
    link_to = _signed_in_customer() if request.args.get("link") == "1" else None
    nxt = login.safe_next(request.args.get("next"))
    try:
        signin_gate.limit_attempts(kind="oidc-ip", ip=sessions.client_ip())
        url = oidc.begin(name=name, next_url=nxt, binding=binding, link_to=link_to)
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _failure(err)
    resp = redirect(url, code=302)
    resp.set_cookie(BINDING_COOKIE, binding, max_age=settings().oidc_flow_ttl, **_cookie_args())
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.route("/login/oidc/<name>/callback", methods=["GET", "POST"])
def callback(name: str) -> Any:
    src = request.form if request.method == "POST" else request.args

    def field(key: str) -> str | None:
        value = src.get(key)
        return value[:4096] if isinstance(value, str) and value else None

    answer = oidc.Callback(
        state=field("state"),
        code=field("code"),
        error=field("error"),
        error_description=field("error_description"),
    )
    try:
        result = oidc.finish(
            name=name,
            answer=answer,
            binding=request.cookies.get(BINDING_COOKIE),
            signed_in_as=_signed_in_customer(),
        )
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        return _failure(err)
    resp = redirect(result.next_url or "/account", code=303)
    resp.headers["Referrer-Policy"] = "no-referrer"
    # The provider's answer arrives cross-site by design (a redirect, or Apple's
    # form_post); what makes it this browser's own is the state bound to its
    # loginsvc_oidc cookie, checked by oidc.finish, not the Origin.
    sessions.origin_vouched_by_binding()
    sessions.set_cookie(resp, result.session_token)
    return resp


def _failure(err: ProblemError) -> Any:
    resp = render_page(
        "pages/oidc_error.html",
        status=err.status if 400 <= err.status < 500 else 400,
        code=err.code,
        detail=err.detail,
        email=str(err.extra.get("email") or ""),
    )
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.app_context_processor
def _sign_in_choices() -> dict[str, Any]:
    def sign_in_providers() -> list[tuple[str, str]]:
        return [(p.name, p.label) for p in settings().oidc_providers]

    def offer_passkey() -> bool:
        auth = g.get("auth")
        if auth is None or auth.record.method == "passkey":
            return False
        from loginsvc.auth.passkeys import count_for

        return count_for(auth.customer.id) == 0

    return {"sign_in_providers": sign_in_providers, "offer_passkey": offer_passkey}
