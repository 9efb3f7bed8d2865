"""The audit log (GET /api/v1/admin/audit) and a customer's timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.api.admin_support import add_customer, admin_fixture  # noqa: F401
from tests.api.console_support import post, sign_in_owner
from tests.helpers import sign_in


def test_api_key_writes_are_recorded_with_the_key_name(admin: Any, app: Any) -> None:
    cid = add_customer(app, "buyer@example.com", has_account=True)
    r = admin.patch(f"/customers/{cid}", json={"notes": "calls on Mondays", "status": "blocked"})
    assert r.status_code == 200
    r = admin.post("/groups", json={"name": "VIP"})
    assert r.status_code == 201
    r = admin.get("/audit")
    assert r.status_code == 200
    body = r.get_json()
    assert body["next_cursor"] is None
    assert [e["action"] for e in body["entries"]] == ["group.create", "customer.update"]
    update = body["entries"][1]
    assert set(update) == {"id", "at", "actor", "action", "customer_id", "detail"}
    assert update["actor"] == "tests"
    assert update["customer_id"] == cid
    assert update["detail"] == {"notes": "calls on Mondays", "status": "blocked"}
    assert update["at"].endswith("Z")
    only = admin.get(f"/audit?customer_id={cid}").get_json()["entries"]
    assert [e["action"] for e in only] == ["customer.update"]


def test_a_create_names_the_new_customer(admin: Any) -> None:
    r = admin.post("/customers", json={"email": "new@example.com", "name": "Ann"})
    assert r.status_code == 201
    entry = admin.get("/audit").get_json()["entries"][0]
    assert entry["action"] == "customer.create"
    assert entry["customer_id"] == r.get_json()["id"]


def test_a_refused_write_leaves_no_entry(admin: Any, app: Any) -> None:
    add_customer(app, "a@example.com", customer_number="K-1")
    b = add_customer(app, "b@example.com")
    r = admin.patch(f"/customers/{b}", json={"customer_number": "K-1"})
    assert r.status_code == 409
    assert r.get_json()["code"] == "conflict"
    r = admin.post("/customers/import?dry_run=true", data="email\nx@example.com\n",
                   headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.get_json()["created"] == 1
    assert admin.get("/audit").get_json() == {"entries": [], "next_cursor": None}


def test_audit_pages_newest_first(admin: Any, app: Any) -> None:
    cid = add_customer(app, "buyer@example.com")
    for n in range(3):
        assert admin.patch(f"/customers/{cid}", json={"notes": f"n{n}"}).status_code == 200
    first = admin.get("/audit?limit=2").get_json()
    assert [e["detail"]["notes"] for e in first["entries"]] == ["n2", "n1"]
    rest = admin.get(f"/audit?limit=2&cursor={first['next_cursor']}").get_json()
    assert [e["detail"]["notes"] for e in rest["entries"]] == ["n0"]
    assert rest["next_cursor"] is None
    r = admin.get("/audit?cursor=nonsense")
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_request"


def test_console_writes_name_the_owner(admin: Any, app: Any, client: Any, mailbox: Any) -> None:
    cid = add_customer(app, "buyer@example.com", has_account=True)
    token = sign_in_owner(client, mailbox)
    r = post(client, f"/admin/customers/{cid}/status", token, status="blocked")
    assert r.status_code == 303
    entry = admin.get(f"/audit?customer_id={cid}").get_json()["entries"][0]
    assert entry["actor"] == "owner@shop.test"
    assert entry["action"] == "customer.status"
    assert entry["detail"] == {"status": "blocked"}


def test_the_timeline_tells_why_a_customer_cannot_sign_in(
    admin: Any, app: Any, client: Any, mailbox: Any
) -> None:
    cid = add_customer(app, "buyer@example.com", has_account=True)
    shopper = app.test_client()
    sign_in(shopper, mailbox, "buyer@example.com")
    assert admin.patch(f"/customers/{cid}", json={"status": "blocked"}).status_code == 200
    shopper.post("/api/v1/auth/login-link", json={"email": "buyer@example.com"})
    r = admin.get(f"/customers/{cid}/timeline")
    assert r.status_code == 200
    body = r.get_json()
    kinds = [e["kind"] for e in body["events"]]
    # Newest first: the block ended the session; no link goes to a blocked customer.
    assert kinds[:3] == ["link.refused", "session.ended", "owner.action"]
    assert body["events"][0]["detail"]["reason"] == "account_blocked"
    assert kinds[-4:] == ["session.started", "link.used", "mail.sent", "link.issued"]
    assert body["next_cursor"] is None
    page = admin.get(f"/customers/{cid}/timeline?limit=2").get_json()
    assert len(page["events"]) == 2 and page["next_cursor"]
    assert admin.get("/customers/999999/timeline").get_json()["code"] == "customer_not_found"


def test_the_timeline_shows_a_preview_and_an_expired_link(make_app: Any, mailbox: Any) -> None:
    import time

    from tests.api.admin_support import make_key

    app = make_app(login_link_max_age=1)
    client = app.test_client()
    cid = add_customer(app, "buyer@example.com", has_account=True)
    client.post("/api/v1/auth/login-link", json={"email": "buyer@example.com"})
    token = mailbox.wait_for("buyer@example.com")[-1].token
    assert client.get(f"/login/verify?token={token}").status_code == 200  # a scanner's preview
    time.sleep(2.1)
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_expired"
    key = make_key(app)
    events = client.get(f"/api/v1/admin/customers/{cid}/timeline",
                        headers={"Authorization": f"Bearer {key}"}).get_json()["events"]
    assert [e["kind"] for e in events][:2] == ["link.refused", "link.opened"]
    assert events[0]["detail"] == {"reason": "token_expired"}
