"""CONTRACT §5a: changing the e-mail address, from the API, the pages and the admin API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from freezegun import freeze_time

from tests.api.admin_support import Admin, make_key
from tests.api.test_orders_webhook import SECRET, order, post
from tests.helpers import ORIGIN, Mail, bearer, mail_code, sign_in

CONFIRM_RE = re.compile(r"https?://[^\s\"'<>]+/account/email/confirm\?token=[A-Za-z0-9._\-%]+")


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    body = r.get_json()
    assert body["code"] == code and body["status"] == status, body
    return body


def confirm_token(mail: Mail) -> str:
    m = CONFIRM_RE.search(mail.text)
    assert m, mail.text
    assert m.group(0) in mail.html
    return parse_qs(urlsplit(m.group(0)).query)["token"][0]


def ask_change(web: Any, mailbox: Any, auth: dict[str, str], new: str) -> str:
    before = len(mailbox.to(new))
    r = web.post("/api/v1/me/email", json={"email": new}, headers=auth)
    assert r.status_code == 202 and r.get_json() == {"status": "sent"}, r.get_data(as_text=True)
    return confirm_token(mailbox.wait_for(new, before + 1)[-1])


def test_change_confirmed_by_the_new_address(web, mailbox, shop):
    post(web, order("o-1", "old@example.com"))
    auth = bearer(sign_in(web, mailbox, "old@example.com")["session_token"])
    web.post("/api/v1/auth/login-link", json={"email": "old@example.com"})
    old_link = mailbox.wait_for("old@example.com", 3)[-1]  # welcome, sign-in, this one
    token = ask_change(web, mailbox, auth, "New@Example.com")
    assert web.get("/api/v1/me", headers=auth).get_json()["email"] == "old@example.com"
    # GET shows a button and changes nothing (mail scanners open links)
    page = web.get("/account/email/confirm", query_string={"token": token})
    assert page.status_code == 200 and "Confirm the new address" in page.get_data(as_text=True)
    page = web.get("/account/email/confirm", query_string={"token": token})
    assert page.status_code == 200
    assert web.get("/api/v1/me", headers=auth).get_json()["email"] == "old@example.com"
    r = web.post("/account/email/confirm", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 200 and "New@Example.com" in r.get_data(as_text=True)
    me = web.get("/api/v1/me", headers=auth).get_json()  # the session goes on
    assert me["email"] == "New@Example.com" and me["order_count"] == 1
    orders = web.get("/api/v1/me/orders", headers=auth).get_json()["orders"]
    assert [o["order_id"] for o in orders] == ["o-1"]
    notice = mailbox.wait_for("old@example.com", 4)[-1]
    assert "changed" in notice.subject and "Ne…@Example.com" in notice.text
    assert "owner@shop.test" in notice.text  # how to reach the shop
    # earlier links to the old address stop working, the link and its code alike
    problem(web.post("/api/v1/auth/verify", json={"token": old_link.token}), 410, "token_revoked")
    # the confirmation link works once
    again = web.post("/account/email/confirm", data={"token": token}, headers=ORIGIN)
    assert again.status_code == 410 and 'data-code="token_used"' in again.get_data(as_text=True)
    # and the new address signs in to the same account
    assert sign_in(web, mailbox, "new@example.com")["customer"]["id"] == me["id"]


def test_old_address_code_stops_working_too(web, mailbox):
    auth = bearer(sign_in(web, mailbox, "code-old@example.com")["session_token"])
    r = web.post("/api/v1/auth/login-link", json={"email": "code-old@example.com"})
    attempt = r.get_json()["attempt"]
    code = mail_code(mailbox.wait_for("code-old@example.com", 2)[-1])
    token = ask_change(web, mailbox, auth, "code-new@example.com")
    assert web.post("/account/email/confirm", data={"token": token}).status_code == 200
    r = web.post("/api/v1/auth/verify-code", json={"attempt": attempt, "code": code})
    problem(r, 410, "token_revoked")


def test_change_needs_a_recent_sign_in(web, mailbox):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)):
        auth = bearer(sign_in(web, mailbox, "stale@example.com")["session_token"])
    problem(web.post("/api/v1/me/email", json={"email": "x@example.com"}, headers=auth),
            403, "reauth_required")
    assert mailbox.to("x@example.com") == []


def test_change_refusals(web, mailbox):
    problem(web.post("/api/v1/me/email", json={"email": "a@example.com"}), 401, "unauthorized")
    auth = bearer(sign_in(web, mailbox, "me@example.com")["session_token"])
    for payload in ({"email": "nope"}, {"email": 1}, {}, {"email": "a@example.com", "x": 1},
                    {"email": " ME@example.com "}):
        problem(web.post("/api/v1/me/email", json=payload, headers=auth), 422, "invalid_request")


def test_taken_at_confirmation_is_409_and_changes_nothing(shop, web, mailbox):
    auth = bearer(sign_in(web, mailbox, "first@example.com")["session_token"])
    token = ask_change(web, mailbox, auth, "second@example.com")
    sign_in(shop.test_client(), mailbox, "second@example.com")  # someone else takes it meanwhile
    r = web.post("/account/email/confirm", data={"token": token})
    assert r.status_code == 409 and 'data-code="email_taken"' in r.get_data(as_text=True)
    assert web.get("/api/v1/me", headers=auth).get_json()["email"] == "first@example.com"


def test_bad_and_expired_confirmation_links(web, mailbox):
    auth = bearer(sign_in(web, mailbox, "late@example.com")["session_token"])
    token = ask_change(web, mailbox, auth, "later@example.com")
    for bad in ("", "garbage", token[:-3] + "abc"):
        r = web.get("/account/email/confirm", query_string={"token": bad})
        assert r.status_code == 400 and 'data-code="invalid_token"' in r.get_data(as_text=True)
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=1, seconds=1)):
        r = web.post("/account/email/confirm", data={"token": token})
        assert r.status_code == 410 and 'data-code="token_expired"' in r.get_data(as_text=True)
    r = web.post("/account/email/confirm", data={"token": token},
                 headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert web.get("/api/v1/me", headers=auth).get_json()["email"] == "late@example.com"


def test_admin_sets_the_email(shop, web, mailbox):
    admin = Admin(web, make_key(shop))
    sign_in(web, mailbox, "shopper@example.com")
    web.post("/api/v1/auth/login-link", json={"email": "shopper@example.com"})
    old_link = mailbox.wait_for("shopper@example.com", 2)[-1]
    sign_in(web, mailbox, "other@example.com")
    cid = admin.get("/customers", query_string={"q": "shopper"}).get_json()["customers"][0]["id"]
    problem(admin.patch(f"/customers/{cid}", json={"email": "OTHER@example.com"}), 409, "conflict")
    problem(admin.patch(f"/customers/{cid}", json={"email": "broken"}), 422, "invalid_request")
    r = admin.patch(f"/customers/{cid}", json={"email": "Moved@Example.com"})
    assert r.status_code == 200 and r.get_json()["email"] == "Moved@Example.com"
    problem(web.post("/api/v1/auth/verify", json={"token": old_link.token}), 410, "token_revoked")
    assert "changed" in mailbox.wait_for("shopper@example.com", 3)[-1].subject
    assert sign_in(web, mailbox, "moved@example.com")["customer"]["id"] == cid


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert m
    return m.group(1)


def test_account_page_changes_the_email(web, mailbox):
    sign_in(web, mailbox, "page@example.com")
    page = web.get("/account/email")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="email"' in html
    r = web.post("/account/email", data={"email": "nope", "csrf_token": _csrf(html)},
                 headers=ORIGIN)
    assert r.status_code == 422 and 'data-code="invalid_request"' in r.get_data(as_text=True)
    r = web.post("/account/email", data={"email": "page-new@example.com"}, headers=ORIGIN)
    assert r.status_code == 403  # no CSRF token
    r = web.post("/account/email", data={"email": "page-new@example.com",
                                         "csrf_token": _csrf(html)}, headers=ORIGIN)
    assert r.status_code == 202 and "page-new@example.com" in r.get_data(as_text=True)
    confirm_token(mailbox.wait_for("page-new@example.com")[-1])
    assert "/account/email" in web.get("/account/profile").get_data(as_text=True)


def test_account_page_asks_to_confirm_it_is_you_when_stale(web, mailbox):
    with freeze_time(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)):
        sign_in(web, mailbox, "stale-page@example.com")
    html = web.get("/account/email").get_data(as_text=True)
    assert 'name="email"' not in html and "/account/email/reauth" in html
    r = web.post("/account/email/reauth", data={"csrf_token": _csrf(html)}, headers=ORIGIN)
    assert r.status_code == 202 and "Type the code" in r.get_data(as_text=True)
    code = mail_code(mailbox.wait_for("stale-page@example.com", 2)[-1])
    r = web.post("/login/code", data={"code": code}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/account/email"
    assert 'name="email"' in web.get("/account/email").get_data(as_text=True)


def test_account_email_page_needs_a_session(web):
    r = web.get("/account/email")
    assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=")
