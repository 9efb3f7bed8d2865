"""CONTRACT §4b: WooCommerce's built-in webhooks onto the one order ingest."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.api.platform_support import b64_hmac, fixture, rows, together
from tests.helpers import bearer, sign_in

SECRET = "wc-secret-5c1f0e8d2b7a4e6f"
PATH = "/api/v1/webhooks/woocommerce"


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(woocommerce_webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def signed(payload: Any, topic: str = "order.created", *, secret: str = SECRET,
           delivery: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    resource, _, event = topic.partition(".")
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Source": "https://shop.example/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": b64_hmac(secret, body),
        "X-WC-Webhook-ID": "3",
        "X-WC-Webhook-Delivery-ID": delivery or uuid.uuid4().hex,
    }


def send(web: Any, payload: Any, topic: str = "order.created", **kw: Any) -> Any:
    body, headers = signed(payload, topic, **kw)
    return web.post(PATH, data=body, headers=headers)


def test_bad_signature_is_401_and_nothing_stored(shop, web):
    body, headers = signed(fixture("woocommerce/order_created.json"))
    headers["X-WC-Webhook-Signature"] = b64_hmac("not-the-secret", body)
    r = web.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert rows(shop, "Order") == [] and rows(shop, "Customer") == []


def test_unsigned_json_is_401_not_a_ping(shop, web):
    body, headers = signed(fixture("woocommerce/order_created.json"))
    del headers["X-WC-Webhook-Signature"]
    r = web.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


def test_the_ping_sent_when_a_webhook_is_saved_is_200(shop, web):
    r = web.post(PATH, data=b"webhook_id=3",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.get_json() == {"ping": True}
    assert rows(shop, "Customer") == []


def test_first_order_opens_the_account_and_sends_the_welcome(shop, web, mailbox):
    r = send(web, fixture("woocommerce/order_created.json"))
    assert r.status_code == 201, r.get_json()
    [c] = rows(shop, "Customer")
    assert r.get_json() == {"order_id": "727", "customer_id": c.id, "account_created": True}
    assert (c.name, c.phone) == ("Ana Ruiz", "+34600111222")
    [mail] = mailbox.wait_for("ana.ruiz@example.com")
    assert "/login/verify?token=" in mail.text


def test_order_in_history_with_exact_money_and_status(shop, web, mailbox):
    send(web, fixture("woocommerce/order_created.json"))
    auth = bearer(sign_in(web, mailbox, "ana.ruiz@example.com")["session_token"])
    [o] = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert (o["order_id"], o["status"], o["currency"], o["total"]) == (
        "727", "paid", "EUR", "59.90")
    assert o["placed_at"] == "2026-11-22T10:00:00Z"  # date_created_gmt
    assert [(i["sku"], i["quantity"], i["unit_price"]) for i in o["items"]] == [
        ("TS-RED-M", 2, "19.95"), (None, 1, "10.00")]
    assert o["billing_address"] == {
        "name": "Ana Ruiz", "line1": "Calle Mayor 1", "line2": "2º B", "city": "Madrid",
        "postal_code": "28013", "region": "M", "country": "ES", "phone": "+34600111222"}


def test_replayed_delivery_gives_the_first_answer_and_no_second_effect(shop, web, mailbox):
    body, headers = signed(fixture("woocommerce/order_created.json"), delivery="d-1")
    first = web.post(PATH, data=body, headers=headers)
    again = web.post(PATH, data=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Webhook-Replayed"] == "true"
    assert len(rows(shop, "Order")) == 1
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.2)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_unknown_topic_is_200_ignored(shop, web):
    r = send(web, {"id": 93, "name": "T-shirt"}, "product.updated")
    assert r.status_code == 200 and r.get_json() == {"ignored": True}
    r = send(web, fixture("woocommerce/order_created.json"), "order.deleted")
    assert r.status_code == 200 and r.get_json() == {"ignored": True}
    assert rows(shop, "Order") == []


def test_ten_concurrent_first_orders_for_one_address_one_account(shop, mailbox):
    reqs = []
    for n in range(10):
        p = fixture("woocommerce/order_created.json")
        p["id"], p["number"] = 800 + n, str(800 + n)
        reqs.append(signed(p))
    answers = together(shop, PATH, reqs)
    assert Counter(s for s, _ in answers) == {201: 10}, answers
    [c] = rows(shop, "Customer")
    assert sum(b["account_created"] for _, b in answers) == 1
    assert len(rows(shop, "Order")) == 10 and c.totals == {"EUR": "599.00"}
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.3)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_guest_checkout_zero_decimal_currency_unicode_and_tracking(shop, web, mailbox):
    r = send(web, fixture("woocommerce/order_guest_jpy_unicode.json"))
    assert r.status_code == 201 and r.get_json()["order_id"] == "4750"
    [o] = rows(shop, "Order")
    assert (o.status, o.currency, o.total) == ("fulfilled", "JPY", 5500)
    assert o.items[0] == {"product_id": "501", "sku": "MATCHA-2", "name": "抹茶セット",
                          "quantity": 2, "unit_price": "2500"}
    assert o.tracking == {"carrier": "InPost", "number": "6800000000",
                          "url": "https://inpost.pl/sledzenie-przesylek?number=6800000000"}
    c = rows(shop, "Customer")[0]
    assert (c.name, c.totals) == ("Zoë Łukasiewicz-Øster", {"JPY": "5500"})
    # A platform guest checkout still opens loginsvc's passwordless account (docs/integration.md).
    assert c.has_account is True
    mailbox.wait_for("zoe@example.pl")


def test_partial_refund_update_keeps_the_net_total(shop, web):
    send(web, fixture("woocommerce/order_created.json"))
    r = send(web, fixture("woocommerce/order_partially_refunded.json"), "order.updated")
    assert r.status_code == 200 and r.get_json()["order_id"] == "727"
    [o] = rows(shop, "Order")
    assert (o.status, str(o.total)) == ("paid", "49.9000")
    assert rows(shop, "Customer")[0].totals == {"EUR": "49.90"}


def test_order_without_billing_email_is_ignored(shop, web):
    p = fixture("woocommerce/order_created.json")
    p["billing"]["email"] = ""
    r = send(web, p)
    assert r.status_code == 200 and r.get_json()["ignored"] is True
    assert rows(shop, "Order") == []


def test_unsupported_currency_is_422_and_nothing_stored(shop, web):
    p = fixture("woocommerce/order_created.json")
    p["currency"] = "XBT"
    r = send(web, p)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_request"
    assert rows(shop, "Order") == []
