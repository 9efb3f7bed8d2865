"""Security review: enumeration, redirects, CSRF, sessions, leaks, injection, keys, blocks.

Black-box through the Flask test client; every case asserts status and body.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.admin_support import Admin, add_customer, make_key
from tests.helpers import ORIGIN, bearer, sign_in, signed_post

SSO_SECRET = "whsec_" + base64.b64encode(b"security-review-sso-secret-32by").decode()
HOOK_SECRET = "whsec_" + base64.b64encode(b"security-review-hook-secret-32b").decode()
EVIL = {"Origin": "https://evil.example"}


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(wordpress_sso_secrets=(SSO_SECRET,), webhook_secrets=(HOOK_SECRET,),
                    allowed_redirect_origins=("https://blog.example.com",))


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    body = r.get_json()
    assert body["code"] == code, body
    return dict(body)


def _link(client: Any, mailbox: Any, email: str, **extra: Any) -> Any:
    before = len(mailbox.to(email))
    r = client.post("/api/v1/auth/login-link", json={"email": email, **extra})
    assert r.status_code == 202, r.get_data(as_text=True)
    return mailbox.wait_for(email, before + 1)[-1]


def _set_status(app: Any, email: str, status: str) -> None:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        c = find_by_email(db.session, email.lower())
        assert c is not None
        c.status = status
        db.session.commit()


# -- account enumeration ---------------------------------------------------------------

def test_login_link_answers_the_same_for_known_unknown_and_blocked(client, app, mailbox):
    sign_in(app.test_client(), mailbox, "known@example.com")
    sign_in(app.test_client(), mailbox, "blocked@example.com")
    _set_status(app, "blocked@example.com", "blocked")
    mailbox.clear()
    answers = []
    for email in ("known@example.com", "unknown@example.com", "blocked@example.com"):
        r = client.post("/api/v1/auth/login-link", json={"email": email})
        # Every answer carries its own attempt handle; all else is byte for byte the same.
        body = re.sub(rb'"attempt":"[A-Za-z0-9_.-]+"', b'"attempt":"-"', r.get_data())
        answers.append((r.status_code, body, sorted(
            (k, v) for k, v in r.headers.items() if k.lower() not in ("date", "x-request-id"))))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202 and b'"sent"' in answers[0][1]
    mailbox.wait_for("known@example.com")
    mailbox.wait_for("unknown@example.com")
    time.sleep(0.2)
    assert mailbox.to("blocked@example.com") == []


def test_login_form_page_is_the_same_for_known_and_unknown(client, app, mailbox):
    sign_in(app.test_client(), mailbox, "known@example.com")
    a = client.post("/login", data={"email": "known@example.com"}, headers=ORIGIN)
    b = client.post("/login", data={"email": "nobody@example.com"}, headers=ORIGIN)
    assert a.status_code == b.status_code == 202

    def page(r: Any) -> bytes:
        # Each page shows its own attempt's number; nothing else may differ.
        body = re.sub(rb'data-attempt="[A-Za-z0-9_-]+"', b'data-attempt="-"', r.get_data())
        return re.sub(rb'id="match-number">[0-9]{2}<', b'id="match-number">-<', body)

    assert page(a) == page(b)


def test_login_link_timing_does_not_depend_on_the_address(client, app, mailbox):
    sign_in(app.test_client(), mailbox, "known@example.com")

    def median(email: str) -> float:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            assert client.post("/api/v1/auth/login-link",
                               json={"email": email}).status_code == 202
            times.append(time.perf_counter() - t)
        return sorted(times)[3]

    # Mail is synchronous in tests; what matters is that neither path is
    # systematically slower by a database lookup the other one skips.
    known, unknown = median("known@example.com"), median("unknown2@example.com")
    assert abs(known - unknown) < max(known, unknown) * 0.5 + 0.02


def test_sso_login_answers_the_same_for_known_and_unknown(client, app, mailbox):
    sign_in(app.test_client(), mailbox, "known@example.com")
    a = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "known@example.com", "wp_user_id": 1}, SSO_SECRET)
    b = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "new@example.com", "wp_user_id": 2}, SSO_SECRET)
    assert a.status_code == b.status_code == 200
    assert a.get_json().keys() == b.get_json().keys() == {"login_url", "expires_in"}


# -- open redirects ----------------------------------------------------------------------

UNSAFE_NEXT = [
    "/\\evil.com", "\\\\evil.com", "/\\/evil.com", "//evil.com", "///evil.com",
    "https:evil.com", "https:/evil.com", "http://localhost@evil.com",
    "http://localhost:80@evil.com", "HTTPS://evil.com", "HtTp://evil.com/x",
    " //evil.com", "\t//evil.com", "/\t/evil.com", "/\n/evil.com", "\x00//evil.com",
    "\x0b//evil.com", "/\x00/evil.com", "/\x7f/evil.com", "javascript:alert(1)",
    "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>",
    "https://blog.example.com.evil.com/", "https://blog.example.com@evil.com/",
    "https://xn--blg-example-8pb.com/", "https://blоg.example.com/",
    "https://evil.com\u3002blog.example.com/", "/\u2028/evil.com",
    "\u3000//evil.com", "%2F%2Fevil.com", "http://[::1]@evil.com/",
]


def _is_offsite(location: str) -> bool:
    # Browsers drop tabs/newlines, strip leading C0/space and read "\" as "/".
    loc = "".join(c for c in location if c not in "\t\n\r").lstrip("\x00\x01\x02 ")
    loc = loc.replace("\\", "/")
    parts = urlsplit(loc)
    if loc.startswith("//") or (parts.scheme and parts.scheme.lower() not in ("http", "https")):
        return True
    if parts.scheme or parts.netloc:
        return parts.hostname not in ("localhost", "blog.example.com") or "@" in parts.netloc
    return False


@pytest.mark.parametrize("nxt", UNSAFE_NEXT)
def test_unsafe_next_is_dropped_on_verify(client, mailbox, nxt):
    if "\x00" in nxt:  # refused outright, which is just as safe
        r = client.post("/api/v1/auth/login-link", json={"email": "r@example.com", "next": nxt})
        assert _problem(r, 422, "invalid_request")["errors"][0]["field"] == "next"
        return
    mail = _link(client, mailbox, "redir@example.com", next=nxt)
    r = client.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303, r.get_data(as_text=True)
    assert not _is_offsite(r.headers["Location"]), r.headers["Location"]
    assert "\r" not in r.headers["Location"] and "\n" not in r.headers["Location"]


@pytest.mark.parametrize("nxt", UNSAFE_NEXT)
def test_unsafe_next_is_dropped_on_the_sso_ticket(client, nxt):
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "wp@example.com", "wp_user_id": 7, "next": nxt}, SSO_SECRET)
    if "\x00" in nxt:  # refused outright, which is just as safe
        assert _problem(r, 422, "invalid_request")["errors"][0]["field"] == "next"
        return
    assert r.status_code == 200, r.get_data(as_text=True)
    parts = urlsplit(r.get_json()["login_url"])
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 303, done.get_data(as_text=True)
    assert not _is_offsite(done.headers["Location"]), done.headers["Location"]


def test_encoded_slashes_stay_on_this_site(client, mailbox):
    mail = _link(client, mailbox, "enc@example.com", next="/%2F%2Fevil.com")
    r = client.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] in ("/%2F%2Fevil.com", "/account")


def test_allowed_origin_next_is_followed(client, mailbox):
    mail = _link(client, mailbox, "ok@example.com", next="https://BLOG.example.com/cart")
    r = client.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303
    assert r.headers["Location"].lower() == "https://blog.example.com/cart"


def test_login_form_does_not_reflect_an_unsafe_next(client):
    r = client.get("/login?next=https://evil.com/")
    assert r.status_code == 200 and b"evil.com" not in r.get_data()


# -- CSRF ----------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_login_csrf_from_another_site_is_refused(client, mailbox, origin):
    mail = _link(client, mailbox, "attacker@example.com")
    r = client.post("/login/verify", data={"token": mail.token}, headers={"Origin": origin})
    assert r.status_code == 403 and b"csrf_failed" in r.get_data()
    assert "loginsvc_session" not in r.headers.get("Set-Cookie", "")
    # The refusal did not consume the link.
    r = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 200 and r.get_json()["customer"]["email"] == "attacker@example.com"


def test_login_csrf_with_only_a_foreign_referer_is_refused(client, mailbox):
    mail = _link(client, mailbox, "attacker2@example.com")
    r = client.post("/login/verify", data={"token": mail.token},
                    headers={"Referer": "https://evil.example/page"})
    assert r.status_code == 403 and b"csrf_failed" in r.get_data()


def test_login_form_from_a_sandboxed_frame_is_refused(client, mailbox):
    r = client.post("/login", data={"email": "victim@example.com"}, headers={"Origin": "null"})
    assert r.status_code == 403 and b"csrf_failed" in r.get_data()
    time.sleep(0.1)
    assert mailbox.to("victim@example.com") == []


@pytest.mark.parametrize("method,path,kw", [
    ("post", "/api/v1/auth/logout", {}),
    ("post", "/api/v1/auth/logout-all", {}),
    ("patch", "/api/v1/me", {"json": {"name": "Mallory"}}),
    ("delete", "/api/v1/me", {}),
    ("put", "/api/v1/me/wishlist/p-1", {}),
    ("delete", "/api/v1/me/wishlist/p-1", {}),
    ("delete", "/api/v1/me/sessions/abc", {}),
])
@pytest.mark.parametrize("headers", [EVIL, {"Origin": "null"}, {}])
def test_cookie_writes_need_our_origin(client, mailbox, method, path, kw, headers):
    sign_in(client, mailbox, "csrf@example.com")
    r = getattr(client, method)(path, headers=headers, **kw)
    _problem(r, 403, "csrf_failed")
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["name"] != "Mallory"


@pytest.mark.parametrize("path,data", [
    ("/logout", {}),
    ("/account/profile", {"name": "Mallory"}),
    ("/account/delete", {}),
    ("/account/wishlist/remove", {"product_id": "p-1"}),
    ("/account/wishlist/add", {"product_id": "p-2"}),
    ("/account/devices/sign-out-all", {}),
    ("/account/delete/confirm-link", {}),
])
def test_account_forms_need_the_form_token(client, mailbox, path, data):
    sign_in(client, mailbox, "forms@example.com")
    r = client.post(path, data=data, headers=ORIGIN)
    assert r.status_code == 403 and b"csrf_failed" in r.get_data(), (path, r.status_code)
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["name"] != "Mallory"


# -- sessions ------------------------------------------------------------------------------

def test_page_sign_in_rotates_a_planted_session(app, mailbox):
    victim = app.test_client()
    planted = sign_in(app.test_client(), mailbox, "fix@example.com")["session_token"]
    victim.set_cookie("loginsvc_session", planted, domain="localhost")
    mail = _link(victim, mailbox, "fix@example.com")
    r = victim.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303
    fresh = victim.get_cookie("loginsvc_session").value
    assert fresh != planted
    _problem(app.test_client().get("/api/v1/me", headers=bearer(planted)), 401, "unauthorized")


def test_sso_ticket_rotates_a_planted_session(app, mailbox):
    browser = app.test_client()
    planted = sign_in(app.test_client(), mailbox, "wpfix@example.com")["session_token"]
    browser.set_cookie("loginsvc_session", planted, domain="localhost")
    r = signed_post(browser, "/api/v1/sso/wordpress/login",
                    {"email": "wpfix@example.com", "wp_user_id": 9}, SSO_SECRET)
    parts = urlsplit(r.get_json()["login_url"])
    assert browser.get(f"{parts.path}?{parts.query}").status_code == 303
    assert browser.get_cookie("loginsvc_session").value != planted
    _problem(app.test_client().get("/api/v1/me", headers=bearer(planted)), 401, "unauthorized")


# -- token leakage -------------------------------------------------------------------------

def test_no_token_or_link_in_logs_during_a_login(client, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    mail = _link(client, mailbox, "logs@example.com")
    assert client.get(f"/login/verify?token={mail.token}").status_code == 200
    r = client.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303
    client.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)  # used: error page
    # mail.log is the test's own SMTP sink (aiosmtpd) receiving the mail, not the service.
    ours = [rec for rec in caplog.records if not rec.name.startswith("mail.log")]
    text = "".join(rec.getMessage() + str(rec.__dict__) for rec in ours)
    assert mail.token not in text
    assert mail.token[:20] not in text
    assert "/login/verify?token" not in text


@pytest.mark.parametrize("token", [None, "garbage"])
def test_verify_pages_send_no_referrer(client, mailbox, token):
    tok = token or _link(client, mailbox, "ref@example.com").token
    r = client.get(f"/login/verify?token={tok}")
    assert r.status_code == (200 if token is None else 400)
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert b"evil" not in r.get_data()


# -- injection -----------------------------------------------------------------------------

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_profile_name_is_escaped_on_account_pages(client, mailbox):
    sign_in(client, mailbox, "xss@example.com")
    r = client.patch("/api/v1/me", json={"name": XSS, "company": XSS}, headers=ORIGIN)
    assert r.status_code == 200 and r.get_json()["name"] == XSS
    for path in ("/account", "/account/profile"):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def _order(order_id: str, email: str, **data: Any) -> dict[str, Any]:
    return {"type": "order.placed", "data": {
        "order_id": order_id, "email": email, "placed_at": "2026-11-22T10:00:00Z",
        "status": "paid", "currency": "EUR", "total": "19.95",
        "customer": {"name": XSS, "phone": None, "company": None},
        "billing_address": {"name": XSS, "line1": XSS}, "shipping_address": {},
        "items": [{"product_id": "p-1", "sku": "S", "name": XSS, "quantity": 1,
                   "unit_price": "19.95"}], **data}}


def test_invoice_page_escapes_order_data(client, mailbox):
    sign_in(client, mailbox, "inv@example.com")
    r = signed_post(client, "/api/v1/webhooks/orders", _order("X-1", "inv@example.com"),
                    HOOK_SECRET)
    assert r.status_code == 201, r.get_data(as_text=True)
    for path in ("/api/v1/me/orders/X-1/invoice", "/account/orders/X-1"):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd",
                                 "ftp://shop.example/i.pdf", "//evil.com/x.pdf",
                                 "http://shop.example/\r\nSet-Cookie: a=b", " https://x.test/"])
def test_invoice_url_must_be_http(client, url):
    r = signed_post(client, "/api/v1/webhooks/orders",
                    _order("X-2", "u@example.com", invoice_url=url), HOOK_SECRET)
    body = _problem(r, 422, "invalid_request")
    assert any(e["field"].endswith("invoice_url") for e in body["errors"]), body


def test_admin_notes_and_csv_export_are_inert(app, client):
    admin = Admin(client, make_key(app))
    r = admin.post("/customers", json={"email": "csv@example.com", "name": "=HYPERLINK(\"x\")"})
    assert r.status_code == 201, r.get_data(as_text=True)
    cid = r.get_json()["id"]
    r = admin.patch(f"/customers/{cid}", json={"notes": XSS, "customer_number": "+1+1"})
    assert r.status_code == 200 and r.get_json()["notes"] == XSS
    assert r.headers["Content-Type"].startswith("application/json")
    csv = admin.get("/customers/export?format=csv").get_data(as_text=True)
    assert "'=HYPERLINK" in csv and "'+1+1" in csv
    assert ',=HYPERLINK' not in csv and ',+1+1' not in csv


@pytest.mark.parametrize("query", [
    "q=%27%20OR%201%3D1--", "q=%25", "q=_", "q=%5C", "group=x%27%20OR%20%271%27%3D%271",
    "country=x%27", "sort=name;DROP%20TABLE%20customers", "sort=(select%201)",
    "status=active%27--", "newsletter=1%20OR%201=1",
])
def test_admin_list_is_not_injectable(app, client, query):
    admin = Admin(client, make_key(app))
    add_customer(app, "one@example.com", name="One", has_account=True)
    r = admin.get(f"/customers?{query}")
    if r.status_code == 200:
        assert r.get_json()["customers"] == [], query
    else:
        _problem(r, 422, "invalid_request")
    assert admin.get("/customers").get_json()["customers"][0]["email"] == "one@example.com"


# -- API keys ------------------------------------------------------------------------------

def test_revoked_key_stops_at_once_and_read_key_cannot_write(app, client):
    key = make_key(app, "ops")
    read = make_key(app, "reader", scope="read")
    assert Admin(client, key).get("/customers").status_code == 200
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.admin.api_keys import revoke_api_key
        from loginsvc.core.extensions import db
        from loginsvc.core.models import ApiKey

        assert revoke_api_key(name="ops")
        stored = [k.key_hash for k in db.session.scalars(select(ApiKey))]
        assert key not in stored and read not in stored
    _problem(Admin(client, key).get("/customers"), 401, "unauthorized")
    assert Admin(client, read).get("/customers").status_code == 200
    r = Admin(client, read).post("/customers", json={"email": "r@example.com"})
    _problem(r, 403, "forbidden")
    r = Admin(client, read).patch("/settings", json={"account_mode": "disabled"})
    _problem(r, 403, "forbidden")
    assert Admin(client, read).get("/customers").get_json()["customers"] == []


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic abc", "Bearer lsk_nope",
                                    "bearer " + "x" * 5000])
def test_admin_without_a_valid_key_is_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    _problem(client.get("/api/v1/admin/customers", headers=headers), 401, "unauthorized")


def test_session_token_is_not_an_admin_key(client, mailbox):
    token = sign_in(client, mailbox, "shopper@example.com")["session_token"]
    _problem(client.get("/api/v1/admin/customers", headers=bearer(token)), 401, "unauthorized")


# -- signed calls --------------------------------------------------------------------------

def test_signature_for_another_body_is_refused(client):
    import json

    from tests.helpers import sign_webhook

    body = json.dumps({"email": "a@example.com", "wp_user_id": 1}).encode()
    headers = sign_webhook(SSO_SECRET, body, msg_id="msg_other_body")
    r = client.post("/api/v1/sso/wordpress/login",
                    data=json.dumps({"email": "b@example.com", "wp_user_id": 1}),
                    headers=headers)
    _problem(r, 401, "invalid_signature")


def test_retired_secret_is_refused_after_rotation(make_app):
    new = "whsec_" + base64.b64encode(b"the-new-secret-after-rotation-32").decode()
    client = make_app(wordpress_sso_secrets=(new,)).test_client()
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "a@example.com", "wp_user_id": 1}, SSO_SECRET)
    _problem(r, 401, "invalid_signature")
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "a@example.com", "wp_user_id": 1}, new)
    assert r.status_code == 200 and r.get_json()["expires_in"] == 60


def test_replayed_login_gives_the_same_ticket_not_a_second_one(client):
    import json

    from tests.helpers import sign_webhook

    body = json.dumps({"email": "rp@example.com", "wp_user_id": 3}).encode()
    headers = sign_webhook(SSO_SECRET, body, msg_id="msg_replay_sec")
    a = client.post("/api/v1/sso/wordpress/login", data=body, headers=headers)
    b = client.post("/api/v1/sso/wordpress/login", data=body, headers=headers)
    assert a.status_code == b.status_code == 200
    assert a.get_json()["login_url"] == b.get_json()["login_url"]


# -- rate limits ---------------------------------------------------------------------------

def test_new_link_button_is_rate_limited_per_ip(make_app, mailbox):
    client = make_app(ip_limit=2).test_client()
    for i in range(2):
        r = client.post("/login", data={"email": f"b{i}@example.com"}, headers=ORIGIN)
        assert r.status_code == 202
    r = client.post("/login", data={"email": "b9@example.com"}, headers=ORIGIN)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    r = client.post("/api/v1/auth/login-link", json={"email": "b9@example.com"})
    _problem(r, 429, "rate_limited")


# -- blocked customers ---------------------------------------------------------------------

def test_blocking_ends_sessions_and_sign_in_everywhere(app, client, mailbox):
    admin = Admin(app.test_client(), make_key(app))
    token = sign_in(client, mailbox, "bad@example.com")["session_token"]
    mail = _link(app.test_client(), mailbox, "bad@example.com")
    cid = client.get("/api/v1/me", headers=bearer(token)).get_json()["id"]
    r = admin.patch(f"/customers/{cid}", json={"status": "blocked"})
    assert r.status_code == 200 and r.get_json()["status"] == "blocked"
    _problem(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    _problem(client.get("/api/v1/me"), 401, "unauthorized")  # the cookie too
    _problem(client.post("/api/v1/auth/verify", json={"token": mail.token}), 403,
             "account_blocked")
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "bad@example.com", "wp_user_id": 5}, SSO_SECRET)
    parts = urlsplit(r.get_json()["login_url"])
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 403 and b"account_blocked" in page.get_data()
    assert "loginsvc_session" not in page.headers.get("Set-Cookie", "")
    r = admin.get("/checkout-eligibility?email=BAD@example.com")
    assert r.status_code == 200 and r.get_json() == {"allowed": False, "reason": "blocked"}


# -- deleted accounts ----------------------------------------------------------------------

def test_links_of_a_deleted_account_are_revoked(client, mailbox, app):
    early = _link(client, mailbox, "gone@example.com")  # issued before the account existed
    token = sign_in(client, mailbox, "gone@example.com")["session_token"]
    later = _link(client, mailbox, "gone@example.com")
    assert client.delete("/api/v1/me", headers=bearer(token)).status_code == 204
    for mail in (later, early):
        _problem(client.post("/api/v1/auth/verify", json={"token": mail.token}), 410,
                 "token_revoked")
    page = client.post("/login/verify", data={"token": later.token}, headers=ORIGIN)
    assert page.status_code == 410 and b"token_revoked" in page.get_data()
    assert parse_qs(urlsplit(later.link).query)["token"] == [later.token]
