"""Passkeys and linked identities over JSON (CONTRACT §3b, §3c).

/api/v1/me/passkeys, /api/v1/auth/passkey and /api/v1/me/identities.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from loginsvc.auth import oidc, passkeys, sessions, signin_gate
from loginsvc.auth.sessions import Authenticated
from loginsvc.auth.views import SignInOut
from loginsvc.core.errors import ProblemError
from loginsvc.core.pagination import PageQuery
from loginsvc.core.spec import endpoint
from loginsvc.customers.devices import describe_user_agent
from loginsvc.customers.schemas import customer_out, iso

bp = Blueprint("passkeys", __name__)


class OptionsOut(BaseModel):
    options: dict[str, Any]


class PasskeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    credential: dict[str, Any] = Field(description="PublicKeyCredential.toJSON() of create()")
    name: str | None = Field(default=None, max_length=100)


class PasskeyRename(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)


class AssertionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    credential: dict[str, Any] = Field(description="PublicKeyCredential.toJSON() of get()")


class PasskeyOut(BaseModel):
    id: int
    name: str
    created_at: str
    last_used_at: str | None


class PasskeysOut(BaseModel):
    passkeys: list[PasskeyOut]
    next_cursor: str | None


class IdentityOut(BaseModel):
    id: int
    provider: str
    label: str
    email: str | None
    created_at: str
    last_used_at: str | None


class IdentitiesOut(BaseModel):
    identities: list[IdentityOut]
    next_cursor: str | None


def _auth() -> Authenticated:
    auth = sessions.current()
    assert auth is not None
    return auth


def _json_only() -> None:
    if request.mimetype != "application/json":
        raise ProblemError(415, "unsupported_media_type", "Send the credential as JSON.")


def _our_origin_only() -> None:
    """A browser's sign-in must come from our pages (login CSRF); API clients send no Origin."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/").lower() not in sessions.allowed_origins():
        raise ProblemError(403, "csrf_failed", "This request did not come from our pages.")


@endpoint(
    bp,
    "/api/v1/me/passkeys/options",
    "POST",
    summary="Creation options for a new passkey (navigator.credentials.create)",
    response=OptionsOut,
    auth="session",
    tags=["passkeys"],
)
def registration_options() -> Any:
    return jsonify(options=passkeys.registration_options(customer=_auth().customer))


@endpoint(
    bp,
    "/api/v1/me/passkeys",
    "POST",
    summary="Register the passkey the browser created",
    body=PasskeyIn,
    response=PasskeyOut,
    status=201,
    errors=["invalid_passkey", "conflict", "unsupported_media_type"],
    auth="session",
    tags=["passkeys"],
)
def register(body: PasskeyIn) -> Any:
    _json_only()
    auth = _auth()
    passkey = passkeys.register(
        customer=auth.customer,
        credential=body.credential,
        name=body.name,
        default_name=describe_user_agent(request.headers.get("User-Agent") or ""),
    )
    return jsonify(passkeys.passkey_out(passkey)), 201


@endpoint(
    bp,
    "/api/v1/me/passkeys",
    "GET",
    summary="The shopper's passkeys, newest first",
    query=PageQuery,
    response=PasskeysOut,
    auth="session",
    tags=["passkeys"],
)
def list_passkeys(query: PageQuery) -> Any:
    rows, nxt = passkeys.page_passkeys(
        customer_id=_auth().customer.id, limit=query.limit, cursor=query.cursor
    )
    return jsonify(passkeys=[passkeys.passkey_out(p) for p in rows], next_cursor=nxt)


@endpoint(
    bp,
    "/api/v1/me/passkeys/<passkey_id>",
    "PATCH",
    summary="Rename a passkey",
    body=PasskeyRename,
    response=PasskeyOut,
    errors=["not_found"],
    auth="session",
    tags=["passkeys"],
)
def rename(passkey_id: str, body: PasskeyRename) -> Any:
    p = passkeys.rename(customer_id=_auth().customer.id, passkey_id=passkey_id, name=body.name)
    return jsonify(passkeys.passkey_out(p))


@endpoint(
    bp,
    "/api/v1/me/passkeys/<passkey_id>",
    "DELETE",
    status=204,
    summary="Remove a passkey",
    errors=["not_found"],
    auth="session",
    tags=["passkeys"],
)
def remove(passkey_id: str) -> Any:
    passkeys.remove(customer_id=_auth().customer.id, passkey_id=passkey_id)
    return Response(status=204)


@endpoint(
    bp,
    "/api/v1/auth/passkey/options",
    "POST",
    summary="Request options for signing in with a passkey (discoverable, no address needed)",
    response=OptionsOut,
    errors=["rate_limited"],
    tags=["auth"],
)
def authentication_options() -> Any:
    signin_gate.limit_attempts(kind="passkey-ip", ip=sessions.client_ip())
    return jsonify(options=passkeys.authentication_options())


@endpoint(
    bp,
    "/api/v1/auth/passkey/verify",
    "POST",
    summary="Sign in with the passkey assertion the browser made",
    body=AssertionIn,
    raw_body=True,
    response=SignInOut,
    errors=[
        "invalid_passkey",
        "account_blocked",
        "account_pending",
        "accounts_disabled",
        "csrf_failed",
        "unsupported_media_type",
    ],
    tags=["auth"],
)
def verify() -> Any:
    _our_origin_only()
    _json_only()
    from loginsvc.core.spec import json_body, parse_model

    body = parse_model(AssertionIn, json_body())
    assert isinstance(body, AssertionIn)
    result = passkeys.authenticate(credential=body.credential)
    resp = jsonify(
        customer=customer_out(result.customer),
        session_token=result.session_token,
        expires_at=iso(result.expires_at),
    )
    sessions.set_cookie(resp, result.session_token)
    return resp


@endpoint(
    bp,
    "/api/v1/me/identities",
    "GET",
    summary="The provider accounts (OpenID Connect) that sign this shopper in",
    response=IdentitiesOut,
    auth="session",
    tags=["me"],
)
def list_identities() -> Any:
    rows = oidc.list_identities(customer_id=_auth().customer.id)
    return jsonify(identities=[oidc.identity_out(i) for i in rows], next_cursor=None)


@endpoint(
    bp,
    "/api/v1/me/identities/<identity_id>",
    "DELETE",
    status=204,
    summary="Unlink a provider account (the e-mailed link always remains a way in)",
    errors=["not_found", "last_sign_in_method"],
    auth="session",
    tags=["me"],
)
def remove_identity(identity_id: str) -> Any:
    oidc.remove_identity(customer=_auth().customer, identity_id=identity_id)
    return Response(status=204)
