"""/widget.js, the newsletter API and its confirmation / unsubscribe pages (CONTRACT §10)."""

from __future__ import annotations

import importlib.resources
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from loginsvc.auth import sessions
from loginsvc.auth.sessions import client_ip
from loginsvc.core.errors import ProblemError
from loginsvc.core.render import render_page
from loginsvc.core.spec import endpoint
from loginsvc.storefront import newsletter

bp = Blueprint("storefront", __name__)

_WIDGET: bytes | None = None


def widget_source() -> bytes:
    global _WIDGET
    if _WIDGET is None:
        _WIDGET = (importlib.resources.files("loginsvc") / "static" / "widget.js").read_bytes()
    return _WIDGET


@bp.get("/widget.js")
def widget() -> Response:
    resp = Response(widget_source(), mimetype="text/javascript")
    resp.headers["Cache-Control"] = "public, max-age=300"
    # Storefronts on other origins load it with <script src>; that needs no CORS.
    resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return resp


class WidgetSessionOut(BaseModel):
    signed_in: bool


@endpoint(
    bp,
    "/api/v1/widget/session",
    "GET",
    response=WidgetSessionOut,
    tags=["storefront"],
    summary="Is this browser signed in? (200 either way: no 401 noise in the console)",
)
def widget_session() -> Any:
    return {"signed_in": sessions.current(required=False) is not None}


class NewsletterSignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320)
    locale: str | None = Field(default=None, max_length=35)


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=2048)


class NewsletterSentOut(BaseModel):
    status: str


@endpoint(
    bp,
    "/api/v1/newsletter",
    "POST",
    body=NewsletterSignupIn,
    response=NewsletterSentOut,
    status=202,
    tags=["newsletter"],
    errors=["rate_limited"],
    summary="Newsletter sign-up: mails a confirmation link (double opt-in)",
)
def signup(body: NewsletterSignupIn) -> Any:
    newsletter.request_signup(email=body.email, locale=body.locale, ip=client_ip())
    return {"status": "sent"}, 202


@endpoint(
    bp,
    "/api/v1/newsletter/unsubscribe",
    "POST",
    body=UnsubscribeIn,
    status=204,
    tags=["newsletter"],
    errors=["invalid_token"],
    summary="Unsubscribe with the token from any newsletter mail",
)
def unsubscribe_api(body: UnsubscribeIn) -> Any:
    newsletter.unsubscribe(token=body.token)
    return Response(status=204)


@bp.get("/newsletter/confirm")
def confirm_page() -> Response:
    token = request.args.get("token", "")[:2048]
    try:
        email = newsletter.check_confirm_token(token)
    except ProblemError as err:
        return render_page("pages/newsletter.html", status=err.status, state="bad_link")
    # Mail scanners open links: GET shows a button, only the POST confirms.
    return render_page("pages/newsletter.html", state="confirm", token=token, email=email)


@bp.post("/newsletter/confirm")
def confirm_post() -> Response:
    token = request.form.get("token", "")[:2048]
    try:
        customer = newsletter.confirm(token=token)
    except ProblemError as err:
        return render_page("pages/newsletter.html", status=err.status, state="bad_link")
    return render_page(
        "pages/newsletter.html",
        state="subscribed",
        email=customer.email,
        unsubscribe=newsletter.unsubscribe_link(customer.email_norm),
    )


@bp.get("/newsletter/unsubscribe")
def unsubscribe_page() -> Response:
    token = request.args.get("token", "")[:2048]
    return render_page("pages/newsletter.html", state="unsubscribe", token=token)


@bp.post("/newsletter/unsubscribe")
def unsubscribe_post() -> Response:
    # Also the RFC 8058 one-click POST (body List-Unsubscribe=One-Click, token in the URL).
    token = (request.form.get("token") or request.args.get("token") or "")[:2048]
    try:
        newsletter.unsubscribe(token=token)
    except ProblemError as err:
        return render_page("pages/newsletter.html", status=err.status, state="bad_link")
    return render_page("pages/newsletter.html", state="unsubscribed")
