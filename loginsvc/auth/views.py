"""/api/v1/auth: login links, verification, sign-out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from loginsvc.auth import login, sessions
from loginsvc.core.emails import parse_email
from loginsvc.core.i18n import SUPPORTED
from loginsvc.core.spec import endpoint
from loginsvc.customers.schemas import CustomerOut, customer_out, iso

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


class LoginLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(
        max_length=320, description="The shopper's address", json_schema_extra={"format": "email"}
    )
    next: str | None = Field(
        default=None,
        max_length=2048,
        description="Where to land after sign-in (same origin or allowed)",
    )
    locale: str | None = Field(default=None, max_length=35, description=", ".join(SUPPORTED))

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        parse_email(v)
        return v


class SentOut(BaseModel):
    status: str = "sent"
    attempt: str = Field(description="This attempt's handle: for verify-code, attempts/{attempt}")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=4096)


class SignInOut(BaseModel):
    customer: CustomerOut
    session_token: str
    expires_at: str


@endpoint(
    bp,
    "/login-link",
    "POST",
    summary="E-mail a single-use login link",
    body=LoginLinkIn,
    response=SentOut,
    status=202,
    errors=["rate_limited", "accounts_disabled"],
    tags=["auth"],
)
def login_link(body: LoginLinkIn) -> Any:
    handle = login.request_login_link(
        email=body.email,
        next_url=body.next,
        locale=body.locale,
        ip=sessions.client_ip(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    return jsonify(status="sent", attempt=handle), 202


@endpoint(
    bp,
    "/verify",
    "POST",
    summary="Consume a login token and start a session",
    body=VerifyIn,
    response=SignInOut,
    errors=[
        "invalid_token",
        "token_expired",
        "token_used",
        "token_revoked",
        "account_blocked",
        "account_pending",
        "accounts_disabled",
        "csrf_failed",
        "unsupported_media_type",
    ],
    tags=["auth"],
)
def verify(body: VerifyIn) -> Any:
    sessions.check_sign_in_origin()
    result = login.verify_and_sign_in(body.token)
    resp = jsonify(
        customer=customer_out(result.customer),
        session_token=result.session_token,
        expires_at=iso(result.expires_at),
    )
    sessions.set_cookie(resp, result.session_token)
    return resp


@endpoint(
    bp, "/logout", "POST", summary="End this session", status=204, auth="session", tags=["auth"]
)
def logout() -> Any:
    sessions.end_current()
    resp = Response(status=204)
    sessions.clear_cookie(resp)
    return resp


@endpoint(
    bp,
    "/logout-all",
    "POST",
    status=204,
    auth="session",
    tags=["auth"],
    summary="End every session of this customer and void every earlier login link",
)
def logout_all() -> Any:
    auth = sessions.current()
    assert auth is not None
    login.logout_all(auth.customer)
    resp = Response(status=204)
    sessions.clear_cookie(resp)
    return resp
