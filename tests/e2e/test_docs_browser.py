"""/docs in a real browser: the shipped Swagger UI 5 renders the 3.1 document under the strict
CSP, with no console errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_docs_page_renders_the_api_without_csp_violations(live_server, chromium_page):
    console: list[str] = []
    errors: list[str] = []
    chromium_page.on("console", lambda msg: console.append(msg.text))
    chromium_page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
                     else None)
    chromium_page.on("pageerror", lambda exc: errors.append(str(exc)))
    external: list[str] = []
    chromium_page.on("request", lambda req: None if req.url.startswith(
        (live_server.url, "data:")) else external.append(req.url))
    # Swagger UI 5 renders operations as they scroll into view: a tall window shows them all.
    chromium_page.set_viewport_size({"width": 1280, "height": 30_000})
    chromium_page.goto(live_server.url + "/docs")
    # The 1.7 MB bundle may take a while on a busy machine; then everything is local.
    chromium_page.locator(".opblock-summary-path").first.wait_for(timeout=30_000)
    # Swagger UI breaks long paths with zero-width spaces; data-path holds the real one.
    for path in ("/api/v1/auth/login-link", "/api/v1/auth/verify", "/metrics"):
        chromium_page.locator(f'.opblock-summary-path[data-path="{path}"]').first.wait_for()
    # Swagger UI names the document's version: it read 3.1, not a 3.0 copy.
    assert chromium_page.locator("pre.version", has_text="OAS 3.1").count() == 1
    chromium_page.locator('.opblock-summary-path[data-path="/api/v1/auth/verify"]').first.click()
    chromium_page.locator(".opblock.is-open .responses-table").first.wait_for()
    assert [m for m in console if "Content Security Policy" in m] == []
    assert errors == []
    assert external == []  # no CDN, no fonts, nothing from elsewhere
