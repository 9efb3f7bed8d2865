"""Nobody signs in as someone else: login CSRF (issue 11).

The attack: a cross-site `<form enctype="text/plain">` posts a body that parses
as JSON to /api/v1/auth/verify, with the attacker's token (a trailing `=`
makes the form's `name=value` syntax come out as valid JSON), and plants the
attacker's session in the victim's browser. Each defect it used has a test.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import ORIGIN, sign_in, sign_webhook, signed_post

VERIFY = "/api/v1/auth/verify"
SSO_SECRET = "whsec_" + base64.b64encode(b"login-csrf-test-sso-secret-32byt").decode()
HOOK_SECRET = "whsec_" + base64.b64encode(b"login-csrf-test-hook-secret-32by").decode()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(wordpress_sso_secrets=(SSO_SECRET,), webhook_secrets=(HOOK_SECRET,))


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.get_json()["code"] == code
    assert "loginsvc_session=" not in r.headers.get("Set-Cookie", "")


def _token(client: Any, mailbox: Any, address: str) -> str:
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address})
    assert r.status_code == 202
    return str(mailbox.wait_for(address, before + 1)[-1].token)


def _still_usable(client: Any, token: str, address: str) -> None:
    r = client.post(VERIFY, json={"token": token}, headers=ORIGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["customer"]["email"] == address


def test_the_reported_text_plain_form_post_plants_no_session(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "attacker@example.com")
    body = b'{"token":"' + token.encode() + b'="}\r\n'
    r = client.post(VERIFY, data=body, headers={"Content-Type": "text/plain",
                                                "Origin": "https://attacker.example"})
    _problem(r, 415, "unsupported_media_type")


def test_verify_with_a_json_body_under_another_media_type_is_415(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "plain@example.com")
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = client.post(VERIFY, data=json.dumps({"token": token}), headers={"Content-Type": ctype})
        _problem(r, 415, "unsupported_media_type")
    r = client.post(VERIFY, data=json.dumps({"token": token}))  # no Content-Type at all
    _problem(r, 415, "unsupported_media_type")
    _still_usable(client, token, "plain@example.com")


def test_json_with_parameters_and_json_suffix_types_are_json(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "suffix@example.com")
    r = client.post(VERIFY, data=json.dumps({"token": token}),
                    headers={"Content-Type": "application/json; charset=utf-8", **ORIGIN})
    assert r.status_code == 200, r.get_data(as_text=True)


@pytest.mark.parametrize("method,path,body", [
    ("post", "/api/v1/auth/login-link", {"email": "a@example.com"}),
    ("post", "/api/v1/admin/customers", {"email": "b@example.com"}),
    ("patch", "/api/v1/admin/settings", {"account_mode": "disabled"}),
])
def test_every_json_endpoint_refuses_other_media_types(app, mailbox, method, path, body):
    from tests.api.admin_support import make_key

    client = app.test_client()
    headers = {"Content-Type": "text/plain", "Authorization": f"Bearer {make_key(app)}"}
    r = client.open(path, method=method.upper(), data=json.dumps(body), headers=headers)
    _problem(r, 415, "unsupported_media_type")
    assert mailbox.messages == []
    assert client.get("/api/v1/admin/settings", headers=headers).get_json()[
        "account_mode"] == "optional"


def test_shopper_json_writes_refuse_other_media_types(app, mailbox):
    client = app.test_client()
    session = sign_in(client, mailbox, "me@example.com")["session_token"]
    auth = {"Authorization": f"Bearer {session}"}
    r = client.patch("/api/v1/me", data=json.dumps({"name": "Mallory"}),
                     headers={**auth, "Content-Type": "text/plain"})
    _problem(r, 415, "unsupported_media_type")
    assert client.get("/api/v1/me", headers=auth).get_json()["name"] is None


def test_signed_json_endpoints_refuse_other_media_types_after_the_signature(app):
    client = app.test_client()
    for path, secret, payload in (
        ("/api/v1/sso/wordpress/login", SSO_SECRET, {"email": "wp@example.com", "wp_user_id": 1}),
        ("/api/v1/webhooks/orders", HOOK_SECRET, {"type": "order.placed", "data": {}}),
    ):
        raw = json.dumps(payload).encode()
        headers = sign_webhook(secret, raw, msg_id=f"msg_{path[-6:]}")
        headers["Content-Type"] = "text/plain"
        _problem(client.post(path, data=raw, headers=headers), 415, "unsupported_media_type")
        unsigned = {"Content-Type": "text/plain"}
        _problem(client.post(path, data=raw, headers=unsigned), 401, "invalid_signature")


@pytest.mark.parametrize("origin", ["https://attacker.example", "null", "http://localhost.evil"])
def test_verify_from_a_foreign_origin_is_csrf_failed(app, mailbox, origin):
    client = app.test_client()
    token = _token(client, mailbox, "foreign@example.com")
    _problem(client.post(VERIFY, json={"token": token}, headers={"Origin": origin}),
             403, "csrf_failed")
    _still_usable(client, token, "foreign@example.com")  # the refusal did not spend it


def test_verify_with_a_foreign_referer_and_no_origin_is_csrf_failed(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "referer@example.com")
    r = client.post(VERIFY, json={"token": token},
                    headers={"Referer": "https://attacker.example/page"})
    _problem(r, 403, "csrf_failed")
    r = client.post(VERIFY, json={"token": token}, headers={"Referer": "http://localhost/login"})
    assert r.status_code == 200, r.get_data(as_text=True)


def test_verify_without_origin_or_referer_is_a_server_side_client(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "api@example.com")
    r = client.post(VERIFY, json={"token": token})
    assert r.status_code == 200 and "loginsvc_session=" in r.headers["Set-Cookie"]


def test_null_origin_is_foreign_even_with_our_referer(app, mailbox):
    client = app.test_client()
    token = _token(client, mailbox, "null@example.com")
    r = client.post(VERIFY, json={"token": token},
                    headers={"Origin": "null", "Referer": "http://localhost/login"})
    _problem(r, 403, "csrf_failed")
    _still_usable(client, token, "null@example.com")


@pytest.mark.parametrize("spell", [
    lambda t: t + "=", lambda t: t + "==", lambda t: " " + t, lambda t: t + "\n",
    lambda t: t.swapcase(), lambda t: "." + t, lambda t: t.replace(".", "..", 1),
    lambda t: t + ".",
])
def test_only_the_token_as_signed_is_accepted(app, mailbox, spell):
    client = app.test_client()
    token = _token(client, mailbox, "spelling@example.com")
    _problem(client.post(VERIFY, json={"token": spell(token)}, headers=ORIGIN),
             400, "invalid_token")
    page = client.get("/login/verify", query_string={"token": spell(token)})
    assert page.status_code == 400 and b"invalid_token" in page.get_data()
    _still_usable(client, token, "spelling@example.com")


def test_sso_ticket_fetched_from_a_foreign_origin_is_refused(app):
    client = app.test_client()
    r = signed_post(client, "/api/v1/sso/wordpress/login",
                    {"email": "wp@example.com", "wp_user_id": 7}, SSO_SECRET)
    url = urlsplit(r.get_json()["login_url"])
    ticket = parse_qs(url.query)["t"][0]
    r = client.get(url.path, query_string={"t": ticket},
                   headers={"Origin": "https://attacker.example"})
    assert r.status_code == 403 and b"csrf_failed" in r.get_data()
    assert "loginsvc_session=" not in r.headers.get("Set-Cookie", "")
    # A browser navigation (no Origin, WordPress as Referer) still signs in, once.
    r = client.get(url.path, query_string={"t": ticket},
                   headers={"Referer": "https://blog.example.com/wp-login.php"})
    assert r.status_code == 303 and "loginsvc_session=" in r.headers["Set-Cookie"]
