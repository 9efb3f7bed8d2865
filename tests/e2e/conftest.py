"""Browser fixtures: the app on a real loopback port, Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUT = Path(__file__).resolve().parents[2] / "test-output"


@dataclass
class LiveServer:
    url: str
    app: Any


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def live_server(make_app: Any) -> Iterator[LiveServer]:
    """The app served by werkzeug on 127.0.0.1 in a thread; PUBLIC_URL is that address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(public_url=base)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(url=base, app=app)
    server.shutdown()
    thread.join(timeout=5)


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Debian's chromium is required under CI=true (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")


@pytest.fixture
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def chromium_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; a full-page screenshot lands in test-output/ on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        OUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT / f"{request.node.name}.png"), full_page=True)
    context.close()
