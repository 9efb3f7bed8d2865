"""Key rotation (docs/operations.md): add the new key, let old links expire, drop the old key.

Every app below shares one database and one Redis prefix, like the instances
of a rolling deploy.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import bearer

OLD = "old-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
NEW = "new-secret-key-9876543210-zyxwvutsrqponmlkjihgfedcba"


def _token(app: Any, mailbox: Any, address: str) -> str:
    before = len(mailbox.to(address))
    r = app.test_client().post("/api/v1/auth/login-link", json={"email": address})
    assert r.status_code == 202
    return str(mailbox.wait_for(address, before + 1)[-1].token)


def _verify(app: Any, token: str) -> Any:
    return app.test_client().post("/api/v1/auth/verify", json={"token": token})


def test_old_links_keep_working_after_the_new_key_is_put_first(make_app, mailbox):
    before = make_app(secret_keys=(OLD,))
    token = _token(before, mailbox, "rot1@example.com")
    after = make_app(secret_keys=(NEW, OLD))
    r = _verify(after, token)
    assert r.status_code == 200
    assert r.get_json()["customer"]["email"] == "rot1@example.com"


def test_new_key_signs_once_it_is_first(make_app, mailbox):
    rotated = make_app(secret_keys=(NEW, OLD))
    token = _token(rotated, mailbox, "rot2@example.com")
    # Only the new key is needed to check it: it was signed with the new key.
    assert _verify(make_app(secret_keys=(NEW,)), token).status_code == 200


def test_links_signed_with_a_dropped_key_are_invalid(make_app, mailbox):
    token = _token(make_app(secret_keys=(OLD,)), mailbox, "rot3@example.com")
    r = _verify(make_app(secret_keys=(NEW,)), token)
    assert r.status_code == 400
    assert r.get_json()["code"] == "invalid_token"


def test_rolling_deploy_adds_the_key_second_before_it_signs(make_app, mailbox):
    # Step 1 of a rolling deploy: the new key verifies everywhere before any instance
    # signs with it, so a link from any instance works on every other one.
    old_instance = make_app(secret_keys=(OLD,))
    step1 = make_app(secret_keys=(OLD, NEW))
    token = _token(step1, mailbox, "rot4@example.com")
    assert _verify(old_instance, token).status_code == 200
    # Step 2: the new key signs; instances still on step 1 verify its links.
    step2 = make_app(secret_keys=(NEW, OLD))
    token = _token(step2, mailbox, "rot5@example.com")
    assert _verify(step1, token).status_code == 200


def test_a_used_link_stays_used_across_rotation(make_app, mailbox):
    before = make_app(secret_keys=(OLD,))
    token = _token(before, mailbox, "rot6@example.com")
    assert _verify(before, token).status_code == 200
    r = _verify(make_app(secret_keys=(NEW, OLD)), token)
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"


def test_sessions_survive_key_rotation(make_app, mailbox):
    before = make_app(secret_keys=(OLD,))
    session = _verify(before, _token(before, mailbox, "rot7@example.com")).get_json()
    after = make_app(secret_keys=(NEW,))
    # Sessions are random server-side ids in Redis, not signed with SECRET_KEYS.
    r = after.test_client().post("/api/v1/auth/logout", headers=bearer(session["session_token"]))
    assert r.status_code == 204
