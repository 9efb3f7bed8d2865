"""What the owner expects of sign-in: revocation, blocks, pending, disabled (issue 11)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from tests.api.admin_support import Admin, make_key
from tests.helpers import ORIGIN, bearer, sign_in

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def admin(app: Any) -> Admin:
    return Admin(app.test_client(), make_key(app, name="ops-laptop"))


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.get_json()["code"] == code


def _token(client: Any, mailbox: Any, address: str) -> str:
    before = len(mailbox.to(address))
    assert client.post("/api/v1/auth/login-link", json={"email": address}).status_code == 202
    return str(mailbox.wait_for(address, before + 1)[-1].token)


def _forget_redis(app: Any) -> None:
    """Redis restarted without persistence: every used and deleted-address mark is gone."""
    with app.app_context():
        from loginsvc.core.runtime import store

        s = store()
        for pattern in ("used:*", "gone:*"):
            for key in s.r.scan_iter(match=f"{s.p}{pattern}"):
                s.r.delete(key)


def _set_mode(admin: Admin, mode: str) -> None:
    r = admin.patch("/settings", json={"account_mode": mode})
    assert r.status_code == 200 and r.get_json()["account_mode"] == mode


# -- links of a deleted account -----------------------------------------------------


def test_a_link_from_before_a_deletion_does_not_open_the_re_registered_account(app, mailbox):
    client = app.test_client()
    early = _token(client, mailbox, "again@example.com")  # no account yet: names no customer
    first = sign_in(app.test_client(), mailbox, "again@example.com")["session_token"]
    assert client.delete("/api/v1/me", headers=bearer(first)).status_code == 204
    # The address registers again, and then Redis loses its data.
    again = sign_in(app.test_client(), mailbox, "again@example.com")
    _forget_redis(app)
    _problem(client.post(VERIFY, json={"token": early}), 410, "token_revoked")
    me = client.get("/api/v1/me", headers=bearer(again["session_token"]))
    assert me.status_code == 200 and me.get_json()["id"] == again["customer"]["id"]
    assert len(_sessions(app, again["customer"]["id"])) == 1  # no second session was started


def _sessions(app: Any, customer_id: int) -> list[Any]:
    with app.app_context():
        from loginsvc.core.runtime import store

        return store().list_sessions(customer_id)


# -- blocks -------------------------------------------------------------------------


def test_unblocking_does_not_bring_links_from_before_the_block_back(app, admin, mailbox):
    client = app.test_client()
    cid = sign_in(client, mailbox, "unblock@example.com")["customer"]["id"]
    old = _token(client, mailbox, "unblock@example.com")
    assert admin.patch(f"/customers/{cid}", json={"status": "blocked"}).status_code == 200
    _problem(client.post(VERIFY, json={"token": old}, headers=ORIGIN), 403, "account_blocked")
    assert admin.patch(f"/customers/{cid}", json={"status": "active"}).status_code == 200
    _problem(client.post(VERIFY, json={"token": old}, headers=ORIGIN), 410, "token_revoked")
    page = client.get("/login/verify", query_string={"token": old})
    assert page.status_code == 410 and b"token_revoked" in page.get_data()
    fresh = _token(client, mailbox, "unblock@example.com")
    assert client.post(VERIFY, json={"token": fresh}, headers=ORIGIN).status_code == 200


def test_a_link_sent_before_the_owner_created_the_address_blocked_stays_void(
        app, admin, mailbox):
    client = app.test_client()
    early = _token(client, mailbox, "created-blocked@example.com")
    r = admin.post("/customers", json={"email": "created-blocked@example.com",
                                       "status": "blocked"})
    assert r.status_code == 201
    assert admin.patch(f"/customers/{r.get_json()['id']}",
                       json={"status": "active"}).status_code == 200
    _problem(client.post(VERIFY, json={"token": early}), 410, "token_revoked")


def test_thirty_parallel_verifies_of_a_blocked_customers_link_all_say_blocked(
        app, admin, mailbox):
    client = app.test_client()
    cid = sign_in(client, mailbox, "blocked-race@example.com")["customer"]["id"]
    token = _token(client, mailbox, "blocked-race@example.com")
    assert admin.patch(f"/customers/{cid}", json={"status": "blocked"}).status_code == 200
    n = 30
    barrier = threading.Barrier(n)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def worker() -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(VERIFY, json={"token": token})
        with lock:
            results.append((r.status_code, (r.get_json() or {}).get("code")))

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(results) == Counter({(403, "account_blocked"): n})


# -- pending ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["optional", "required", "disabled"])
def test_a_pending_customer_may_not_check_out_in_any_mode(app, admin, mode):
    r = admin.post("/customers", json={"email": "pending@example.com", "status": "pending"})
    assert r.status_code == 201 and r.get_json()["status"] == "pending"
    _set_mode(admin, mode)
    r = admin.get("/checkout-eligibility", query_string={"email": "Pending@Example.com"})
    assert r.status_code == 200
    assert r.get_json() == {"allowed": False, "reason": "pending"}


# -- accounts turned off ------------------------------------------------------------


def test_sessions_answer_accounts_disabled_while_accounts_are_off(app, admin, mailbox):
    client = app.test_client()
    session = sign_in(client, mailbox, "paused@example.com")["session_token"]
    auth = bearer(session)
    _set_mode(admin, "disabled")
    for path in ("/api/v1/me", "/api/v1/me/orders", "/api/v1/me/wishlist",
                 "/api/v1/me/sessions", "/api/v1/me/export"):
        _problem(client.get(path, headers=auth), 403, "accounts_disabled")
    _problem(client.patch("/api/v1/me", json={"name": "X"}, headers=auth),
             403, "accounts_disabled")
    page = client.get("/account", headers={"Accept": "text/html"})  # the cookie session
    assert page.status_code == 403 and page.headers["Content-Type"].startswith("text/html")
    assert b'data-code="accounts_disabled"' in page.get_data()
    assert client.get("/account/orders").status_code == 403
    # Kept, not destroyed: accounts on again, the same session works.
    _set_mode(admin, "optional")
    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200 and me.get_json()["email"] == "paused@example.com"
    assert client.get("/account").status_code == 200


def test_signing_out_works_while_accounts_are_off(app, admin, mailbox):
    client = app.test_client()
    session = sign_in(client, mailbox, "bye@example.com")["session_token"]
    _set_mode(admin, "disabled")
    assert client.post("/api/v1/auth/logout", headers=bearer(session)).status_code == 204
    _set_mode(admin, "optional")
    _problem(client.get("/api/v1/me", headers=bearer(session)), 401, "unauthorized")


def test_an_old_link_does_not_sign_in_while_accounts_are_off(app, admin, mailbox):
    client = app.test_client()
    sign_in(client, mailbox, "old-link@example.com")
    token = _token(client, mailbox, "old-link@example.com")
    _set_mode(admin, "disabled")
    _problem(client.post(VERIFY, json={"token": token}, headers=ORIGIN), 403, "accounts_disabled")
    _set_mode(admin, "optional")
    assert client.post(VERIFY, json={"token": token}, headers=ORIGIN).status_code == 200


# -- who deleted it -----------------------------------------------------------------


def test_the_owners_deletion_notice_says_the_owner_deleted_it(app, admin, mailbox):
    cid = sign_in(app.test_client(), mailbox, "gone-by-owner@example.com")["customer"]["id"]
    assert admin.delete(f"/customers/{cid}").status_code == 204
    notice = mailbox.wait_for("owner@shop.test")[-1]
    assert notice.subject == "A customer account was deleted by the shop: gone-by-owner@example.com"
    assert "deleted by the shop, not by the customer" in notice.text
    assert 'the admin API, with the API key "ops-laptop"' in notice.text
    assert "ops-laptop" in notice.html and "deleted their account" not in notice.text


def test_the_customers_own_deletion_notice_says_they_did_it(app, mailbox):
    client = app.test_client()
    session = sign_in(client, mailbox, "gone-by-self@example.com")["session_token"]
    assert client.delete("/api/v1/me", headers=bearer(session)).status_code == 204
    notice = mailbox.wait_for("owner@shop.test")[-1]
    assert notice.subject == "A customer deleted their account: gone-by-self@example.com"
    assert "The customer deleted their own account" in notice.text
    assert "API key" not in notice.text
