"""One mailbox, one customer: every spelling of an address is one customer (issue 11).

`x@bücher.de`, its IDNA spelling `x@xn--bcher-kva.de`, a Unicode-NFD spelling
and another case are one mailbox; a block, the checkout gate and the
per-address limit hold for all of them.
"""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

import pytest

from tests.api.admin_support import Admin, make_key
from tests.api.test_orders_webhook import order
from tests.helpers import ORIGIN, signed_post

UNICODE = "x@bücher.de"
PUNYCODE = "X@XN--BCHER-KVA.DE"
NFD = unicodedata.normalize("NFD", "x@Bücher.de")
SPELLINGS = (UNICODE, PUNYCODE, NFD)
HOOK = "whsec_" + base64.b64encode(b"one-mailbox-test-hook-secret-32b").decode()
SSO = "whsec_" + base64.b64encode(b"one-mailbox-test-sso-secret-32by").decode()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(webhook_secrets=(HOOK,), wordpress_sso_secrets=(SSO,))


@pytest.fixture
def admin(app: Any) -> Admin:
    return Admin(app.test_client(), make_key(app))


def _customers(admin: Admin) -> list[dict[str, Any]]:
    r = admin.get("/customers")
    assert r.status_code == 200
    return list(r.get_json()["customers"])


def _link(client: Any, mailbox: Any, spelling: str) -> Any:
    before = len(mailbox.messages)
    r = client.post("/api/v1/auth/login-link", json={"email": spelling})
    assert r.status_code == 202 and r.get_json()["status"] == "sent"
    mailbox.wait_for("x@xn--bcher-kva.de", before + 1)
    return mailbox.messages[-1]


def test_the_spellings_are_one_address():
    from loginsvc.core.emails import normalise

    assert unicodedata.normalize("NFC", NFD) != NFD
    assert {normalise(s) for s in SPELLINGS} == {"x@xn--bcher-kva.de"}
    assert normalise("Straße@Example.COM") == normalise("strasse@example.com")
    assert normalise(unicodedata.normalize("NFD", "José@example.com")) == "josé@example.com"


def test_links_for_every_spelling_sign_into_one_customer(app, mailbox):
    client = app.test_client()
    ids = set()
    for spelling in SPELLINGS:
        mail = _link(client, mailbox, spelling)
        r = client.post("/api/v1/auth/verify", json={"token": mail.token}, headers=ORIGIN)
        assert r.status_code == 200, r.get_data(as_text=True)
        ids.add(r.get_json()["customer"]["id"])
    assert len(ids) == 1


def test_orders_for_every_spelling_are_one_customer(app, admin):
    client = app.test_client()
    for n, spelling in enumerate(SPELLINGS):
        r = signed_post(client, "/api/v1/webhooks/orders", order(f"20{n}", email=spelling), HOOK)
        assert r.status_code == 201, r.get_data(as_text=True)
    rows = _customers(admin)
    assert len(rows) == 1 and rows[0]["email"] == UNICODE and rows[0]["order_count"] == 3


def test_admin_create_search_and_sso_find_the_same_customer(app, admin):
    r = admin.post("/customers", json={"email": UNICODE})
    assert r.status_code == 201
    cid = r.get_json()["id"]
    for spelling in (PUNYCODE, NFD):
        r = admin.post("/customers", json={"email": spelling})
        assert r.status_code == 409 and r.get_json()["code"] == "conflict"
        assert r.get_json()["customer_id"] == cid
        found = admin.get("/customers", query_string={"q": spelling}).get_json()["customers"]
        assert [c["id"] for c in found] == [cid]
    client = app.test_client()
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": PUNYCODE, "wp_user_id": 5}, SSO)
    assert r.status_code == 200
    r = client.get(r.get_json()["login_url"].removeprefix("http://localhost"))
    assert r.status_code == 303
    assert len(_customers(admin)) == 1 and _customers(admin)[0]["id"] == cid


def test_a_blocked_address_gets_no_account_by_another_spelling(app, admin, mailbox):
    r = admin.post("/customers", json={"email": UNICODE, "status": "blocked"})
    assert r.status_code == 201
    client = app.test_client()
    for spelling in (PUNYCODE, NFD):
        r = client.post("/api/v1/auth/login-link", json={"email": spelling})
        assert r.status_code == 202
        r = signed_post(client, "/api/v1/webhooks/orders", order(f"3{len(spelling)}",
                                                                 email=spelling), HOOK)
        assert r.status_code == 201 and r.get_json()["account_created"] is False
        gate = admin.get("/checkout-eligibility", query_string={"email": spelling})
        assert gate.get_json() == {"allowed": False, "reason": "blocked"}
    assert mailbox.messages == []
    rows = _customers(admin)
    assert len(rows) == 1 and rows[0]["status"] == "blocked" and rows[0]["order_count"] == 2


def test_the_per_address_limit_counts_every_spelling(make_app, mailbox):
    client = make_app(email_limit=2).test_client()
    for spelling in SPELLINGS:  # the limit is 2 an hour
        r = client.post("/api/v1/auth/login-link", json={"email": spelling})
        assert r.status_code == 202 and r.get_json()["status"] == "sent"
    mailbox.wait_for("x@xn--bcher-kva.de", 2)
    import time

    time.sleep(0.3)
    assert len(mailbox.to("x@xn--bcher-kva.de")) == 2
