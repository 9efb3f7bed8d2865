"""The console's pages do the owner's daily work through the admin services."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from tests.api.admin_support import add_customer, add_order
from tests.api.console_support import csrf, post, sign_in_owner
from tests.conftest import count_rows
from tests.helpers import sign_in


@pytest.fixture
def owner(client: Any, mailbox: Any) -> str:
    return sign_in_owner(client, mailbox)


def status_of(app: Any, cid: int) -> str:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        c = db.session.get(Customer, cid)
        return "gone" if c is None else c.status


def test_find_by_company_and_filters_keep_each_other(app: Any, client: Any, owner: str) -> None:
    add_customer(app, "ann@example.com", name="Ann", company="Acme Tools",
                 billing_address={"country": "DE"},
                 has_account=True)
    add_customer(app, "bob@example.com", name="Bob", company="Other Ltd",
                 billing_address={"country": "FR"})
    page = client.get("/admin/customers?q=acme&sort=name&status=active").get_data(as_text=True)
    assert "ann@example.com" in page and "bob@example.com" not in page
    assert "1 customer matches." in page
    assert 'value="acme"' in page and '<option value="name" selected>' in page
    # The export links carry exactly this filter.
    assert "/admin/customers/export?q=acme&amp;status=active&amp;sort=name&amp;format=csv" in page
    assert "bob@example.com" in client.get("/admin/customers?country=fr").get_data(as_text=True)


def test_export_is_the_filtered_list(app: Any, client: Any, owner: str) -> None:
    add_customer(app, "ann@example.com", company="Acme")
    add_customer(app, "bob@example.com", company="Other")
    r = client.get("/admin/customers/export?q=acme&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.get_data(as_text=True)
    assert "ann@example.com" in text and "bob@example.com" not in text
    rows = json.loads(client.get("/admin/customers/export?q=acme&format=json").get_data())
    assert [c["email"] for c in rows] == ["ann@example.com"]
    r = client.get("/admin/customers/export?q=acme&format=xlsx")
    assert r.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(r.get_data()), read_only=True).active
    values = [row for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ("id", "email", "name")
    assert [v[1] for v in values[1:]] == ["ann@example.com"]


def test_block_ends_the_shoppers_session(app: Any, client: Any, owner: str, mailbox: Any) -> None:
    cid = add_customer(app, "buyer@example.com", has_account=True)
    shopper = app.test_client()
    sign_in(shopper, mailbox, "buyer@example.com")
    assert shopper.get("/api/v1/me").status_code == 200
    r = post(client, f"/admin/customers/{cid}/status", owner, status="blocked")
    assert r.status_code == 303 and r.headers["Location"].endswith("?done=blocked")
    assert shopper.get("/api/v1/me").status_code == 401
    assert status_of(app, cid) == "blocked"
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "blocked and signed out everywhere" in page
    assert post(client, f"/admin/customers/{cid}/status", owner, status="active").status_code == 303
    assert status_of(app, cid) == "active"


def test_approve_sends_the_approval_mail(app: Any, client: Any, owner: str, mailbox: Any) -> None:
    cid = add_customer(app, "waiting@example.com", has_account=True, status="pending")
    assert "Approve" in client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    r = post(client, f"/admin/customers/{cid}/status", owner, status="active")
    assert r.status_code == 303 and r.headers["Location"].endswith("?done=approved")
    assert status_of(app, cid) == "active"
    assert len(mailbox.wait_for("waiting@example.com")) == 1


def test_create_with_an_invitation(app: Any, client: Any, owner: str, mailbox: Any) -> None:
    r = post(client, "/admin/customers/new", owner, email="New@Example.com", name="Nia",
             company="Nia GmbH", send_invite="on")
    assert r.status_code == 303
    cid = int(re.search(r"/admin/customers/(\d+)\?done=invited", r.headers["Location"]).group(1))
    mail = mailbox.wait_for("new@example.com")[-1]
    assert "/login/verify?token=" in mail.text
    assert "Nia GmbH" in client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    again = post(client, "/admin/customers/new", owner, email="new@example.com")
    assert again.status_code == 409
    assert "exists" in again.get_data(as_text=True)
    bad = post(client, "/admin/customers/new", owner, email="not an address")
    assert bad.status_code == 422


def test_import_reports_first_and_writes_on_apply(app: Any, client: Any, owner: str) -> None:
    before = count_rows(app, "customers")
    bad = "email,name\nok@example.com,Ok\nnot-an-address,Bad\n"
    r = client.post("/admin/import", data={"csrf_token": owner, "file": (io.BytesIO(bad.encode()),
                    "list.csv")}, headers={"Origin": "http://localhost"},
                    content_type="multipart/form-data")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "1 would be created" in page and "1 skipped" in page
    assert "not-an-address" in page
    assert count_rows(app, "customers") == before
    upload_id = re.search(r'name="upload_id" value="([^"]+)"', page).group(1)
    r = post(client, "/admin/import/apply", owner, upload_id=upload_id)
    assert r.status_code == 200 and "Applied: 1 created" in r.get_data(as_text=True)
    assert count_rows(app, "customers") == before + 1
    # An upload is applied once.
    assert post(client, "/admin/import/apply", owner, upload_id=upload_id).status_code == 410


def test_card_print_and_delete(app: Any, client: Any, owner: str) -> None:
    cid = add_customer(app, "buyer@example.com", name="Bea", has_account=True)
    add_order(app, cid, "A-1", total="59.90", currency="EUR")
    card = client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    assert "A-1" in card and "59.90" in card
    printed = client.get(f"/admin/customers/{cid}/print").get_data(as_text=True)
    assert "Bea" in printed
    assert 'class="account-nav"' not in printed and "/admin/logout" not in printed
    confirm = client.get(f"/admin/customers/{cid}/delete").get_data(as_text=True)
    assert "1 order stays for the books" in confirm
    r = post(client, f"/admin/customers/{cid}/delete", owner)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/customers?done=deleted"
    assert status_of(app, cid) == "gone"
    assert count_rows(app, "orders") == 1
    assert client.get(f"/admin/customers/{cid}").status_code == 404


def test_groups_create_rename_bulk_add_delete(app: Any, client: Any, owner: str) -> None:
    a = add_customer(app, "a@example.com")
    b = add_customer(app, "b@example.com")
    assert post(client, "/admin/groups", owner, name="VIP").status_code == 303
    gid = int(re.search(r"/admin/groups/(\d+)/delete", client.get("/admin/groups").get_data(
        as_text=True)).group(1))
    assert post(client, f"/admin/groups/{gid}/rename", owner, name="Gold").status_code == 303
    r = client.post("/admin/customers/bulk-group", data={"csrf_token": owner, "group_id": gid,
                    "customer_id": [a, b]}, headers={"Origin": "http://localhost"})
    assert r.status_code == 303
    page = client.get("/admin/groups").get_data(as_text=True)
    assert "Gold" in page and '<td class="num">2</td>' in page
    confirm = client.get(f"/admin/groups/{gid}/delete").get_data(as_text=True)
    assert "2 customers lose this group" in confirm
    assert post(client, f"/admin/groups/{gid}/delete", owner).status_code == 303
    assert "Gold" not in client.get("/admin/groups").get_data(as_text=True)


def test_settings_and_branding(app: Any, client: Any, owner: str) -> None:
    r = post(client, "/admin/settings", owner, account_mode="required", shop_name="Tea House",
             shop_url="https://tea.example", logo_url="", accent_color="#336699")
    assert r.status_code == 303
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'value="required" checked' in page and 'value="Tea House"' in page
    bad = post(client, "/admin/settings", owner, account_mode="required", accent_color="red")
    assert bad.status_code == 422


def test_keys_shown_once_and_revoked(app: Any, client: Any, owner: str) -> None:
    r = post(client, "/admin/keys", owner, name="shop backend", scope="admin")
    assert r.status_code == 303
    page = client.get("/admin/keys").get_data(as_text=True)
    key = re.search(r'<code class="break" id="new-key">([^<]+)</code>', page).group(1)
    assert client.get("/api/v1/admin/settings", headers={"Authorization": f"Bearer {key}"}
                      ).status_code == 200
    assert key not in client.get("/admin/keys").get_data(as_text=True)
    kid = re.search(r"/admin/keys/(\d+)/revoke", page).group(1)
    assert post(client, f"/admin/keys/{kid}/revoke", csrf(client, "/admin/keys")).status_code == 303
    assert client.get("/api/v1/admin/settings", headers={"Authorization": f"Bearer {key}"}
                      ).status_code == 401


def test_branding_shows_on_shopper_pages_and_mails(
    app: Any, client: Any, owner: str, mailbox: Any
) -> None:
    r = post(client, "/admin/settings", owner, account_mode="optional", shop_name="Tea House",
             shop_url="https://tea.example", logo_url="https://tea.example/logo.png",
             accent_color="#336699")
    assert r.status_code == 303
    login = client.get("/login").get_data(as_text=True)
    assert "Tea House" in login and 'href="https://tea.example"' in login
    assert 'src="https://tea.example/logo.png"' in login and "/branding.css" in login
    css = client.get("/branding.css").get_data(as_text=True)
    assert "--accent:#336699" in css
    client.post("/api/v1/auth/login-link", json={"email": "buyer@example.com"})
    mail = mailbox.wait_for("buyer@example.com")[-1]
    assert "Tea House" in mail.subject
    assert "https://tea.example/logo.png" in mail.html


def test_the_list_pages_by_cursor_keeping_the_filters(app: Any, client: Any, owner: str) -> None:
    for n in range(55):
        add_customer(app, f"c{n:02d}@example.com", name=f"C{n:02d}", company="Acme")
    add_customer(app, "other@example.com", company="Else")
    first = client.get("/admin/customers?q=acme&sort=name").get_data(as_text=True)
    assert "55 customers match." in first
    assert "c00@example.com" in first and "c49@example.com" in first
    assert "c50@example.com" not in first
    link = re.search(r'href="(/admin/customers\?[^"]+cursor=[^"]+)" rel="next"', first)
    next_url = link.group(1)
    assert "q=acme" in next_url and "sort=name" in next_url
    second = client.get(next_url.replace("&amp;", "&")).get_data(as_text=True)
    assert "c50@example.com" in second and "c54@example.com" in second
    assert "c00@example.com" not in second and "other@example.com" not in second
    assert 'rel="next"' not in second


def test_an_exported_list_reimports_unchanged(app: Any, client: Any, owner: str) -> None:
    cid = add_customer(app, "ann@example.com", name="Ann", company="Acme", newsletter=True,
                       notes="=SUM(A1)", billing_address={"country": "DE", "city": "Köln"})
    card = client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    exported = client.get("/admin/customers/export?q=acme&format=csv").get_data()
    r = client.post("/admin/import", data={"csrf_token": owner, "file": (io.BytesIO(exported),
                    "export.csv")}, headers={"Origin": "http://localhost"},
                    content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "0 would be created" in page and "0 skipped" in page
    upload_id = re.search(r'name="upload_id" value="([^"]+)"', page).group(1)
    assert post(client, "/admin/import/apply", owner, upload_id=upload_id).status_code == 200
    again = client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    # The card up to its timeline (which now shows the import) reads the same.
    strip = re.compile(r'name="csrf_token" value="[0-9a-f]+"|<table>.*', re.S)
    assert strip.sub("", again) == strip.sub("", card)


def test_the_list_shows_the_last_order_with_status_and_payment(
    app: Any, client: Any, owner: str
) -> None:
    import datetime as dt

    cid = add_customer(app, "buyer@example.com", company="Acme")
    now = dt.datetime.now(dt.UTC)
    add_order(app, cid, "OLD-1", placed_at=now - dt.timedelta(days=3))
    add_order(app, cid, "NEW-2", placed_at=now - dt.timedelta(hours=1))
    with app.app_context():
        from sqlalchemy import update

        from loginsvc.core.extensions import db
        from loginsvc.core.models import Order

        db.session.execute(update(Order).where(Order.order_id == "NEW-2").values(
            status="shipped", extra={"data": {"payment_method": "PayPal"}}))
        db.session.commit()
    page = client.get("/admin/customers?q=acme").get_data(as_text=True)
    assert "shipped · PayPal" in page
