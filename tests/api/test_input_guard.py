"""NUL characters are refused as bad input everywhere (PostgreSQL cannot store them)."""

from __future__ import annotations

from tests.helpers import ORIGIN


def test_nul_in_json_body_is_422(client, mailbox):
    r = client.post("/api/v1/auth/login-link", json={"email": "a\x00@example.com"})
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_request"
    assert r.get_json()["errors"][0]["field"] == "email"
    assert mailbox.messages == []


def test_nul_in_query_is_422(client):
    r = client.get("/api/v1/me/orders?cursor=%00")
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "cursor"


def test_nul_in_form_is_refused(client, mailbox):
    r = client.post("/login", data={"email": "b\x00@example.com"}, headers=ORIGIN)
    assert r.status_code == 422
    assert mailbox.messages == []


def test_nul_deep_in_json_is_422(client):
    r = client.post("/api/v1/auth/verify", json={"token": ["x", {"y": "\x00"}]})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "token.1.y"


def test_escaped_backslash_u0000_text_is_not_a_nul(client, mailbox):
    r = client.post("/api/v1/auth/login-link", json={"email": "c@example.com",
                                                     "next": "/x?q=\\u0000"})
    assert r.status_code == 202
