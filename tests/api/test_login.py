"""CONTRACT §3: login links, one test per failure mode."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from freezegun import freeze_time

from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sent_shape, sign_in


def _request_link(client: Any, mailbox: Any, address: str, **extra: Any) -> Any:
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address, **extra})
    assert r.status_code == 202, r.get_data(as_text=True)
    assert sent_shape(r.get_json())
    return mailbox.wait_for(address, before + 1)[-1]


def test_link_for_new_address_creates_account_on_verify(client, mailbox, app):
    mail = _request_link(client, mailbox, "  Ana@Example.com ")
    assert mail.link.startswith("http://localhost/login/verify?token=")
    assert count_rows(app, "customers") == 0  # asking creates nothing
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 200
    body = r.get_json()
    assert body["customer"]["email"] == "Ana@Example.com"
    assert body["customer"]["status"] == "active"
    assert body["session_token"] and body["expires_at"].endswith("Z")
    cookie = r.headers["Set-Cookie"]
    assert "loginsvc_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http in tests
    me = client.get("/api/v1/me", headers=bearer(body["session_token"]))
    assert me.status_code in (200, 404)  # /me lands with the account issue


def test_same_answer_for_known_unknown_and_blocked(client, mailbox, app):
    sign_in(client, mailbox, "known@example.com")
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        c = Customer(email="blocked@example.com", email_norm="blocked@example.com",
                     status="blocked", has_account=True, totals={})
        db.session.add(c)
        db.session.commit()
    answers = []
    for address in ("known@example.com", "nobody@example.com", "blocked@example.com"):
        r = client.post("/api/v1/auth/login-link", json={"email": address})
        answers.append((r.status_code, r.get_json()))
    assert [a[0] for a in answers] == [202] * 3
    assert all(sent_shape(a[1]) for a in answers)
    mailbox.wait_for("nobody@example.com")
    assert mailbox.to("blocked@example.com") == []


@pytest.mark.parametrize("payload", [
    {"email": "not-an-address"}, {"email": ""}, {"email": 42}, {"email": "a@b"},
    {"email": "x" * 400 + "@example.com"}, {}, {"email": "a@example.com", "extra": 1},
    {"email": "a@example.com", "next": 5},
])
def test_bad_login_link_body_is_422(client, mailbox, payload):
    r = client.post("/api/v1/auth/login-link", json=payload)
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "invalid_request" and body["errors"]
    assert mailbox.messages == []


def test_unparseable_body_is_400(client):
    r = client.post("/api/v1/auth/login-link", data=b"{nope",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_request"


def test_oversize_body_is_413(client):
    r = client.post("/api/v1/auth/login-link", data=b"x" * (1024 * 1024 + 10),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"


def test_per_ip_limit_429_with_retry_after(make_app, mailbox):
    client = make_app(ip_limit=3).test_client()
    codes = [client.post("/api/v1/auth/login-link", json={"email": f"u{i}@example.com"}
                         ).status_code for i in range(4)]
    assert codes == [202, 202, 202, 429]
    r = client.post("/api/v1/auth/login-link", json={"email": "z@example.com"})
    assert r.status_code == 429 and r.get_json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_per_ip_limit_is_a_moving_window(make_app, mailbox):
    # A fixed window would let 3 more through at the minute boundary (6 in 2 s).
    client = make_app(ip_limit=3).test_client()
    with freeze_time("2026-11-22 10:00:59") as clock:
        for i in range(3):
            r = client.post("/api/v1/auth/login-link", json={"email": f"m{i}@example.com"})
            assert r.status_code == 202, r.get_data(as_text=True)
        clock.move_to("2026-11-22 10:01:01")
        r = client.post("/api/v1/auth/login-link", json={"email": "m3@example.com"})
        assert r.status_code == 429 and r.get_json()["code"] == "rate_limited"
        assert r.headers["Retry-After"] == "58"  # when the first of the three leaves
        clock.move_to("2026-11-22 10:02:00")
        r = client.post("/api/v1/auth/login-link", json={"email": "m4@example.com"})
        assert r.status_code == 202 and r.get_json()["status"] == "sent"


def test_per_address_limit_is_silent(make_app, mailbox):
    client = make_app(email_limit=2).test_client()
    for _ in range(4):
        r = client.post("/api/v1/auth/login-link", json={"email": "Same@Example.com"})
        assert r.status_code == 202 and sent_shape(r.get_json())
    assert len(mailbox.to("same@example.com")) == 2


def test_accounts_disabled_is_403(client, app, mailbox):
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    r = client.post("/api/v1/auth/login-link", json={"email": "a@example.com"})
    assert r.status_code == 403 and r.get_json()["code"] == "accounts_disabled"


def test_token_used_twice_is_410(client, mailbox):
    mail = _request_link(client, mailbox, "b@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000, ".eJyrVipTslIqSS0u"])
def test_tampered_token_is_400(client, token):
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code in (400, 422)
    assert r.get_json()["code"] in ("invalid_token", "invalid_request")


def test_tampered_signature_is_invalid_token(client, mailbox):
    mail = _request_link(client, mailbox, "c@example.com")
    bad = mail.token[:-2] + ("AA" if not mail.token.endswith("AA") else "BB")
    r = client.post("/api/v1/auth/verify", json={"token": bad})
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_token"


def test_expired_token_is_410(client, mailbox):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(days=15)):
        mail = _request_link(client, mailbox, "d@example.com")
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_expired"


def test_token_of_13_days_still_works(client, mailbox):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(days=13, hours=23)):
        mail = _request_link(client, mailbox, "e@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_blocked_customer_is_403(client, mailbox, app):
    sign_in(client, mailbox, "f@example.com")
    mail = _request_link(client, mailbox, "f@example.com")
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        find_by_email(db.session, "f@example.com").status = "blocked"
        db.session.commit()
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 403 and r.get_json()["code"] == "account_blocked"


def test_logout_all_revokes_earlier_links(client, mailbox):
    session = sign_in(client, mailbox, "g@example.com")["session_token"]
    old = _request_link(client, mailbox, "g@example.com")
    r = client.post("/api/v1/auth/logout-all", headers=bearer(session))
    assert r.status_code == 204
    r = client.post("/api/v1/auth/verify", json={"token": old.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_revoked"
    # the session ended too
    r = client.post("/api/v1/auth/logout", headers=bearer(session))
    assert r.status_code == 401
    # a link asked for after logout-all works
    new = _request_link(client, mailbox, "g@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": new.token}).status_code == 200


def test_deleted_customer_link_is_revoked(client, mailbox, app):
    sign_in(client, mailbox, "h@example.com")
    mail = _request_link(client, mailbox, "h@example.com")
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        db.session.delete(find_by_email(db.session, "h@example.com"))
        db.session.commit()
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_revoked"


def test_asking_again_keeps_earlier_link_valid(client, mailbox):
    first = _request_link(client, mailbox, "i@example.com")
    second = _request_link(client, mailbox, "i@example.com")
    assert first.token != second.token
    assert client.post("/api/v1/auth/verify", json={"token": first.token}).status_code == 200
    assert client.post("/api/v1/auth/verify", json={"token": second.token}).status_code == 200


def test_logout_ends_only_this_session(app, mailbox):
    client = app.test_client()
    a = sign_in(app.test_client(), mailbox, "j@example.com")["session_token"]
    b = sign_in(app.test_client(), mailbox, "j@example.com")["session_token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(a)).status_code == 204
    assert client.post("/api/v1/auth/logout", headers=bearer(a)).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=bearer(b)).status_code == 204


def test_cookie_write_from_foreign_origin_is_csrf_failed(client, mailbox):
    sign_in(client, mailbox, "k@example.com")  # the test client keeps the cookie
    r = client.post("/api/v1/auth/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.get_json()["code"] == "csrf_failed"
    r = client.post("/api/v1/auth/logout", headers=ORIGIN)
    assert r.status_code == 204


def test_used_token_stays_used_when_redis_forgets(client, mailbox, app):
    mail = _request_link(client, mailbox, "l@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    with app.app_context():
        from loginsvc.core.runtime import store

        s = store()
        for key in s.r.scan_iter(match=f"{s.p}used:*"):
            s.r.delete(key)
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"


def test_next_is_kept_only_when_safe(make_app, mailbox):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    for nxt, expected in [("/account/orders", "/account/orders"),
                          ("https://shop.example/cart", "https://shop.example/cart"),
                          ("https://evil.example/", "/account"),
                          ("//evil.example/x", "/account"),
                          ("javascript:alert(1)", "/account")]:
        mail = _request_link(client, mailbox, "m@example.com", next=nxt)
        r = client.post("/login/verify", data={"token": mail.token})
        assert r.status_code == 303, (nxt, r.status_code)
        assert r.headers["Location"] == expected, nxt


def test_sign_in_rotates_the_browser_session(client, mailbox):
    first = sign_in(client, mailbox, "n@example.com")["session_token"]
    second = sign_in(client, mailbox, "n@example.com")["session_token"]
    assert first != second
    assert client.post("/api/v1/auth/logout", headers=bearer(first)).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=bearer(second)).status_code == 204


def test_trusted_proxy_client_address_drives_the_ip_limit(make_app, mailbox):
    app = make_app(ip_limit=2, trust_proxy=1)
    client = app.test_client()
    for ip in ("203.0.113.1", "203.0.113.1", "203.0.113.2"):
        r = client.post("/api/v1/auth/login-link", json={"email": "p@example.com"},
                        headers={"X-Forwarded-For": ip})
        assert r.status_code == 202
    r = client.post("/api/v1/auth/login-link", json={"email": "p@example.com"},
                    headers={"X-Forwarded-For": "203.0.113.1"})
    assert r.status_code == 429 and r.get_json()["code"] == "rate_limited"


def test_refused_link_is_not_spent(client, mailbox, app):
    """A link refused for a blocked customer works once the block is lifted."""
    sign_in(client, mailbox, "q@example.com")
    mail = _request_link(client, mailbox, "q@example.com")

    def set_status(status: str) -> None:
        with app.app_context():
            from loginsvc.core.extensions import db
            from loginsvc.customers.service import find_by_email

            find_by_email(db.session, "q@example.com").status = status
            db.session.commit()

    set_status("blocked")
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 403 and r.get_json()["code"] == "account_blocked"
    set_status("active")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"
