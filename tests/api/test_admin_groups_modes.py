"""CONTRACT §7 groups, settings and the account modes end to end (login, webhook, verify,
checkout eligibility)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.admin_support import Admin, add_customer, make_key, problem
from tests.conftest import count_rows
from tests.helpers import bearer, sign_in, signed_post

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def shop_app(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.fixture
def client(shop_app: Any) -> Any:
    return shop_app.test_client()


@pytest.fixture
def admin(shop_app: Any, client: Any) -> Admin:
    return Admin(client, make_key(shop_app))


# -- groups ---------------------------------------------------------------------------

def test_group_crud_and_bulk_members(admin, shop_app):
    r = admin.post("/groups", json={"name": "VIP"})
    assert r.status_code == 201
    vip = r.get_json()
    assert vip["id"] > 0 and vip["name"] == "VIP" and vip["member_count"] == 0
    wholesale = admin.post("/groups", json={"name": "Wholesale"}).get_json()
    ids = [add_customer(shop_app, f"c{i}@example.com") for i in range(3)]
    r = admin.post(f"/groups/{vip['id']}/members", json={"customer_ids": ids})
    assert r.status_code == 200 and r.get_json()["added"] == 3
    assert r.get_json()["group"]["member_count"] == 3
    again = admin.post(f"/groups/{vip['id']}/members", json={"customer_ids": ids[:1]})
    assert again.get_json()["added"] == 0  # idempotent
    admin.post(f"/groups/{wholesale['id']}/members", json={"customer_ids": ids[:1]})
    r = admin.delete(f"/groups/{vip['id']}/members", json={"customer_ids": [ids[2]]})
    assert r.status_code == 200 and r.get_json()["removed"] == 1
    r = admin.patch(f"/groups/{vip['id']}", json={"name": "Gold"})
    assert r.status_code == 200 and r.get_json()["name"] == "Gold"
    assert admin.get(f"/customers/{ids[0]}").get_json()["groups"] == ["Gold", "Wholesale"]
    listed = admin.get("/groups").get_json()
    assert [(g["name"], g["member_count"]) for g in listed["groups"]] == [("Gold", 2),
                                                                         ("Wholesale", 1)]
    assert listed["next_cursor"] is None
    assert admin.delete(f"/groups/{vip['id']}").status_code == 204
    assert admin.get(f"/customers/{ids[0]}").get_json()["groups"] == ["Wholesale"]
    assert count_rows(shop_app, "customers") == 3


def test_group_name_taken_is_409(admin):
    admin.post("/groups", json={"name": "VIP"})
    problem(admin.post("/groups", json={"name": "VIP"}), 409, "conflict")
    other = admin.post("/groups", json={"name": "B"}).get_json()
    problem(admin.patch(f"/groups/{other['id']}", json={"name": "VIP"}), 409, "conflict")


def test_groups_paginate(admin):
    for name in ("c", "a", "b"):
        admin.post("/groups", json={"name": name})
    first = admin.get("/groups?limit=2").get_json()
    assert [g["name"] for g in first["groups"]] == ["a", "b"]
    rest = admin.get(f"/groups?limit=2&cursor={first['next_cursor']}").get_json()
    assert [g["name"] for g in rest["groups"]] == ["c"] and rest["next_cursor"] is None


def test_group_failures(admin, shop_app):
    problem(admin.patch("/groups/9999", json={"name": "x"}), 404, "group_not_found")
    problem(admin.delete("/groups/9999"), 404, "group_not_found")
    problem(admin.post("/groups/9999/members", json={"customer_ids": [1]}), 404,
            "group_not_found")
    for payload in ({}, {"name": ""}, {"name": "a;b"}, {"name": "x" * 101}, {"name": 3}):
        problem(admin.post("/groups", json=payload), 422, "invalid_request")
    g = admin.post("/groups", json={"name": "G"}).get_json()
    cid = add_customer(shop_app, "a@example.com")
    body = problem(admin.post(f"/groups/{g['id']}/members", json={"customer_ids": [cid, 777]}),
                   422, "invalid_request")
    assert "777" in body["errors"][0]["message"]
    assert admin.get("/groups").get_json()["groups"][0]["member_count"] == 0  # nothing added
    for payload in ({"customer_ids": []}, {"customer_ids": ["1"]},
                    {"customer_ids": list(range(1, 1002))}):
        problem(admin.post(f"/groups/{g['id']}/members", json=payload), 422, "invalid_request")


def test_groups_show_in_me(admin, client, mailbox):
    signed = sign_in(client, mailbox, "m@example.com")
    g = admin.post("/groups", json={"name": "Members"}).get_json()
    admin.post(f"/groups/{g['id']}/members", json={"customer_ids": [signed["customer"]["id"]]})
    me = client.get("/api/v1/me", headers=bearer(signed["session_token"]))
    assert me.status_code == 200 and me.get_json()["groups"] == ["Members"]


# -- settings and modes ---------------------------------------------------------------

def test_settings_get_and_patch(admin):
    assert admin.get("/settings").get_json()["account_mode"] == "optional"
    r = admin.patch("/settings", json={"account_mode": "required"})
    assert r.status_code == 200 and r.get_json()["account_mode"] == "required"
    assert admin.get("/settings").get_json()["account_mode"] == "required"
    for payload in ({"account_mode": "sometimes"}, {"account_mode": 1}, {"theme": "dark"}):
        problem(admin.patch("/settings", json=payload), 422, "invalid_request")
    assert admin.get("/settings").get_json()["account_mode"] == "required"


def eligible(admin: Admin, email: str) -> dict[str, Any]:
    r = admin.get("/checkout-eligibility", query_string={"email": email})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def order_for(email: str, order_id: str) -> dict[str, Any]:
    return {"type": "order.placed", "data": {
        "order_id": order_id, "email": email, "placed_at": "2026-11-22T10:00:00Z",
        "status": "paid", "currency": "EUR", "total": "5.00", "items": []}}


def test_mode_disabled_end_to_end(admin, client, mailbox, shop_app):
    admin.patch("/settings", json={"account_mode": "disabled"})
    problem(client.post("/api/v1/auth/login-link", json={"email": "d@example.com"}), 403,
            "accounts_disabled")
    r = signed_post(client, "/api/v1/webhooks/orders", order_for("d@example.com", "D1"), SECRET)
    assert r.status_code == 201 and r.get_json()["account_created"] is False
    listed = admin.get("/customers?q=d@example.com").get_json()["customers"]
    assert listed[0]["has_account"] is False and listed[0]["order_count"] == 1
    assert eligible(admin, "d@example.com") == {"allowed": True, "reason": None}
    assert eligible(admin, "new@example.com") == {"allowed": True, "reason": None}


def test_mode_optional_allows_everyone_but_blocked(admin, shop_app):
    add_customer(shop_app, "b@example.com", status="blocked")
    assert eligible(admin, "x@example.com") == {"allowed": True, "reason": None}
    assert eligible(admin, " B@Example.com ") == {"allowed": False, "reason": "blocked"}


def test_mode_required_pending_then_approved(admin, client, mailbox, shop_app):
    admin.patch("/settings", json={"account_mode": "required"})
    assert eligible(admin, "r@example.com") == {"allowed": False, "reason": "account_required"}
    r = client.post("/api/v1/auth/login-link", json={"email": "r@example.com"})
    assert r.status_code == 202
    token = mailbox.wait_for("r@example.com")[-1].token
    problem(client.post("/api/v1/auth/verify", json={"token": token}), 403, "account_pending")
    note = mailbox.wait_for("owner@shop.test")[-1]
    assert "r@example.com" in note.text
    assert eligible(admin, "r@example.com") == {"allowed": False, "reason": "pending"}
    pending = admin.get("/customers?status=pending").get_json()["customers"]
    assert [c["email"] for c in pending] == ["r@example.com"]
    r = admin.patch(f"/customers/{pending[0]['id']}", json={"status": "active"})
    assert r.status_code == 200 and r.get_json()["status"] == "active"
    approved = mailbox.wait_for("r@example.com", 2)[-1]  # the approval mail carries a link
    v = client.post("/api/v1/auth/verify", json={"token": approved.token})
    assert v.status_code == 200
    assert eligible(admin, "r@example.com") == {"allowed": True, "reason": None}


def test_mode_required_webhook_guest_is_not_eligible(admin, client, shop_app):
    admin.patch("/settings", json={"account_mode": "required"})
    r = signed_post(client, "/api/v1/webhooks/orders", order_for("w@example.com", "W1"), SECRET)
    assert r.status_code == 201
    c = admin.get("/customers?q=w@example.com").get_json()["customers"][0]
    assert eligible(admin, "w@example.com")["allowed"] is (c["status"] == "active"
                                                           and c["has_account"])


def test_blocked_is_refused_in_every_mode(admin, shop_app):
    add_customer(shop_app, "b@example.com", status="blocked", has_account=True)
    for mode in ("disabled", "optional", "required"):
        admin.patch("/settings", json={"account_mode": mode})
        assert eligible(admin, "b@example.com") == {"allowed": False, "reason": "blocked"}


def test_eligibility_bad_email_is_422(admin):
    for qs in ({"email": "nope"}, {}, {"email": "a@example.com", "x": "1"}):
        problem(admin.get("/checkout-eligibility", query_string=qs), 422, "invalid_request")
