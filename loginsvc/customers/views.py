"""/api/v1/me: the signed-in shopper's own data (CONTRACT §5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel

from loginsvc.auth import sessions
from loginsvc.auth.sessions import Authenticated
from loginsvc.core.pagination import PageQuery
from loginsvc.core.spec import endpoint, json_body, parse_model
from loginsvc.customers import account_data, devices, profile, wishlist
from loginsvc.customers.schemas import CustomerOut, customer_out

bp = Blueprint("me", __name__)


def _auth() -> Authenticated:
    auth = sessions.current()
    assert auth is not None
    return auth


class WishlistItemOut(BaseModel):
    product_id: str
    name: str | None
    url: str | None
    image_url: str | None
    price: str | None
    currency: str | None
    added_at: str


class WishlistOut(BaseModel):
    items: list[WishlistItemOut]
    next_cursor: str | None


class SessionOut(BaseModel):
    id: str
    created_at: str
    last_seen_at: str
    user_agent: str
    ip_prefix: str
    current: bool
    method: str


class SessionsOut(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None


class ExportOut(BaseModel):
    exported_at: str
    shop: str
    profile: dict[str, Any]
    orders: list[dict[str, Any]]
    wishlist: list[WishlistItemOut]
    sessions: list[dict[str, Any]]
    passkeys: list[dict[str, Any]]
    linked_accounts: list[dict[str, Any]]
    newsletter_consent: list[dict[str, Any]]


# -- profile ------------------------------------------------------------------


@endpoint(
    bp,
    "/api/v1/me",
    "GET",
    summary="The signed-in shopper",
    response=CustomerOut,
    auth="session",
    tags=["me"],
)
def get_me() -> Any:
    return jsonify(customer_out(_auth().customer))


@endpoint(
    bp,
    "/api/v1/me",
    "PATCH",
    summary="Change name, phone, company, locale, newsletter or addresses (not the e-mail address)",
    body=profile.ProfileChange,
    response=CustomerOut,
    auth="session",
    tags=["me"],
)
def patch_me(body: profile.ProfileChange) -> Any:
    return jsonify(customer_out(profile.update_profile(_auth().customer, body)))


@endpoint(
    bp,
    "/api/v1/me",
    "DELETE",
    status=204,
    auth="session",
    tags=["me"],
    errors=["reauth_required"],
    summary="Delete the account and personal data for good (needs a recent sign-in)",
)
def delete_me() -> Any:
    auth = _auth()
    account_data.require_fresh(auth.record)
    account_data.delete_customer_data(auth.customer.id, by="customer")
    resp = Response(status=204)
    sessions.clear_cookie(resp)
    return resp


@endpoint(
    bp,
    "/api/v1/me/export",
    "GET",
    summary="Every personal datum held, as one document",
    response=ExportOut,
    auth="session",
    tags=["me"],
)
def export_me() -> Any:
    auth = _auth()
    doc = account_data.export_for(
        auth.customer, session_records=devices.list_devices(customer_id=auth.customer.id)
    )
    return jsonify(doc)


# -- wishlist -----------------------------------------------------------------


@endpoint(
    bp,
    "/api/v1/me/wishlist",
    "GET",
    summary="The whole wishlist, newest first",
    response=WishlistOut,
    auth="session",
    tags=["me"],
)
def get_wishlist() -> Any:
    items = wishlist.list_items(customer_id=_auth().customer.id)
    return jsonify(items=[wishlist.item_out(i) for i in items], next_cursor=None)


@endpoint(
    bp,
    "/api/v1/me/wishlist/<product_id>",
    "PUT",
    status=201,
    also_status=(200,),
    body_required=False,
    summary="Add a product (idempotent: 201 new, 200 already there); the body, "
    "optional, is a snapshot of the product",
    response=WishlistItemOut,
    body=wishlist.Snapshot,
    raw_body=True,
    errors=["wishlist_full", "invalid_request"],
    auth="session",
    tags=["me"],
)
def put_wishlist(product_id: str) -> Any:
    auth = _auth()
    wishlist.check_product_id(product_id)
    snapshot = None
    if request.get_data(cache=True).strip():
        parsed = parse_model(wishlist.Snapshot, json_body())
        assert isinstance(parsed, wishlist.Snapshot)
        snapshot = parsed
    item, created = wishlist.add_item(
        customer_id=auth.customer.id, product_id=product_id, snapshot=snapshot
    )
    return jsonify(wishlist.item_out(item)), 201 if created else 200


@endpoint(
    bp,
    "/api/v1/me/wishlist/<product_id>",
    "DELETE",
    status=204,
    summary="Remove a product (204 also when it was not there)",
    errors=["invalid_request"],
    auth="session",
    tags=["me"],
)
def delete_wishlist(product_id: str) -> Any:
    wishlist.remove_item(customer_id=_auth().customer.id, product_id=product_id)
    return Response(status=204)


# -- devices ------------------------------------------------------------------


@endpoint(
    bp,
    "/api/v1/me/sessions",
    "GET",
    summary="The shopper's signed-in devices, newest first",
    query=PageQuery,
    response=SessionsOut,
    auth="session",
    tags=["me"],
)
def get_sessions(query: PageQuery) -> Any:
    records, next_cursor = devices.page_devices(
        customer_id=_auth().customer.id, limit=query.limit, cursor=query.cursor
    )
    return jsonify(sessions=[devices.session_out(r) for r in records], next_cursor=next_cursor)


@endpoint(
    bp,
    "/api/v1/me/sessions/<session_id>",
    "DELETE",
    status=204,
    summary="Sign one device out",
    errors=["not_found"],
    auth="session",
    tags=["me"],
)
def delete_session(session_id: str) -> Any:
    auth = _auth()
    devices.sign_out_device(customer_id=auth.customer.id, session_id=session_id)
    resp = Response(status=204)
    if session_id == auth.record.id:
        sessions.clear_cookie(resp)
    return resp
