"""CONTRACT §10: <loginsvc-account> on a storefront page served from another 127.0.0.1 port."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port, mail_code

pytestmark = pytest.mark.e2e

WIDGET = Path(__file__).resolve().parents[2] / "loginsvc" / "static" / "widget.js"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>loginsvc-account {{ --loginsvc-accent: #0a7d32; }}</style>
<script src="{base}/widget.js" defer></script></head>
<body><h1>The shop</h1><loginsvc-account></loginsvc-account></body></html>"""


def test_widget_is_small_and_dependency_free():
    raw = WIDGET.read_bytes()
    size = len(gzip.compress(raw, 9))
    print(f"widget.js: {len(raw)} bytes, {size} bytes gzipped")
    assert size < 10 * 1024
    assert b"import " not in raw and b"require(" not in raw


@pytest.fixture
def shop_and_storefront(make_app: Any) -> Iterator[tuple[str, str, Any]]:
    port, store_port = free_port(), free_port()
    base, store = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{store_port}"
    app = make_app(public_url=base, allowed_redirect_origins=(store,))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    html = PAGE.format(base=base).encode()

    class Storefront(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

    shopfront = ThreadingHTTPServer(("127.0.0.1", store_port), Storefront)
    threading.Thread(target=shopfront.serve_forever, daemon=True).start()
    yield base, store, app
    shopfront.shutdown()
    server.shutdown()


def test_widget_signs_in_in_place_and_me_resolves(shop_and_storefront, chromium_page, mailbox):
    base, store, _ = shop_and_storefront
    page = chromium_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(store + "/")
    assert page.evaluate("window.loginsvc.me()") is None
    widget = page.locator("loginsvc-account")
    widget.get_by_role("button", name="Sign in").click()
    widget.get_by_label("E-mail address").fill("widget@example.com")
    widget.get_by_role("button", name="Send me a code").click()
    widget.get_by_text("Check your inbox").wait_for()

    # The link from the mail, opened in another tab of the same browser.
    link = mailbox.wait_for("widget@example.com")[0].link
    other = page.context.new_page()
    other.goto(link)
    other.get_by_role("button", name="Sign in now").click()
    other.wait_for_url(base + "/account")
    other.close()

    widget.get_by_text("Hello, widget@example.com").wait_for(timeout=15_000)
    account = widget.get_by_role("link", name="My account")
    assert account.get_attribute("href") == base + "/account"
    me = page.evaluate("window.loginsvc.me()")
    assert me["email"] == "widget@example.com" and me["status"] == "active"
    accent = widget.get_by_role("link", name="My account").evaluate(
        "a => getComputedStyle(a).color")
    assert accent == "rgb(10, 125, 50)"  # the shop's --loginsvc-accent
    assert errors == []


def test_widget_signs_in_with_the_code_in_place(shop_and_storefront, chromium_page, mailbox):
    base, store, _ = shop_and_storefront
    page = chromium_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(store + "/")
    assert page.evaluate("window.loginsvc.me()") is None
    widget = page.locator("loginsvc-account")
    widget.get_by_role("button", name="Sign in").click()
    widget.get_by_label("E-mail address").fill("code.shopper@example.com")
    widget.get_by_role("button", name="Send me a code").click()
    widget.get_by_text("or use the link in the mail").wait_for()

    code = mail_code(mailbox.wait_for("code.shopper@example.com")[0])
    widget.get_by_label("The 6-digit code from the e-mail").fill(code)
    widget.get_by_role("button", name="Sign in").click()

    widget.get_by_text("Hello, code.shopper@example.com").wait_for(timeout=15_000)
    me = page.evaluate("window.loginsvc.me()")
    assert me["email"] == "code.shopper@example.com" and me["status"] == "active"
    assert widget.get_by_role("link", name="My account").get_attribute("href") == base + "/account"
    assert errors == []


def test_widget_says_a_wrong_code_is_wrong_and_stays_signed_out(shop_and_storefront,
                                                                 chromium_page, mailbox):
    _, store, _ = shop_and_storefront
    page = chromium_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(store + "/")
    widget = page.locator("loginsvc-account")
    widget.get_by_role("button", name="Sign in").click()
    widget.get_by_label("E-mail address").fill("wrong.code@example.com")
    widget.get_by_role("button", name="Send me a code").click()
    code = mail_code(mailbox.wait_for("wrong.code@example.com")[0])
    widget.get_by_label("The 6-digit code from the e-mail").fill(
        "000000" if code != "000000" else "111111")
    widget.get_by_role("button", name="Sign in").click()
    widget.get_by_role("status").filter(has_text="That code is not right. Try again.").wait_for()
    session = page.evaluate("""fetch(loginsvc.base + '/api/v1/widget/session',
        {credentials: 'include'}).then(r => r.json())""")
    assert session == {"signed_in": False}
    # Only the browser's own note of the API's 400 answer, nothing thrown by the widget.
    assert errors and all("status of 400" in e for e in errors), errors


def test_widget_speaks_the_page_language(shop_and_storefront, chromium_page):
    base, store, _ = shop_and_storefront
    page = chromium_page
    page.goto(store + "/")
    page.evaluate("document.querySelector('loginsvc-account').setAttribute('lang', 'de')")
    page.evaluate("""() => { const el = document.createElement('loginsvc-account');
        el.setAttribute('lang', 'es'); document.body.append(el); }""")
    page.locator("loginsvc-account").nth(1).get_by_role("button", name="Iniciar sesión").wait_for()
    r = page.request.get(base + "/widget.js")
    assert r.status == 200 and r.headers["content-type"].startswith("text/javascript")
