"""CONTRACT §7 customers: create, get, patch, delete, the customer's orders."""

from __future__ import annotations

from tests.api.admin_support import add_customer, add_order, admin_fixture, problem  # noqa: F401
from tests.conftest import count_rows
from tests.helpers import bearer, sign_in

ADMIN_FIELDS = {"id", "email", "name", "company", "phone", "customer_number", "newsletter",
                "has_account", "status", "groups", "notes", "order_count", "totals",
                "last_order_at", "created_at", "updated_at"}


def test_create_customer_201_with_admin_object(admin, mailbox, app):
    admin.post("/groups", json={"name": "VIP"})
    r = admin.post("/customers", json={
        "email": " Ana@Example.com ", "name": "Ana Ruiz", "company": "Ruiz SL",
        "phone": "+34 600 000 000", "customer_number": "C-1", "newsletter": True,
        "notes": "likes red", "groups": ["VIP"],
        "addresses": {"billing": {"city": "Madrid", "country": "es"}}})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) >= ADMIN_FIELDS
    assert body["id"] > 0
    assert body["email"] == "Ana@Example.com"
    assert (body["name"], body["company"], body["customer_number"]) == ("Ana Ruiz", "Ruiz SL",
                                                                        "C-1")
    assert body["has_account"] is True and body["status"] == "active"
    assert body["groups"] == ["VIP"] and body["newsletter"] is True
    assert body["country"] == "ES" and body["order_count"] == 0 and body["totals"] == []
    assert body["created_at"].endswith("Z") and body["last_order_at"] is None
    assert mailbox.messages == []  # no invite asked, no mail
    assert count_rows(app, "consent_events") == 1
    got = admin.get(f"/customers/{body['id']}")
    assert got.status_code == 200 and got.get_json() == body


def test_create_with_send_invite_mails_a_login_link(admin, mailbox, client):
    r = admin.post("/customers", json={"email": "inv@example.com", "send_invite": True})
    assert r.status_code == 201
    mail = mailbox.wait_for("inv@example.com")[0]
    v = client.post("/api/v1/auth/verify", json={"token": mail.token})
    assert v.status_code == 200 and v.get_json()["customer"]["id"] == r.get_json()["id"]


def test_create_existing_email_is_409_conflict(admin, app):
    cid = add_customer(app, "guest@example.com")
    r = admin.post("/customers", json={"email": "GUEST@example.com"})
    body = problem(r, 409, "conflict")
    assert body["customer_id"] == cid
    assert count_rows(app, "customers") == 1


def test_create_taken_customer_number_is_409(admin, app):
    add_customer(app, "a@example.com", customer_number="N1")
    r = admin.post("/customers", json={"email": "b@example.com", "customer_number": "N1"})
    problem(r, 409, "conflict")
    assert count_rows(app, "customers") == 1


