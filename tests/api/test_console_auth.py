"""The console's sign-in: owners and staff, the single-use admin link, the admin session."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.api.admin_support import add_customer
from tests.api.console_support import (
    ORIGIN,
    admin_token,
    csrf,
    post,
    request_link,
    sign_in_owner,
)
from tests.helpers import sign_in


def add_member(app: Any, email: str, role: str) -> None:
    with app.app_context():
        from loginsvc.admin.owners import add_owner
        from loginsvc.core.extensions import db

        add_owner(db.session, email=email, role=role)


def test_admin_email_signs_in_from_the_mail(client: Any, mailbox: Any) -> None:
    token = request_link(client, mailbox, "Owner@Shop.test")
    # The GET only shows a button (mail scanners fetch links): the link stays unspent.
    for _ in range(2):
        r = client.get(f"/admin/login/verify?token={token}")
        assert r.status_code == 200
        assert 'action="/admin/login/verify"' in r.get_data(as_text=True)
    r = client.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/customers"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("loginsvc_admin=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/admin/customers")
    assert page.status_code == 200
    assert "owner@shop.test" in page.get_data(as_text=True)


def test_a_link_works_once(client: Any, mailbox: Any) -> None:
    token = request_link(client, mailbox, "owner@shop.test")
    first = client.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert first.status_code == 303
    other = client.application.test_client()
    r = other.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 410
    assert 'data-code="token_used"' in r.get_data(as_text=True)
    r = other.get(f"/admin/login/verify?token={token}")
    assert r.status_code == 410
    assert other.get("/admin/customers").status_code == 303


def test_an_expired_link_is_refused(make_app: Any, mailbox: Any) -> None:
    app = make_app(admin_link_max_age=1)
    client = app.test_client()
    token = request_link(client, mailbox, "owner@shop.test")
    time.sleep(2.1)
    r = client.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 410
    assert 'data-code="token_expired"' in r.get_data(as_text=True)
    assert "Set-Cookie" not in r.headers


def test_a_shoppers_link_does_not_open_the_console(make_app: Any, mailbox: Any) -> None:
    client = make_app(admin_email="boss@example.com").test_client()
    client.post("/api/v1/auth/login-link", json={"email": "boss@example.com"})
    shopper_token = mailbox.wait_for("boss@example.com")[-1].token
    r = client.post("/admin/login/verify", data={"token": shopper_token}, headers=ORIGIN)
    assert r.status_code == 400
    assert 'data-code="invalid_token"' in r.get_data(as_text=True)


def test_unknown_addresses_get_the_same_answer_and_no_mail(client: Any, mailbox: Any) -> None:
    r = client.post("/admin/login", data={"email": "stranger@example.com"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login?attempt=")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "a sign-in link is on its way" in page
    # A code typed for the stranger's attempt is refused like any wrong code.
    attempt = r.headers["Location"].split("attempt=")[1]
    r = client.post("/admin/login/code", data={"attempt": attempt, "code": "123456"},
                    headers=ORIGIN)
    assert r.status_code == 400 and 'data-code="invalid_code"' in r.get_data(as_text=True)
    # The owner's mail, sent after the stranger's request, arrives; the stranger's never does.
    request_link(client, mailbox, "owner@shop.test")
    assert mailbox.to("stranger@example.com") == []


def test_a_shopper_session_never_opens_the_console(make_app: Any, mailbox: Any) -> None:
    app = make_app(admin_email="boss@example.com")
    client = app.test_client()
    add_customer(app, "boss@example.com", has_account=True)
    sign_in(client, mailbox, "boss@example.com")  # the shopper cookie of the same address
    r = client.get("/admin/customers")
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login")


def test_staff_read_everything_and_change_nothing(app: Any, client: Any, mailbox: Any) -> None:
    add_member(app, "helper@example.com", "staff")
    cid = add_customer(app, "buyer@example.com", has_account=True, company="Acme")
    token = sign_in_owner(client, mailbox, "helper@example.com")
    for path in ("/admin/customers", f"/admin/customers/{cid}", "/admin/groups", "/admin/import",
                 "/admin/settings", "/admin/keys", "/admin/audit", "/admin/sessions"):
        r = client.get(path)
        assert r.status_code == 200, path
    card = client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    assert "Acme" in card
    assert f'action="/admin/customers/{cid}/status"' not in card  # no write forms for staff
    r = post(client, f"/admin/customers/{cid}/status", token, status="blocked")
    assert r.status_code == 403
    assert '"forbidden"' in r.get_data(as_text=True) or "forbidden" in r.get_data(as_text=True)
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        assert db.session.get(Customer, cid).status == "active"
    # Their own session is theirs to end.
    assert post(client, "/admin/logout", token).status_code == 303
    assert client.get("/admin/customers").status_code == 303


def test_a_removed_owner_is_signed_out(app: Any, client: Any, mailbox: Any) -> None:
    add_member(app, "partner@example.com", "owner")
    sign_in_owner(client, mailbox, "partner@example.com")
    assert client.get("/admin/customers").status_code == 200
    with app.app_context():
        from loginsvc.admin.owners import remove_owner
        from loginsvc.core.extensions import db

        assert remove_owner(db.session, email="PARTNER@example.com")
    assert client.get("/admin/customers").status_code == 303


def test_foreign_origin_on_console_posts_is_refused(app: Any, client: Any, mailbox: Any) -> None:
    cid = add_customer(app, "buyer@example.com", has_account=True)
    token = sign_in_owner(client, mailbox)
    evil = {"Origin": "https://evil.example"}
    for path, data in (
        (f"/admin/customers/{cid}/status", {"status": "blocked"}),
        ("/admin/groups", {"name": "VIP"}),
        ("/admin/logout", {}),
        ("/admin/login", {"email": "owner@shop.test"}),
    ):
        r = client.post(path, data={"csrf_token": token, **data}, headers=evil)
        assert r.status_code == 403, path
        assert "csrf_failed" in r.get_data(as_text=True)
    # Without a form token, our own origin is refused too.
    r = client.post(f"/admin/customers/{cid}/status", data={"status": "blocked"}, headers=ORIGIN)
    assert r.status_code == 403
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        assert db.session.get(Customer, cid).status == "active"


def test_sessions_are_listed_and_revocable(app: Any, mailbox: Any) -> None:
    laptop, phone = app.test_client(), app.test_client()
    sign_in_owner(laptop, mailbox)
    sign_in_owner(phone, mailbox)
    page = laptop.get("/admin/sessions").get_data(as_text=True)
    ids = [line.split("/admin/sessions/")[1].split("/")[0] for line in page.splitlines()
           if "/admin/sessions/" in line and "/end" in line]
    assert len(ids) == 2
    token = csrf(laptop)
    for sid in ids:
        post(laptop, f"/admin/sessions/{sid}/end", token)
    assert phone.get("/admin/customers").status_code == 303
    assert laptop.get("/admin/customers").status_code == 303


def test_the_session_idles_out_after_12_hours(app: Any, client: Any, mailbox: Any) -> None:
    sign_in_owner(client, mailbox)
    cookie = client.get_cookie("loginsvc_admin", path="/admin")
    assert cookie is not None and cookie.http_only
    with app.app_context():
        import hashlib

        from loginsvc.core.extensions import get_redis
        from loginsvc.core.runtime import settings

        digest = hashlib.sha256(cookie.value.encode()).hexdigest()
        key = f"{settings().redis_prefix}adm:sess:{digest}"
        ttl = get_redis().ttl(key)
        assert 12 * 3600 - 5 <= ttl <= 12 * 3600
        get_redis().delete(key)  # what Redis does when the 12 hours pass unused
    r = client.get("/admin/customers")
    assert r.status_code == 303 and r.headers["Location"].startswith("/admin/login")


def _ask(client: Any, mailbox: Any) -> tuple[str, str, str]:
    """(attempt, code, link token) of one request for owner@shop.test."""
    before = len(mailbox.to("owner@shop.test"))
    r = client.post("/admin/login", data={"email": "owner@shop.test"}, headers=ORIGIN)
    attempt = r.headers["Location"].split("attempt=")[1]
    mail = mailbox.wait_for("owner@shop.test", before + 1)[-1]
    code = re.search(r"page where you asked: (\d{6})", mail.text).group(1)
    return attempt, code, admin_token(mail)


def test_the_code_signs_in_once_and_spends_the_link(client: Any, mailbox: Any) -> None:
    attempt, code, token = _ask(client, mailbox)
    r = client.post("/admin/login/code", data={"attempt": attempt, "code": code}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Set-Cookie"].startswith("loginsvc_admin=")
    assert client.get("/admin/customers").status_code == 200
    other = client.application.test_client()
    r = other.post("/admin/login/code", data={"attempt": attempt, "code": code}, headers=ORIGIN)
    assert r.status_code == 400
    r = other.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 410 and 'data-code="token_used"' in r.get_data(as_text=True)


def test_the_link_spends_the_code(client: Any, mailbox: Any) -> None:
    attempt, code, token = _ask(client, mailbox)
    assert client.post("/admin/login/verify", data={"token": token},
                       headers=ORIGIN).status_code == 303
    r = client.application.test_client().post(
        "/admin/login/code", data={"attempt": attempt, "code": code}, headers=ORIGIN)
    assert r.status_code == 400


def test_five_wrong_codes_void_the_code_not_the_link(client: Any, mailbox: Any) -> None:
    attempt, code, token = _ask(client, mailbox)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    statuses = [client.post("/admin/login/code", data={"attempt": attempt, "code": wrong},
                            headers=ORIGIN).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    r = client.post("/admin/login/code", data={"attempt": attempt, "code": code}, headers=ORIGIN)
    assert r.status_code == 400
    r = client.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 303
