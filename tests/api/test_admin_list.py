"""CONTRACT §7 customer list: q, filters, sorts, keyset pagination, and the admin key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.api.admin_support import Admin, add_customer, admin_fixture, make_key, problem  # noqa: F401

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def shop(app, admin):
    """Six customers, guests and accounts, with aggregates and groups."""
    admin.post("/groups", json={"name": "VIP"})
    rows = [
        ("zoe@example.com", "Zoë Müller", "Café GmbH", "DE", True, True, 3, "120.00", "Z-1"),
        ("ana@example.com", "Ana Ruiz", None, "ES", False, True, 1, "10.00", None),
        ("bob@example.com", None, "Bob_Corp", "ES", False, False, 0, "0", None),
        ("chloe@example.com", "Chloé Martin", None, "FR", True, False, 5, "300.00", "100%"),
        ("dan@example.com", "Dan", None, None, False, True, 2, "50.00", None),
        ("eve@example.com", "Éve", None, "DE", False, True, 3, "120.00", None),
    ]
    ids = {}
    for i, (email, name, company, country, news, acct, n, spent, number) in enumerate(rows):
        addr = {"city": "X", "country": country} if country else None
        ids[email] = add_customer(
            app, email, name=name, company=company, newsletter=news, has_account=acct,
            order_count=n, total_spent=Decimal(spent), totals={"EUR": spent} if n else {},
            customer_number=number, billing_address=addr, created_at=T0 + dt.timedelta(days=i))
    vip = admin.get("/groups").get_json()["groups"][0]["id"]
    admin.post(f"/groups/{vip}/members", json={"customer_ids": [ids["zoe@example.com"],
                                                                ids["dan@example.com"]]})
    return ids


def emails(r):
    assert r.status_code == 200, r.get_data(as_text=True)
    return [c["email"].split("@")[0] for c in r.get_json()["customers"]]


def test_default_is_newest_first_with_admin_objects(admin, shop):
    r = admin.get("/customers")
    assert emails(r) == ["eve", "dan", "chloe", "bob", "ana", "zoe"]
    body = r.get_json()
    assert body["next_cursor"] is None
    zoe = body["customers"][-1]
    assert zoe["groups"] == ["VIP"] and zoe["totals"] == [{"currency": "EUR", "amount": "120.00"}]
    assert zoe["has_account"] is True and zoe["order_count"] == 3


@pytest.mark.parametrize("q,expected", [
    ("zoe", ["zoe"]),             # accent-insensitive: Zoë
    ("MULLER", ["zoe"]),          # case- and accent-insensitive: Müller
    ("cafe", ["zoe"]),            # company
    ("z-1", ["zoe"]),             # customer number
    ("chloé", ["chloe"]),
    ("100%", ["chloe"]),          # % is literal, not a wildcard
    ("bo_", []),                  # _ is literal: nothing holds "bo_"
    ("bob_c", ["bob"]),
    ("example.com", ["eve", "dan", "chloe", "bob", "ana", "zoe"]),
    ("nobody", []),
])
def test_q_searches_email_name_company_number(admin, shop, q, expected):
    assert emails(admin.get("/customers", query_string={"q": q})) == expected


@pytest.mark.parametrize("qs,expected", [
    ({"country": "es"}, ["bob", "ana"]),
    ({"newsletter": "true"}, ["chloe", "zoe"]),
    ({"has_account": "false"}, ["chloe", "bob"]),
    ({"group": "VIP"}, ["dan", "zoe"]),
    ({"group": "Nope"}, []),
    ({"status": "blocked"}, []),
    ({"q": "e", "country": "DE"}, ["eve", "zoe"]),
])
def test_filters(admin, shop, qs, expected):
    assert emails(admin.get("/customers", query_string=qs)) == expected


def test_group_filter_by_id(admin, shop):
    vip = admin.get("/groups").get_json()["groups"][0]["id"]
    assert emails(admin.get(f"/customers?group={vip}")) == ["dan", "zoe"]


def test_status_filter(admin, app, shop):
    admin.patch(f"/customers/{shop['ana@example.com']}", json={"status": "blocked"})
    assert emails(admin.get("/customers?status=blocked")) == ["ana"]


@pytest.mark.parametrize("sort,expected", [
    ("created_at", ["zoe", "ana", "bob", "chloe", "dan", "eve"]),
    ("-total_spent", ["chloe", "eve", "zoe", "dan", "ana", "bob"]),
    ("total_spent", ["bob", "ana", "dan", "zoe", "eve", "chloe"]),
    ("-order_count", ["chloe", "eve", "zoe", "dan", "ana", "bob"]),
    ("order_count", ["bob", "ana", "dan", "zoe", "eve", "chloe"]),
    ("name", ["ana", "chloe", "dan", "zoe", "eve", "bob"]),
])
def test_sorts_paginate_consistently(admin, shop, sort, expected):
    seen, cursor = [], None
    for _ in range(10):
        qs = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = admin.get("/customers", query_string=qs)
        seen += emails(r)
        cursor = r.get_json()["next_cursor"]
        if cursor is None:
            break
    if sort == "name":
        # Byte order puts "Zoë" before "Éve" on SQLite, collations may not: nameless last.
        assert seen[:3] == expected[:3] and set(seen[3:5]) == {"zoe", "eve"}
        assert seen[-1] == "bob"
    else:
        assert seen == expected


@pytest.mark.parametrize("qs,field", [
    ({"sort": "email"}, "sort"), ({"status": "gone"}, "status"), ({"country": "ESP"}, "country"),
    ({"newsletter": "maybe"}, "newsletter"), ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"), ({"colour": "red"}, "colour"), ({"cursor": "%%%"}, "cursor"),
    ({"q": "x" * 201}, "q"),
])
def test_bad_query_is_422(admin, shop, qs, field):
    body = problem(admin.get("/customers", query_string=qs), 422, "invalid_request")
    assert body["errors"][0]["field"] == field


def test_cursor_of_another_sort_is_422(admin, shop):
    cursor = admin.get("/customers?limit=2").get_json()["next_cursor"]
    body = problem(admin.get(f"/customers?sort=name&cursor={cursor}"), 422, "invalid_request")
    assert body["errors"][0]["field"] == "cursor"


# -- the admin key --------------------------------------------------------------------

def test_missing_or_wrong_key_is_401(client, app):
    problem(client.get("/api/v1/admin/customers"), 401, "unauthorized")
    r = client.get("/api/v1/admin/customers", headers={"Authorization": "Bearer lsk_nope"})
    problem(r, 401, "unauthorized")
    r = client.get("/api/v1/admin/customers", headers={"Authorization": "Basic abc"})
    problem(r, 401, "unauthorized")


def test_revoked_key_is_401_at_once(app, client):
    key = make_key(app, "temp")
    a = Admin(client, key)
    assert a.get("/customers").status_code == 200
    with app.app_context():
        from loginsvc.admin.api_keys import revoke_api_key

        assert revoke_api_key(name="temp")
    problem(a.get("/customers"), 401, "unauthorized")


def test_read_key_reads_but_cannot_write(app, client):
    a = Admin(client, make_key(app, "reader", scope="read"))
    assert a.get("/customers").status_code == 200
    assert a.get("/settings").status_code == 200
    problem(a.post("/customers", json={"email": "x@example.com"}), 403, "forbidden")
    problem(a.patch("/settings", json={"account_mode": "disabled"}), 403, "forbidden")
    problem(a.post("/groups", json={"name": "X"}), 403, "forbidden")
    assert a.get("/settings").get_json()["account_mode"] == "optional"


def test_last_use_recorded_at_most_once_a_minute(app, client):
    from freezegun import freeze_time

    a = Admin(client, make_key(app, "timed"))

    def last_used():
        with app.app_context():
            from loginsvc.core.extensions import db
            from loginsvc.core.models import ApiKey

            return db.session.query(ApiKey).filter_by(name="timed").one().last_used_at

    assert last_used() is None
    with freeze_time("2026-11-22 10:00:00"):
        a.get("/settings")
    first = last_used()
    assert first == dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
    with freeze_time("2026-11-22 10:00:30"):
        a.get("/settings")
    assert last_used() == first
    with freeze_time("2026-11-22 10:01:30"):
        a.get("/settings")
    assert last_used() == dt.datetime(2026, 11, 22, 10, 1, 30, tzinfo=dt.UTC)
