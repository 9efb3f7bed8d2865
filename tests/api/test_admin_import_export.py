"""CONTRACT §7 export (streamed, spreadsheet-safe) and import (CSV/JSON, dry run, report)."""

from __future__ import annotations

import csv
import io
import json

from tests.api.admin_support import add_customer, admin_fixture, problem  # noqa: F401
from tests.conftest import count_rows

CSV = {"Content-Type": "text/csv"}


def imp(admin, body, *, dry_run=False, ctype="text/csv"):
    data = body if isinstance(body, bytes) else body.encode()
    qs = "?dry_run=true" if dry_run else ""
    return admin.post(f"/customers/import{qs}", data=data, headers={"Content-Type": ctype})


def rows_of(r):
    assert r.status_code == 200, r.get_data(as_text=True)
    return [(x["row"], x["status"], x["reason"]) for x in r.get_json()["rows"]]


def test_csv_import_report_and_dry_run_writes_nothing(admin, app, mailbox):
    add_customer(app, "old@example.com", name="Old")
    text = ("email,name,newsletter,groups,customer_number\n"
            "new@example.com,New One,true,VIP;Wholesale,N-1\n"
            "OLD@example.com,Old Renamed,false,,\n"
            "not-an-address,X,true,,\n"
            "new@example.com,Again,true,,\n"
            "x@example.com,Y,maybe,,\n"
            "z@example.com,Z,true,,N-1\n")
    dry = imp(admin, text, dry_run=True)
    assert dry.get_json()["dry_run"] is True
    assert count_rows(app, "customers") == 1 and count_rows(app, "groups") == 0
    real = imp(admin, text)
    body = real.get_json()
    assert body["dry_run"] is False
    assert rows_of(dry) == rows_of(real)
    assert (body["created"], body["updated"], body["skipped"]) == (1, 1, 4)
    report = {r["row"]: r for r in body["rows"]}
    assert report[1] == {"row": 1, "email": "new@example.com", "status": "created",
                         "reason": None}
    assert report[2]["status"] == "updated"
    assert report[3]["status"] == "skipped" and report[3]["reason"].startswith("email:")
    assert "earlier row" in report[4]["reason"]
    assert report[5]["reason"] == "newsletter: expected true or false"
    assert report[6]["reason"] == "customer_number: taken by another customer"
    new = admin.get("/customers?q=new@").get_json()["customers"][0]
    assert new["groups"] == ["VIP", "Wholesale"] and new["newsletter"] is True
    assert new["has_account"] is True and new["customer_number"] == "N-1"
    old = admin.get("/customers?q=old@").get_json()["customers"][0]
    assert old["name"] == "Old Renamed" and old["email"] == "old@example.com"
    assert mailbox.messages == []  # importing sends no mail


def test_json_import(admin, app):
    doc = [{"email": "j@example.com", "name": "J", "customer_number": 42,
            "addresses": {"billing": {"city": "Lyon", "country": "FR"}}},
           {"email": "k@example.com", "colour": "red"}, "nope",
           {"email": "l@example.com", "status": "blocked", "has_account": False}]
    r = imp(admin, json.dumps(doc), ctype="application/json")
    assert rows_of(r) == [(1, "created", None), (2, "skipped", "unknown field 'colour'"),
                          (3, "skipped", "not a JSON object"), (4, "created", None)]
    j = admin.get("/customers?q=j@").get_json()["customers"][0]
    assert j["customer_number"] == "42" and j["country"] == "FR"
    lc = admin.get("/customers?q=l@").get_json()["customers"][0]
    assert lc["status"] == "blocked" and lc["has_account"] is False


def test_import_file_level_failures(admin, app):
    problem(imp(admin, ""), 422, "invalid_request")
    body = problem(imp(admin, "mail,name\na@example.com,A\n"), 422, "invalid_request")
    assert {e["message"] for e in body["errors"]} == {"unknown column 'mail'",
                                                      "an 'email' column is needed"}
    problem(imp(admin, "email,email\na@example.com,b\n"), 422, "invalid_request")
    problem(imp(admin, b"email\n\xff\xfe@example.com\n"), 400, "invalid_request")
    problem(imp(admin, "email\na@example.com\n", ctype="text/plain"), 415,
            "unsupported_media_type")
    problem(imp(admin, "{nope", ctype="application/json"), 400, "invalid_request")
    problem(imp(admin, '{"email": "a@example.com"}', ctype="application/json"), 422,
            "invalid_request")
    problem(admin.post("/customers/import?dry_run=perhaps", data=b"email\n", headers=CSV),
            422, "invalid_request")
    assert count_rows(app, "customers") == 0


def test_import_over_100000_rows_is_refused_whole(admin, app):
    text = "email\n" + "".join(f"u{i}@example.com\n" for i in range(100_001))
    body = problem(imp(admin, text), 422, "invalid_request")
    assert "100000" in body["detail"]
    assert count_rows(app, "customers") == 0


