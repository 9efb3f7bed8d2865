"""The platforms' webhook endpoints (CONTRACT §4b): check, de-duplicate, map, ingest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request

from loginsvc.core.delivery_once import answer_once
from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import settings
from loginsvc.core.spec import endpoint
from loginsvc.orders.platforms import ecwid, privacy, shopify, woocommerce
from loginsvc.orders.platforms.common import (
    Unmappable,
    hmac_b64_matches,
    ignored,
    ingest,
    load_json,
    require_signature,
)

bp = Blueprint("platforms", __name__)
log = logging.getLogger("loginsvc.platforms")

_HOOK: dict[str, Any] = {
    "auth": "signature",
    "tags": ["webhooks"],
    "raw_body": True,
    "status": 200,
    "also_status": (201,),
    "body_required": False,
    "errors": ["invalid_request"],
}


def _once(scope: str, delivery_id: str | None, handle: Callable[[], Response]) -> Response:
    if not delivery_id:
        return handle()  # ingest is idempotent by order number; only the replay answer differs
    return answer_once(scope=scope, delivery_id=delivery_id[:256], handle=handle)


def _map_and_ingest(order_type: str, mapper: Callable[[], dict[str, Any]]) -> Response:
    try:
        data = mapper()
    except Unmappable as exc:
        return ignored(str(exc))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProblemError(
            422, "invalid_request", f"The order could not be read: {type(exc).__name__}."
        ) from None
    return ingest(order_type, data)


def _json_object(body: bytes) -> dict[str, Any]:
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise ProblemError(
            422,
            "invalid_request",
            "The body must be a JSON object.",
            errors=[{"field": "body", "message": "must be a JSON object"}],
        )
    return payload


@endpoint(
    bp,
    "/api/v1/webhooks/shopify",
    "POST",
    **_HOOK,
    summary="Shopify orders/* and privacy webhooks (X-Shopify-Hmac-Sha256)",
)
def shopify_webhook() -> Response:
    body = request.get_data(cache=True)
    require_signature(
        hmac_b64_matches(
            settings().shopify_webhook_secrets, body, request.headers.get("X-Shopify-Hmac-Sha256")
        )
    )
    topic = request.headers.get("X-Shopify-Topic", "")

    def handle() -> Response:
        if topic in shopify.ORDER_TOPICS:
            payload = _json_object(body)
            return _map_and_ingest(shopify.ORDER_TOPICS[topic], lambda: shopify.to_order(payload))
        if topic == "customers/redact":
            return make_response(jsonify(privacy.redact_customer(_json_object(body))), 200)
        if topic == "customers/data_request":
            return make_response(jsonify(privacy.mail_data_request(_json_object(body))), 200)
        if topic == "shop/redact":
            return ignored("the customer register belongs to the shop owner; nothing is deleted")
        return ignored()

    return _once("shopify", request.headers.get("X-Shopify-Webhook-Id"), handle)


@endpoint(
    bp,
    "/api/v1/webhooks/woocommerce",
    "POST",
    **_HOOK,
    content_types=["application/json", "application/x-www-form-urlencoded"],
    summary="WooCommerce order.created / order.updated (X-WC-Webhook-Signature)",
)
def woocommerce_webhook() -> Response:
    body = request.get_data(cache=True)
    signature = request.headers.get("X-WC-Webhook-Signature")
    if signature is None and woocommerce.is_ping(body, request.mimetype, request.form):
        # WooCommerce checks the URL answers 2xx when a webhook is saved; nothing to do.
        return make_response(jsonify({"ping": True}), 200)
    require_signature(hmac_b64_matches(settings().woocommerce_webhook_secrets, body, signature))
    topic = request.headers.get("X-WC-Webhook-Topic", "")

    def handle() -> Response:
        if topic not in woocommerce.ORDER_TOPICS:
            return ignored()
        payload = _json_object(body)
        return _map_and_ingest(
            woocommerce.ORDER_TOPICS[topic], lambda: woocommerce.to_order(payload)
        )

    return _once("woocommerce", request.headers.get("X-WC-Webhook-Delivery-ID"), handle)


@endpoint(
    bp,
    "/api/v1/webhooks/ecwid",
    "POST",
    **_HOOK,
    summary="Ecwid order.created / order.updated (X-Ecwid-Webhook-Signature)",
)
def ecwid_webhook() -> Response:
    s = settings()
    body = request.get_data(cache=True)
    try:
        payload = load_json(body)
    except ProblemError:
        payload = None
    if not isinstance(payload, dict) or not s.ecwid_client_secret:
        raise ProblemError(401, "invalid_signature", "The signature does not match.")
    event_id = str(payload.get("eventId") or "")
    # Ecwid signs "{eventCreated}.{eventId}", not the body: the order itself is read
    # from Ecwid's API, never taken from the body.
    signed = f"{payload.get('eventCreated')}.{event_id}".encode()
    require_signature(
        bool(event_id)
        and hmac_b64_matches(
            (s.ecwid_client_secret,), signed, request.headers.get("X-Ecwid-Webhook-Signature")
        )
    )
    event_type = str(payload.get("eventType") or "")

    def handle() -> Response:
        if event_type not in ecwid.ORDER_TOPICS:
            return ignored()
        if s.ecwid_store_id and str(payload.get("storeId")) != s.ecwid_store_id:
            return ignored("another store")
        order_id = str((payload.get("data") or {}).get("orderId") or payload.get("entityId") or "")
        if not order_id:
            return ignored("the event names no order")
        try:
            order = ecwid.fetch_order(order_id)
            currency = str(order.get("currency") or ecwid.store_currency())
        except ecwid.OrderGone:
            return ignored("Ecwid has no such order any more")
        except ecwid.EcwidUnavailable as exc:
            log.warning("Ecwid order %s not read, Ecwid will retry: %s", order_id, exc)
            # Not remembered as answered: Ecwid's retry fetches the order afresh.
            raise ProblemError(
                503,
                "service_unavailable",
                "Ecwid's API could not be reached; retry later.",
                headers={"Retry-After": "60"},
            ) from None
        return _map_and_ingest(
            ecwid.ORDER_TOPICS[event_type], lambda: ecwid.to_order(order, currency=currency)
        )

    return _once("ecwid", event_id, handle)
