"""§3a on the pages: the "check your inbox" page takes the code and waits; the link's page
approves the device that asked. Plus the code in every login mail, in every locale."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import ORIGIN, Mail, mail_code

UA = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"}


def ask_page(client: Any, mailbox: Any, address: str) -> tuple[str, Mail]:
    before = len(mailbox.to(address))
    r = client.post("/login", data={"email": address}, headers={**ORIGIN, **UA})
    assert r.status_code == 202, r.get_data(as_text=True)
    return r.get_data(as_text=True), mailbox.wait_for(address, before + 1)[-1]


def match_of(html: str) -> str:
    m = re.search(r'id="match-number">(\d\d)<', html)
    assert m, "no match number on the page"
    return m.group(1)


def test_waiting_page_shows_code_form_number_and_own_script(client, mailbox):
    r = client.post("/login", data={"email": "wait@example.com"}, headers={**ORIGIN, **UA})
    html = r.get_data(as_text=True)
    assert r.status_code == 202 and "Check your inbox" in html
    assert 'name="code"' in html and 'autocomplete="one-time-code"' in html
    assert len(match_of(html)) == 2
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/static/attempt.js" defer>']  # no inline script
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("loginsvc_attempt=")]
    assert cookie and "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0]
    js = client.get("/static/attempt.js")
    assert js.status_code == 200 and "/api/v1/auth/attempts/" in js.get_data(as_text=True)
    # reloading the waiting page works from the cookie
    again = client.get("/login/code")
    assert again.status_code == 200 and match_of(again.get_data(as_text=True)) == match_of(html)


def test_code_typed_on_the_page_signs_in(client, mailbox):
    _, mail = ask_page(client, mailbox, "typed@example.com")
    r = client.post("/login/code", data={"code": "000000" if mail_code(mail) != "000000"
                                         else "111111"}, headers=ORIGIN)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'data-code="invalid_code"' in html and "4 tries left" in html
    r = client.post("/login/code", data={"code": mail_code(mail)},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post("/login/code", data={"code": mail_code(mail)}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert any(c.startswith("loginsvc_session=") for c in r.headers.getlist("Set-Cookie"))
    assert client.get("/api/v1/me").get_json()["email"] == "typed@example.com"


def test_code_page_without_an_attempt_goes_to_login(client):
    assert client.get("/login/code").headers["Location"] == "/login"
    r = client.post("/login/code", data={"code": "123456"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/login"


def test_link_page_offers_the_device_that_asked_and_changes_nothing(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    html, mail = ask_page(laptop, mailbox, "phone@example.com")
    for _ in range(2):  # a scanner's GET, then the person's
        page = phone.get("/login/verify", query_string={"token": mail.token})
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Sign in here" in text and "Sign in the device that asked" in text
        assert "Safari on macOS" in text and "127.0.0.0/24" in text
    assert match_of(html) not in re.sub(r"<[^>]+>", " ", text).split()  # never shown to the link
    wrong = f"{(int(match_of(html)) + 1) % 100:02d}"
    r = phone.post("/login/approve", data={"token": mail.token, "match": wrong}, headers=ORIGIN)
    assert r.status_code == 400 and 'data-code="match_mismatch"' in r.get_data(as_text=True)
    r = laptop.post("/login/attempt/complete", headers=ORIGIN)
    assert r.status_code == 409 and 'data-code="not_approved"' in r.get_data(as_text=True)
    r = phone.post("/login/approve", data={"token": mail.token, "match": match_of(html)},
                   headers=ORIGIN)
    assert r.status_code == 200 and "Approved" in r.get_data(as_text=True)
    assert phone.get("/api/v1/me").status_code == 401  # the phone did not sign in
    r = laptop.post("/login/attempt/complete", headers=ORIGIN)  # the "continue" button
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert laptop.get("/api/v1/me").get_json()["email"] == "phone@example.com"
    page = phone.get("/login/verify", query_string={"token": mail.token})
    assert page.status_code == 410


def test_three_wrong_numbers_on_the_page_close_approval(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    html, mail = ask_page(laptop, mailbox, "closed@example.com")
    wrong = f"{(int(match_of(html)) + 1) % 100:02d}"
    for _ in range(3):
        r = phone.post("/login/approve", data={"token": mail.token, "match": wrong}, headers=ORIGIN)
        assert r.status_code == 400
    r = phone.post("/login/approve", data={"token": mail.token, "match": match_of(html)},
                   headers=ORIGIN)
    text = r.get_data(as_text=True)
    assert r.status_code == 409 and 'data-code="approval_closed"' in text
    assert "device that asked" not in phone.get(
        "/login/verify", query_string={"token": mail.token}).get_data(as_text=True)
    r = phone.post("/login/verify", data={"token": mail.token}, headers=ORIGIN)
    assert r.status_code == 303  # sign in here still works


def test_approve_form_from_another_site_is_refused(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    html, mail = ask_page(laptop, mailbox, "forged@example.com")
    r = phone.post("/login/approve", data={"token": mail.token, "match": match_of(html)},
                   headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = laptop.post("/login/attempt/complete", headers=ORIGIN)
    assert r.status_code == 409


# -- the code in every login mail, in every locale -----------------------------------

LOCALES = ["en", "es", "fr", "pl", "de"]
WORDS = {"en": "code", "es": "código", "fr": "code", "pl": "kod", "de": "Anmeldecode"}


@pytest.mark.parametrize("locale", LOCALES)
def test_login_mail_carries_a_working_code_in_every_locale(client, mailbox, locale):
    address = f"mail-{locale}@example.com"
    r = client.post("/api/v1/auth/login-link", json={"email": address, "locale": locale})
    attempt = r.get_json()["attempt"]
    mail = mailbox.wait_for(address)[-1]
    first = mail.text.strip().splitlines()[0]
    assert WORDS[locale] in first.lower() or WORDS[locale] in first
    code = mail_code(mail)
    assert f">{code}</strong>" in mail.html
    assert "15" in first  # LOGIN_CODE_MAX_AGE in words
    r = client.post("/api/v1/auth/verify-code", json={"attempt": attempt, "code": code})
    assert r.status_code == 200, r.get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", ["welcome", "invite", "approved"])
def test_account_mails_carry_a_code_for_their_own_link(app, mailbox, locale, template):
    address = f"{template}-{locale}@example.com"
    with app.app_context():
        from loginsvc.core import notifications
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import get_or_create, open_account

        c, _ = get_or_create(db.session, email=address, email_norm=address)
        open_account(c, status="active")
        c.locale = locale
        db.session.commit()
        if template == "welcome":
            notifications.send_welcome(c, locale=locale)
        elif template == "invite":
            notifications.send_invite(c)
        else:
            notifications.send_approved(c)
    mail = mailbox.wait_for(address)[-1]
    code = mail_code(mail)
    assert f">{code}</strong>" in mail.html
    with app.app_context():
        from loginsvc.core.runtime import login_tokens

        attempt_id = login_tokens().parse(mail.token, now=__import__("time").time()).jti
    r = app.test_client().post("/api/v1/auth/verify-code",
                               json={"attempt": attempt_id, "code": code})
    assert r.status_code == 200, r.get_data(as_text=True)
    r = app.test_client().post("/api/v1/auth/verify", json={"token": mail.token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"


def test_welcome_mail_code_typed_with_the_address(app, mailbox):
    client = app.test_client()
    with app.app_context():
        from loginsvc.core import notifications
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import get_or_create, open_account

        c, _ = get_or_create(db.session, email="welcome@example.com",
                             email_norm="welcome@example.com")
        open_account(c, status="active")
        db.session.commit()
        notifications.send_welcome(c, locale="en")
    code = mail_code(mailbox.wait_for("welcome@example.com")[-1])
    assert "/login/with-code" in client.get("/login").get_data(as_text=True)
    page = client.get("/login/with-code")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    wrong = "000000" if code != "000000" else "111111"
    r = client.post("/login/with-code", data={"email": "welcome@example.com", "code": wrong},
                    headers=ORIGIN)
    assert r.status_code == 400 and 'data-code="invalid_code"' in r.get_data(as_text=True)
    r = client.post("/login/with-code", data={"email": "welcome@example.com", "code": code},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post("/login/with-code", data={"email": "welcome@example.com", "code": code},
                    headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert client.get("/api/v1/me").get_json()["email"] == "welcome@example.com"
