"""CONTRACT §1–§5 checked black-box, one test per promise (review of the core contract).

Each test names the contract line it holds the service to. Status and body are
asserted; a rejected request is shown to change nothing.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from tests.api.test_orders_webhook import SECRET, order
from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sign_in, signed_post

HOOK = "/api/v1/webhooks/orders"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
Z_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert set(body) >= PROBLEM_KEYS, body
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return dict(body)


def assert_invalid(r: Any, field: str | None = None, status: int = 422) -> dict[str, Any]:
    body = assert_problem(r, status, "invalid_request")
    if status == 422:
        assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"])
        if field is not None:
            assert field in [e["field"] for e in body["errors"]], body["errors"]
    return body


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def hook(client: Any, payload: Any, **kw: Any) -> Any:
    return signed_post(client, HOOK, payload, SECRET, **kw)


def signed_in(client: Any, mailbox: Any, address: str = "ana@example.com") -> dict[str, str]:
    return bearer(sign_in(client, mailbox, address)["session_token"])


# -- §2 conventions ----------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null", b"7", b"true"])
@pytest.mark.parametrize("path", ["/api/v1/auth/login-link", "/api/v1/auth/verify"])
def test_non_object_json_is_422_with_errors(client, raw, path):
    r = client.post(path, data=raw, content_type="application/json")
    assert_invalid(r)


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null", b"7"])
def test_non_object_json_on_signed_in_writes_is_422_and_changes_nothing(client, mailbox, raw):
    auth = signed_in(client, mailbox)
    for method, path in (("PATCH", "/api/v1/me"), ("PUT", "/api/v1/me/wishlist/p-1")):
        r = client.open(path, method=method, data=raw, content_type="application/json",
                        headers=auth)
        assert_invalid(r)
    assert client.get("/api/v1/me/wishlist", headers=auth).get_json()["items"] == []


def test_non_object_json_webhook_is_422(web, shop):
    for raw in ([], "x", None, 7):
        assert_invalid(hook(web, raw), "body")
    assert count_rows(shop, "orders") == 0


def test_deeply_nested_json_is_4xx_not_500(client, mailbox, web):
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    auth = signed_in(client, mailbox)
    for method, path, hdrs in (("POST", "/api/v1/auth/login-link", {}),
                               ("POST", "/api/v1/auth/verify", {}),
                               ("PATCH", "/api/v1/me", auth)):
        r = client.open(path, method=method, data=deep, content_type="application/json",
                        headers=hdrs)
        assert r.status_code in (400, 422), (path, r.status_code)
        assert r.get_json()["code"] == "invalid_request"


def test_unparseable_body_is_400_on_every_json_endpoint(client, mailbox):
    auth = signed_in(client, mailbox)
    for method, path in (("POST", "/api/v1/auth/login-link"), ("POST", "/api/v1/auth/verify"),
                         ("PATCH", "/api/v1/me"), ("PUT", "/api/v1/me/wishlist/p-1")):
        for raw in (b"{", b"\xff\xfe", b'{"a": NaN}'):
            r = client.open(path, method=method, data=raw, content_type="application/json",
                            headers=auth)
            assert_invalid(r, status=400)


def test_oversize_body_is_413_on_every_json_endpoint(client, mailbox, web):
    auth = signed_in(client, mailbox)
    big = b'{"name": "' + b"a" * (1024 * 1024) + b'"}'
    for method, path in (("POST", "/api/v1/auth/login-link"), ("POST", "/api/v1/auth/verify"),
                         ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-all"),
                         ("PATCH", "/api/v1/me"), ("PUT", "/api/v1/me/wishlist/p-1"),
                         ("DELETE", "/api/v1/me"), ("POST", HOOK)):
        r = client.open(path, method=method, data=big, content_type="application/json",
                        headers=auth)
        assert_problem(r, 413, "payload_too_large")
    assert client.get("/api/v1/me", headers=auth).status_code == 200


def test_oversize_string_is_422_with_field(client, mailbox):
    auth = signed_in(client, mailbox)
    r = client.patch("/api/v1/me", json={"name": "a" * 201}, headers=auth)
    assert_invalid(r, "name")
    assert client.get("/api/v1/me", headers=auth).get_json()["name"] is None


def test_nul_character_is_422_not_500(client, mailbox):
    auth = signed_in(client, mailbox)
    assert_invalid(client.post("/api/v1/auth/login-link", json={"email": "a\x00@example.com"}),
                   "email")
    assert_invalid(client.patch("/api/v1/me", json={"company": "A\x00B"}, headers=auth),
                   "company")


def test_unknown_method_is_405_problem(client):
    for method in ("PROPFIND", "TRACE", "PATCH"):
        r = client.open("/api/v1/auth/login-link", method=method)
        body = assert_problem(r, 405, "method_not_allowed")
        assert "POST" in r.headers["Allow"], body


def test_long_query_and_header_are_not_500(client, mailbox):
    auth = signed_in(client, mailbox)
    r = client.get("/api/v1/me/orders?cursor=" + "A" * 100_000, headers=auth)
    assert_invalid(r, "cursor")
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer " + "x" * 100_000})
    assert_problem(r, 401, "unauthorized")


def test_email_trimmed_case_insensitive_first_spelling_kept(client, mailbox, app):
    first = sign_in(client, mailbox, "  Ana.Ruiz@Example.COM ")
    again = sign_in(client, mailbox, "ana.ruiz@example.com")
    assert first["customer"]["id"] == again["customer"]["id"]
    assert again["customer"]["email"] == "Ana.Ruiz@Example.COM"
    assert count_rows(app, "customers") == 1


def test_email_from_order_then_login_keeps_first_spelling(web, mailbox, shop):
    assert hook(web, order("1", " Ana@Example.com ")).status_code == 201
    me = sign_in(web, mailbox, "ANA@EXAMPLE.COM")
    assert me["customer"]["email"] == "Ana@Example.com"
    assert count_rows(shop, "customers") == 1


def test_money_is_decimal_string_with_currency(web, mailbox):
    hook(web, order("1", "ana@example.com", total="59.9"))
    hook(web, order("2", "ana@example.com", currency="JPY", total="1200",
                    items=[{"name": "Tea", "quantity": 1, "unit_price": "1200"}]))
    auth = signed_in(web, mailbox)
    me = web.get("/api/v1/me", headers=auth).get_json()
    assert me["totals"] == [{"currency": "EUR", "amount": "59.90"},
                            {"currency": "JPY", "amount": "1200"}]
    o = web.get("/api/v1/me/orders/1", headers=auth).get_json()
    assert (o["total"], o["currency"]) == ("59.90", "EUR")
    assert o["items"][0]["unit_price"] == "19.95"


def test_money_as_json_number_is_422(web, shop):
    assert_invalid(hook(web, order("1", total=59.9)), "data.total")
    assert count_rows(shop, "orders") == 0


def test_unknown_currency_is_422(web, shop):
    assert_invalid(hook(web, order("1", currency="XYZ")), "data.currency")
    assert count_rows(shop, "orders") == 0


def test_unit_price_beyond_currency_decimals_is_422(web, shop):
    r = hook(web, order("1", currency="JPY", total="40",
                        items=[{"name": "Tea", "quantity": 2, "unit_price": "19.95"}]))
    assert_invalid(r, "data.items.0.unit_price")
    assert count_rows(shop, "orders") == 0


def test_timestamps_are_rfc3339_utc_z(web, mailbox):
    hook(web, order("1", "ana@example.com", placed_at="2026-11-22T11:00:00.123+01:00"))
    signed = sign_in(web, mailbox, "ana@example.com")
    auth = bearer(signed["session_token"])
    web.put("/api/v1/me/wishlist/p-1", headers=auth)
    assert Z_TIME.match(signed["expires_at"])
    assert Z_TIME.match(signed["customer"]["created_at"])
    o = web.get("/api/v1/me/orders/1", headers=auth).get_json()
    assert o["placed_at"] == "2026-11-22T10:00:00Z"
    assert Z_TIME.match(web.get("/api/v1/me/wishlist", headers=auth).get_json()
                        ["items"][0]["added_at"])
    s = web.get("/api/v1/me/sessions", headers=auth).get_json()["sessions"][0]
    assert Z_TIME.match(s["created_at"]) and Z_TIME.match(s["last_seen_at"])
    assert Z_TIME.match(web.get("/api/v1/me/export", headers=auth).get_json()["exported_at"])


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "limit=abc",
                                   "limit=1.5", "limit=", "cursor=bogus!", "cursor=WzFd"])
def test_bad_paging_is_422(client, mailbox, query):
    auth = signed_in(client, mailbox)
    r = client.get(f"/api/v1/me/orders?{query}", headers=auth)
    assert_invalid(r, query.split("=")[0])


def test_lists_newest_first_default_20_and_null_cursor_at_end(web, mailbox):
    for n in range(23):
        hook(web, order(f"o{n:02d}", "ana@example.com", placed_at=f"2026-01-{n + 1:02d}T10:00:00Z"))
    auth = signed_in(web, mailbox)
    first = web.get("/api/v1/me/orders", headers=auth).get_json()
    assert [o["order_id"] for o in first["orders"]] == [f"o{n:02d}" for n in range(22, 2, -1)]
    assert isinstance(first["next_cursor"], str)
    rest = web.get(f"/api/v1/me/orders?cursor={first['next_cursor']}", headers=auth).get_json()
    assert [o["order_id"] for o in rest["orders"]] == ["o02", "o01", "o00"]
    assert rest["next_cursor"] is None
    exact = web.get("/api/v1/me/orders?limit=23", headers=auth).get_json()
    assert len(exact["orders"]) == 23 and exact["next_cursor"] is None


def test_cookie_flags_plain_http(client, mailbox):
    before = len(mailbox.to("ana@example.com"))
    client.post("/api/v1/auth/login-link", json={"email": "ana@example.com"})
    token = mailbox.wait_for("ana@example.com", before + 1)[-1].token
    r = client.post("/api/v1/auth/verify", json={"token": token})
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("loginsvc_session=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Secure" not in cookie and "Path=/" in cookie


def test_cookie_flags_secure_when_public_url_is_https(make_app, mailbox):
    client = make_app(public_url="https://login.example").test_client()
    before = len(mailbox.to("ana@example.com"))
    client.post("/api/v1/auth/login-link", json={"email": "ana@example.com"})
    token = mailbox.wait_for("ana@example.com", before + 1)[-1].token
    api = client.post("/api/v1/auth/verify", json={"token": token})
    assert api.status_code == 200
    for cookie in (api.headers["Set-Cookie"],):
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    client.post("/api/v1/auth/login-link", json={"email": "ana@example.com"})
    token = mailbox.wait_for("ana@example.com", before + 2)[-1].token
    page = client.post("/login/verify", data={"token": token},
                       headers={"Origin": "https://login.example"})
    assert page.status_code == 303
    cookie = page.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    out = client.post("/api/v1/auth/logout", headers={"Origin": "https://login.example"})
    assert out.status_code == 204
    assert "Secure" in out.headers["Set-Cookie"] and "loginsvc_session=;" in out.headers[
        "Set-Cookie"]


UNSAFE = [("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-all"),
          ("PATCH", "/api/v1/me"), ("DELETE", "/api/v1/me"), ("PUT", "/api/v1/me/wishlist/p-1"),
          ("DELETE", "/api/v1/me/wishlist/p-1"), ("DELETE", "/api/v1/me/sessions/x")]


@pytest.mark.parametrize("method,path", UNSAFE)
def test_cookie_write_from_foreign_origin_is_403_and_changes_nothing(client, mailbox, method,
                                                                      path):
    sign_in(client, mailbox, "ana@example.com")  # sets the cookie
    for hdrs in ({"Origin": "https://evil.example"}, {},
                 {"Origin": "null", "Referer": "https://evil.example/x"}):
        r = client.open(path, method=method, json={"name": "X"}, headers=hdrs)
        assert_problem(r, 403, "csrf_failed")
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["name"] is None
    assert client.get("/api/v1/me/wishlist").get_json()["items"] == []


def test_allowed_origin_passes_the_csrf_check(make_app, mailbox):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    sign_in(client, mailbox, "ana@example.com")
    r = client.patch("/api/v1/me", json={"name": "Ana"}, headers={"Origin": "https://shop.example"})
    assert r.status_code == 200 and r.get_json()["name"] == "Ana"
    r = client.patch("/api/v1/me", json={"name": "Eve"}, headers=ORIGIN)
    assert r.status_code == 200 and r.get_json()["name"] == "Eve"


@pytest.mark.parametrize("method,path", UNSAFE[2:])
def test_bearer_writes_ignore_origin(client, mailbox, method, path):
    auth = signed_in(client, mailbox)
    client.delete_cookie("loginsvc_session")
    r = client.open(path, method=method, json={"name": "X"},
                    headers={**auth, "Origin": "https://evil.example"})
    assert r.status_code != 403, r.get_data(as_text=True)
    assert r.status_code < 500


def test_chunked_body_over_1_mib_is_413_not_cut(client):
    # No Content-Length: werkzeug stops reading at the limit, the view would see a cut body.
    body = b'{"email": "a@example.com", "next": "/' + b"a" * (1024 * 1024) + b'"}'
    r = client.post("/api/v1/auth/login-link", input_stream=io.BytesIO(body),
                    headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert_problem(r, 413, "payload_too_large")
    small = b'{"email": "a@example.com"}'
    r = client.post("/api/v1/auth/login-link", input_stream=io.BytesIO(small),
                    headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 202 and r.get_json() == {"status": "sent"}
