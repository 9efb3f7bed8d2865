"""Orders: the shop backend's signed webhook in, the shopper's history out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, make_response, redirect, request
from pydantic import BaseModel

from loginsvc.auth import sessions
from loginsvc.core.pagination import PageQuery
from loginsvc.core.render import render_page
from loginsvc.core.runtime import settings
from loginsvc.core.signed_calls import signed_endpoint
from loginsvc.core.spec import endpoint, require_json_media
from loginsvc.orders import service as orders
from loginsvc.orders.ingest import ingest_order
from loginsvc.orders.schemas import OrderEventIn, parse_event

bp = Blueprint("orders", __name__)

# Shops retry failed webhooks for up to a few days (Shopify 48 h, WooCommerce and
# Stripe-style senders up to 3 days), so a delivery id is remembered that long.
REPLAY_TTL = 3 * 86400


class IngestOut(BaseModel):
    order_id: str
    customer_id: int | None
    account_created: bool


class ItemOut(BaseModel):
    product_id: str | None
    sku: str | None
    name: str
    quantity: int
    unit_price: str


class TrackingOut(BaseModel):
    carrier: str | None
    number: str | None
    url: str | None


class OrderOut(BaseModel):
    order_id: str
    placed_at: str
    status: str
    currency: str
    total: str
    billing_address: dict[str, Any] | None
    shipping_address: dict[str, Any] | None
    invoice_url: str | None
    tracking: TrackingOut | None
    item_count: int
    items: list[ItemOut]


class OrderListOut(BaseModel):
    orders: list[OrderOut]
    next_cursor: str | None


@endpoint(
    bp,
    "/api/v1/webhooks/orders",
    "POST",
    auth="signature",
    tags=["webhooks"],
    summary="Receive order.placed / order.updated from the shop backend (signed)",
    body=OrderEventIn,
    raw_body=True,
    response=IngestOut,
    status=201,
)
@signed_endpoint(secrets=lambda: settings().webhook_secrets, scope="orders", replay_ttl=REPLAY_TTL)
def order_webhook() -> Response:
    # The signature is checked before the body is even parsed: unsigned junk gets a 401.
    require_json_media()
    event = parse_event(request.get_data(cache=True))
    result = ingest_order(event)
    body = {
        "order_id": result.order_id,
        "customer_id": result.customer_id,
        "account_created": result.account_created,
    }
    return make_response(jsonify(body), 201 if result.created else 200)


@endpoint(
    bp,
    "/api/v1/me/orders",
    "GET",
    auth="session",
    tags=["me"],
    query=PageQuery,
    response=OrderListOut,
    summary="Every order placed with this address, newest first",
)
def my_orders(query: PageQuery) -> Any:
    auth = sessions.current()
    assert auth is not None
    rows, next_cursor = orders.list_orders_for(
        customer_id=auth.customer.id, limit=query.limit, cursor=query.cursor
    )
    return jsonify(orders=[orders.order_out(o) for o in rows], next_cursor=next_cursor)


@endpoint(
    bp,
    "/api/v1/me/orders/<order_id>",
    "GET",
    auth="session",
    tags=["me"],
    response=OrderOut,
    errors=["order_not_found"],
    summary="One order with its items",
)
def my_order(order_id: str) -> Any:
    auth = sessions.current()
    assert auth is not None
    order = orders.get_order_for(customer_id=auth.customer.id, order_id=order_id)
    return jsonify(orders.order_out(order))


@endpoint(
    bp,
    "/api/v1/me/orders/<order_id>/invoice",
    "GET",
    auth="session",
    tags=["me"],
    errors=["order_not_found"],
    response_media="text/html",
    status=200,
    summary="302 to the shop's invoice, or a printable HTML invoice",
)
def my_invoice(order_id: str) -> Any:
    auth = sessions.current()
    assert auth is not None
    order = orders.get_order_for(customer_id=auth.customer.id, order_id=order_id)
    if order.invoice_url:
        return redirect(order.invoice_url, 302)
    return render_page("pages/invoice.html", **orders.invoice_for(order))
