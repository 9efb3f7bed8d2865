"""§3a in real browsers: a "laptop" asks and waits, a "phone" opens the link from the mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import OUT
from tests.helpers import mail_code

pytestmark = pytest.mark.e2e

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Mobile Safari/537.36")


@pytest.fixture
def two_devices(browser: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    laptop_ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    phone_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB",
                                    user_agent=PHONE_UA)
    laptop, phone = laptop_ctx.new_page(), phone_ctx.new_page()
    for page in (laptop, phone):
        page.set_default_timeout(15_000)
    yield laptop, phone
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        OUT.mkdir(exist_ok=True)
        laptop.screenshot(path=str(OUT / f"{request.node.name}-laptop.png"), full_page=True)
        phone.screenshot(path=str(OUT / f"{request.node.name}-phone.png"), full_page=True)
    laptop_ctx.close()
    phone_ctx.close()


def _ask(live: str, laptop: Any, address: str) -> str:
    laptop.goto(live + "/login")
    laptop.get_by_label("E-mail address").fill(address)
    laptop.get_by_role("button", name="E-mail me a sign-in link").click()
    laptop.get_by_role("heading", name="Check your inbox").wait_for()
    return str(laptop.locator("#match-number").inner_text()).strip()


def test_phone_approves_the_waiting_laptop_by_number(live_server, two_devices, mailbox):
    live = live_server.url
    laptop, phone = two_devices
    number = _ask(live, laptop, "two-devices@example.com")
    assert len(number) == 2 and number.isdigit()
    waiting_url = laptop.url

    mail = mailbox.wait_for("two-devices@example.com")[-1]
    phone.goto(mail.link)
    phone.get_by_role("heading", name="Sign in the device that asked").wait_for()
    assert "Chrome on Linux" in phone.content()  # the laptop (headless Chromium on Linux)
    phone.get_by_label("The number shown on the other device").fill(number)
    phone.get_by_role("button", name="Sign in the other device").click()
    phone.get_by_role("heading", name="Approved").wait_for()

    # The laptop signs in by itself: no reload, no click.
    laptop.wait_for_url(live + "/account", timeout=15_000)
    assert "two-devices@example.com" in laptop.content()
    assert waiting_url != laptop.url
    phone.goto(live + "/account")
    assert phone.url.startswith(live + "/login")  # the phone itself is not signed in


def test_code_typed_on_the_laptop_signs_in(live_server, two_devices, mailbox):
    live = live_server.url
    laptop, _ = two_devices
    _ask(live, laptop, "typed-code@example.com")
    code = mail_code(mailbox.wait_for("typed-code@example.com")[-1])
    laptop.get_by_label("6-digit code").fill("000000" if code != "000000" else "111111")
    laptop.get_by_role("button", name="Sign in with the code").click()
    laptop.get_by_text("That code is not right.").wait_for()
    laptop.get_by_label("6-digit code").fill(code)
    laptop.get_by_role("button", name="Sign in with the code").click()
    laptop.wait_for_url(live + "/account")
    assert "typed-code@example.com" in laptop.content()
