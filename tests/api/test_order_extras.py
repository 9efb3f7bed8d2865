"""CONTRACT §4a: guest orders open no account; tracking is kept and shown."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_orders_webhook import SECRET, customers, order, post, stored_order
from tests.helpers import bearer, sign_in

TRACKING = {"carrier": "DHL", "number": "JD0146000033",
            "url": "https://www.dhl.com/track?id=JD0146000033"}


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def test_guest_order_is_kept_without_an_account_or_mail(shop, web, mailbox):
    r = post(web, order("g1", "guest@example.com", guest=True))
    assert r.status_code == 201
    assert r.get_json() == {"order_id": "g1", "customer_id": None, "account_created": False}
    [c] = customers(shop)
    assert (c.email, c.has_account, c.order_count) == ("guest@example.com", False, 1)
    assert stored_order(shop, "g1").customer_id == c.id
    assert mailbox.to("guest@example.com") == []


def test_guest_order_of_an_account_holder_shows_in_the_history(shop, web, mailbox):
    assert post(web, order("a1", "ana@example.com")).get_json()["account_created"] is True
    r = post(web, order("a2", "ana@example.com", guest=True, placed_at="2026-11-23T10:00:00Z"))
    assert r.status_code == 201
    assert r.get_json()["customer_id"] == customers(shop)[0].id
    auth = bearer(sign_in(web, mailbox, "ana@example.com")["session_token"])
    body = web.get("/api/v1/me/orders", headers=auth).get_json()
    assert [o["order_id"] for o in body["orders"]] == ["a2", "a1"]


def test_guest_false_opens_the_account_as_before(shop, web, mailbox):
    r = post(web, order("n1", "new@example.com", guest=False))
    assert r.status_code == 201 and r.get_json()["account_created"] is True
    assert len(mailbox.wait_for("new@example.com")) == 1


def test_guest_must_be_a_boolean(shop, web):
    r = post(web, order("b1", "x@example.com", guest="yes"))
    assert r.status_code == 422
    body = r.get_json()
    assert body["code"] == "invalid_request"
    assert [e["field"] for e in body["errors"]] == ["data.guest"]


def test_tracking_kept_and_in_the_api(shop, web, mailbox):
    assert post(web, order("t1", "ana@example.com", tracking=TRACKING)).status_code == 201
    assert stored_order(shop, "t1").tracking == TRACKING
    auth = bearer(sign_in(web, mailbox, "ana@example.com")["session_token"])
    one = web.get("/api/v1/me/orders/t1", headers=auth)
    assert one.status_code == 200 and one.get_json()["tracking"] == TRACKING
    listed = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert listed[0]["tracking"] == TRACKING


def test_order_without_tracking_answers_null(shop, web, mailbox):
    post(web, order("t0", "ana@example.com"))
    auth = bearer(sign_in(web, mailbox, "ana@example.com")["session_token"])
    assert web.get("/api/v1/me/orders/t0", headers=auth).get_json()["tracking"] is None


def test_tracking_arrives_with_an_update_and_survives_a_later_one(shop, web, mailbox):
    post(web, order("t2", "ana@example.com"))
    shipped = order("t2", "ana@example.com", status="fulfilled", tracking=TRACKING)
    shipped["type"] = "order.updated"
    assert post(web, shipped).status_code == 200
    later = order("t2", "ana@example.com", status="refunded")
    later["type"] = "order.updated"
    assert post(web, later).status_code == 200
    o = stored_order(shop, "t2")
    assert (o.status, o.tracking) == ("refunded", TRACKING)


def test_tracking_shown_on_the_order_page_and_the_history(shop, web, mailbox):
    post(web, order("t3", "ana@example.com", tracking=TRACKING))
    sign_in(web, mailbox, "ana@example.com")  # the test client keeps the session cookie
    page = web.get("/account/orders/t3")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="https://www.dhl.com/track?id=JD0146000033"' in html
    assert "DHL" in html and "JD0146000033" in html
    history = web.get("/account/orders").get_data(as_text=True)
    assert 'href="https://www.dhl.com/track?id=JD0146000033"' in history


@pytest.mark.parametrize("tracking, field", [
    ({"carrier": "DHL", "url": "javascript:alert(1)"}, "data.tracking.url"),
    ({"carrier": "DHL", "weight": 3}, "data.tracking.weight"),
    ({"number": 12345}, "data.tracking.number"),
])
def test_bad_tracking_is_refused_and_nothing_stored(shop, web, tracking, field):
    r = post(web, order("t4", "ana@example.com", tracking=tracking))
    assert r.status_code == 422
    assert r.get_json()["code"] == "invalid_request"
    assert field in [e["field"] for e in r.get_json()["errors"]]
    assert stored_order(shop, "t4") is None
