"""CONTRACT §10: newsletter sign-up by double opt-in, unsubscribe by a link in the mail."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.admin_support import Admin, make_key
from tests.helpers import sign_in

CONFIRM = re.compile(r"https?://\S+/newsletter/confirm\?token=[A-Za-z0-9._\-]+")
UNSUB = re.compile(r"https?://\S+/newsletter/unsubscribe\?token=[A-Za-z0-9._\-]+")


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(events_url="http://127.0.0.1:9/events", events_secrets=(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def signup(web: Any, mailbox: Any, address: str) -> tuple[str, str]:
    r = web.post("/api/v1/newsletter", json={"email": address, "locale": "en"})
    assert r.status_code == 202 and r.get_json() == {"status": "sent"}
    mail = mailbox.wait_for(address)[-1]
    return CONFIRM.search(mail.text).group(0), UNSUB.search(mail.text).group(0)


def customer(app: Any, address: str) -> Any:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        return find_by_email(db.session, address.lower())


def consent_events(app: Any) -> list[tuple[bool, str]]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core.extensions import db
        from loginsvc.core.models import ConsentEvent

        return [(e.newsletter, e.source) for e in
                db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))]


def outbox_types(app: Any) -> list[str]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core.extensions import db
        from loginsvc.events.models import OutboxEvent

        return [e.type for e in db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def test_signup_mails_a_link_and_changes_nothing_yet(shop, web, mailbox):
    confirm, _ = signup(web, mailbox, "news@example.com")
    assert customer(shop, "news@example.com") is None
    page = web.get(urlsplit(confirm).path + "?" + urlsplit(confirm).query)
    assert page.status_code == 200 and 'action="/newsletter/confirm"' in page.get_data(True)
    assert customer(shop, "news@example.com") is None  # GET (a mail scanner) confirms nothing


def test_confirm_joins_the_register_without_an_account(shop, web, mailbox):
    confirm, _ = signup(web, mailbox, "News@Example.com")
    r = web.post("/newsletter/confirm", data={"token": token_of(confirm)})
    assert r.status_code == 200 and "subscribed" in r.get_data(True).lower()
    c = customer(shop, "news@example.com")
    assert (c.email, c.newsletter, c.has_account) == ("News@Example.com", True, False)
    assert consent_events(shop) == [(True, "newsletter")]
    assert outbox_types(shop) == ["customer.consent_changed"]
    admin = Admin(web, make_key(shop))
    listed = admin.get("/customers?newsletter=true").get_json()["customers"]
    assert [(x["email"], x["newsletter"], x["has_account"]) for x in listed] == [
        ("News@Example.com", True, False)]


def test_confirming_twice_records_consent_once(shop, web, mailbox):
    confirm, _ = signup(web, mailbox, "twice@example.com")
    for _ in range(2):
        assert web.post("/newsletter/confirm", data={"token": token_of(confirm)}).status_code == 200
    assert consent_events(shop) == [(True, "newsletter")]


def test_account_holder_keeps_the_account(shop, web, mailbox):
    sign_in(web, mailbox, "ana@example.com")
    confirm, _ = signup(web, mailbox, "ana@example.com")
    web.post("/newsletter/confirm", data={"token": token_of(confirm)})
    c = customer(shop, "ana@example.com")
    assert (c.newsletter, c.has_account) == (True, True)


def test_unsubscribe_api_with_the_token_from_the_mail(shop, web, mailbox):
    confirm, unsub = signup(web, mailbox, "bye@example.com")
    web.post("/newsletter/confirm", data={"token": token_of(confirm)})
    r = web.post("/api/v1/newsletter/unsubscribe", json={"token": token_of(unsub)})
    assert r.status_code == 204 and r.get_data() == b""
    assert customer(shop, "bye@example.com").newsletter is False
    assert consent_events(shop) == [(True, "newsletter"), (False, "unsubscribe")]
    assert outbox_types(shop) == ["customer.consent_changed"] * 2
    again = web.post("/api/v1/newsletter/unsubscribe", json={"token": token_of(unsub)})
    assert again.status_code == 204 and len(consent_events(shop)) == 2


def test_one_click_unsubscribe_post(shop, web, mailbox):
    confirm, unsub = signup(web, mailbox, "click@example.com")
    web.post("/newsletter/confirm", data={"token": token_of(confirm)})
    parts = urlsplit(unsub)
    r = web.post(f"{parts.path}?{parts.query}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert customer(shop, "click@example.com").newsletter is False


def test_newsletter_mail_offers_one_click_unsubscribe_in_its_headers(shop, web, mailbox):
    confirm, unsub = signup(web, mailbox, "header@example.com")
    web.post("/newsletter/confirm", data={"token": token_of(confirm)})
    msg = email.message_from_bytes(mailbox.to("header@example.com")[-1].raw,
                                   policy=email.policy.default)
    assert msg["List-Unsubscribe"] == f"<{unsub}>"  # RFC 2369, the same link as in the text
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # RFC 8058
    # What a mail provider does with them: POST the one-click body to that URL.
    parts = urlsplit(msg["List-Unsubscribe"].strip("<>"))
    r = web.post(f"{parts.path}?{parts.query}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert customer(shop, "header@example.com").newsletter is False
    assert consent_events(shop)[-1] == (False, "unsubscribe")


def test_login_mail_has_no_unsubscribe_headers(web, mailbox):
    assert web.post("/api/v1/auth/login-link", json={"email": "login@example.com"}).status_code \
        == 202
    msg = email.message_from_bytes(mailbox.wait_for("login@example.com")[-1].raw,
                                   policy=email.policy.default)
    assert msg["List-Unsubscribe"] is None and msg["List-Unsubscribe-Post"] is None


def test_bad_unsubscribe_token_is_400(web):
    r = web.post("/api/v1/newsletter/unsubscribe", json={"token": "not-a-token"})
    assert r.status_code == 400 and r.get_json()["code"] == "invalid_token"


def test_unsubscribe_token_is_not_a_confirm_token(shop, web, mailbox):
    _, unsub = signup(web, mailbox, "salt@example.com")
    r = web.post("/newsletter/confirm", data={"token": token_of(unsub)})
    assert r.status_code == 400
    assert customer(shop, "salt@example.com") is None


@pytest.mark.parametrize("body", [{"email": "not an address"}, {"email": 5},
                                  {"email": "a@example.com", "extra": 1}, {}])
def test_bad_signup_is_422_and_mails_nothing(web, mailbox, body):
    r = web.post("/api/v1/newsletter", json=body)
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_request"
    assert mailbox.messages == []