def test_import_body_limit_is_64_mib_on_this_route_only(admin):
    # Over the usual 1 MiB, under 64 MiB (bad addresses, so nothing is written).
    big = "email\n" + "".join(f"not-an-address-number-{i:07d}\n" for i in range(80_000))
    assert len(big) > 2 * 1024 * 1024
    r = imp(admin, big)
    assert r.status_code == 200 and r.get_json()["skipped"] == 80_000
    problem(admin.post("/groups", data=b'{"name":"' + b"x" * (2 * 1024 * 1024) + b'"}',
                       headers={"Content-Type": "application/json"}), 413, "payload_too_large")
    r = admin.post("/customers/import", data=b"x" * (64 * 1024 * 1024 + 1), headers=CSV)
    problem(r, 413, "payload_too_large")


def test_10000_rows_with_deliberate_bad_rows(admin, app):
    lines = ["email,name,newsletter,customer_number"]
    bad = set()
    for i in range(10_000):
        if i % 500 == 7:
            lines.append(f"broken-{i},Bad,true,")
            bad.add(i + 1)
        elif i % 500 == 9:
            lines.append(f"u{i}@example.com,{'n' * 300},true,")
            bad.add(i + 1)
        else:
            lines.append(f"u{i}@example.com,User {i},{'true' if i % 2 else 'false'},K{i}")
    r = imp(admin, "\n".join(lines) + "\n")
    body = r.get_json()
    assert r.status_code == 200
    assert body["skipped"] == len(bad) == 40 and body["created"] == 10_000 - 40
    assert {x["row"] for x in body["rows"] if x["status"] == "skipped"} == bad
    assert count_rows(app, "customers") == 10_000 - 40
    again = imp(admin, "\n".join(lines) + "\n", dry_run=True).get_json()
    assert (again["created"], again["updated"], again["skipped"]) == (0, 9960, 40)


def _export(admin, fmt="csv", **qs):
    r = admin.get("/customers/export", query_string={"format": fmt, **qs})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.is_streamed
    assert r.headers["Content-Disposition"].startswith("attachment; filename=\"customers-")
    return r


def test_export_csv_is_spreadsheet_safe(admin, app):
    add_customer(app, "evil@example.com", name="=HYPERLINK(\"http://x\")", company="+cmd",
                 notes="@SUM(A1)", phone="-1", customer_number="\tTAB")
    add_customer(app, "quote@example.com", name="'=already", company="'plain")
    r = _export(admin)
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    evil = next(x for x in rows if x["email"] == "evil@example.com")
    assert evil["name"] == "'=HYPERLINK(\"http://x\")" and evil["company"] == "'+cmd"
    assert evil["notes"] == "'@SUM(A1)" and evil["phone"] == "'-1"
    assert evil["customer_number"] == "'\tTAB"
    quote = next(x for x in rows if x["email"] == "quote@example.com")
    assert quote["name"] == "''=already" and quote["company"] == "'plain"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_export_follows_filters_and_json_shape(admin, app):
    add_customer(app, "a@example.com", newsletter=True)
    add_customer(app, "b@example.com")
    data = json.loads(_export(admin, "json", newsletter="true").get_data(as_text=True))
    assert [c["email"] for c in data] == ["a@example.com"]
    assert {"id", "groups", "totals", "addresses", "status"} <= set(data[0])
    problem(admin.get("/customers/export?format=xml"), 422, "invalid_request")
    problem(admin.get("/customers/export?limit=5"), 422, "invalid_request")


def _snapshot(admin):
    out = []
    for c in json.loads(_export(admin, "json", sort="created_at").get_data(as_text=True)):
        c.pop("updated_at")
        out.append(c)
    return out


def test_export_reimports_to_the_same_data(admin, app):
    admin.post("/groups", json={"name": "VIP"})
    admin.post("/customers", json={
        "email": "Ana@Example.com", "name": "=Ana", "company": "'-co", "phone": "+34 600",
        "customer_number": "@1", "newsletter": True, "notes": "line1\nline2, \"quoted\"",
        "groups": ["VIP"], "locale": "es",
        "addresses": {"billing": {"city": "Madrid", "country": "ES"}, "shipping": None}})
    add_customer(app, "guest@example.com", name="Zoë", status="blocked")
    before = _snapshot(admin)
    for fmt, ctype in (("csv", "text/csv"), ("json", "application/json")):
        exported = _export(admin, fmt).get_data()
        # Scramble the data, then restore it from the export.
        for c in before:
            admin.patch(f"/customers/{c['id']}", json={
                "name": "changed", "company": None, "phone": None, "customer_number": None,
                "newsletter": False, "notes": None, "groups": [], "locale": None,
                "addresses": None, "status": "active"})
        r = imp(admin, exported, ctype=ctype)
        assert r.get_json()["updated"] == 2 and r.get_json()["skipped"] == 0, r.get_json()
        assert _snapshot(admin) == before, fmt