def test_create_unknown_group_is_422_and_creates_nothing(admin, app):
    r = admin.post("/customers", json={"email": "b@example.com", "groups": ["Nope"]})
    body = problem(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "groups"
    assert count_rows(app, "customers") == 0


def test_create_invalid_bodies_are_422(admin, app):
    for payload in ({}, {"email": "nope"}, {"email": 5}, {"email": "a@example.com", "x": 1},
                    {"email": "a@example.com", "name": "n" * 201},
                    {"email": "a@example.com", "status": "vip"},
                    {"email": "a@example.com", "newsletter": "yes"},
                    {"email": "a@example.com", "groups": "VIP"},
                    {"email": "a@example.com", "addresses": {"billing": "x"}}):
        r = admin.post("/customers", json=payload)
        body = problem(r, 422, "invalid_request")
        assert body["errors"], payload
    r = admin.post("/customers", data=b"{nope", headers={"Content-Type": "application/json"})
    problem(r, 400, "invalid_request")
    assert count_rows(app, "customers") == 0


def test_send_invite_with_accounts_disabled_is_403(admin, app, mailbox):
    admin.patch("/settings", json={"account_mode": "disabled"})
    r = admin.post("/customers", json={"email": "x@example.com", "send_invite": True})
    problem(r, 403, "accounts_disabled")
    assert count_rows(app, "customers") == 0
    r = admin.post("/customers", json={"email": "x@example.com"})
    assert r.status_code == 201 and r.get_json()["has_account"] is False


def test_get_unknown_customer_is_404(admin):
    problem(admin.get("/customers/999999"), 404, "customer_not_found")
    problem(admin.patch("/customers/999999", json={"notes": "x"}), 404, "customer_not_found")
    problem(admin.delete("/customers/999999"), 404, "customer_not_found")
    problem(admin.get("/customers/999999/orders"), 404, "customer_not_found")


def test_patch_fields_and_groups(admin, app):
    admin.post("/groups", json={"name": "VIP"})
    admin.post("/groups", json={"name": "Wholesale"})
    cid = admin.post("/customers", json={"email": "p@example.com", "groups": ["VIP"]}
                     ).get_json()["id"]
    r = admin.patch(f"/customers/{cid}", json={
        "notes": "call first", "customer_number": "K-9", "groups": ["Wholesale", "VIP"],
        "newsletter": True, "name": "Pat"})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["notes"] == "call first" and body["customer_number"] == "K-9"
    assert body["groups"] == ["VIP", "Wholesale"] and body["newsletter"] is True
    r = admin.patch(f"/customers/{cid}", json={"customer_number": None, "groups": []})
    assert r.get_json()["customer_number"] is None and r.get_json()["groups"] == []


def test_patch_taken_number_is_409_and_changes_nothing(admin, app):
    add_customer(app, "a@example.com", customer_number="N1")
    cid = add_customer(app, "b@example.com")
    r = admin.patch(f"/customers/{cid}", json={"customer_number": "N1", "notes": "x"})
    problem(r, 409, "conflict")
    assert admin.get(f"/customers/{cid}").get_json()["notes"] is None


def test_patch_invalid_is_422(admin, app):
    cid = add_customer(app, "b@example.com")
    # (the owner may set `email` since §5a; a broken one is still 422)
    for payload in ({"status": "gone"}, {"email": "not-an-address"}, {"notes": 5},
                    {"groups": ["Nope"]}):
        problem(admin.patch(f"/customers/{cid}", json=payload), 422, "invalid_request")


def test_block_ends_sessions_at_once_and_unblock(admin, client, mailbox):
    signed = sign_in(client, mailbox, "blk@example.com")
    token, cid = signed["session_token"], signed["customer"]["id"]
    r = admin.patch(f"/customers/{cid}", json={"status": "blocked"})
    assert r.status_code == 200 and r.get_json()["status"] == "blocked"
    problem(client.post("/api/v1/auth/logout", headers=bearer(token)), 401, "unauthorized")
    # A blocked customer gets no new link either.
    before = len(mailbox.messages)
    assert client.post("/api/v1/auth/login-link", json={"email": "blk@example.com"}
                       ).status_code == 202
    assert len(mailbox.messages) == before
    assert admin.patch(f"/customers/{cid}", json={"status": "active"}).status_code == 200
    sign_in(client, mailbox, "blk@example.com")


def test_delete_customer_keeps_orders_without_personal_data(admin, app, mailbox, client):
    signed = sign_in(client, mailbox, "del@example.com")
    cid = signed["customer"]["id"]
    add_order(app, cid, "O-1")
    r = admin.delete(f"/customers/{cid}")
    assert r.status_code == 204 and r.data == b""
    problem(admin.get(f"/customers/{cid}"), 404, "customer_not_found")
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Order

        o = db.session.query(Order).one()
        assert o.customer_id is None and o.customer_info is None
        assert o.billing_address is None and o.shipping_address is None
    problem(client.post("/api/v1/auth/logout", headers=bearer(signed["session_token"])),
            401, "unauthorized")
    note = mailbox.wait_for("owner@shop.test")[-1]
    assert "del@example.com" in note.text


def test_customer_orders_paginated(admin, app):
    import datetime as dt

    cid = add_customer(app, "o@example.com")
    other = add_customer(app, "x@example.com")
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(5):
        add_order(app, cid, f"O-{i}", placed_at=base + dt.timedelta(days=i))
    add_order(app, other, "X-1")
    r = admin.get(f"/customers/{cid}/orders?limit=3")
    body = r.get_json()
    assert [o["order_id"] for o in body["orders"]] == ["O-4", "O-3", "O-2"]
    assert body["orders"][0]["total"] == "10.00" and body["next_cursor"]
    r2 = admin.get(f"/customers/{cid}/orders?limit=3&cursor={body['next_cursor']}")
    assert [o["order_id"] for o in r2.get_json()["orders"]] == ["O-1", "O-0"]
    assert r2.get_json()["next_cursor"] is None
