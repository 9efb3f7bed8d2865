"""CONTRACT §4b: Shopify's own webhooks onto the one order ingest."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.api.platform_support import b64_hmac, fixture, rows, together
from tests.helpers import bearer, sign_in

SECRET = "shpss_0123456789abcdef0123456789abcdef"
OLD = "shpss_olderolderolderolderolderolder"
PATH = "/api/v1/webhooks/shopify"


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(shopify_webhook_secrets=(SECRET, OLD))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def signed(payload: Any, topic: str = "orders/create", *, secret: str = SECRET,
           webhook_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": b64_hmac(secret, body),
        "X-Shopify-Shop-Domain": "example-shop.myshopify.com",
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-22T10:00:01.000000Z",
    }


def send(web: Any, payload: Any, topic: str = "orders/create", **kw: Any) -> Any:
    body, headers = signed(payload, topic, **kw)
    return web.post(PATH, data=body, headers=headers)


def test_bad_signature_is_401_and_nothing_stored(shop, web):
    body, headers = signed(fixture("shopify/orders_create.json"))
    headers["X-Shopify-Hmac-Sha256"] = b64_hmac("someone-else", body)
    r = web.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    del headers["X-Shopify-Hmac-Sha256"]
    r = web.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert rows(shop, "Order") == [] and rows(shop, "Customer") == []


def test_tampered_body_is_401(shop, web):
    body, headers = signed(fixture("shopify/orders_create.json"))
    r = web.post(PATH, data=body.replace(b"59.90", b"0.01"), headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert rows(shop, "Order") == []


def test_first_order_opens_the_account_and_sends_the_welcome(shop, web, mailbox):
    r = send(web, fixture("shopify/orders_create.json"))
    assert r.status_code == 201, r.get_json()
    [c] = rows(shop, "Customer")
    assert r.get_json() == {"order_id": "1001", "customer_id": c.id, "account_created": True}
    assert (c.email, c.name, c.phone, c.newsletter) == (
        "Ana.Ruiz@Example.com", "Ana Ruiz", "+34600111222", True)
    [mail] = mailbox.wait_for("ana.ruiz@example.com")
    assert "/login/verify?token=" in mail.text


def test_order_in_history_with_exact_money_status_and_addresses(shop, web, mailbox):
    send(web, fixture("shopify/orders_create.json"))
    auth = bearer(sign_in(web, mailbox, "ana.ruiz@example.com")["session_token"])
    [o] = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert (o["order_id"], o["status"], o["currency"], o["total"]) == (
        "1001", "paid", "EUR", "59.90")
    assert o["placed_at"] == "2026-11-22T10:00:00Z"  # +01:00 in the payload
    assert o["items"] == [
        {"product_id": "8012345678901", "sku": "TS-RED-M", "name": "T-shirt - Red / M",
         "quantity": 2, "unit_price": "19.95"},
        {"product_id": "8012345678902", "sku": None, "name": "Gift wrap", "quantity": 1,
         "unit_price": "10.00"},
    ]
    assert o["billing_address"] == {
        "name": "Ana Ruiz", "line1": "Calle Mayor 1", "line2": "2º B", "city": "Madrid",
        "postal_code": "28013", "region": "M", "country": "ES", "phone": "+34600111222"}
    assert o["shipping_address"]["city"] == "Madrid"
    me = web.get("/api/v1/me", headers=auth).get_json()
    assert me["totals"] == [{"currency": "EUR", "amount": "59.90"}]


def test_replayed_delivery_gives_the_first_answer_and_no_second_effect(shop, web, mailbox):
    body, headers = signed(fixture("shopify/orders_create.json"), webhook_id="wh-replay-1")
    first = web.post(PATH, data=body, headers=headers)
    again = web.post(PATH, data=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Webhook-Replayed"] == "true"
    assert len(rows(shop, "Order")) == 1 and rows(shop, "Customer")[0].order_count == 1
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.2)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_unknown_topic_is_200_ignored(shop, web):
    r = send(web, {"id": 1, "title": "T-shirt"}, "products/update")
    assert r.status_code == 200 and r.get_json() == {"ignored": True}
    assert rows(shop, "Customer") == []


def test_ten_concurrent_first_orders_for_one_address_one_account(shop, mailbox):
    reqs = []
    for n in range(10):
        p = fixture("shopify/orders_create.json")
        p["name"], p["id"] = f"#20{n:02d}", 7000 + n
        reqs.append(signed(p))
    answers = together(shop, PATH, reqs)
    assert Counter(s for s, _ in answers) == {201: 10}, answers
    [c] = rows(shop, "Customer")
    assert {b["customer_id"] for _, b in answers} == {c.id}
    assert sum(b["account_created"] for _, b in answers) == 1
    assert len(rows(shop, "Order")) == 10 and c.totals == {"EUR": "599.00"}
    mailbox.wait_for("ana.ruiz@example.com")
    time.sleep(0.3)
    assert len(mailbox.to("ana.ruiz@example.com")) == 1


def test_zero_decimal_currency_unicode_names_and_tracking(shop, web, mailbox):
    r = send(web, fixture("shopify/orders_fulfilled_jpy_unicode.json"), "orders/fulfilled")
    assert r.status_code == 201 and r.get_json()["order_id"] == "1002"
    [o] = rows(shop, "Order")
    assert (o.status, o.currency, str(o.total)) == ("fulfilled", "JPY", "5500.0000")
    assert o.tracking == {"carrier": "Yamato (JA)", "number": "1234-5678-9012",
                          "url": "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number=123456789012"}
    assert o.placed_at.isoformat() == "2026-11-23T00:30:00+00:00"
    c = rows(shop, "Customer")[0]
    assert (c.name, c.company, c.totals) == ("花子 山田", "株式会社サンプル", {"JPY": "5500"})
    auth = bearer(sign_in(web, mailbox, "hanako@example.jp")["session_token"])
    got = web.get("/api/v1/me/orders/1002", headers=auth).get_json()
    assert got["total"] == "5500" and got["items"][0]["unit_price"] == "2500"


def test_order_without_customer_or_email_is_ignored(shop, web):
    r = send(web, fixture("shopify/orders_create_no_customer.json"))
    assert r.status_code == 200
    assert r.get_json()["ignored"] is True and "e-mail" in r.get_json()["reason"]
    assert rows(shop, "Order") == []


def test_refund_update_changes_status_and_takes_the_money_back(shop, web):
    send(web, fixture("shopify/orders_create.json"))
    r = send(web, fixture("shopify/orders_refunded.json"), "orders/updated")
    assert r.status_code == 200 and r.get_json()["order_id"] == "1001"
    [o] = rows(shop, "Order")
    assert o.status == "refunded"
    assert rows(shop, "Customer")[0].totals == {}


def test_paid_before_create_still_stores_the_order_once(shop, web):
    p = fixture("shopify/orders_create.json")
    assert send(web, p, "orders/paid").status_code == 201
    assert send(web, p, "orders/create").status_code == 200
    assert len(rows(shop, "Order")) == 1


def test_customers_redact_deletes_the_customer_as_self_deletion_does(shop, web, mailbox):
    send(web, fixture("shopify/orders_create.json"))
    r = send(web, fixture("shopify/customers_redact.json"), "customers/redact")
    assert r.status_code == 200 and r.get_json() == {"deleted": True}
    assert rows(shop, "Customer") == []
    [o] = rows(shop, "Order")
    assert (o.customer_id, o.billing_address, o.customer_info) == (None, None, None)
    [notice] = mailbox.wait_for("owner@shop.test")
    assert "Ana.Ruiz@Example.com" in notice.text


def test_customers_redact_for_an_unknown_address(shop, web):
    r = send(web, fixture("shopify/customers_redact.json"), "customers/redact")
    assert r.status_code == 200 and r.get_json()["deleted"] is False


def test_customers_data_request_mails_the_export_to_the_owner(shop, web, mailbox):
    send(web, fixture("shopify/orders_create.json"))
    r = send(web, fixture("shopify/customers_data_request.json"), "customers/data_request")
    assert r.status_code == 200 and r.get_json() == {"mailed": True}
    [mail] = mailbox.wait_for("owner@shop.test")
    assert "request 9999" in mail.text and "example-shop.myshopify.com" in mail.text
    export = json.loads(mail.text[mail.text.index("{"):])
    assert export["profile"]["email"] == "Ana.Ruiz@Example.com"
    assert [o["order_id"] for o in export["orders"]] == ["1001"]


def test_shop_redact_is_acknowledged_and_deletes_nothing(shop, web):
    send(web, fixture("shopify/orders_create.json"))
    r = send(web, fixture("shopify/shop_redact.json"), "shop/redact")
    assert r.status_code == 200 and r.get_json()["ignored"] is True
    assert len(rows(shop, "Customer")) == 1


def test_older_secret_still_verifies_during_rotation(shop, web):
    r = send(web, fixture("shopify/orders_create.json"), secret=OLD)
    assert r.status_code == 201


def test_not_configured_refuses_everything(make_app):
    web = make_app().test_client()
    r = send(web, fixture("shopify/orders_create.json"))
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


def test_line_removed_by_an_order_edit_is_left_out(shop, web):
    p = fixture("shopify/orders_create.json")
    p["line_items"][1]["quantity"] = 0
    p["current_total_price"] = "49.90"
    r = send(web, p, "orders/updated")
    assert r.status_code == 201
    [o] = rows(shop, "Order")
    assert [i["sku"] for i in o.items] == ["TS-RED-M"] and str(o.total) == "49.9000"


def test_an_older_copy_arriving_late_does_not_undo_a_newer_one(shop, web):
    send(web, fixture("shopify/orders_create.json"))
    assert send(web, fixture("shopify/orders_refunded.json"), "orders/updated").status_code == 200
    late = fixture("shopify/orders_create.json")  # updated_at three days earlier
    assert send(web, late, "orders/paid").status_code == 200
    [o] = rows(shop, "Order")
    assert o.status == "refunded"
    assert rows(shop, "Customer")[0].totals == {}
