"""CONTRACT §5: GET/PATCH /api/v1/me, export and signed-in devices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sign_in

ADDRESS = {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
           "postal_code": "28013", "country": "es"}


def _signed_in(client: Any, mailbox: Any, address: str = "ana@example.com") -> dict[str, str]:
    return bearer(sign_in(client, mailbox, address)["session_token"])


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["code"] == code
    return body


def _with_db(app: Any, fn: Any) -> Any:
    with app.app_context():
        from loginsvc.core.extensions import db

        out = fn(db.session)
        db.session.commit()
        return out


def test_get_me_has_the_contract_shape(client, mailbox):
    auth = _signed_in(client, mailbox, "Ana@Example.com")
    r = client.get("/api/v1/me", headers=auth)
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"id", "email", "name", "phone", "company", "locale", "newsletter",
                         "addresses", "groups", "status", "created_at", "order_count", "totals"}
    assert body["email"] == "Ana@Example.com"
    assert body["addresses"] == {"billing": None, "shipping": None}
    assert body["newsletter"] is False and body["groups"] == [] and body["totals"] == []
    assert body["created_at"].endswith("Z") and body["status"] == "active"


@pytest.mark.parametrize("method,path", [
    ("get", "/api/v1/me"), ("patch", "/api/v1/me"), ("delete", "/api/v1/me"),
    ("get", "/api/v1/me/export"), ("get", "/api/v1/me/sessions"),
    ("delete", "/api/v1/me/sessions/abc"),
])
def test_without_session_is_401(client, method, path):
    r = getattr(client, method)(path, json={} if method == "patch" else None)
    _problem(r, 401, "unauthorized")


def test_cookie_session_works_and_foreign_origin_is_refused(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")  # the test client keeps the cookie
    assert client.get("/api/v1/me").status_code == 200
    r = client.patch("/api/v1/me", json={"name": "Eve"}, headers={"Origin": "https://evil.test"})
    _problem(r, 403, "csrf_failed")
    r = client.patch("/api/v1/me", json={"name": "Ana"}, headers=ORIGIN)
    assert r.status_code == 200 and r.get_json()["name"] == "Ana"
    for method, path in (("delete", "/api/v1/me"), ("delete", "/api/v1/me/sessions/x")):
        r = getattr(client, method)(path, headers={"Origin": "https://evil.test"})
        _problem(r, 403, "csrf_failed")
    assert count_rows(app, "customers") == 1


def test_patch_changes_fields_and_keeps_country_and_search_current(client, mailbox, app):
    auth = _signed_in(client, mailbox)
    r = client.patch("/api/v1/me", headers=auth, json={
        "name": " Ana Ruiz ", "phone": "+34 600 000 000", "company": "Ruiz S.L.",
        "locale": "es", "addresses": {"billing": ADDRESS,
                                      "shipping": {**ADDRESS, "country": "PT"}}})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["name"] == "Ana Ruiz" and body["phone"] == "+34 600 000 000"
    assert body["company"] == "Ruiz S.L." and body["locale"] == "es"
    assert body["addresses"]["billing"] == {**ADDRESS, "country": "ES"}
    assert body["addresses"]["shipping"]["country"] == "PT"

    def check(sess: Any) -> None:
        from loginsvc.core.models import Customer

        c = sess.query(Customer).one()
        assert c.country == "PT"  # shipping wins
        assert "ana ruiz" in c.search_text and "ruiz s.l." in c.search_text
    _with_db(app, check)
    # Only fields present change; null clears a text field and an address.
    r = client.patch("/api/v1/me", headers=auth, json={"company": None,
                                                      "addresses": {"shipping": None}})
    body = r.get_json()
    assert body["company"] is None and body["name"] == "Ana Ruiz"
    assert body["addresses"]["shipping"] is None and body["addresses"]["billing"]
    assert client.get("/api/v1/me", headers=auth).get_json() == body


def test_newsletter_change_records_consent_once(client, mailbox, app):
    auth = _signed_in(client, mailbox)
    for value in (True, True, False):
        r = client.patch("/api/v1/me", headers=auth, json={"newsletter": value})
        assert r.status_code == 200 and r.get_json()["newsletter"] is value
    assert count_rows(app, "consent_events") == 2
    export = client.get("/api/v1/me/export", headers=auth).get_json()
    assert [(e["newsletter"], e["source"]) for e in export["newsletter_consent"]] == [
        (False, "profile"), (True, "profile")]


def test_email_is_not_editable(client, mailbox):
    auth = _signed_in(client, mailbox)
    r = client.patch("/api/v1/me", headers=auth,
                     json={"email": "other@example.com", "name": "Changed"})
    body = _problem(r, 422, "invalid_request")
    assert body["errors"] == [{"field": "email", "message": (
        "The e-mail address cannot be changed here: it is the address you sign in with. "
        "Contact the shop to change it.")}]
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["email"] == "ana@example.com" and me["name"] is None  # nothing changed


@pytest.mark.parametrize("payload,field", [
    ({"name": 5}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"phone": "call me"}, "phone"),
    ({"phone": "1" * 51}, "phone"),
    ({"company": ["x"]}, "company"),
    ({"locale": "it"}, "locale"),
    ({"newsletter": "yes"}, "newsletter"),
    ({"newsletter": None}, "newsletter"),
    ({"newsletter": 1}, "newsletter"),
    ({"addresses": "home"}, "addresses"),
    ({"addresses": {"home": ADDRESS}}, "addresses.home"),
    ({"addresses": {"billing": {**ADDRESS, "country": "XX"}}}, "addresses.billing.country"),
    ({"addresses": {"billing": {**ADDRESS, "country": "Spain"}}}, "addresses.billing.country"),
    ({"addresses": {"billing": {**ADDRESS, "country": ""}}}, "addresses.billing.country"),
    ({"addresses": {"billing": {k: v for k, v in ADDRESS.items() if k != "line1"}}},
     "addresses.billing.line1"),
    ({"addresses": {"billing": {**ADDRESS, "city": "  "}}}, "addresses.billing.city"),
    ({"addresses": {"billing": {**ADDRESS, "postal_code": "1" * 21}}},
     "addresses.billing.postal_code"),
    ({"addresses": {"shipping": {**ADDRESS, "line2": "x" * 201}}}, "addresses.shipping.line2"),
    ({"addresses": {"shipping": {**ADDRESS, "floor": 3}}}, "addresses.shipping.floor"),
    ({"addresses": {"shipping": {**ADDRESS, "region": 7}}}, "addresses.shipping.region"),
    ({"favourite_colour": "red"}, "favourite_colour"),
])
def test_bad_field_is_422_and_changes_nothing(client, mailbox, payload, field):
    auth = _signed_in(client, mailbox)
    before = client.get("/api/v1/me", headers=auth).get_json()
    r = client.patch("/api/v1/me", headers=auth, json={"name": "Should not stick", **payload}
                     if "name" not in payload else payload)
    body = _problem(r, 422, "invalid_request")
    assert field in [e["field"] for e in body["errors"]], body
    assert all(e["message"] for e in body["errors"])
    assert client.get("/api/v1/me", headers=auth).get_json() == before


@pytest.mark.parametrize("raw,status", [(b"{nope", 400), (b"[1,2]", 422), (b'"x"', 422)])
def test_malformed_patch_body(client, mailbox, raw, status):
    auth = _signed_in(client, mailbox)
    r = client.patch("/api/v1/me", data=raw,
                     headers={**auth, "Content-Type": "application/json"})
    _problem(r, status, "invalid_request")


def test_export_holds_every_personal_datum(client, mailbox, app):
    auth = _signed_in(client, mailbox)
    client.patch("/api/v1/me", headers=auth, json={"name": "Ana", "newsletter": True,
                                                   "addresses": {"billing": ADDRESS}})
    client.put("/api/v1/me/wishlist/p-7", headers=auth,
               json={"name": "T-shirt", "price": "19.95", "currency": "EUR"})

    def add_order(sess: Any) -> None:
        from loginsvc.core.models import Customer, Order

        c = sess.query(Customer).one()
        sess.add(Order(order_id="1001", customer_id=c.id, status="paid", currency="EUR",
                       total=Decimal("39.90"), placed_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
                       items=[{"product_id": "p-7", "name": "T-shirt", "quantity": 2,
                               "unit_price": "19.95"}],
                       customer_info={"name": "Ana Ruiz"}, billing_address=ADDRESS))
    _with_db(app, add_order)
    r = client.get("/api/v1/me/export", headers=auth)
    assert r.status_code == 200
    doc = r.get_json()
    assert set(doc) == {"exported_at", "shop", "profile", "orders", "wishlist", "sessions",
                        "passkeys", "linked_accounts", "newsletter_consent"}
    assert doc["passkeys"] == [] and doc["linked_accounts"] == []
    assert doc["profile"]["email"] == "ana@example.com" and doc["profile"]["name"] == "Ana"
    assert doc["profile"]["addresses"]["billing"]["city"] == "Madrid"
    assert doc["orders"][0]["order_id"] == "1001" and doc["orders"][0]["items"][0]["quantity"] == 2
    assert doc["orders"][0]["customer"] == {"name": "Ana Ruiz"}
    assert doc["wishlist"][0]["product_id"] == "p-7" and doc["wishlist"][0]["price"] == "19.95"
    assert len(doc["sessions"]) == 1 and doc["sessions"][0]["ip"] == "127.0.0.1"
    assert doc["newsletter_consent"] == [
        {"newsletter": True, "source": "profile", "at": doc["newsletter_consent"][0]["at"]}]


def test_sessions_list_and_sign_out_one(client, app, mailbox):
    phone = app.test_client()
    first = sign_in(phone, mailbox, "ana@example.com")["session_token"]
    r = client.post("/api/v1/auth/login-link", json={"email": "ana@example.com"})
    assert r.status_code == 202
    token = mailbox.wait_for("ana@example.com", 2)[-1].token
    second = client.post("/api/v1/auth/verify", json={"token": token},
                         headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like "
                                  "Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                                  "Version/17.0 Mobile/15E148 Safari/604.1"}
                         ).get_json()["session_token"]
    r = client.get("/api/v1/me/sessions", headers=bearer(second))
    assert r.status_code == 200
    body = r.get_json()
    assert body["next_cursor"] is None and len(body["sessions"]) == 2
    newest, older = body["sessions"]
    assert set(newest) == {"id", "created_at", "last_seen_at", "user_agent", "ip_prefix",
                           "current", "method"}
    assert newest["current"] is True and older["current"] is False
    assert newest["user_agent"] == "Safari on iOS" and newest["ip_prefix"] == "127.0.0.0/24"
    assert newest["method"] == "link" and newest["created_at"].endswith("Z")
    r = client.delete(f"/api/v1/me/sessions/{older['id']}", headers=bearer(second))
    assert r.status_code == 204 and r.data == b""
    _problem(phone.get("/api/v1/me", headers=bearer(first)), 401, "unauthorized")
    # Gone now, and someone else's or a made-up id is simply unknown.
    _problem(client.delete(f"/api/v1/me/sessions/{older['id']}", headers=bearer(second)),
             404, "not_found")
    _problem(client.delete("/api/v1/me/sessions/" + "x" * 300, headers=bearer(second)),
             404, "not_found")
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200


def test_session_of_another_customer_cannot_be_ended(client, app, mailbox):
    other = app.test_client()
    eve = sign_in(other, mailbox, "eve@example.com")["session_token"]
    eve_id = other.get("/api/v1/me/sessions", headers=bearer(eve)).get_json()["sessions"][0]["id"]
    auth = _signed_in(client, mailbox)
    _problem(client.delete(f"/api/v1/me/sessions/{eve_id}", headers=auth), 404, "not_found")
    assert other.get("/api/v1/me", headers=bearer(eve)).status_code == 200


@pytest.mark.parametrize("ua,summary", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
     "Firefox on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0 Safari/537.36 Edg/126.0", "Edge on macOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0 Mobile Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.0 Mobile/15E148 Safari/604.1", "Safari on iPadOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
    ("Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
    ("curl/8.5.0", "curl"), ("", "Unknown device"), ("Werkzeug/3.1", "Unknown device"),
])
def test_user_agent_summary(ua, summary):
    from loginsvc.customers.devices import describe_user_agent

    assert describe_user_agent(ua) == summary
