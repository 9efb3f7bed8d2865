"""/api/v1/auth: the mailed code and sign-in from another device (CONTRACT §3a)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from loginsvc.auth import attempt_signin, sessions
from loginsvc.auth.login import SignIn
from loginsvc.core.errors import ProblemError
from loginsvc.core.spec import endpoint
from loginsvc.core.timefmt import rfc3339
from loginsvc.customers.schemas import CustomerOut, customer_out, iso

bp = Blueprint("auth_attempts", __name__, url_prefix="/api/v1/auth")

# The HTML flow keeps the asker's handle here (HttpOnly: page scripts never see it).
ATTEMPT_COOKIE = "loginsvc_attempt"

SIGN_IN_ERRORS = ["csrf_failed", "unsupported_media_type", "account_blocked", "account_pending"]


def require_own_json_call() -> None:
    """Calls that set the session cookie: JSON only, and never from a foreign page.

    A cross-site form cannot send application/json without a CORS preflight; the
    Origin rule is the one every sign-in uses (sessions.check_sign_in_origin).
    """
    if not request.is_json:
        raise ProblemError(415, "unsupported_media_type", "Send the request as application/json.")
    sessions.check_sign_in_origin()


@bp.before_request
def _own_json_calls_only() -> None:
    # Before the body is parsed: a form post from elsewhere is refused as such, not as a 422.
    if request.method == "POST":
        require_own_json_call()


def signed_in_response(result: SignIn) -> Response:
    resp = jsonify(
        customer=customer_out(result.customer),
        session_token=result.session_token,
        expires_at=iso(result.expires_at),
        next=result.next_url,
    )
    sessions.set_cookie(resp, result.session_token)
    resp.delete_cookie(ATTEMPT_COOKIE, path="/")
    return resp


class VerifyCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    attempt: str | None = Field(
        default=None, min_length=1, max_length=200, description="From POST /login-link"
    )
    email: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        description="Instead of `attempt`: the address (its newest login mail's code)",
    )
    code: str = Field(min_length=1, max_length=20, description="The 6 digits in the e-mail")

    @model_validator(mode="after")
    def _one_of(self) -> VerifyCodeIn:
        if (self.attempt is None) == (self.email is None):
            raise ValueError("give either attempt or email")
        return self


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=4096, description="The link's token")
    match: str = Field(min_length=1, max_length=10, description="The number the asker shows")


class AttemptSignInOut(BaseModel):
    customer: CustomerOut
    session_token: str
    expires_at: str
    next: str | None = Field(description="The safe `next` the sign-in was asked with")


class AttemptOut(BaseModel):
    status: str = Field(description="pending | approved | signed_in | expired")
    match: str = Field(description="The 2-digit number the asking device shows")
    expires_at: str


@endpoint(
    bp,
    "/verify-code",
    "POST",
    summary="Sign in with the 6-digit code from the e-mail",
    body=VerifyCodeIn,
    response=AttemptSignInOut,
    errors=["invalid_code", "code_expired", "too_many_attempts", "token_used", *SIGN_IN_ERRORS],
    tags=["auth"],
)
def verify_code(body: VerifyCodeIn) -> Any:
    result = attempt_signin.verify_code(attempt=body.attempt, email=body.email, code=body.code)
    return signed_in_response(result)


@endpoint(
    bp,
    "/attempts/<attempt>",
    "GET",
    summary="The asking device's view of its attempt (needs the handle or its cookie)",
    response=AttemptOut,
    errors=["not_found"],
    tags=["auth"],
)
def attempt_status(attempt: str) -> Any:
    a = attempt_signin.status_of(attempt=attempt, cookie=request.cookies.get(ATTEMPT_COOKIE))
    return jsonify(status=a.current_status, match=a.match, expires_at=rfc3339(a.expires_at))


@endpoint(
    bp,
    "/approve",
    "POST",
    summary="From the link: sign in the device that asked, by its number",
    body=ApproveIn,
    status=204,
    errors=[
        "match_mismatch",
        "approval_closed",
        "invalid_token",
        "token_expired",
        "token_used",
        "token_revoked",
        *SIGN_IN_ERRORS,
    ],
    tags=["auth"],
)
def approve(body: ApproveIn) -> Any:
    attempt_signin.approve(token=body.token, match=body.match)
    return Response(status=204)


@endpoint(
    bp,
    "/attempts/<attempt>/complete",
    "POST",
    summary="The asking device signs in once approved (needs the handle or its cookie)",
    response=AttemptSignInOut,
    errors=["not_approved", "token_used", "not_found", "token_revoked", *SIGN_IN_ERRORS],
    tags=["auth"],
)
def complete(attempt: str) -> Any:
    result = attempt_signin.complete(attempt=attempt, cookie=request.cookies.get(ATTEMPT_COOKIE))
    return signed_in_response(result)
