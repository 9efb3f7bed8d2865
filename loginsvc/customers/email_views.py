"""/api/v1/me/email: the shopper changes the address they sign in with (CONTRACT §5a)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from loginsvc.auth import sessions
from loginsvc.core.spec import endpoint
from loginsvc.customers import email_change

bp = Blueprint("me_email", __name__, url_prefix="/api/v1/me")


class EmailChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320, description="The new address; it gets a confirmation link")


class EmailChangeOut(BaseModel):
    status: str = "sent"


@endpoint(
    bp,
    "/email",
    "POST",
    summary="Change the e-mail address: a confirmation link goes to the new address",
    body=EmailChangeIn,
    response=EmailChangeOut,
    status=202,
    auth="session",
    errors=["reauth_required", "rate_limited"],
    tags=["me"],
)
def change_email(body: EmailChangeIn) -> Any:
    auth = sessions.current()
    assert auth is not None
    email_change.request_change(customer=auth.customer, session=auth.record, new_email=body.email)
    return jsonify(status="sent"), 202
