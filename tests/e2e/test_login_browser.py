"""The login journey in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parents[2] / "test-output"

pytestmark = pytest.mark.e2e


@pytest.fixture
def live(make_app: Any) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(public_url=base)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Debian's chromium is required under CI=true (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page()
        failed_before = request.session.testsfailed
        yield pg
        if request.session.testsfailed > failed_before:
            OUT.mkdir(exist_ok=True)
            pg.screenshot(path=str(OUT / f"{request.node.name}.png"), full_page=True)
        browser.close()


def test_sign_in_by_link_then_link_is_used(live, page, mailbox):
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
    page.get_by_label("E-mail address").fill("browser@example.com")
    page.get_by_role("button", name="Send me a new link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert len(mailbox.wait_for("browser@example.com", 2)) == 2
