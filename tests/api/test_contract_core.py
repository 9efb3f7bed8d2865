"""CONTRACT §1–§5 checked black-box, one test per promise (review of the core contract).

Each test names the contract line it holds the service to. Status and body are
asserted; a rejected request is shown to change nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from typing import Any

import pytest
from freezegun import freeze_time

from tests.api.test_orders_webhook import OTHER, SECRET, order
from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sent_shape, sign_in, sign_webhook, signed_post

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
    assert r.status_code == 202 and sent_shape(r.get_json())


# -- §2 admin and signed calls ---------------------------------------------------

def test_admin_without_or_with_wrong_key_is_401(client, mailbox):
    session = sign_in(client, mailbox, "ana@example.com")["session_token"]
    for hdrs in ({}, bearer("lsk_wrong"), bearer(session), {"Authorization": "Basic eDp5"}):
        r = client.get("/api/v1/admin/customers", headers=hdrs)
        assert_problem(r, 401, "unauthorized")


def test_signed_call_failures(web, shop):
    now = int(time.time())
    body = json.dumps(order("1")).encode()
    good = sign_webhook(SECRET, body, msg_id="m1", timestamp=now)
    cases = [
        ({k: v for k, v in good.items() if k != "webhook-signature"}, "invalid_signature"),
        ({**good, "webhook-signature": "v1,AAAA"}, "invalid_signature"),
        ({**good, "webhook-timestamp": "soon"}, "invalid_signature"),
        (sign_webhook(OTHER, body, msg_id="m1", timestamp=now), "invalid_signature"),
        # 5 s beyond the 300 s tolerance, so a slow run cannot drift back inside it
        (sign_webhook(SECRET, body, msg_id="m1", timestamp=now - 305), "stale_timestamp"),
        (sign_webhook(SECRET, body, msg_id="m1", timestamp=now + 305), "stale_timestamp"),
    ]
    for hdrs, code in cases:
        assert_problem(web.post(HOOK, data=body, headers=hdrs), 401, code)
    assert count_rows(shop, "orders") == 0
    other = sign_webhook(OTHER, body, msg_id="m1", timestamp=now)["webhook-signature"]
    several = {**good, "webhook-signature": f"{other} {good['webhook-signature']}"}
    r = web.post(HOOK, data=body, headers=several)
    assert r.status_code == 201 and r.get_json()["order_id"] == "1"


def test_unsigned_calls_refused_when_no_secret_is_set(client, app):
    r = signed_post(client, HOOK, order("1"), SECRET)
    assert_problem(r, 401, "invalid_signature")
    assert count_rows(app, "orders") == 0


def test_webhook_id_seen_before_gets_first_answer_and_no_second_effect(web, mailbox):
    first = hook(web, order("1", "ana@example.com"), msg_id="dup")
    assert first.status_code == 201
    changed = order("1", "ana@example.com", status="cancelled", total="1.00")
    changed["type"] = "order.updated"
    again = hook(web, changed, msg_id="dup")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    auth = signed_in(web, mailbox)
    o = web.get("/api/v1/me/orders/1", headers=auth).get_json()
    assert (o["status"], o["total"]) == ("paid", "59.90")


# -- §3 login links ------------------------------------------------------------------

def _link(client: Any, mailbox: Any, address: str, **body: Any) -> Any:
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address, **body})
    assert r.status_code == 202 and sent_shape(r.get_json()), r.get_data(as_text=True)
    return mailbox.wait_for(address, before + 1)[-1]


def _set_status(app: Any, address: str, status: str) -> None:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        find_by_email(db.session, address).status = status
        db.session.commit()


def test_login_link_same_answer_blocked_gets_no_mail(client, mailbox, app):
    sign_in(client, mailbox, "blocked@example.com")
    _set_status(app, "blocked@example.com", "blocked")
    before = len(mailbox.messages)
    for address in ("blocked@example.com", "Unknown@Example.com"):
        r = client.post("/api/v1/auth/login-link", json={"email": address})
        assert r.status_code == 202 and sent_shape(r.get_json())
    mailbox.wait_for("unknown@example.com")
    assert mailbox.to("blocked@example.com") and len(mailbox.messages) == before + 1


def test_login_link_mail_points_at_public_url(make_app, mailbox):
    client = make_app(public_url="https://login.example").test_client()
    mail = _link(client, mailbox, "ana@example.com")
    assert mail.link.startswith("https://login.example/login/verify?token=")


def test_verify_page_shows_a_button_and_does_not_consume(client, mailbox):
    mail = _link(client, mailbox, "ana@example.com")
    for _ in range(2):  # a mail scanner, then the person
        page = client.get(f"/login/verify?token={mail.token}")
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert 'method="post"' in html.lower() and mail.token in html
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 200


@pytest.mark.parametrize("kind,status", [("garbage", 400), ("used", 410), ("expired", 410)])
def test_bad_link_page_is_4xx_html_offering_a_new_link(client, mailbox, kind, status):
    if kind == "expired":
        with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(days=15)):
            token = _link(client, mailbox, "ana@example.com").token
    elif kind == "used":
        token = _link(client, mailbox, "ana@example.com").token
        client.post("/api/v1/auth/verify", json={"token": token})
    else:
        token = "not-a-token"
    for r in (client.get(f"/login/verify?token={token}",
                         headers={"Accept": "application/json"}),
              client.post("/login/verify", data={"token": token}, headers=ORIGIN)):
        assert r.status_code == status and r.mimetype == "text/html"
        html = r.get_data(as_text=True)
        assert 'action="/login"' in html


def test_form_verify_303_to_safe_next_or_account(make_app, mailbox):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    for nxt, where in (("/account/orders?x=1", "/account/orders?x=1"),
                       ("https://shop.example/cart", "https://shop.example/cart"),
                       ("http://localhost/wishlist", "http://localhost/wishlist"),
                       ("https://evil.example/", "/account"), ("//evil.example/", "/account"),
                       ("/\\evil.example", "/account"), ("javascript:alert(1)", "/account"),
                       ("https://shop.example.evil.com/", "/account"), (None, "/account")):
        body = {"next": nxt} if nxt else {}
        address = f"n{abs(hash(nxt)) % 10_000}@example.com"
        token = _link(client, mailbox, address, **body).token
        r = client.post("/login/verify", data={"token": token}, headers=ORIGIN)
        assert r.status_code == 303 and r.headers["Location"] == where, nxt
        assert "HttpOnly" in r.headers["Set-Cookie"]


def test_api_verify_shape_and_cookie(client, mailbox):
    token = _link(client, mailbox, "Ana@Example.com").token
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"customer", "session_token", "expires_at"}
    assert body["customer"]["email"] == "Ana@Example.com" and Z_TIME.match(body["expires_at"])
    assert f"loginsvc_session={body['session_token']}" in r.headers["Set-Cookie"]
    assert client.get("/api/v1/me", headers=bearer(body["session_token"])).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJ2IjoxfQ.AAAA", "Zm9v", "{}"])
def test_not_a_token_is_400_invalid_token(client, token):
    assert_problem(client.post("/api/v1/auth/verify", json={"token": token}), 400,
                   "invalid_token")


def test_verify_token_failure_codes(client, mailbox, app):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(days=15)):
        old = _link(client, mailbox, "old@example.com").token
    assert_problem(client.post("/api/v1/auth/verify", json={"token": old}), 410, "token_expired")
    used = _link(client, mailbox, "used@example.com").token
    client.post("/api/v1/auth/verify", json={"token": used})
    assert_problem(client.post("/api/v1/auth/verify", json={"token": used}), 410, "token_used")
    sign_in(client, mailbox, "blocked@example.com")
    blocked = _link(client, mailbox, "blocked@example.com").token
    _set_status(app, "blocked@example.com", "blocked")
    assert_problem(client.post("/api/v1/auth/verify", json={"token": blocked}), 403,
                   "account_blocked")


def test_deleted_account_revokes_every_earlier_link(client, mailbox):
    before_account = _link(client, mailbox, "gone@example.com").token
    session = sign_in(client, mailbox, "gone@example.com")["session_token"]
    with_account = _link(client, mailbox, "gone@example.com").token
    assert client.delete("/api/v1/me", headers=bearer(session)).status_code == 204
    for token in (before_account, with_account):
        assert_problem(client.post("/api/v1/auth/verify", json={"token": token}), 410,
                       "token_revoked")
    assert_problem(client.get("/api/v1/me", headers=bearer(session)), 401, "unauthorized")


def test_logout_ends_this_session_only(app, mailbox):
    client = app.test_client()
    a = sign_in(client, mailbox, "ana@example.com")["session_token"]
    b = sign_in(app.test_client(), mailbox, "ana@example.com")["session_token"]
    r = client.post("/api/v1/auth/logout", headers=ORIGIN)  # by cookie
    assert r.status_code == 204 and r.get_data() == b""
    assert "loginsvc_session=;" in r.headers["Set-Cookie"]
    assert_problem(client.get("/api/v1/me", headers=bearer(a)), 401, "unauthorized")
    assert client.get("/api/v1/me", headers=bearer(b)).status_code == 200


def test_logout_all_ends_every_session_and_voids_earlier_links_only(app, mailbox):
    client = app.test_client()
    a = sign_in(client, mailbox, "ana@example.com")["session_token"]
    b = sign_in(app.test_client(), mailbox, "ana@example.com")["session_token"]
    earlier = _link(client, mailbox, "ana@example.com").token
    r = client.post("/api/v1/auth/logout-all", headers=bearer(a))
    assert r.status_code == 204 and r.get_data() == b""
    for s in (a, b):
        assert_problem(client.get("/api/v1/me", headers=bearer(s)), 401, "unauthorized")
    assert_problem(client.post("/api/v1/auth/verify", json={"token": earlier}), 410,
                   "token_revoked")
    later = _link(client, mailbox, "ana@example.com").token  # within the same second
    assert client.post("/api/v1/auth/verify", json={"token": later}).status_code == 200


def test_first_verified_link_creates_the_account_required_mode_pends(app, client, mailbox):
    token = _link(client, mailbox, "new@example.com").token
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code == 200 and r.get_json()["customer"]["status"] == "active"
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "required"})
    token = _link(client, mailbox, "pending@example.com").token
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert_problem(r, 403, "account_pending")
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        c = find_by_email(db.session, "pending@example.com")
        assert c is not None and c.status == "pending" and c.has_account


def test_accounts_disabled_refuses_links(app, client, mailbox):
    token = _link(client, mailbox, "late@example.com").token
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    r = client.post("/api/v1/auth/login-link", json={"email": "x@example.com"})
    assert_problem(r, 403, "accounts_disabled")
    assert_problem(client.post("/api/v1/auth/verify", json={"token": token}), 403,
                   "accounts_disabled")
    assert count_rows(app, "customers") == 0


# -- §4 orders in ---------------------------------------------------------------------

def test_new_order_201_known_order_200_same_shape(web, mailbox):
    r = hook(web, order("1001", "Ana@Example.com"))
    assert r.status_code == 201
    first = r.get_json()
    assert set(first) == {"order_id", "customer_id", "account_created"}
    assert first["order_id"] == "1001" and first["account_created"] is True
    assert isinstance(first["customer_id"], int)
    again = hook(web, order("1001", "ana@example.com", total="1.00", status="refunded"))
    assert again.status_code == 200
    assert again.get_json() == {**first, "account_created": False}
    auth = signed_in(web, mailbox)
    o = web.get("/api/v1/me/orders/1001", headers=auth).get_json()
    assert (o["status"], o["total"]) == ("paid", "59.90")  # order.placed again changed nothing


def test_order_updated_updates_status_items_totals_addresses(web, mailbox):
    hook(web, order("1001", "ana@example.com"))
    updated = order("1001", "ana@example.com", status="shipped", total="19.95",
                    items=[{"product_id": "p-7", "name": "T-shirt", "quantity": 1,
                            "unit_price": "19.95"}],
                    shipping_address={"line1": "Gran Via 2", "city": "Madrid", "country": "ES"})
    updated["type"] = "order.updated"
    r = hook(web, updated)
    assert r.status_code == 200 and r.get_json()["account_created"] is False
    auth = signed_in(web, mailbox)
    o = web.get("/api/v1/me/orders/1001", headers=auth).get_json()
    assert (o["status"], o["total"], len(o["items"])) == ("shipped", "19.95", 1)
    assert o["shipping_address"]["line1"] == "Gran Via 2"
    me = web.get("/api/v1/me", headers=auth).get_json()
    assert me["totals"] == [{"currency": "EUR", "amount": "19.95"}] and me["order_count"] == 1


def test_unknown_event_type_is_422_and_stores_nothing(web, shop):
    payload = order("1")
    payload["type"] = "order.deleted"
    assert_invalid(hook(web, payload), "type")
    assert count_rows(shop, "orders") == 0 and count_rows(shop, "customers") == 0


def test_first_order_welcome_mail_carries_a_working_login_link(web, mailbox):
    created = hook(web, order("1", "Ana@Example.com")).get_json()
    mail = mailbox.wait_for("Ana@Example.com")[-1]
    r = web.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 200 and r.get_json()["customer"]["id"] == created["customer_id"]
    hook(web, order("2", "ana@example.com"))
    time.sleep(0.2)
    assert len(mailbox.to("ana@example.com")) == 1  # one welcome, not one per order


def test_guest_orders_kept_and_join_history_once_account_exists(make_app, mailbox):
    shop = make_app(webhook_secrets=(SECRET,))
    web = shop.test_client()
    with shop.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    r = hook(web, order("g1", "guest@example.com"))
    assert r.status_code == 201
    assert r.get_json() == {"order_id": "g1", "customer_id": None, "account_created": False}
    assert count_rows(shop, "orders") == 1
    with shop.app_context():
        put_settings({"account_mode": "optional"})
    auth = signed_in(web, mailbox, "Guest@Example.com")
    body = web.get("/api/v1/me/orders", headers=auth).get_json()
    assert [o["order_id"] for o in body["orders"]] == ["g1"] and body["next_cursor"] is None


# -- §5 the shopper's own data -------------------------------------------------------------

ME_PATHS = [("GET", "/api/v1/me"), ("PATCH", "/api/v1/me"), ("DELETE", "/api/v1/me"),
            ("GET", "/api/v1/me/export"), ("GET", "/api/v1/me/orders"),
            ("GET", "/api/v1/me/orders/1"), ("GET", "/api/v1/me/orders/1/invoice"),
            ("GET", "/api/v1/me/wishlist"), ("PUT", "/api/v1/me/wishlist/p-1"),
            ("DELETE", "/api/v1/me/wishlist/p-1"), ("GET", "/api/v1/me/sessions"),
            ("DELETE", "/api/v1/me/sessions/x"), ("POST", "/api/v1/auth/logout"),
            ("POST", "/api/v1/auth/logout-all")]


@pytest.mark.parametrize("method,path", ME_PATHS)
def test_no_session_is_401(client, method, path):
    for hdrs in ({}, bearer("nope"), {"Cookie": "loginsvc_session=nope", **ORIGIN}):
        r = client.open(path, method=method, headers=hdrs,
                        json={"name": "x"} if method in ("PATCH", "PUT") else None)
        assert_problem(r, 401, "unauthorized")


def test_get_me_shape(web, mailbox):
    hook(web, order("1", "Ana@Example.com"))
    auth = signed_in(web, mailbox, "ana@example.com")
    me = web.get("/api/v1/me", headers=auth).get_json()
    assert set(me) == {"id", "email", "name", "phone", "company", "locale", "newsletter",
                       "addresses", "groups", "status", "created_at", "order_count", "totals"}
    assert set(me["addresses"]) == {"billing", "shipping"}
    assert me["email"] == "Ana@Example.com" and me["order_count"] == 1
    assert me["totals"] == [{"currency": "EUR", "amount": "59.90"}]


def test_patch_me_changes_allowed_fields_not_email(client, mailbox):
    auth = signed_in(client, mailbox)
    change = {"name": "Ana Ruiz", "phone": "+34 600 111 222", "company": "ACME",
              "locale": "es", "newsletter": True,
              "addresses": {"billing": {"line1": "Calle Mayor 1", "city": "Madrid",
                                        "country": "ES"}}}
    r = client.patch("/api/v1/me", json=change, headers=auth)
    assert r.status_code == 200
    me = r.get_json()
    assert (me["name"], me["company"], me["locale"], me["newsletter"]) == (
        "Ana Ruiz", "ACME", "es", True)
    assert me["addresses"]["billing"]["city"] == "Madrid"
    r = client.patch("/api/v1/me", json={"email": "eve@example.com", "name": "Eve"},
                     headers=auth)
    assert_invalid(r, "email")
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert (me["email"], me["name"]) == ("ana@example.com", "Ana Ruiz")


@pytest.mark.parametrize("change,field", [({"locale": "xx"}, "locale"),
                                          ({"newsletter": "yes"}, "newsletter"),
                                          ({"name": 5}, "name"),
                                          ({"addresses": {"home": {}}}, "addresses.home")])
def test_patch_me_bad_value_is_422_and_changes_nothing(client, mailbox, change, field):
    auth = signed_in(client, mailbox)
    r = client.patch("/api/v1/me", json={"company": "ACME", **change}, headers=auth)
    assert_invalid(r, field)
    assert client.get("/api/v1/me", headers=auth).get_json()["company"] is None


def test_delete_me_needs_a_recent_sign_in(client, mailbox, app):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)):
        session = sign_in(client, mailbox, "ana@example.com")["session_token"]
    assert_problem(client.delete("/api/v1/me", headers=bearer(session)), 403, "reauth_required")
    assert count_rows(app, "customers") == 1
    fresh = sign_in(client, mailbox, "ana@example.com")["session_token"]
    r = client.delete("/api/v1/me", headers=bearer(fresh))
    assert r.status_code == 204 and r.get_data() == b""
    assert count_rows(app, "customers") == 0
    assert mailbox.wait_for("owner@shop.test")  # the shop owner is told
    for s in (session, fresh):
        assert_problem(client.get("/api/v1/me", headers=bearer(s)), 401, "unauthorized")


def test_export_is_one_json_document_with_the_personal_data(web, mailbox):
    hook(web, order("1", "ana@example.com"))
    auth = signed_in(web, mailbox)
    web.put("/api/v1/me/wishlist/p-1", json={"name": "Mug"}, headers=auth)
    r = web.get("/api/v1/me/export", headers=auth)
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["profile"]["email"] == "ana@example.com"
    assert [o["order_id"] for o in doc["orders"]] == ["1"]
    assert [i["product_id"] for i in doc["wishlist"]] == ["p-1"]
    assert len(doc["sessions"]) == 1 and Z_TIME.match(doc["exported_at"])


def test_order_of_another_customer_is_404(web, mailbox):
    hook(web, order("mine", "ana@example.com"))
    hook(web, order("theirs", "eve@example.com"))
    auth = signed_in(web, mailbox)
    for path in ("/api/v1/me/orders/theirs", "/api/v1/me/orders/theirs/invoice",
                 "/api/v1/me/orders/nothing"):
        r = web.get(path, headers=auth)
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    assert web.get("/api/v1/me/orders/mine", headers=auth).status_code == 200


def test_invoice_redirects_or_renders(web, mailbox):
    hook(web, order("a", "ana@example.com"))
    hook(web, order("b", "ana@example.com", invoice_url=None))
    auth = signed_in(web, mailbox)
    r = web.get("/api/v1/me/orders/a/invoice", headers=auth)
    assert r.status_code == 302
    assert r.headers["Location"] == "https://shop.example/invoices/1001.pdf"
    r = web.get("/api/v1/me/orders/b/invoice", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "T-shirt" in r.get_data(as_text=True) and "59.90" in r.get_data(as_text=True)


def test_wishlist_shapes_201_200_204(client, mailbox):
    auth = signed_in(client, mailbox)
    snap = {"name": "Mug", "url": "https://shop.example/mug", "price": "9.90",
            "currency": "EUR"}
    r = client.put("/api/v1/me/wishlist/p-1", json=snap, headers=auth)
    assert r.status_code == 201
    r = client.put("/api/v1/me/wishlist/p-1", headers=auth)
    assert r.status_code == 200 and r.get_json()["price"] == "9.90"
    client.put("/api/v1/me/wishlist/p-2", headers=auth)
    body = client.get("/api/v1/me/wishlist", headers=auth).get_json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    assert [i["product_id"] for i in body["items"]] == ["p-2", "p-1"]
    assert set(body["items"][0]) == {"product_id", "name", "url", "image_url", "price",
                                     "currency", "added_at"}
    for _ in range(2):
        r = client.delete("/api/v1/me/wishlist/p-1", headers=auth)
        assert r.status_code == 204 and r.get_data() == b""
    body = client.get("/api/v1/me/wishlist", headers=auth).get_json()
    assert [i["product_id"] for i in body["items"]] == ["p-2"]


def test_sessions_list_and_end_one(app, mailbox):
    phone = app.test_client()
    laptop = app.test_client()
    a = signed_in(phone, mailbox)
    b = signed_in(laptop, mailbox)
    body = laptop.get("/api/v1/me/sessions", headers=b).get_json()
    assert set(body) == {"sessions", "next_cursor"} and body["next_cursor"] is None
    assert len(body["sessions"]) == 2 and body["sessions"][0]["current"] is True
    other = body["sessions"][1]["id"]
    r = laptop.delete(f"/api/v1/me/sessions/{other}", headers=b)
    assert r.status_code == 204
    assert_problem(phone.get("/api/v1/me", headers=a), 401, "unauthorized")
    assert_problem(laptop.delete(f"/api/v1/me/sessions/{other}", headers=b), 404, "not_found")


def test_account_page_html(client, mailbox):
    r = client.get("/account")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    sign_in(client, mailbox, "ana@example.com")
    r = client.get("/account")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "ana@example.com" in html and 'action="/logout"' in html


def test_item_prices_leave_as_canonical_decimal_strings(web, mailbox):
    items = [{"name": "Mug", "quantity": 1, "unit_price": " 19.9 "},
             {"name": "Tea", "quantity": 2, "unit_price": "0004.50"}]
    assert hook(web, order("1", "ana@example.com", total="28.9", items=items)).status_code == 201
    auth = signed_in(web, mailbox)
    one = web.get("/api/v1/me/orders/1", headers=auth).get_json()
    listed = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"][0]
    exported = web.get("/api/v1/me/export", headers=auth).get_json()["orders"][0]
    for o in (one, listed, exported):
        assert o["total"] == "28.90"
        assert [i["unit_price"] for i in o["items"]] == ["19.90", "4.50"]


def test_sessions_list_is_paginated_like_every_list(make_app, mailbox):
    app = make_app(email_limit=1000, ip_limit=1000)
    tokens = [sign_in(app.test_client(), mailbox, "ana@example.com")["session_token"]
              for _ in range(22)]
    client = app.test_client()
    auth = bearer(tokens[-1])
    first = client.get("/api/v1/me/sessions", headers=auth).get_json()
    assert len(first["sessions"]) == 20 and isinstance(first["next_cursor"], str)
    assert first["sessions"][0]["current"] is True
    rest = client.get(f"/api/v1/me/sessions?cursor={first['next_cursor']}", headers=auth)
    body = rest.get_json()
    assert len(body["sessions"]) == 2 and body["next_cursor"] is None
    ids = [s["id"] for s in first["sessions"] + body["sessions"]]
    assert len(set(ids)) == 22
    two = client.get("/api/v1/me/sessions?limit=2", headers=auth).get_json()
    assert [s["id"] for s in two["sessions"]] == ids[:2]
    for query in ("limit=0", "limit=101", "limit=-1", "limit=abc", "cursor=bogus!",
                  "cursor=WzFd", "cursor=WyJ4IiwxXQ"):
        r = client.get(f"/api/v1/me/sessions?{query}", headers=auth)
        assert_invalid(r, query.split("=")[0])


@pytest.mark.parametrize("max_age,words", [(3600, "valid for 1 hour"),
                                           (1209600, "valid for 2 weeks")])
def test_link_mail_states_login_link_max_age(make_app, mailbox, max_age, words):
    client = make_app(login_link_max_age=max_age).test_client()
    mail = _link(client, mailbox, "ana@example.com")
    assert words in mail.text and words in mail.html
    es = _link(client, mailbox, "ana@example.com", locale="es")
    assert "válido durante" in es.text and "días" not in es.text
