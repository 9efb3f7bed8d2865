"""CONTRACT §6: WordPress single sign-on, one test per failure mode."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from freezegun import freeze_time

from tests.helpers import sign_webhook, signed_post

SECRET = "whsec_" + base64.b64encode(b"wordpress-sso-test-secret-32byte").decode()
OTHER = "whsec_" + base64.b64encode(b"some-other-secret-not-configured").decode()
LOGIN = "/api/v1/sso/wordpress/login"
LOGOUT = "/api/v1/sso/wordpress/logout"


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(wordpress_sso_secrets=(SECRET,),
                    allowed_redirect_origins=("https://blog.example.com",))


def _ticket(client: Any, **payload: Any) -> str:
    body = {"email": "wp@example.com", "wp_user_id": 42, **payload}
    r = signed_post(client, LOGIN, body, SECRET)
    assert r.status_code == 200, r.get_data(as_text=True)
    return str(r.get_json()["login_url"])


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _customer(app: Any, email: str) -> Any:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        c = find_by_email(db.session, email.lower())
        if c is not None:
            db.session.expunge(c)
        return c


def _add_customer(app: Any, email: str, **fields: Any) -> None:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        db.session.add(Customer(email=email, email_norm=email.lower(), totals={}, **fields))
        db.session.commit()


def _set_mode(app: Any, mode: str) -> None:
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": mode})


def _ticket_keys(app: Any) -> list[bytes]:
    st = app.extensions["loginsvc.core.store"]
    return list(st.r.scan_iter(match=f"{st.p}ticket:*"))


def _assert_error_page(r: Any, status: int, code: str) -> None:
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/html")
    assert f'data-code="{code}"' in r.get_data(as_text=True)
    assert "loginsvc_session=" not in r.headers.get("Set-Cookie", "")


def test_ticket_signs_in_creates_account_and_links_user(client, app):
    r = signed_post(client, LOGIN, {"email": " Wp@Example.com ", "name": "Wanda",
                                    "wp_user_id": 42}, SECRET)
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"login_url", "expires_in"} and body["expires_in"] == 60
    assert body["login_url"].startswith("http://localhost/sso/wordpress/ticket?t=")
    assert len(parse_qs(urlsplit(body["login_url"]).query)["t"][0]) >= 43
    assert _customer(app, "wp@example.com") is None  # issuing creates nothing
    r = client.get(_path(body["login_url"]))
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "loginsvc_session=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    c = _customer(app, "wp@example.com")
    assert (c.email, c.name, c.wp_user_id, c.has_account, c.status) == (
        "Wp@Example.com", "Wanda", "42", True, "active")
    me = client.get("/api/v1/me")  # the cookie just set is the session
    assert me.status_code == 200 and "Wp@Example.com" in me.get_data(as_text=True)
    sessions = app.extensions["loginsvc.core.store"].list_sessions(c.id)
    assert [s.method for s in sessions] == ["sso"]


def test_string_wp_user_id_is_stored_as_given(client, app):
    client.get(_path(_ticket(client, email="s@example.com", wp_user_id="wp-9")))
    assert _customer(app, "s@example.com").wp_user_id == "wp-9"


def test_ticket_works_once(client, app):
    url = _ticket(client)
    assert client.get(_path(url)).status_code == 303
    _assert_error_page(app.test_client().get(_path(url)), 410, "invalid_ticket")


def test_ticket_expires_with_its_redis_ttl(client, app):
    url = _ticket(client)
    st = app.extensions["loginsvc.core.store"]
    [key] = _ticket_keys(app)
    assert 55 <= st.r.ttl(key) <= 60
    st.r.pexpire(key, 1)  # Redis keeps its own clock: shorten the real TTL
    time.sleep(0.05)
    _assert_error_page(client.get(_path(url)), 410, "invalid_ticket")


def test_ticket_older_than_60_seconds_is_refused(client, app):
    with freeze_time("2026-11-22 10:00:00") as frozen:
        url = _ticket(client)
        frozen.tick(61)
        _assert_error_page(client.get(_path(url)), 410, "invalid_ticket")
    assert _customer(app, "wp@example.com") is None


@pytest.mark.parametrize("query", ["", "?t=", "?t=nope", "?t=" + "x" * 5000])
def test_unknown_ticket_is_410_page(client, query):
    _assert_error_page(client.get("/sso/wordpress/ticket" + query), 410, "invalid_ticket")


def test_bad_signature_is_401(client, app):
    r = signed_post(client, LOGIN, {"email": "a@example.com", "wp_user_id": 1}, OTHER)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert r.headers["Content-Type"] == "application/problem+json"
    assert _ticket_keys(app) == []


def test_missing_signature_headers_is_401(client):
    r = client.post(LOGIN, json={"email": "a@example.com", "wp_user_id": 1})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


def test_unsigned_garbage_is_401_not_422(client):
    r = client.post(LOGIN, data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


def test_stale_timestamp_is_401(client, app):
    r = signed_post(client, LOGIN, {"email": "a@example.com", "wp_user_id": 1}, SECRET,
                    timestamp=int(time.time()) - 301)
    assert r.status_code == 401 and r.get_json()["code"] == "stale_timestamp"
    assert _ticket_keys(app) == []


def test_not_configured_is_401(make_app):
    client = make_app(wordpress_sso_secrets=()).test_client()
    r = signed_post(client, LOGIN, {"email": "a@example.com", "wp_user_id": 1}, SECRET)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


def test_rotated_secrets_both_work(make_app):
    client = make_app(wordpress_sso_secrets=(OTHER, SECRET)).test_client()
    for secret in (OTHER, SECRET):
        r = signed_post(client, LOGIN, {"email": "a@example.com", "wp_user_id": 1}, secret)
        assert r.status_code == 200


def test_replayed_webhook_id_gets_the_first_answer(client, app):
    payload = {"email": "r@example.com", "wp_user_id": 5}
    first = signed_post(client, LOGIN, payload, SECRET, msg_id="msg_same")
    again = signed_post(client, LOGIN, payload, SECRET, msg_id="msg_same")
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Webhook-Replayed"] == "true"
    assert len(_ticket_keys(app)) == 1


@pytest.mark.parametrize("payload", [
    {}, {"email": "a@example.com"}, {"wp_user_id": 1},
    {"email": "not-an-address", "wp_user_id": 1}, {"email": 5, "wp_user_id": 1},
    {"email": "a@example.com", "wp_user_id": 0}, {"email": "a@example.com", "wp_user_id": -3},
    {"email": "a@example.com", "wp_user_id": True}, {"email": "a@example.com", "wp_user_id": 1.5},
    {"email": "a@example.com", "wp_user_id": ""},
    {"email": "a@example.com", "wp_user_id": "x" * 65},
    {"email": "a@example.com", "wp_user_id": None}, {"email": "a@example.com", "wp_user_id": [1]},
    {"email": "a@example.com", "wp_user_id": 1, "next": 5},
    {"email": "a@example.com", "wp_user_id": 1, "next": "/" + "x" * 2048},
    {"email": "a@example.com", "wp_user_id": 1, "name": "n" * 201},
    {"email": "a@example.com", "wp_user_id": 1, "role": "admin"},
    {"email": "x" * 400 + "@example.com", "wp_user_id": 1}, [1, 2], "text",
])
def test_malformed_login_body_is_422(client, app, payload):
    r = signed_post(client, LOGIN, payload, SECRET)
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "invalid_request" and body["errors"]
    assert _ticket_keys(app) == []


def test_unparseable_signed_body_is_400(client):
    body = b"{nope"
    r = client.post(LOGIN, data=body, headers=sign_webhook(SECRET, body, msg_id="msg_bad"))
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_request"


def test_rejected_call_can_be_retried_with_the_same_id(client):
    bad = signed_post(client, LOGIN, {"email": "nope"}, SECRET, msg_id="msg_retry")
    assert bad.status_code == 422
    good = signed_post(client, LOGIN, {"email": "a@example.com", "wp_user_id": 1}, SECRET,
                       msg_id="msg_retry")
    assert good.status_code == 200 and "Webhook-Replayed" not in good.headers


def test_blocked_customer_gets_403_page(client, app):
    _add_customer(app, "blocked@example.com", status="blocked", has_account=True)
    url = _ticket(client, email="blocked@example.com", wp_user_id=8)
    _assert_error_page(client.get(_path(url)), 403, "account_blocked")
    assert _customer(app, "blocked@example.com").wp_user_id is None


@pytest.mark.parametrize("unsafe", [
    "https://evil.example.net/", "//evil.example.net/x", "javascript:alert(1)",
    "https:\\\\evil.example.net", "account", "/x\r\nSet-Cookie: a=b",
])
def test_unsafe_next_is_dropped(client, unsafe):
    r = client.get(_path(_ticket(client, next=unsafe)))
    assert r.status_code == 303 and r.headers["Location"] == "/account"


@pytest.mark.parametrize("safe", ["/account/orders?page=2", "https://blog.example.com/shop"])
def test_safe_next_is_followed(client, safe):
    r = client.get(_path(_ticket(client, next=safe)))
    assert r.status_code == 303 and r.headers["Location"] == safe


def test_accounts_disabled_is_403_page(client, app):
    _set_mode(app, "disabled")
    url = _ticket(client)
    _assert_error_page(client.get(_path(url)), 403, "accounts_disabled")
    assert _customer(app, "wp@example.com") is None


def test_required_mode_makes_new_account_pending(client, app, mailbox):
    _set_mode(app, "required")
    url = _ticket(client, email="new@example.com", wp_user_id=11)
    _assert_error_page(client.get(_path(url)), 403, "account_pending")
    c = _customer(app, "new@example.com")
    assert (c.has_account, c.status, c.wp_user_id) == (True, "pending", "11")
    assert "new@example.com" in mailbox.wait_for("owner@shop.test")[0].text


def test_required_mode_lets_approved_accounts_in(client, app):
    _add_customer(app, "ok@example.com", status="active", has_account=True)
    _set_mode(app, "required")
    r = client.get(_path(_ticket(client, email="ok@example.com", wp_user_id=12)))
    assert r.status_code == 303


def test_guest_buyer_gets_an_account_on_the_same_row(client, app):
    _add_customer(app, "guest@example.com", status="active", has_account=False, order_count=2)
    before = _customer(app, "guest@example.com")
    client.get(_path(_ticket(client, email="GUEST@example.com", wp_user_id=13)))
    after = _customer(app, "guest@example.com")
    assert (after.id, after.has_account, after.order_count, after.email) == (
        before.id, True, 2, "guest@example.com")


def test_wp_user_id_moves_to_the_address_wordpress_vouches_for(client, app):
    client.get(_path(_ticket(client, email="old@example.com", wp_user_id=77)))
    r = app.test_client().get(_path(_ticket(client, email="new@example.com", wp_user_id=77)))
    assert r.status_code == 303
    assert _customer(app, "old@example.com").wp_user_id is None
    assert _customer(app, "new@example.com").wp_user_id == "77"


def _signed_in_client(app: Any, email: str, wp_user_id: int) -> Any:
    c = app.test_client()
    assert c.get(_path(_ticket(c, email=email, wp_user_id=wp_user_id))).status_code == 303
    assert c.get("/api/v1/me").status_code == 200
    return c


@pytest.mark.parametrize("who", [{"wp_user_id": 21}, {"wp_user_id": "21"},
                                 {"email": "LEAVER@example.com "}])
def test_logout_ends_that_customers_sessions(app, who):
    phone = _signed_in_client(app, "leaver@example.com", 21)
    laptop = _signed_in_client(app, "leaver@example.com", 21)
    other = _signed_in_client(app, "stayer@example.com", 22)
    r = signed_post(app.test_client(), LOGOUT, who, SECRET)
    assert r.status_code == 204 and r.get_data() == b""
    for c in (phone, laptop):
        r = c.get("/api/v1/me")
        assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"
    assert other.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("who", [{"wp_user_id": 999}, {"email": "nobody@example.com"}])
def test_logout_of_unknown_user_is_204(client, who):
    r = signed_post(client, LOGOUT, who, SECRET)
    assert r.status_code == 204


@pytest.mark.parametrize("payload", [
    {}, {"wp_user_id": 1, "email": "a@example.com"}, {"email": "nope"}, {"wp_user_id": 0},
    {"wp_user_id": None, "email": None}, {"wp_user_id": 1, "extra": True}, [],
])
def test_malformed_logout_body_is_422(client, payload):
    r = signed_post(client, LOGOUT, payload, SECRET)
    assert r.status_code == 422
    assert r.get_json()["code"] == "invalid_request" and r.get_json()["errors"]


def test_logout_needs_a_signature(app):
    c = _signed_in_client(app, "keep@example.com", 31)
    r = app.test_client().post(LOGOUT, data=json.dumps({"wp_user_id": 31}),
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert c.get("/api/v1/me").status_code == 200


def test_endpoints_are_in_openapi(client):
    doc = client.get("/openapi.json").get_json()
    assert "post" in doc["paths"][LOGIN] and "post" in doc["paths"][LOGOUT]


def test_shared_vectors_match_the_python_signing():
    """The same file is checked by the plugin's PHP (tests/e2e/test_wordpress_plugin.py)."""
    from pathlib import Path

    from loginsvc.core.signed_calls import sign, verify

    path = Path(__file__).resolve().parents[2] / "clients" / "wordpress" / "test-vectors.json"
    vectors = json.loads(path.read_text(encoding="utf-8"))["vectors"]
    assert len(vectors) >= 5
    for v in vectors:
        body = v["body"].encode()
        assert sign(v["secret"], v["id"], v["timestamp"], body) == v["signature"], v["id"]
        # standardwebhooks checks the window on the wall clock: stand at the vector's time.
        with freeze_time(dt.datetime.fromtimestamp(v["timestamp"], dt.UTC)):
            verify([v["secret"]], msg_id=v["id"], timestamp=str(v["timestamp"]),
                   signature=v["signature"], body=body, at=v["timestamp"])
    # One vector is the published Standard Webhooks example, an outside anchor.
    anchor = {"id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
              "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    assert anchor.items() <= vectors[1].items()
