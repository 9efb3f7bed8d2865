"""Group names are unique whatever their case; migration 0004 reports old collisions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.api.admin_support import add_customer, admin_fixture, problem  # noqa: F401
from tests.conftest import PG_ADMIN, count_rows


def test_a_name_differing_only_in_case_is_409(admin):
    assert admin.post("/groups", json={"name": "VIP"}).status_code == 201
    body = problem(admin.post("/groups", json={"name": "vip"}), 409, "conflict")
    assert "'VIP'" in body["detail"]
    problem(admin.post("/groups", json={"name": "ＶＩＰ"}), 409, "conflict")  # full-width
    other = admin.post("/groups", json={"name": "Wholesale"}).get_json()["id"]
    problem(admin.patch(f"/groups/{other}", json={"name": "Vip"}), 409, "conflict")
    vip = next(g for g in admin.get("/groups").get_json()["groups"] if g["name"] == "VIP")
    r = admin.patch(f"/groups/{vip['id']}", json={"name": "Vip"})  # its own name, new case
    assert r.status_code == 200 and r.get_json()["name"] == "Vip"
    assert [g["name"] for g in admin.get("/groups").get_json()["groups"]] == ["Vip", "Wholesale"]


def test_other_ways_in_find_the_group_whatever_the_case(admin, app):
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    cid = add_customer(app, "a@example.com")
    r = admin.patch(f"/customers/{cid}", json={"groups": ["vip", "VIP"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["groups"] == ["VIP"]
    data = "email,groups\nb@example.com,vip\nc@example.com,New;NEW\n"
    r = admin.post("/customers/import", data=data.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.get_json()["created"] == 2, r.get_data(as_text=True)
    assert count_rows(app, "groups") == 2
    names = {g["name"]: g["member_count"] for g in admin.get("/groups").get_json()["groups"]}
    assert names == {"VIP": 2, "New": 1}
    found = admin.get("/customers?group=vIp&sort=name").get_json()["customers"]
    assert [c["email"] for c in found] == ["a@example.com", "b@example.com"]
    assert admin.get(f"/customers?group={gid}").get_json()["customers"] != []


# -- the migration ------------------------------------------------------------------


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    if request.getfixturevalue("pg_url") is None:
        pytest.skip("PostgreSQL is not running")
    name = f"loginsvc_m_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_0004_renames_collisions_and_reports_them(fresh_url, caplog):
    from loginsvc.core.extensions import make_engine
    from loginsvc.core.migrate import upgrade

    upgrade(fresh_url, "0002")
    engine = make_engine(fresh_url)
    now = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        for gid, name in [(1, "VIP"), (2, "Other"), (3, "vip"), (4, "Vip"), (5, "ＶＩＰ")]:
            conn.execute(sa.text("INSERT INTO groups (id, name, created_at, updated_at) "
                                 "VALUES (:i, :n, :t, :t)"), {"i": gid, "n": name, "t": now})
        conn.execute(sa.text(
            "INSERT INTO customers (id, email, email_norm, status, has_account, newsletter, "
            "order_count, total_spent, totals, search_text, created_at, updated_at) VALUES "
            "(1, 'a@example.com', 'a@example.com', 'active', true, false, 0, 0, '{}', '', "
            ":t, :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO customer_groups (customer_id, group_id) VALUES "
                             "(1, 1), (1, 3)"))
    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        upgrade(fresh_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, name FROM groups ORDER BY id")).all())
        members = conn.execute(sa.text(
            "SELECT group_id FROM customer_groups ORDER BY group_id")).scalars().all()
    engine.dispose()
    assert rows == {1: "VIP", 2: "Other", 3: "vip (3)", 4: "Vip (4)", 5: "ＶＩＰ (5)"}
    assert members == [1, 3]
    report = [r.getMessage() for r in caplog.records if "group collision" in r.getMessage()]
    assert len(report) == 3
    assert report[0].startswith("group collision: group 3 'vip' renamed to 'vip (3)'")
    assert "group 1 'VIP'" in report[0]
    engine = make_engine(fresh_url)
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text("INSERT INTO groups (name, name_key, created_at, updated_at) "
                             "VALUES ('OTHER', 'other', :t, :t)"), {"t": now})
    engine.dispose()
