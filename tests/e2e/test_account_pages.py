"""The /account pages: the shopper's journey in Chromium, and the forms' guards over HTTP."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.helpers import sign_in


def _sign_in_in_browser(page: Any, live: Any, mailbox: Any, address: str,
                        next_path: str = "/account") -> None:
    page.goto(live.url + next_path)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    link = mailbox.wait_for(address)[-1].link
    page.goto(link)
    page.get_by_role("button", name="Sign in now").click()
    page.wait_for_url(live.url + next_path)


def _add_order(app: Any, email: str) -> None:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer, Order

        c = db.session.query(Customer).filter_by(email_norm=email).one()
        db.session.add(Order(
            order_id="1001", customer_id=c.id, status="paid", currency="EUR",
            total=Decimal("59.90"), placed_at=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
            items=[{"product_id": "p-7", "sku": "TS-RED-M", "name": "T-shirt", "quantity": 2,
                    "unit_price": "19.95"},
                   {"product_id": "p-9", "name": "Socks", "quantity": 1, "unit_price": "20.00"}],
            customer_info={"name": "Ana Ruiz"},
            shipping_address={"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
                              "postal_code": "28013", "country": "ES"},
            invoice_url="https://shop.example/invoices/1001.pdf"))
        db.session.commit()


@pytest.mark.e2e
def test_shopper_journey(live_server, chromium_page, browser, mailbox):
    page, live = chromium_page, live_server
    address = "ana@example.com"
    _sign_in_in_browser(page, live, mailbox, address)
    assert page.get_by_role("heading", name="My account").is_visible()
    assert "You have no orders yet." in page.content()

    # Profile and addresses.
    page.get_by_role("link", name="Profile").click()
    page.get_by_label("Name (optional)", exact=True).fill("Ana Ruiz")
    page.get_by_label("Phone (optional)", exact=True).first.fill("+34 600 000 000")
    shipping = page.get_by_role("group", name="Shipping address")
    shipping.get_by_label("Street and number").fill("Calle Mayor 1")
    shipping.get_by_label("City").fill("Madrid")
    shipping.get_by_label("Postal code (optional)").fill("28013")
    shipping.get_by_label("Country").select_option("ES")
    page.get_by_label("Send me the shop's newsletter").check()
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Your changes are saved.").wait_for()
    assert page.get_by_label("Name (optional)", exact=True).input_value() == "Ana Ruiz"
    # A half-filled address is refused with the field marked, nothing saved.
    billing = page.get_by_role("group", name="Billing address")
    billing.get_by_label("City").fill("Sevilla")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Please correct the marked fields.").wait_for()
    assert billing.get_by_label("Street and number").get_attribute("aria-invalid") == "true"
    with live.app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        c = db.session.query(Customer).one()
        assert c.name == "Ana Ruiz" and c.newsletter is True and c.country == "ES"
        assert c.billing_address is None and c.shipping_address["city"] == "Madrid"

    # Wishlist: add, see, remove.
    page.get_by_role("link", name="Wishlist").click()
    page.get_by_label("Product number").fill("p-7")
    page.get_by_label("Name (optional)").fill("Red T-shirt")
    page.get_by_role("button", name="Add to wishlist").click()
    page.get_by_text("Added to your wishlist.").wait_for()
    assert page.get_by_text("Red T-shirt").is_visible()
    page.get_by_role("button", name="Remove Red T-shirt").click()
    page.get_by_text("Removed from your wishlist.").wait_for()
    assert page.get_by_text("Your wishlist is empty.").is_visible()

    # An order placed by the shop shows on the dashboard and in detail.
    _add_order(live.app, address)
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="Order 1001").click()
    page.get_by_role("heading", name="Order 1001").wait_for()
    content = page.content()
    assert "T-shirt" in content and "Socks" in content and "€59.90" in content
    assert page.get_by_role("link", name="View invoice").get_attribute("href") == \
        "/api/v1/me/orders/1001/invoice"

    # Sign out another device: a second browser signed in as the same shopper.
    other = browser.new_context(user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; "
                                "rv:128.0) Gecko/20100101 Firefox/128.0")
    other_page = other.new_page()
    _sign_in_in_browser(other_page, live, mailbox, address)
    page.get_by_role("link", name="Devices").click()
    page.get_by_role("button", name="Sign out Firefox on Windows").click()
    page.get_by_text("That device is signed out.").wait_for()
    other_page.goto(live.url + "/account")
    other_page.wait_for_url(re.compile(r"/login\?next="))
    other.close()

    # Delete the account (the sign-in above is fresh).
    page.get_by_role("link", name="Your data").click()
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download my data").click()
    assert dl.value.suggested_filename.startswith("my-data-")
    page.get_by_role("link", name="Continue to account deletion").click()
    page.get_by_label("I understand that this cannot be undone.").check()
    page.get_by_role("button", name="Delete my account for good").click()
    page.get_by_role("heading", name="Your account is deleted").wait_for()
    assert count_rows(live.app, "customers") == 0
    assert count_rows(live.app, "orders") == 1
    page.goto(live.url + "/account")
    page.wait_for_url(re.compile(r"/login\?next="))


@pytest.mark.e2e
def test_old_session_confirms_deletion_by_email(live_server, chromium_page, mailbox):
    page, live = chromium_page, live_server
    address = "old@example.com"
    _sign_in_in_browser(page, live, mailbox, address)
    with live.app.app_context():
        from loginsvc.core.runtime import store

        st = store()
        (cid,) = [int(k.decode().rsplit(":", 1)[1]) for k in st.r.keys(f"{st.p}csess:*")]
        for th in st.r.hgetall(f"{st.p}csess:{cid}").values():
            from loginsvc.core.store import SessionRecord

            rec = SessionRecord.from_json(st.r.get(f"{st.p}sess:{th.decode()}"))
            rec.auth_at = time.time() - 3600
            st.r.set(f"{st.p}sess:{th.decode()}", rec.to_json(), keepttl=True)
    page.goto(live.url + "/account/delete")
    assert page.get_by_role("button", name="Delete my account for good").count() == 0
    page.get_by_role("button", name="E-mail me a confirmation link").click()
    page.get_by_text("we e-mailed you a confirmation link").wait_for()
    link = mailbox.wait_for(address, 2)[-1].link
    page.goto(link)
    page.get_by_role("button", name="Sign in now").click()
    page.wait_for_url(live.url + "/account/delete")
    page.get_by_label("I understand that this cannot be undone.").check()
    page.get_by_role("button", name="Delete my account for good").click()
    page.get_by_role("heading", name="Your account is deleted").wait_for()
    assert count_rows(live.app, "customers") == 0


# -- the same pages over plain HTTP: guards that need no browser -------------------

def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert m, "no csrf_token in the form"
    return m.group(1)


@pytest.mark.parametrize("path", ["/account", "/account/orders", "/account/orders/1",
                                  "/account/profile", "/account/wishlist", "/account/devices",
                                  "/account/export", "/account/export/download",
                                  "/account/delete"])
def test_pages_redirect_to_sign_in(client, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r.headers["Location"] == "/login?next=" + path.replace("/", "%2F")


def test_posts_without_session_go_to_sign_in(client, app):
    r = client.post("/account/wishlist/add", data={"product_id": "p-1"})
    assert r.status_code == 303 and r.headers["Location"] == "/login?next=%2Faccount"
    assert count_rows(app, "wishlist_items") == 0


def test_every_form_carries_csrf_and_posts_without_it_fail(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")
    origin = {"Origin": "http://localhost"}
    for path in ("/account", "/account/profile", "/account/wishlist", "/account/devices",
                 "/account/delete"):
        html = client.get(path).get_data(as_text=True)
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert forms, path
        assert all('name="csrf_token"' in f for f in forms), path
        assert "style=" not in html and "<script" not in html, path
    for path, data in (("/account/profile", {"name": "Eve"}),
                       ("/account/wishlist/add", {"product_id": "p-1"}),
                       ("/account/delete", {"confirm": "yes"}),
                       ("/account/devices/sign-out-all", {})):
        r = client.post(path, data={**data, "csrf_token": "nope"}, headers=origin)
        assert r.status_code == 403, path
    assert count_rows(app, "wishlist_items") == 0 and count_rows(app, "customers") == 1
    token = _csrf(client.get("/account/wishlist").get_data(as_text=True))
    r = client.post("/account/wishlist/add", data={"product_id": "p-1", "csrf_token": token},
                    headers={"Origin": "https://evil.test"})
    assert r.status_code == 403 and count_rows(app, "wishlist_items") == 0
    r = client.post("/account/wishlist/add", data={"product_id": "p-1", "csrf_token": token},
                    headers=origin)
    assert r.status_code == 303 and r.headers["Location"] == "/account/wishlist?done=added"


def test_pages_in_every_locale_and_export_download(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")
    _add_order(app, "ana@example.com")
    for lang, word in (("en", "Orders"), ("es", "Pedidos"), ("fr", "Commandes"),
                       ("pl", "Zamówienia"), ("de", "Bestellungen")):
        for path in ("/account", "/account/orders", "/account/orders/1001", "/account/profile",
                     "/account/wishlist", "/account/devices", "/account/export",
                     "/account/delete"):
            r = client.get(f"{path}?lang={lang}")
            assert r.status_code == 200, (path, lang)
            html = r.get_data(as_text=True)
            assert f'<html lang="{lang}">' in html and word in html, (path, lang)
    r = client.get("/account/export/download")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="my-data-')
    assert r.get_json()["orders"][0]["order_id"] == "1001"
    assert client.get("/account/orders/nope", headers={"Accept": "text/html"}).status_code == 404


def test_profile_language_choice_wins_over_the_browser(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")
    token = _csrf(client.get("/account/profile").get_data(as_text=True))
    r = client.post("/account/profile", data={"locale": "de", "csrf_token": token},
                    headers={"Origin": "http://localhost"})
    assert r.status_code == 303
    html = client.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="de">' in html and "Übersicht" in html
