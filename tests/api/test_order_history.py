"""CONTRACT §5 (orders): history, one order, invoice; guest orders joining later."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.test_orders_webhook import SECRET, order, post
from tests.helpers import bearer, sign_in


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def signed_in(web: Any, mailbox: Any, address: str) -> dict[str, str]:
    return bearer(sign_in(web, mailbox, address)["session_token"])


def test_history_newest_first_with_items(web, mailbox):
    post(web, order("old", "ana@example.com", placed_at="2026-01-01T10:00:00Z"))
    post(web, order("new", "ana@example.com", placed_at="2026-02-01T10:00:00+02:00",
                    invoice_url=None))
    auth = signed_in(web, mailbox, "ana@example.com")
    r = web.get("/api/v1/me/orders", headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert [o["order_id"] for o in body["orders"]] == ["new", "old"]
    assert body["next_cursor"] is None
    first = body["orders"][0]
    assert first["placed_at"] == "2026-02-01T08:00:00Z"
    assert (first["status"], first["currency"], first["total"]) == ("paid", "EUR", "59.90")
    assert first["items"][0] == {"product_id": "p-7", "sku": "TS-RED-M", "name": "T-shirt",
                                 "quantity": 2, "unit_price": "19.95"}
    assert first["item_count"] == 2 and first["shipping_address"]["city"] == "Madrid"


def test_pagination_over_45_orders_no_duplicates_or_gaps(web, mailbox):
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for n in range(45):
        # Every third order shares its time with the previous one: ties need the id.
        at = base + dt.timedelta(hours=n - (n % 3 == 2))
        r = post(web, order(f"o{n:02d}", "page@example.com", total="1.00",
                            placed_at=at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        assert r.status_code == 201
    auth = signed_in(web, mailbox, "page@example.com")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        q = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        r = web.get("/api/v1/me/orders" + q, headers=auth)
        assert r.status_code == 200
        body = r.get_json()
        seen += [o["order_id"] for o in body["orders"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 5 and len(seen) == 45 and len(set(seen)) == 45
    times = [web.get(f"/api/v1/me/orders/{o}", headers=auth).get_json()["placed_at"]
             for o in seen[:6]]
    assert times == sorted(times, reverse=True)


def test_default_limit_is_20(web, mailbox):
    for n in range(23):
        post(web, order(f"d{n}", "lim@example.com"))
    auth = signed_in(web, mailbox, "lim@example.com")
    body = web.get("/api/v1/me/orders", headers=auth).get_json()
    assert len(body["orders"]) == 20 and body["next_cursor"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-5",
                                   "cursor=not-a-cursor", "cursor=WyJ4IiwxXQ",
                                   "cursor=" + "A" * 600])
def test_bad_paging_is_422(web, mailbox, query):
    auth = signed_in(web, mailbox, "q@example.com")
    r = web.get("/api/v1/me/orders?" + query, headers=auth)
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "invalid_request" and body["errors"]


@pytest.mark.parametrize("path", ["/api/v1/me/orders", "/api/v1/me/orders/1001",
                                  "/api/v1/me/orders/1001/invoice"])
def test_no_session_is_401(web, path):
    post(web, order())
    r = web.get(path)
    assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"


def test_someone_elses_order_is_404(web, mailbox):
    post(web, order("ana-1", "ana@example.com"))
    post(web, order("bob-1", "bob@example.com"))
    auth = signed_in(web, mailbox, "bob@example.com")
    for path in ("/api/v1/me/orders/ana-1", "/api/v1/me/orders/ana-1/invoice",
                 "/api/v1/me/orders/no-such"):
        r = web.get(path, headers=auth)
        assert r.status_code == 404
        assert r.get_json()["code"] == "order_not_found"
    assert web.get("/api/v1/me/orders/bob-1", headers=auth).status_code == 200
    listed = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert [o["order_id"] for o in listed] == ["bob-1"]


def test_decimal_totals_add_up_exactly(web, shop, mailbox):
    post(web, order("a", "sum@example.com", total="0.10"))
    post(web, order("b", "sum@example.com", total="0.20"))
    auth = signed_in(web, mailbox, "sum@example.com")
    listed = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert sorted(o["total"] for o in listed) == ["0.10", "0.20"]
    with shop.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer
        from loginsvc.customers.schemas import customer_out
        from loginsvc.customers.service import find_by_email

        c = find_by_email(db.session, "sum@example.com")
        assert isinstance(c, Customer)
        assert customer_out(c)["totals"] == [{"currency": "EUR", "amount": "0.30"}]


def test_invoice_redirects_to_shop_invoice(web, mailbox):
    post(web, order("inv", "inv@example.com"))
    auth = signed_in(web, mailbox, "inv@example.com")
    r = web.get("/api/v1/me/orders/inv/invoice", headers=auth)
    assert r.status_code == 302
    assert r.headers["Location"] == "https://shop.example/invoices/1001.pdf"


def test_invoice_page_from_stored_order(web, mailbox):
    post(web, order("inv-2", "inv@example.com", invoice_url=None, total="39.90",
                    items=[{"name": "T-shirt <b>", "sku": "TS", "quantity": 2,
                            "unit_price": "19.95"}]))
    auth = signed_in(web, mailbox, "inv@example.com")
    r = web.get("/api/v1/me/orders/inv-2/invoice", headers=auth)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.get_data(as_text=True)
    assert "inv-2" in html and "39.90 EUR" in html and "19.95 EUR" in html
    assert "T-shirt &lt;b&gt;" in html  # escaped, never markup
    assert "/static/invoice.css" in html and "style=" not in html
    assert "Calle Mayor 1" in html
    css = web.get("/static/invoice.css")
    assert css.status_code == 200 and b"@media print" in css.data


def test_invoice_page_in_the_shoppers_language(web, mailbox):
    post(web, order("inv-3", "de@example.com", invoice_url=None))
    auth = signed_in(web, mailbox, "de@example.com")
    r = web.get("/api/v1/me/orders/inv-3/invoice?lang=de", headers=auth)
    assert r.status_code == 200 and "Rechnung" in r.get_data(as_text=True)


def test_guest_order_joins_history_once_account_exists(web, shop, mailbox):
    with shop.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    r = post(web, order("guest-1", "Guest@Example.com"))
    assert r.status_code == 201 and r.get_json()["customer_id"] is None
    with shop.app_context():
        put_settings({"account_mode": "optional"})
    body = sign_in(web, mailbox, "guest@example.com")
    assert body["customer"]["email"] == "Guest@Example.com"  # the same customer row
    r = web.get("/api/v1/me/orders", headers=bearer(body["session_token"]))
    assert [o["order_id"] for o in r.get_json()["orders"]] == ["guest-1"]
    # Later orders now answer with the account's id.
    again = post(web, order("guest-2", "guest@example.com"))
    assert again.get_json()["customer_id"] == body["customer"]["id"]
    assert again.get_json()["account_created"] is False


def test_cookie_session_reads_history(web, mailbox):
    post(web, order("c-1", "cookie@example.com"))
    sign_in(web, mailbox, "cookie@example.com")  # sets the loginsvc_session cookie
    r = web.get("/api/v1/me/orders")
    assert r.status_code == 200 and r.get_json()["orders"][0]["order_id"] == "c-1"
