"""No input yields a 500: deep JSON, ids and cursors past 64 bits, NUL in paths."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.api.admin_support import add_customer, admin_fixture, problem  # noqa: F401
from tests.api.test_orders_webhook import SECRET, order, post
from tests.helpers import ORIGIN, bearer, sign_in

HUGE = "99999999999999999999999"
DEEP_NUL = "[" * 1000 + '"\\u0000"' + "]" * 1000


def cursor_of(values: Any) -> str:
    raw = values if isinstance(values, bytes) else json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


# -- deeply nested JSON -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/auth/login-link", "/api/v1/auth/verify",
                                  "/api/v1/webhooks/orders", "/api/v1/admin/groups"])
def test_deep_json_with_nul_is_400_before_anything(web, path, mailbox):
    r = web.post(path, data=DEEP_NUL, headers={"Content-Type": "application/json"})
    body = problem(r, 400, "invalid_request")
    assert body["errors"] == [{"field": "body", "message": "nested too deeply"}]


def test_json_nested_under_the_parser_limit_is_refused_too(web):
    # 900 levels parse, then a recursive walk (or serialiser) would overflow the stack.
    deep = "[" * 900 + '"\\u0000"' + "]" * 900
    r = web.post("/api/v1/auth/login-link", data=deep, headers={"Content-Type": "application/json"})
    problem(r, 400, "invalid_request")
    deep = '{"email": "a@example.com", "next": ' + "[" * 900 + "1" + "]" * 900 + "}"
    r = web.post("/api/v1/auth/login-link", data=deep, headers={"Content-Type": "application/json"})
    problem(r, 400, "invalid_request")


def test_a_nul_deep_but_within_bounds_is_found_with_its_path(web):
    doc = {"email": [[[[{"x": ["ok", "no\x00"]}]]]]}
    r = web.post("/api/v1/auth/login-link", json=doc)
    body = problem(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "email.0.0.0.0.x.1"


# -- ids past 64 bits -----------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    ("GET", f"/customers/{HUGE}"), ("PATCH", f"/customers/{HUGE}"),
    ("DELETE", f"/customers/{HUGE}"), ("GET", f"/customers/{HUGE}/orders"),
    ("PATCH", f"/groups/{HUGE}"), ("DELETE", f"/groups/{HUGE}"),
    ("POST", f"/groups/{HUGE}/members"), ("GET", "/customers/9223372036854775808"),
    ("GET", "/customers/0"), ("GET", "/customers/\u0661\u0662"),
])
def test_ids_out_of_range_are_404(admin, method, path):
    r = admin.client.open("/api/v1/admin" + path, method=method, json={"name": "x"},
                          headers={"Authorization": f"Bearer {admin.key}"})
    problem(r, 404, "not_found")


def test_largest_id_is_a_plain_miss(admin):
    problem(admin.get("/customers/9223372036854775807"), 404, "customer_not_found")
    problem(admin.delete("/groups/9223372036854775807"), 404, "group_not_found")


def test_group_filter_with_30_digits_is_a_name(admin, app):
    add_customer(app, "a@example.com")
    r = admin.get("/customers?group=" + "9" * 30)
    assert r.status_code == 200 and r.get_json()["customers"] == []
    r = admin.get("/customers?group=\u00b2")  # a digit to str.isdigit(), not to int()
    assert r.status_code == 200 and r.get_json()["customers"] == []


def test_member_ids_past_64_bits_are_422(admin, app):
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    cid = add_customer(app, "a@example.com")
    r = admin.post(f"/groups/{gid}/members", json={"customer_ids": [cid, 99999999999999999999]})
    body = problem(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "customer_ids.1"
    assert admin.get("/customers?group=VIP").get_json()["customers"] == []


# -- cursors ----------------------------------------------------------------------

BAD_CURSORS = {  # name: (the list's sort, the cursor's content)
    "id 2**70": ("-created_at", ["-created_at", "2026-01-01T00:00:00+00:00", 2**70]),
    "count 2**70": ("-order_count", ["-order_count", 2**70, 1]),
    "inf": ("-total_spent", b'["-total_spent", "1", 1e999999]'),
    "money 1e999999": ("-total_spent", ["-total_spent", "1e999999", 1]),
    "money NaN": ("-total_spent", ["-total_spent", "NaN", 1]),
    "NUL": ("name", ["name", "a\u0000b", 1]),
    "nested": ("name", ["name", ["a"], 1]),
    "another sort": ("-created_at", ["name", "a", 1]),
    "bool id": ("-created_at", ["-created_at", "2026-01-01T00:00:00+00:00", True]),
}


@pytest.mark.parametrize("name", list(BAD_CURSORS))
def test_admin_list_cursor_fields_are_validated(admin, app, name):
    add_customer(app, "a@example.com")
    sort, values = BAD_CURSORS[name]
    body = problem(admin.get(f"/customers?sort={sort}&cursor={cursor_of(values)}"), 422,
                   "invalid_request")
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("values", [["a", 2**70], [1e308, 1], ["a\u0000", 1], ["a", -1],
                                    b'["a", 1e999999]'])
def test_group_list_cursor_fields_are_validated(admin, values):
    body = problem(admin.get(f"/groups?cursor={cursor_of(values)}"), 422, "invalid_request")
    assert body["errors"] == [{"field": "cursor", "message": "not a cursor from this API"}]


@pytest.mark.parametrize("values", [["2026-01-01T00:00:00+00:00", 2**70],
                                    ["2026-01-01T00:00:00\u0000", 1],
                                    b'["2026-01-01T00:00:00+00:00", 1e999999]',
                                    ["2026-01-01T00:00:00", 1]])
def test_order_history_cursor_fields_are_validated(web, mailbox, values):
    auth = bearer(sign_in(web, mailbox, "c@example.com")["session_token"])
    r = web.get(f"/api/v1/me/orders?cursor={cursor_of(values)}", headers=auth)
    problem(r, 422, "invalid_request")
    r = web.get(f"/api/v1/me/sessions?cursor={cursor_of([1e999999, 'x'])}", headers=auth)
    problem(r, 422, "invalid_request")


def test_cursor_that_is_not_base64url_text_is_422(web, mailbox):
    auth = bearer(sign_in(web, mailbox, "c@example.com")["session_token"])
    problem(web.get("/api/v1/me/orders?cursor=%E2%82%AC", headers=auth), 422, "invalid_request")


# -- NUL in URL paths ---------------------------------------------------------------


def test_nul_in_order_paths_is_404(web, mailbox):
    post(web, order("a", "n@example.com"))
    auth = bearer(sign_in(web, mailbox, "n@example.com")["session_token"])
    problem(web.get("/api/v1/me/orders/a%00b", headers=auth), 404, "not_found")
    problem(web.get("/api/v1/me/orders/a%00b/invoice", headers=auth), 404, "not_found")
    problem(web.put("/api/v1/me/wishlist/a%00b", headers={**auth, **ORIGIN}), 404, "not_found")
    r = web.get("/account/orders/a%00b", headers={"Accept": "text/html", **auth})
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert web.get("/api/v1/me/orders/a", headers=auth).status_code == 200


# -- e-mail deliverability ------------------------------------------------------------


def test_undeliverable_domain_is_422_on_the_api_and_the_form(make_app, mailbox):
    # The resolver here answers NXDOMAIN (or nothing: then the short timeout lets it pass).
    import time

    web = make_app(check_deliverability=True).test_client()
    started = time.monotonic()
    r = web.post("/api/v1/auth/login-link", json={"email": "ana@no-such-domain-4f1c.com"})
    body = problem(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "email"
    assert "does not exist" in body["errors"][0]["message"]
    r = web.post("/login", data={"email": "ana@no-such-domain-4f1c.com"}, headers=ORIGIN)
    assert r.status_code == 422 and "ana@no-such-domain-4f1c.com" in r.get_data(as_text=True)
    assert time.monotonic() - started < 10
    assert mailbox.messages == []
