"""An import applies completely or not at all, and always answers with its report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.admin_support import admin_fixture, problem  # noqa: F401
from tests.conftest import count_rows

CSV = {"Content-Type": "text/csv"}


def csv_import(admin: Any, last: str, *, rows: int = 1500, dry_run: bool = False) -> Any:
    lines = ["email,name"] + [f"u{i}@example.com,User {i}" for i in range(rows - 1)] + [last]
    qs = "?dry_run=true" if dry_run else ""
    return admin.post(f"/customers/import{qs}", data="\n".join(lines).encode(), headers=CSV)


@pytest.fixture
def refuse_email(app: Any, backend: str) -> Iterator[Any]:
    """A real database trigger that refuses one address (as a constraint added later would)."""
    created: list[str] = []

    def install(email: str, *, outage: bool = False) -> None:
        with app.app_context():
            from loginsvc.core.extensions import db

            if backend == "postgresql":
                code = "admin_shutdown" if outage else "raise_exception"
                db.session.execute(text(
                    "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.email = '{email}' THEN RAISE EXCEPTION 'refused by the test trigger' "
                    f"USING ERRCODE = '{code}'; END IF; RETURN NEW; END $$"))
                db.session.execute(text(
                    "CREATE TRIGGER refuse_row BEFORE INSERT ON customers "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_row()"))
            else:
                db.session.execute(text(
                    f"CREATE TRIGGER refuse_row BEFORE INSERT ON customers WHEN NEW.email = "
                    f"'{email}' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"))
            db.session.commit()
            created.append(backend)

    yield install
    if created:
        with app.app_context():
            from loginsvc.core.extensions import db

            db.session.execute(text("DROP TRIGGER IF EXISTS refuse_row"
                                    + (" ON customers" if backend == "postgresql" else "")))
            if backend == "postgresql":
                db.session.execute(text("DROP FUNCTION IF EXISTS refuse_row()"))
            db.session.commit()


def test_a_nul_in_the_last_of_1500_rows_skips_that_row_only(admin, app):
    r = csv_import(admin, "last@example.com,na\x00me")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["created"], body["updated"], body["skipped"]) == (1499, 0, 1)
    assert body["rows"][-1] == {"row": 1500, "email": "last@example.com", "status": "skipped",
                                "reason": "name: Value error, Control characters are not allowed."}
    assert count_rows(app, "customers") == 1499


def test_a_row_the_database_refuses_is_reported_and_the_rest_applies(admin, app, refuse_email):
    refuse_email("last@example.com")
    r = csv_import(admin, "last@example.com,Last")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["created"], body["skipped"]) == (1499, 1)
    last = body["rows"][-1]
    assert last["status"] == "skipped"
    assert last["reason"].startswith("the database refused this row")
    assert "refused by the test trigger" in last["reason"]
    assert count_rows(app, "customers") == 1499


def test_an_outage_in_the_last_batch_leaves_nothing_behind(admin, app, refuse_email, backend):
    if backend != "postgresql":
        pytest.skip("a SQLite trigger cannot raise an operational (outage) error")
    refuse_email("last@example.com", outage=True)
    r = csv_import(admin, "last@example.com,Last")
    problem(r, 503, "service_unavailable")
    assert count_rows(app, "customers") == 0  # not the first 1,000


def test_csv_addresses_column_is_refused_by_name(admin, app):
    data = 'email,addresses\na@example.com,"{""billing"": {""city"": ""Lyon""}}"\n'
    body = problem(admin.post("/customers/import", data=data.encode(), headers=CSV), 422,
                   "invalid_request")
    assert body["errors"] == [{"field": "header", "message": "unknown column 'addresses' "
                               "(use billing_address and shipping_address)"}]
    data = 'email,billing_address\na@example.com,"{""city"": ""Lyon""}"\n'
    r = admin.post("/customers/import", data=data.encode(), headers=CSV)
    assert r.status_code == 200 and r.get_json()["created"] == 1
    c = admin.get("/customers?q=a@").get_json()["customers"][0]
    assert c["addresses"]["billing"] == {"city": "Lyon"}
    assert count_rows(app, "customers") == 1


def test_csv_unknown_columns_are_all_named_and_nothing_is_imported(admin, app):
    data = "email,colour,name,size\na@example.com,red,A,M\n"
    body = problem(admin.post("/customers/import", data=data.encode(), headers=CSV), 422,
                   "invalid_request")
    assert [e["message"] for e in body["errors"]] == ["unknown column 'colour'",
                                                      "unknown column 'size'"]
    assert count_rows(app, "customers") == 0


def test_control_characters_are_refused_per_row(admin, app):
    data = ('email,name,notes,billing_address\n'
            'a@example.com,"Ana\r\nBcc: x@evil.example",,\n'
            'b@example.com,B,"two\nlines\tand a tab",\n'
            'c@example.com,C,,"{""city"": ""Ly\\non""}"\n')
    r = admin.post("/customers/import", data=data.encode(), headers=CSV)
    assert r.status_code == 200, r.get_data(as_text=True)
    rows = r.get_json()["rows"]
    assert [x["status"] for x in rows] == ["skipped", "created", "skipped"]
    assert rows[0]["reason"].startswith("name:") and "Control characters" in rows[0]["reason"]
    assert rows[2]["reason"].startswith("addresses.billing.city:")
