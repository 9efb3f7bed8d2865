"""Passkeys in a real browser: Chromium's virtual authenticator does the real ceremony.

WebAuthn refuses IP origins, so this app's PUBLIC_URL is http://localhost:PORT.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def localhost_server(make_app: Any) -> Iterator[str]:
    port = free_port()
    base = f"http://localhost:{port}"
    app = make_app(public_url=base)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join(timeout=5)


def _virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, made["authenticatorId"]


def test_register_sign_out_sign_in_with_passkey_then_remove(
    localhost_server, chromium_page, mailbox
):
    base, page = localhost_server, chromium_page
    cdp, authenticator = _virtual_authenticator(page)

    page.goto(base + "/login")
    page.get_by_label("E-mail address").fill("passkey@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    page.goto(mailbox.wait_for("passkey@example.com")[0].link)
    page.get_by_role("button", name="Sign in now").click()
    page.wait_for_url(base + "/account")

    page.get_by_role("link", name="Sign in faster next time: add a passkey").click()
    page.wait_for_url(base + "/account/security")
    page.get_by_label("Name (optional)").fill("Test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(base + "/account/security?done=passkey_added")
    page.get_by_text("Passkey added.").wait_for()
    assert page.get_by_label("Name", exact=True).input_value() == "Test laptop"
    creds = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(creds) == 1 and creds[0]["isResidentCredential"] is True

    # Signed out, /login asks for passkeys with conditional mediation (the e-mail
    # field's autofill); the virtual authenticator answers it without a click.
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    page.wait_for_url(base + "/account")
    assert "passkey@example.com" in page.content()

    # Where the browser has no conditional mediation, the button does the same.
    page.add_init_script("delete PublicKeyCredential.isConditionalMediationAvailable;")
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    page.wait_for_url(base + "/login")
    assert page.get_by_label("E-mail address").get_attribute("autocomplete") == "username webauthn"
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(base + "/account")
    assert "passkey@example.com" in page.content()
    assert page.locator("#passkey-offer").count() == 0  # signed in with one already

    page.goto(base + "/account/security")
    assert "Last used" in page.content() and "never" not in page.content()
    page.get_by_role("button", name="Remove passkey Test laptop").click()
    page.wait_for_url(base + "/account/security?done=passkey_removed")
    page.get_by_text("You have no passkeys yet.").wait_for()


def test_login_page_without_javascript_offers_link_only(localhost_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(localhost_server + "/login")
    assert page.get_by_role("button", name="E-mail me a sign-in link").is_visible()
    assert not page.get_by_role("button", name="Sign in with a passkey").is_visible()
    context.close()
