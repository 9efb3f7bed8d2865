"""CONTRACT §6 (WordPress SSO) and §7 (admin), line by line: paths, statuses, shapes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from freezegun import freeze_time

from tests.api.admin_support import Admin, P, add_customer, add_order, make_key, problem
from tests.helpers import ORIGIN, sign_in, sign_webhook, signed_post

SECRET = "whsec_" + base64.b64encode(b"contract-review-sso-secret-32byt").decode()
LOGIN = "/api/v1/sso/wordpress/login"
LOGOUT = "/api/v1/sso/wordpress/logout"
CUSTOMER_FIELDS = {"id", "email", "name", "company", "phone", "customer_number", "newsletter",
                   "has_account", "status", "groups", "notes", "order_count", "totals",
                   "last_order_at", "created_at", "updated_at"}
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(wordpress_sso_secrets=(SECRET,),
                    allowed_redirect_origins=("https://blog.example.com",))


@pytest.fixture
def admin(app: Any, client: Any) -> Admin:
    return Admin(client, make_key(app))


def _open(client: Any, url: str) -> Any:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


# -- §6 WordPress single sign-on ------------------------------------------------------------

def test_sso_login_answers_login_url_and_expires_in_60(client):
    r = signed_post(client, LOGIN, {"email": "Wp@Example.com", "name": "Wp User",
                                    "wp_user_id": 12, "next": "/account/orders"}, SECRET)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.get_json()
    assert set(body) == {"login_url", "expires_in"} and body["expires_in"] == 60
    assert body["login_url"].startswith("http://localhost/")


def test_sso_ticket_creates_account_starts_session_and_follows_next(client, admin):
    r = signed_post(client, LOGIN, {"email": "Wp@Example.com", "name": "Wp User",
                                    "wp_user_id": 12, "next": "https://blog.example.com/x"},
                    SECRET)
    done = _open(client, r.get_json()["login_url"])
    assert done.status_code in (302, 303) and done.headers["Location"] == \
        "https://blog.example.com/x"
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["email"] == "Wp@Example.com"
    assert me.get_json()["name"] == "Wp User"
    listed = admin.get("/customers?q=wp@example.com").get_json()["customers"]
    assert [(c["has_account"], c["status"]) for c in listed] == [(True, "active")]


def test_sso_ticket_without_next_lands_on_account(client):
    r = signed_post(client, LOGIN, {"email": "w2@example.com", "wp_user_id": "13"}, SECRET)
    done = _open(client, r.get_json()["login_url"])
    assert done.status_code in (302, 303) and done.headers["Location"] == "/account"


def test_sso_ticket_works_once(client):
    url = signed_post(client, LOGIN, {"email": "w3@example.com", "wp_user_id": 14},
                      SECRET).get_json()["login_url"]
    assert _open(client, url).status_code in (302, 303)
    again = _open(client, url)
    assert again.status_code == 410 and b"invalid_ticket" in again.get_data()


def test_sso_ticket_lives_60_seconds(client):
    with freeze_time() as frozen:
        url = signed_post(client, LOGIN, {"email": "w4@example.com", "wp_user_id": 15},
                          SECRET).get_json()["login_url"]
        frozen.tick(61)
        late = _open(client, url)
    assert late.status_code == 410 and b"invalid_ticket" in late.get_data()
    problem(client.get("/api/v1/me"), 401, "unauthorized")


@pytest.mark.parametrize("who", [{"wp_user_id": 16}, {"email": "W5@example.com"}])
def test_sso_logout_is_204_and_ends_sessions(app, who):
    browser = app.test_client()
    url = signed_post(browser, LOGIN, {"email": "w5@example.com", "wp_user_id": 16},
                      SECRET).get_json()["login_url"]
    _open(browser, url)
    assert browser.get("/api/v1/me").status_code == 200
    r = signed_post(app.test_client(), LOGOUT, who, SECRET)
    assert r.status_code == 204 and r.get_data() == b""
    problem(browser.get("/api/v1/me"), 401, "unauthorized")


@pytest.mark.parametrize("path", [LOGIN, LOGOUT])
def test_sso_unsigned_is_401_invalid_signature(client, path):
    r = client.post(path, json={"email": "a@example.com", "wp_user_id": 1})
    problem(r, 401, "invalid_signature")


@pytest.mark.parametrize("path", [LOGIN, LOGOUT])
def test_sso_stale_timestamp_is_401(client, path):
    r = signed_post(client, path, {"email": "a@example.com", "wp_user_id": 1}, SECRET,
                    timestamp=int(time.time()) - 301)
    problem(r, 401, "stale_timestamp")


def test_sso_replayed_id_answers_the_first_answer(client):
    body = json.dumps({"email": "a@example.com", "wp_user_id": 1}).encode()
    headers = sign_webhook(SECRET, body, msg_id="msg_contract_replay")
    first = client.post(LOGIN, data=body, headers=headers)
    second = client.post(LOGIN, data=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()


def test_sso_logout_and_login_ids_do_not_collide(client):
    # One webhook-id namespace per endpoint: a logout is never answered with a ticket.
    login_body = json.dumps({"email": "c@example.com", "wp_user_id": 2}).encode()
    logout_body = json.dumps({"wp_user_id": 2}).encode()
    assert client.post(LOGIN, data=login_body,
                       headers=sign_webhook(SECRET, login_body, msg_id="msg_same")
                       ).status_code == 200
    r = client.post(LOGOUT, data=logout_body,
                    headers=sign_webhook(SECRET, logout_body, msg_id="msg_same"))
    assert r.status_code == 204 and r.get_data() == b""


# -- §7 admin: authentication ---------------------------------------------------------------

ADMIN_CALLS = [
    ("get", "/customers"), ("post", "/customers"), ("get", "/customers/1"),
    ("patch", "/customers/1"), ("delete", "/customers/1"), ("get", "/customers/1/orders"),
    ("get", "/customers/export?format=csv"), ("post", "/customers/import"),
    ("get", "/groups"), ("post", "/groups"), ("patch", "/groups/1"), ("delete", "/groups/1"),
    ("get", "/settings"), ("patch", "/settings"),
    ("get", "/checkout-eligibility?email=a@example.com"),
]


@pytest.mark.parametrize("method,path", ADMIN_CALLS)
@pytest.mark.parametrize("auth", [None, "Bearer lsk_wrong", "Token abc"])
def test_admin_missing_or_wrong_key_is_401_unauthorized(client, method, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = getattr(client, method)(P + path, headers=headers, json={})
    problem(r, 401, "unauthorized")


# -- §7 customers -----------------------------------------------------------------------------

def test_create_customer_is_201_with_the_admin_object(admin):
    r = admin.post("/customers", json={"email": "New@Example.com", "name": "N",
                                       "company": "Co", "phone": "+34 600",
                                       "customer_number": "C-1", "newsletter": True,
                                       "notes": "vip"})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) >= CUSTOMER_FIELDS and isinstance(body["id"], int)
    assert (body["email"], body["customer_number"], body["notes"]) == \
        ("New@Example.com", "C-1", "vip")
    assert body["groups"] == [] and body["totals"] == [] and body["order_count"] == 0
    got = admin.get(f"/customers/{body['id']}")
    assert got.status_code == 200 and got.get_json() == body


def test_create_with_send_invite_mails_a_login_link(admin, mailbox):
    r = admin.post("/customers", json={"email": "inv@example.com", "send_invite": True})
    assert r.status_code == 201
    assert "/login/verify?token=" in mailbox.wait_for("inv@example.com")[0].link


def test_customer_list_shape_and_object_fields(admin, app):
    add_customer(app, "a@example.com", name="A", has_account=True)
    r = admin.get("/customers")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"customers", "next_cursor"} and body["next_cursor"] is None
    assert set(body["customers"][0]) >= CUSTOMER_FIELDS


def test_patch_customer_fields(admin, app):
    cid = add_customer(app, "p@example.com", has_account=True)
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    r = admin.patch(f"/customers/{cid}", json={
        "notes": "n", "customer_number": "K-9", "groups": ["VIP"], "newsletter": True,
        "status": "pending"})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["notes"], body["customer_number"], body["newsletter"], body["status"]) == \
        ("n", "K-9", True, "pending")
    assert [g if isinstance(g, str) else g.get("name") for g in body["groups"]] == ["VIP"]
    assert admin.get(f"/customers?group={gid}").get_json()["customers"][0]["id"] == cid


@pytest.mark.parametrize("status", ["deleted", "ACTIVE", ""])
def test_patch_unknown_status_is_422(admin, app, status):
    cid = add_customer(app, "s@example.com", has_account=True)
    body = problem(admin.patch(f"/customers/{cid}", json={"status": status}), 422,
                   "invalid_request")
    assert body["errors"][0]["field"] == "status"
    assert admin.get(f"/customers/{cid}").get_json()["status"] == "active"


def test_delete_customer_is_204_then_404(admin, app):
    cid = add_customer(app, "d@example.com", has_account=True)
    r = admin.delete(f"/customers/{cid}")
    assert r.status_code == 204 and r.get_data() == b""
    body = problem(admin.get(f"/customers/{cid}"), 404, "customer_not_found")
    assert body["status"] == 404


def test_customer_orders_list_shape(admin, app):
    cid = add_customer(app, "o@example.com", has_account=True)
    add_order(app, cid, "O-1")
    r = admin.get(f"/customers/{cid}/orders")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"orders", "next_cursor"} and body["orders"][0]["order_id"] == "O-1"


@pytest.mark.parametrize("fmt,ctype", [("csv", "text/csv"), ("json", "application/json")])
def test_export_formats(admin, app, fmt, ctype):
    add_customer(app, "e@example.com", name="E", has_account=True)
    r = admin.get(f"/customers/export?format={fmt}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype)
    assert "e@example.com" in r.get_data(as_text=True)


def test_export_unknown_format_is_422(admin):
    body = problem(admin.get("/customers/export?format=xml"), 422, "invalid_request")
    assert body["errors"][0]["field"] == "format"


REPORT_KEYS = {"dry_run", "created", "updated", "skipped", "rows"}


@pytest.mark.parametrize("dry", [True, False])
def test_import_csv_report_shape(admin, app, dry):
    add_customer(app, "old@example.com", has_account=True)
    csv = "email,name\r\nold@example.com,Old\r\nnew@example.com,New\r\nnot-an-address,X\r\n"
    r = admin.post(f"/customers/import?dry_run={'true' if dry else 'false'}", data=csv,
                   headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == REPORT_KEYS and body["dry_run"] is dry
    assert (body["created"], body["updated"], body["skipped"]) == (1, 1, 1)
    assert [set(row) for row in body["rows"]] == [{"row", "email", "status", "reason"}] * 3
    assert [row["status"] for row in body["rows"]] == ["updated", "created", "skipped"]
    assert body["rows"][2]["reason"]
    listed = admin.get("/customers?q=new@example.com").get_json()["customers"]
    assert len(listed) == (0 if dry else 1)


def test_import_json_report_shape(admin):
    r = admin.post("/customers/import", json=[{"email": "j@example.com", "name": "J"}])
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == REPORT_KEYS and body["dry_run"] is False and body["created"] == 1
    assert body["rows"] == [{"row": 1, "email": "j@example.com", "status": "created",
                             "reason": None}]


# -- §7 filters and sorts -------------------------------------------------------------------

@pytest.fixture
def shop(app: Any) -> dict[str, int]:
    return {
        "ana": add_customer(app, "ana@example.com", name="Ana", company="Acme",
                            customer_number="N-1", has_account=True, newsletter=True,
                            billing_address={"country": "ES"}),
        "bob": add_customer(app, "bob@example.com", name="Bob", has_account=False,
                            status="blocked", billing_address={"country": "FR"}),
    }


@pytest.mark.parametrize("qs,expected", [
    ("q=ANA@example", ["ana"]), ("q=acme", ["ana"]), ("q=n-1", ["ana"]), ("q=bob", ["bob"]),
    ("country=es", ["ana"]), ("country=FR", ["bob"]), ("newsletter=true", ["ana"]),
    ("newsletter=false", ["bob"]), ("has_account=false", ["bob"]), ("status=blocked", ["bob"]),
    ("status=active", ["ana"]),
])
def test_filters(admin, shop, qs, expected):
    r = admin.get(f"/customers?{qs}")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [c["id"] for c in r.get_json()["customers"]] == [shop[k] for k in expected]


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "total_spent", "-total_spent",
                                  "order_count", "-order_count", "name"])
def test_every_contract_sort_is_accepted(admin, shop, sort):
    r = admin.get(f"/customers?sort={sort}")
    assert r.status_code == 200 and len(r.get_json()["customers"]) == 2


@pytest.mark.parametrize("qs,field", [("sort=-name", "sort"), ("status=deleted", "status"),
                                      ("limit=101", "limit"), ("colour=red", "colour")])
def test_unknown_filter_values_are_422(admin, qs, field):
    body = problem(admin.get(f"/customers?{qs}"), 422, "invalid_request")
    assert body["errors"][0]["field"] == field


# -- §7 groups, settings, checkout gate ---------------------------------------------------

def test_groups_crud_shapes(admin):
    r = admin.post("/groups", json={"name": "Wholesale"})
    assert r.status_code == 201 and isinstance(r.get_json()["id"], int)
    gid = r.get_json()["id"]
    assert r.get_json()["name"] == "Wholesale"
    listed = admin.get("/groups").get_json()
    assert set(listed) == {"groups", "next_cursor"} and listed["groups"][0]["id"] == gid
    r = admin.patch(f"/groups/{gid}", json={"name": "Trade"})
    assert r.status_code == 200 and r.get_json()["name"] == "Trade"
    r = admin.delete(f"/groups/{gid}")
    assert r.status_code == 204 and r.get_data() == b""
    problem(admin.patch(f"/groups/{gid}", json={"name": "X"}), 404, "group_not_found")


@pytest.mark.parametrize("mode", ["disabled", "optional", "required"])
def test_settings_account_mode_values(admin, mode):
    r = admin.patch("/settings", json={"account_mode": mode})
    assert r.status_code == 200 and r.get_json()["account_mode"] == mode
    assert admin.get("/settings").get_json()["account_mode"] == mode


@pytest.mark.parametrize("mode", ["closed", "Optional", 1, None])
def test_settings_unknown_mode_is_422_and_changes_nothing(admin, mode):
    before = admin.get("/settings").get_json()
    body = problem(admin.patch("/settings", json={"account_mode": mode}), 422,
                   "invalid_request")
    assert body["errors"][0]["field"] == "account_mode"
    assert admin.get("/settings").get_json() == before


def test_checkout_eligibility_shape(admin, app, client, mailbox):
    r = admin.get("/checkout-eligibility?email=anyone@example.com")
    assert r.status_code == 200 and r.get_json() == {"allowed": True, "reason": None}
    sign_in(client, mailbox, "buyer@example.com")
    assert client.post("/api/v1/auth/logout", headers=ORIGIN).status_code == 204
    admin.patch("/settings", json={"account_mode": "required"})
    r = admin.get("/checkout-eligibility?email=BUYER@example.com")
    assert r.status_code == 200 and r.get_json() == {"allowed": True, "reason": None}
    r = admin.get("/checkout-eligibility?email=stranger@example.com")
    assert r.status_code == 200 and r.get_json()["allowed"] is False
    assert set(r.get_json()) == {"allowed", "reason"} and r.get_json()["reason"]


def test_checkout_eligibility_needs_an_address(admin):
    body = problem(admin.get("/checkout-eligibility"), 422, "invalid_request")
    assert body["errors"][0]["field"] == "email"
