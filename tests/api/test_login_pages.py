"""The /login and /login/verify pages (server-rendered, no JavaScript needed)."""

from __future__ import annotations

import re

from tests.helpers import ORIGIN


def _link(client, mailbox, address: str):
    r = client.post("/login", data={"email": address}, headers=ORIGIN)
    assert r.status_code == 202
    assert "Check your inbox" in r.get_data(as_text=True)
    return mailbox.wait_for(address)[-1]


def test_login_form_is_plain_html(client):
    r = client.get("/login")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert '<form method="post" action="/login"' in html
    assert '<label for="email">' in html
    # The only script is our own passkey file (no inline script: the CSP forbids it).
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/static/passkeys.js" defer>']
    assert "http://" not in html.replace("http://localhost", "")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_get_verify_does_not_consume_the_token(client, mailbox):
    mail = _link(client, mailbox, "scan@example.com")
    for _ in range(3):  # a mail scanner prefetching the link
        r = client.get(f"/login/verify?token={mail.token}")
        assert r.status_code == 200
        assert r.headers["Referrer-Policy"] == "no-referrer"
        html = r.get_data(as_text=True)
        assert 'action="/login/verify"' in html and mail.token in html
    r = client.post("/login/verify", data={"token": mail.token})
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert "loginsvc_session=" in r.headers["Set-Cookie"]
    page = client.get("/account")
    assert page.status_code == 200 and "scan@example.com" in page.get_data(as_text=True)


def test_used_link_page_offers_a_new_link_by_post(client, mailbox):
    mail = _link(client, mailbox, "again@example.com")
    assert client.post("/login/verify", data={"token": mail.token}).status_code == 303
    for r in (client.get(f"/login/verify?token={mail.token}"),
              client.post("/login/verify", data={"token": mail.token})):
        assert r.status_code == 410
        html = r.get_data(as_text=True)
        assert 'data-code="token_used"' in html and "already used" in html
        assert re.search(r'<form method="post" action="/login"', html)
        assert 'value="again@example.com"' in html  # one press asks for a new link
    assert len(mailbox.to("again@example.com")) == 1  # the page itself sends nothing


def test_invalid_link_page(client):
    r = client.get("/login/verify?token=nonsense")
    assert r.status_code == 400
    assert 'data-code="invalid_token"' in r.get_data(as_text=True)
    r = client.get("/login/verify")
    assert r.status_code == 400


def test_pages_follow_accept_language(client, mailbox):
    r = client.get("/login", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert '<html lang="es">' in r.get_data(as_text=True)
    assert "Envíame un enlace" in r.get_data(as_text=True)
    r = client.post("/login", data={"email": "loc@example.com"},
                    headers={**ORIGIN, "Accept-Language": "de"})
    assert r.status_code == 202
    mail = mailbox.wait_for("loc@example.com")[0]
    assert "Anmeldelink" in mail.subject


def test_bad_address_in_form_is_422_page(client, mailbox):
    r = client.post("/login", data={"email": "nope"}, headers=ORIGIN)
    assert r.status_code == 422
    assert 'role="alert"' in r.get_data(as_text=True)
    assert mailbox.messages == []


def test_form_from_foreign_site_is_refused(client, mailbox):
    r = client.post("/login", data={"email": "x@example.com"},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert mailbox.messages == []


def test_account_redirects_to_login_when_signed_out(client):
    r = client.get("/account")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_sign_out_form(client, mailbox):
    mail = _link(client, mailbox, "out@example.com")
    client.post("/login/verify", data={"token": mail.token})
    html = client.get("/account").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/logout", data={"csrf_token": csrf}, headers=ORIGIN)
    assert r.status_code == 303
    assert client.get("/account").status_code == 302


def test_unknown_page_is_404_html(client):
    r = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.mimetype == "text/html"
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"


def test_loopback_names_are_one_origin_for_a_local_service(make_app, mailbox):
    client = make_app(public_url="http://127.0.0.1:8000").test_client()
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
        r = client.post("/login", data={"email": "lo@example.com"}, headers={"Origin": origin})
        assert r.status_code == 202, origin
    for origin in ("http://localhost:9999", "https://localhost:8000", "http://evil.example:8000"):
        r = client.post("/login", data={"email": "lo@example.com"}, headers={"Origin": origin})
        assert r.status_code == 403, origin
