"""Passkeys over the API (CONTRACT §3b) with a software authenticator making real signatures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.conftest import count_rows
from tests.helpers import ORIGIN, sign_in
from tests.webauthn_authenticator import SoftAuthenticator, b64u, unb64u

JSON_ORIGIN = {**ORIGIN, "Content-Type": "application/json"}


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    body = r.get_json()
    assert r.mimetype == "application/problem+json"
    assert body["code"] == code and body["status"] == status
    return body


def _register(client: Any, device: SoftAuthenticator, name: str | None = None) -> dict[str, Any]:
    r = client.post("/api/v1/me/passkeys/options", headers=ORIGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    options = r.get_json()["options"]
    body: dict[str, Any] = {"credential": device.create(options)}
    if name:
        body["name"] = name
    r = client.post("/api/v1/me/passkeys", json=body, headers=ORIGIN)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def _assertion_options(client: Any) -> dict[str, Any]:
    r = client.post("/api/v1/auth/passkey/options")
    assert r.status_code == 200
    return r.get_json()["options"]


def _verify(client: Any, credential: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/v1/auth/passkey/verify", json={"credential": credential},
                       headers=headers or ORIGIN)


def _enrolled(app: Any, mailbox: Any, address: str = "ana@example.com") -> tuple[Any, Any, int]:
    """A signed-in customer with one passkey; (signed-out client, authenticator, customer id)."""
    client = app.test_client()
    me = sign_in(client, mailbox, address)
    device = SoftAuthenticator()
    _register(client, device, name="Phone")
    return app.test_client(), device, me["customer"]["id"]


def test_creation_options_are_discoverable_and_prefer_user_verification(client, mailbox):
    sign_in(client, mailbox, "ana@example.com")
    r = client.post("/api/v1/me/passkeys/options", headers=ORIGIN)
    assert r.status_code == 200
    options = r.get_json()["options"]
    assert options["rp"]["id"] == "localhost"
    assert options["user"]["name"] == "ana@example.com"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert len(unb64u(options["challenge"])) >= 32


def test_register_list_rename_and_sign_in(app, mailbox):
    client = app.test_client()
    me = sign_in(client, mailbox, "ana@example.com")
    device = SoftAuthenticator()
    created = _register(client, device, name="Phone")
    assert created["name"] == "Phone" and created["last_used_at"] is None
    r = client.get("/api/v1/me/passkeys")
    assert r.status_code == 200
    assert r.get_json() == {"passkeys": [created], "next_cursor": None}
    path = f"/api/v1/me/passkeys/{created['id']}"
    r = client.patch(path, json={"name": "Laptop"}, headers=ORIGIN)
    assert r.status_code == 200 and r.get_json()["name"] == "Laptop"

    fresh = app.test_client()
    options = _assertion_options(fresh)
    assert options["allowCredentials"] == [] and options["userVerification"] == "preferred"
    r = _verify(fresh, device.get(options))
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["customer"]["id"] == me["customer"]["id"] and body["session_token"]
    assert "loginsvc_session=" in r.headers["Set-Cookie"]
    r = fresh.get("/api/v1/me")
    assert r.status_code == 200 and r.get_json()["email"] == "ana@example.com"
    listed = fresh.get("/api/v1/me/passkeys").get_json()["passkeys"][0]
    assert listed["last_used_at"] is not None


def test_replayed_challenge_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    credential = device.get(_assertion_options(client))
    assert _verify(client, credential).status_code == 200
    _problem(_verify(app.test_client(), credential), 400, "invalid_passkey")


def test_a_fresh_challenge_with_a_stale_counter_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    assert _verify(client, device.get(_assertion_options(client))).status_code == 200
    # A cloned authenticator answers with a counter the service has already seen.
    cloned = device.get(_assertion_options(client), count_up=False)
    _problem(_verify(app.test_client(), cloned), 400, "invalid_passkey")


def test_tampered_signature_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    credential = device.get(_assertion_options(client))
    sig = bytearray(unb64u(credential["response"]["signature"]))
    sig[-1] ^= 0x01
    credential["response"]["signature"] = b64u(bytes(sig))
    _problem(_verify(client, credential), 400, "invalid_passkey")
    assert client.get("/api/v1/me").status_code == 401


def test_unknown_credential_is_refused(app, mailbox):
    client, _, _ = _enrolled(app, mailbox)
    stranger = SoftAuthenticator()
    _problem(_verify(client, stranger.get(_assertion_options(client))), 400, "invalid_passkey")


def test_foreign_origin_in_the_assertion_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    credential = device.get(_assertion_options(client), origin="https://evil.example")
    _problem(_verify(client, credential), 400, "invalid_passkey")


def test_foreign_origin_header_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    credential = device.get(_assertion_options(client))
    r = _verify(client, credential, headers={"Origin": "https://evil.example"})
    _problem(r, 403, "csrf_failed")
    assert "Set-Cookie" not in r.headers


def test_non_json_body_is_refused(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    import json

    credential = device.get(_assertion_options(client))
    r = client.post("/api/v1/auth/passkey/verify", data=json.dumps({"credential": credential}),
                    headers={**ORIGIN, "Content-Type": "text/plain"})
    _problem(r, 415, "unsupported_media_type")


def test_garbage_credential_is_refused_not_500(client):
    for credential in ({}, {"response": {"clientDataJSON": "!!"}}, {"id": "x", "response": []}):
        _problem(_verify(client, credential), 400, "invalid_passkey")
    _problem(client.post("/api/v1/auth/passkey/verify", json={"credential": "x"}, headers=ORIGIN),
             422, "invalid_request")


def test_blocked_customer_is_refused(app, mailbox):
    client, device, cid = _enrolled(app, mailbox)
    with app.app_context():
        from loginsvc.core.extensions import db

        block = text("UPDATE customers SET status = 'blocked' WHERE id = :i")
        db.session.execute(block, {"i": cid})
        db.session.commit()
    r = _verify(client, device.get(_assertion_options(client)))
    _problem(r, 403, "account_blocked")
    assert "Set-Cookie" not in r.headers


def test_registration_challenge_is_single_use(client, mailbox):
    sign_in(client, mailbox, "ana@example.com")
    options = client.post("/api/v1/me/passkeys/options", headers=ORIGIN).get_json()["options"]
    first = SoftAuthenticator()
    r = client.post("/api/v1/me/passkeys", json={"credential": first.create(options)},
                    headers=ORIGIN)
    assert r.status_code == 201
    second = SoftAuthenticator()
    r = client.post("/api/v1/me/passkeys", json={"credential": second.create(options)},
                    headers=ORIGIN)
    _problem(r, 400, "invalid_passkey")


def test_registration_from_a_foreign_origin_is_refused(client, mailbox):
    sign_in(client, mailbox, "ana@example.com")
    options = client.post("/api/v1/me/passkeys/options", headers=ORIGIN).get_json()["options"]
    cred = SoftAuthenticator().create(options, origin="https://evil.example")
    _problem(client.post("/api/v1/me/passkeys", json={"credential": cred}, headers=ORIGIN),
             400, "invalid_passkey")


def test_registration_needs_a_session(client):
    _problem(client.post("/api/v1/me/passkeys/options", headers=ORIGIN), 401, "unauthorized")


def test_another_customers_passkey_is_not_found(app, mailbox):
    _, _, _ = _enrolled(app, mailbox, "ana@example.com")
    other = app.test_client()
    sign_in(other, mailbox, "bob@example.com")
    with app.app_context():
        from loginsvc.core.extensions import db

        pid = db.session.execute(text("SELECT id FROM passkeys")).scalar_one()
    _problem(other.delete(f"/api/v1/me/passkeys/{pid}", headers=ORIGIN), 404, "not_found")
    _problem(other.delete("/api/v1/me/passkeys/nope", headers=ORIGIN), 404, "not_found")
    assert count_rows(app, "passkeys") == 1


def test_remove_then_the_passkey_no_longer_signs_in(app, mailbox):
    client = app.test_client()
    sign_in(client, mailbox, "ana@example.com")
    device = SoftAuthenticator()
    created = _register(client, device)
    assert client.delete(f"/api/v1/me/passkeys/{created['id']}", headers=ORIGIN).status_code == 204
    assert client.get("/api/v1/me/passkeys").get_json()["passkeys"] == []
    fresh = app.test_client()
    _problem(_verify(fresh, device.get(_assertion_options(fresh))), 400, "invalid_passkey")


def test_logout_all_keeps_passkeys(app, mailbox):
    client = app.test_client()
    sign_in(client, mailbox, "ana@example.com")
    device = SoftAuthenticator()
    _register(client, device)
    assert client.post("/api/v1/auth/logout-all", headers=ORIGIN).status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    fresh = app.test_client()
    assert _verify(fresh, device.get(_assertion_options(fresh))).status_code == 200


def test_deleting_the_account_deletes_its_passkeys(app, mailbox):
    client = app.test_client()
    sign_in(client, mailbox, "ana@example.com")
    device = SoftAuthenticator()
    _register(client, device)
    assert client.delete("/api/v1/me", headers=ORIGIN).status_code == 204
    assert count_rows(app, "passkeys") == 0
    fresh = app.test_client()
    _problem(_verify(fresh, device.get(_assertion_options(fresh))), 400, "invalid_passkey")


def test_challenges_live_under_the_prefix(app, mailbox):
    client = app.test_client()
    _assertion_options(client)
    settings = app.config["SETTINGS"]
    r = app.extensions["loginsvc.redis"]
    keys = list(r.scan_iter(match=f"{settings.redis_prefix}wa:auth:*"))
    assert len(keys) == 1
    assert 0 < r.ttl(keys[0]) <= settings.passkey_challenge_ttl


def test_export_lists_passkeys(client, mailbox):
    sign_in(client, mailbox, "ana@example.com")
    _register(client, SoftAuthenticator(), name="Phone")
    doc = client.get("/api/v1/me/export").get_json()
    assert [p["name"] for p in doc["passkeys"]] == ["Phone"]
    assert doc["passkeys"][0]["created_at"].endswith("Z")


def test_nobody_signs_in_by_passkey_while_accounts_are_disabled(app, mailbox):
    client, device, _ = _enrolled(app, mailbox)
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    _problem(_verify(client, device.get(_assertion_options(client))), 403, "accounts_disabled")


def test_sign_in_options_are_rate_limited_per_ip(make_app):
    app = make_app(ip_limit=2)
    client = app.test_client()
    assert client.post("/api/v1/auth/passkey/options").status_code == 200
    assert client.post("/api/v1/auth/passkey/options").status_code == 200
    r = client.post("/api/v1/auth/passkey/options")
    _problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1


def test_one_assertion_sent_concurrently_gives_one_session(app, mailbox):
    import threading

    client, device, _ = _enrolled(app, mailbox)
    credential = device.get(_assertion_options(client))
    statuses: list[int] = []
    start = threading.Barrier(6)

    def attempt() -> None:
        c = app.test_client()
        start.wait()
        statuses.append(_verify(c, credential).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200] + [400] * 5


def test_passkeys_survive_a_secret_key_rotation(make_app, mailbox):
    old_key = "test-secret-key-0123456789-abcdefghijklmnop"
    before = make_app()
    client = before.test_client()
    sign_in(client, mailbox, "ana@example.com")
    device = SoftAuthenticator()
    _register(client, device)
    after = make_app(secret_keys=("a-brand-new-signing-key-0123456789-abcdef", old_key))
    fresh = after.test_client()
    assert _verify(fresh, device.get(_assertion_options(fresh))).status_code == 200


def test_an_account_keeps_one_user_handle_and_a_foreign_one_is_refused(app, mailbox):
    client = app.test_client()
    sign_in(client, mailbox, "ana@example.com")
    first, second = SoftAuthenticator(), SoftAuthenticator()
    _register(client, first)
    _register(client, second)
    assert first.user_handle == second.user_handle and len(first.user_handle or b"") == 32
    second.user_handle = bytes(32)  # claims to be another account's credential
    fresh = app.test_client()
    _problem(_verify(fresh, second.get(_assertion_options(fresh))), 400, "invalid_passkey")
