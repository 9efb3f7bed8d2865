"""The login journey in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_sign_in_by_link_then_link_is_used(live_server, chromium_page, mailbox):
    live, page = live_server.url, chromium_page
    page.goto(live + "/login")
    page.get_by_label("E-mail address").fill("browser@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    link = mailbox.wait_for("browser@example.com")[0].link
    assert link.startswith(live + "/login/verify?token=")
    page.goto(link)
    page.get_by_role("button", name="Sign in now").click()
    page.wait_for_url(live + "/account")
    assert "browser@example.com" in page.content()

    page.goto(link)  # the same link again
    assert "already used" in page.content()
    # the address is filled in: one press asks for a new link
    assert page.get_by_label("E-mail address").input_value() == "browser@example.com"
    page.get_by_role("button", name="Send me a new link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert len(mailbox.wait_for("browser@example.com", 2)) == 2
