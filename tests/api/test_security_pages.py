"""/account/security without JavaScript: passkeys listed, renamed and removed by plain forms."""

from __future__ import annotations

import re

from tests.helpers import ORIGIN, sign_in
from tests.webauthn_authenticator import SoftAuthenticator


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert m, "no csrf_token in the form"
    return m.group(1)


def _with_passkey(client, mailbox) -> int:
    sign_in(client, mailbox, "ana@example.com")
    options = client.post("/api/v1/me/passkeys/options", headers=ORIGIN).get_json()["options"]
    cred = SoftAuthenticator().create(options)
    r = client.post("/api/v1/me/passkeys", json={"credential": cred, "name": "Phone"},
                    headers=ORIGIN)
    assert r.status_code == 201
    return int(r.get_json()["id"])


def test_dashboard_offers_a_passkey_until_there_is_one(client, mailbox):
    sign_in(client, mailbox, "ana@example.com")
    assert "Sign in faster next time: add a passkey" in client.get("/account").get_data(True)
    _with_passkey(client, mailbox)
    assert "add a passkey" not in client.get("/account").get_data(as_text=True)


def test_security_page_lists_renames_and_removes(client, mailbox):
    pid = _with_passkey(client, mailbox)
    r = client.get("/account/security")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Phone" in html
    assert "sent to ana@example.com" in html and 'href="/account/devices"' in html
    assert '<script src="/static/passkeys.js" defer>' in html
    r = client.post("/account/security/passkeys/rename",
                    data={"csrf_token": _csrf(html), "passkey_id": pid, "name": "Work laptop"},
                    headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"].endswith("done=passkey_renamed")
    html = client.get("/account/security?done=passkey_renamed").get_data(as_text=True)
    assert "Passkey renamed." in html and "Work laptop" in html
    r = client.post("/account/security/passkeys/remove",
                    data={"csrf_token": _csrf(html), "passkey_id": pid}, headers=ORIGIN)
    assert r.status_code == 303
    assert client.get("/api/v1/me/passkeys").get_json()["passkeys"] == []


def test_forms_without_the_csrf_token_are_refused(client, mailbox):
    pid = _with_passkey(client, mailbox)
    r = client.post("/account/security/passkeys/remove", data={"passkey_id": pid},
                    headers=ORIGIN)
    assert r.status_code == 403
    assert len(client.get("/api/v1/me/passkeys").get_json()["passkeys"]) == 1


def test_an_empty_name_is_refused_with_the_page(client, mailbox):
    pid = _with_passkey(client, mailbox)
    html = client.get("/account/security").get_data(as_text=True)
    r = client.post("/account/security/passkeys/rename",
                    data={"csrf_token": _csrf(html), "passkey_id": pid, "name": "  "},
                    headers=ORIGIN)
    assert r.status_code == 422 and "1 to 100 characters" in r.get_data(as_text=True)


def test_signed_out_goes_to_sign_in(client):
    r = client.get("/account/security")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
