"""WordPress single sign-on (CONTRACT §6): the signed API and the ticket page."""

from __future__ import annotations

import re
from typing import Annotated, Any

from flask import Blueprint, Response, jsonify, make_response, redirect, request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loginsvc.auth import sessions
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import ProblemError
from loginsvc.core.render import render_error_page
from loginsvc.core.runtime import settings
from loginsvc.core.signed_calls import signed_endpoint
from loginsvc.core.spec import endpoint, parse_model
from loginsvc.sso import wordpress

bp = Blueprint("sso", __name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# WordPress user ids are positive integers; a string form is accepted too
# (JSON encoders in PHP sometimes quote them). Stored as a string either way.
WpUserId = Annotated[int | str, Field(description="The WordPress user ID (`ID` of wp_users).")]


def _wp_user_id(value: int | str) -> str:
    text = str(value).strip()
    if isinstance(value, int) and value < 1:
        raise ValueError("must be a positive integer")
    if not text or len(text) > 64 or _CONTROL.search(text):
        raise ValueError("must be 1 to 64 printable characters")
    return text


def _email(value: str) -> str:
    return parse_email(value).display


class WordPressLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(
        max_length=320,
        description="The address WordPress vouches for.",
        json_schema_extra={"format": "email"},
    )
    name: str | None = Field(default=None, max_length=200)
    wp_user_id: WpUserId
    next: str | None = Field(
        default=None, max_length=2048, description="Where to go after sign-in; dropped unless safe."
    )

    @field_validator("email")
    @classmethod
    def _mail(cls, value: str) -> str:
        return _email(value)

    @field_validator("wp_user_id")
    @classmethod
    def _id(cls, value: int | str) -> str:
        return _wp_user_id(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _CONTROL.sub("", value).strip()
        return value or None


class WordPressTicket(BaseModel):
    login_url: str
    expires_in: int


class WordPressLogout(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    wp_user_id: WpUserId | None = None
    email: str | None = Field(default=None, max_length=320)

    @field_validator("wp_user_id")
    @classmethod
    def _id(cls, value: int | str | None) -> str | None:
        return None if value is None else _wp_user_id(value)

    @field_validator("email")
    @classmethod
    def _mail(cls, value: str | None) -> str | None:
        return None if value is None else _email(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> WordPressLogout:
        if (self.wp_user_id is None) == (self.email is None):
            raise ValueError("give exactly one of wp_user_id and email")
        return self


def _body(model: type[BaseModel]) -> Any:
    # Parsed after the signature check (the decorator below), so an unsigned
    # call learns nothing about our validation rules.
    from loginsvc.core.spec import json_body

    return parse_model(model, json_body())


@endpoint(
    bp,
    "/api/v1/sso/wordpress/login",
    "POST",
    summary="Issue a one-time sign-in ticket",
    body=WordPressLogin,
    response=WordPressTicket,
    auth="signature",
    raw_body=True,
    tags=["sso"],
)
# One webhook-id namespace per endpoint: an id reused by a logout must not be
# answered with an earlier login's ticket (the sessions would stay alive).
@signed_endpoint(secrets=lambda: settings().wordpress_sso_secrets, scope="wp-login", replay_ttl=600)
def wordpress_login() -> Response:
    body: WordPressLogin = _body(WordPressLogin)
    login_url, expires_in = wordpress.issue_ticket(
        email=body.email, name=body.name, wp_user_id=str(body.wp_user_id), next_url=body.next
    )
    return make_response(jsonify(login_url=login_url, expires_in=expires_in), 200)


@endpoint(
    bp,
    "/api/v1/sso/wordpress/logout",
    "POST",
    summary="End a WordPress user's sessions",
    body=WordPressLogout,
    status=204,
    auth="signature",
    raw_body=True,
    tags=["sso"],
)
@signed_endpoint(
    secrets=lambda: settings().wordpress_sso_secrets, scope="wp-logout", replay_ttl=600
)
def wordpress_logout() -> Response:
    body: WordPressLogout = _body(WordPressLogout)
    wordpress.logout(
        wp_user_id=None if body.wp_user_id is None else str(body.wp_user_id), email=body.email
    )
    return make_response("", 204)


@bp.get(wordpress.TICKET_PATH)
def wordpress_ticket() -> Any:
    # The ticket is consumed by this GET, unlike e-mailed login links (which
    # only show a button, because mail scanners prefetch them): no scanner sees
    # this URL. WordPress redirects the browser to it right away, it lives 60 s
    # and is never written into a mail or page.
    try:
        # Before the ticket is taken: a refused request leaves it usable.
        sessions.check_sign_in_origin(navigation=True)
        result = wordpress.redeem_ticket(request.args.get("t", ""))
    except ProblemError as err:
        if err.code == "service_unavailable":
            raise
        resp = render_error_page(err)
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp
    done = redirect(result.next_url or "/account", code=303)
    done.headers["Referrer-Policy"] = "no-referrer"  # the ticket is in this URL
    done.headers["Cache-Control"] = "no-store"
    sessions.set_cookie(done, result.session_token)
    return done
