"""The owner's day in the console, in Debian's Chromium; axe-core checks every console page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.admin_support import add_customer, add_order
from tests.api.console_support import admin_token
from tests.conftest import count_rows
from tests.helpers import sign_in

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def console_context(browser: Any, request: pytest.FixtureRequest) -> Any:
    if not AXE.exists():
        pytest.fail("axe-core is missing: npm install --prefix tests/e2e (make test does it)")
    # axe is injected as a script; the pages' CSP (rightly) refuses inline scripts.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True,
                                  accept_downloads=True)
    yield context
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        from tests.e2e.conftest import OUT

        OUT.mkdir(exist_ok=True)
        for n, page in enumerate(context.pages):
            page.screenshot(path=str(OUT / f"{request.node.name}-{n}.png"), full_page=True)
    context.close()


def check_a11y(page: Any) -> None:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    assert violations == [], f"{page.url}: {violations}"


def owner_signs_in(page: Any, live: Any, mailbox: Any, email: str) -> None:
    page.goto(f"{live.url}/admin")
    check_a11y(page)
    before = len(mailbox.to(email))
    page.get_by_label("E-mail address").fill(email)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_text("a sign-in link is on its way").wait_for()
    check_a11y(page)
    token = admin_token(mailbox.wait_for(email, before + 1)[-1])
    page.goto(f"{live.url}/admin/login/verify?token={token}")
    check_a11y(page)
    page.get_by_role("button", name="Sign in now").click()
    page.get_by_role("heading", name="Customers").wait_for()


def test_the_owners_day(live_server: Any, console_context: Any, mailbox: Any) -> None:
    live, app = live_server, live_server.app
    acme = add_customer(app, "buyer@example.com", name="Bea Buyer", company="Acme Tools",
                        has_account=True)
    add_order(app, acme, "A-1", total="59.90", currency="EUR")
    waiting = add_customer(app, "waiting@example.com", name="Wes Wait", has_account=True,
                           status="pending")
    shopper = app.test_client()
    sign_in(shopper, mailbox, "buyer@example.com")

    page = console_context.new_page()
    page.set_default_timeout(10_000)
    owner_signs_in(page, live, mailbox, "owner@shop.test")
    check_a11y(page)

    # Find the customer by company and block them: their open session ends.
    page.get_by_label("Search", exact=True).fill("acme")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("1 customer matches.").wait_for()
    page.get_by_role("link", name="Bea Buyer").click()
    page.get_by_role("heading", name="Bea Buyer").wait_for()
    assert "A-1" in page.content()
    check_a11y(page)
    page.get_by_role("button", name="Block").click()
    page.get_by_text("blocked and signed out everywhere").wait_for()
    assert shopper.get("/api/v1/me").status_code == 401
    assert "customer.status" in page.content()  # the card's audit log

    # Approve a pending registration: the shopper gets the approval mail.
    page.goto(f"{live.url}/admin/customers/{waiting}")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("The customer is approved").wait_for()
    assert mailbox.wait_for("waiting@example.com")

    # A new customer with an invitation.
    page.goto(f"{live.url}/admin/customers")
    page.get_by_role("link", name="+ New customer").click()
    check_a11y(page)
    page.get_by_label("E-mail address").fill("nia@example.com")
    page.get_by_label("Name", exact=True).fill("Nia New")
    page.get_by_role("button", name="Create customer").click()
    page.get_by_text("The invitation is on its way.").wait_for()
    assert "/login/verify?token=" in mailbox.wait_for("nia@example.com")[-1].text

    # Import: a file with bad rows is only reported; a good one is applied.
    page.get_by_role("link", name="Import").click()
    check_a11y(page)
    before = count_rows(app, "customers")
    page.get_by_label("File (CSV or JSON, up to 16 MiB)").set_input_files(files=[{
        "name": "bad.csv", "mimeType": "text/csv",
        "buffer": b"email,name\nnew1@example.com,One\nnot-an-address,Bad\n"}])
    page.get_by_role("button", name="Check the file").click()
    page.get_by_text("Nothing is written yet.").wait_for()
    assert "not-an-address" in page.content()
    check_a11y(page)
    assert count_rows(app, "customers") == before
    page.get_by_role("link", name="Upload another file").click()
    page.get_by_label("File (CSV or JSON, up to 16 MiB)").set_input_files(files=[{
        "name": "good.csv", "mimeType": "text/csv",
        "buffer": b"email,name\nnew1@example.com,One\nnew2@example.com,Two\n"}])
    page.get_by_role("button", name="Check the file").click()
    page.get_by_role("button", name="Apply this import").click()
    page.get_by_text("Applied: 2 created").wait_for()
    assert count_rows(app, "customers") == before + 2

    # Export exactly the filtered list.
    page.goto(f"{live.url}/admin/customers?q=acme")
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    exported = Path(info.value.path()).read_text()
    assert "buyer@example.com" in exported and "nia@example.com" not in exported

    # Print a card: no navigation on the page.
    page.goto(f"{live.url}/admin/customers/{acme}/print")
    check_a11y(page)
    assert page.locator("nav").count() == 0 and "Bea Buyer" in page.content()

    # Delete a customer; the confirmation says what stays.
    page.goto(f"{live.url}/admin/customers/{acme}")
    page.get_by_role("link", name="Delete customer…").click()
    page.get_by_text("1 order stays for the books").wait_for()
    check_a11y(page)
    page.get_by_role("button", name="Delete for good").click()
    page.get_by_text("The customer is deleted").wait_for()
    assert count_rows(app, "orders") == 1

    for path in ("/admin/groups", "/admin/settings", "/admin/keys", "/admin/audit",
                 "/admin/sessions"):
        page.goto(live.url + path)
        check_a11y(page)


def test_staff_see_everything_and_change_nothing(
    live_server: Any, console_context: Any, mailbox: Any
) -> None:
    live, app = live_server, live_server.app
    with app.app_context():
        from loginsvc.admin.owners import add_owner
        from loginsvc.core.extensions import db

        add_owner(db.session, email="sam@example.com", role="staff")
    cid = add_customer(app, "buyer@example.com", name="Bea Buyer", has_account=True)
    page = console_context.new_page()
    owner_signs_in(page, live, mailbox, "sam@example.com")
    assert "staff: read only" in page.content()
    assert page.get_by_role("link", name="+ New customer").count() == 0
    page.get_by_role("link", name="Bea Buyer").click()
    page.get_by_role("heading", name="Bea Buyer").wait_for()
    check_a11y(page)
    assert page.get_by_role("button", name="Block").count() == 0
    # A write sent anyway, with a valid form token, is refused.
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.content()).group(1)
    r = page.request.post(f"{live.url}/admin/customers/{cid}/status",
                          form={"csrf_token": token, "status": "blocked"},
                          headers={"Origin": live.url})
    assert r.status == 403
    for path in ("/admin/groups", "/admin/import", "/admin/settings", "/admin/keys"):
        page.goto(live.url + path)
        assert page.locator("form[method=post] button[type=submit]").count() == 1  # sign-out only
        check_a11y(page)


def test_console_fits_a_phone(live_server: Any, console_context: Any, mailbox: Any) -> None:
    live, app = live_server, live_server.app
    cid = add_customer(app, "buyer@example.com", name="Bea Buyer", company="Acme Tools",
                       has_account=True)
    page = console_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    owner_signs_in(page, live, mailbox, "owner@shop.test")
    for path in ("/admin/customers", f"/admin/customers/{cid}", "/admin/settings",
                 "/admin/import"):
        page.goto(live.url + path)
        # Wide tables scroll inside their box; the page itself never scrolls sideways.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide"
        check_a11y(page)
