"""Shared by the console tests: sign an owner in through the mail, post forms like a browser."""

from __future__ import annotations

import re
from typing import Any

ORIGIN = {"Origin": "http://localhost"}
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def admin_token(mail: Any) -> str:
    from urllib.parse import parse_qs, urlsplit

    m = re.search(r"https?://\S+/admin/login/verify\?token=\S+", mail.text)
    assert m, f"no console link in {mail.subject!r}"
    return parse_qs(urlsplit(m.group(0)).query)["token"][0]


def request_link(client: Any, mailbox: Any, email: str) -> str:
    """Ask for a console link for `email`; the token from the mail (sent to the owner's address)."""
    before = len(mailbox.to(email.lower()))
    r = client.post("/admin/login", data={"email": email}, headers=ORIGIN)
    assert r.status_code == 303, r.get_data(as_text=True)
    return admin_token(mailbox.wait_for(email.lower(), before + 1)[-1])


def sign_in_owner(client: Any, mailbox: Any, email: str = "owner@shop.test") -> str:
    """Sign in at /admin/login with the link from the mail; the page's CSRF token."""
    token = request_link(client, mailbox, email)
    r = client.post("/admin/login/verify", data={"token": token}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/customers", r.get_data(
        as_text=True
    )
    return csrf(client)


def csrf(client: Any, path: str = "/admin/sessions") -> str:
    page = client.get(path).get_data(as_text=True)
    m = CSRF_RE.search(page)
    assert m, "no form token on the page"
    return m.group(1)


def post(client: Any, path: str, token: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": token, **data}, headers=ORIGIN)
