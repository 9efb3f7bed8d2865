"""Social sign-in (CONTRACT §3c) against a real OpenID provider on loopback.

The provider is oidc-provider-mock (an Authlib-based OpenID provider) in a
thread; our service talks to it over real HTTP: discovery, token, JWKS.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from loginsvc.config import OidcProvider
from tests.conftest import count_rows
from tests.helpers import ORIGIN, sign_in


@pytest.fixture(scope="session")
def provider_url() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def oidc_app(make_app: Any, provider_url: str) -> Any:
    mock = OidcProvider(name="mock", issuer=provider_url, client_id="loginsvc-test",
                        client_secret="s3cret", label="Mock ID")
    return make_app(oidc_providers=(mock,))


def _user(provider_url: str, **claims: Any) -> str:
    sub = f"user-{uuid.uuid4().hex[:12]}"
    r = requests.put(f"{provider_url}/users/{sub}", json=claims, timeout=5)
    assert r.status_code == 204, r.text
    return sub


def _to_provider(client: Any, query: str = "") -> str:
    r = client.get(f"/login/oidc/mock{query}")
    assert r.status_code == 302, r.get_data(as_text=True)
    location = r.headers["Location"]
    params = parse_qs(urlsplit(location).query)
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
    assert params["nonce"][0] and params["state"][0]
    assert "loginsvc_oidc=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    return location


def _provider_answer(authorize_url: str, sub: str, *, deny: bool = False) -> str:
    """What the provider sends the browser back to: our callback path and query."""
    form = {"action": "deny"} if deny else {"sub": sub}
    r = requests.post(authorize_url, data=form, allow_redirects=False, timeout=5)
    assert r.status_code == 302, r.text
    parts = urlsplit(r.headers["Location"])
    assert parts.path == "/login/oidc/mock/callback"
    return f"{parts.path}?{parts.query}"


def _sign_in(client: Any, provider_url: str, sub: str, query: str = "") -> Any:
    return client.get(_provider_answer(_to_provider(client, query), sub))


def _page_code(r: Any) -> str:
    m = re.search(r'data-code="([a-z_]+)"', r.get_data(as_text=True))
    assert m, r.get_data(as_text=True)
    return m.group(1)


def _no_session(r: Any, client: Any) -> None:
    assert "loginsvc_session=" not in r.headers.get("Set-Cookie", "")
    assert client.get("/api/v1/me").status_code == 401


def test_login_page_shows_a_button_per_provider(oidc_app):
    r = oidc_app.test_client().get("/login?next=/account/orders")
    html = r.get_data(as_text=True)
    assert 'href="/login/oidc/mock?next=/account/orders"' in html
    assert "Continue with Mock ID" in html


def test_verified_address_joins_the_existing_customer(oidc_app, mailbox, provider_url):
    client = oidc_app.test_client()
    me = sign_in(client, mailbox, "Ana@Example.com")
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    browser = oidc_app.test_client()
    r = _sign_in(browser, provider_url, sub, "?next=/account/orders")
    assert r.status_code == 303, r.get_data(as_text=True)
    assert r.headers["Location"] == "/account/orders"
    assert "loginsvc_session=" in r.headers["Set-Cookie"]
    got = browser.get("/api/v1/me").get_json()
    assert got["id"] == me["customer"]["id"] and got["email"] == "Ana@Example.com"
    identities = browser.get("/api/v1/me/identities").get_json()["identities"]
    assert [(i["provider"], i["email"]) for i in identities] == [("mock", "ana@example.com")]
    # The identity now signs in by itself.
    again = oidc_app.test_client()
    assert _sign_in(again, provider_url, sub).status_code == 303
    assert again.get("/api/v1/me").get_json()["id"] == me["customer"]["id"]
    assert count_rows(oidc_app, "identities") == 1


def test_first_sign_in_opens_the_account(oidc_app, provider_url):
    sub = _user(provider_url, email="new@example.com", email_verified=True)
    client = oidc_app.test_client()
    r = _sign_in(client, provider_url, sub)
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    me = client.get("/api/v1/me").get_json()
    assert me["email"] == "new@example.com" and me["status"] == "active"


def test_unverified_address_is_refused_with_the_link_offered(oidc_app, mailbox, provider_url):
    sign_in(oidc_app.test_client(), mailbox, "ana@example.com")
    sub = _user(provider_url, email="ana@example.com", email_verified=False)
    client = oidc_app.test_client()
    r = _sign_in(client, provider_url, sub)
    assert r.status_code == 403
    assert _page_code(r) == "email_not_verified"
    html = r.get_data(as_text=True)
    assert 'action="/login"' in html and 'value="ana@example.com"' in html
    _no_session(r, client)
    assert count_rows(oidc_app, "identities") == 0


def test_address_without_email_verified_claim_is_refused(oidc_app, provider_url):
    sub = _user(provider_url, email="quiet@example.com")
    client = oidc_app.test_client()
    r = _sign_in(client, provider_url, sub)
    assert r.status_code == 403 and _page_code(r) == "email_not_verified"
    _no_session(r, client)
    assert count_rows(oidc_app, "customers") == 0


def test_tampered_state_gives_a_page_and_no_session(oidc_app, provider_url):
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    back = _provider_answer(_to_provider(client), sub)
    tampered = re.sub(r"state=([^&]+)", lambda m: "state=" + m.group(1)[::-1], back)
    r = client.get(tampered)
    assert r.status_code == 400 and _page_code(r) == "invalid_state"
    assert r.mimetype == "text/html"
    _no_session(r, client)


def test_replayed_callback_gives_a_page_and_no_session(oidc_app, provider_url):
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    back = _provider_answer(_to_provider(client), sub)
    assert client.get(back).status_code == 303
    client.post("/api/v1/auth/logout", headers=ORIGIN)
    r = client.get(back)
    assert r.status_code == 400 and _page_code(r) == "invalid_state"
    _no_session(r, client)


def test_callback_in_another_browser_is_refused(oidc_app, provider_url):
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    back = _provider_answer(_to_provider(oidc_app.test_client()), sub)
    other = oidc_app.test_client()
    r = other.get(back)
    assert r.status_code == 400 and _page_code(r) == "invalid_state"
    _no_session(r, other)


def test_provider_error_comes_back_as_our_page(oidc_app, provider_url):
    client = oidc_app.test_client()
    back = _provider_answer(_to_provider(client), "", deny=True)
    assert "error=access_denied" in back
    r = client.get(back)
    assert r.status_code == 400 and _page_code(r) == "provider_error"
    assert "Mock ID did not sign you in" in r.get_data(as_text=True)
    _no_session(r, client)


def test_blocked_customer_is_refused(oidc_app, mailbox, provider_url):
    me = sign_in(oidc_app.test_client(), mailbox, "ana@example.com")
    with oidc_app.app_context():
        from sqlalchemy import text

        from loginsvc.core.extensions import db

        db.session.execute(text("UPDATE customers SET status = 'blocked' WHERE id = :i"),
                           {"i": me["customer"]["id"]})
        db.session.commit()
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    r = _sign_in(client, provider_url, sub)
    assert r.status_code == 403 and _page_code(r) == "account_blocked"
    _no_session(r, client)


def test_required_mode_leaves_a_new_account_pending(oidc_app, mailbox, provider_url):
    with oidc_app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "required"})
    sub = _user(provider_url, email="new@example.com", email_verified=True)
    client = oidc_app.test_client()
    r = _sign_in(client, provider_url, sub)
    assert r.status_code == 403 and _page_code(r) == "account_pending"
    _no_session(r, client)
    assert mailbox.wait_for("owner@shop.test")


def test_unknown_provider_is_a_404_page(oidc_app):
    r = oidc_app.test_client().get("/login/oidc/facebook", headers={"Accept": "text/html"})
    assert r.status_code == 404 and _page_code(r) == "unknown_provider"


def test_identities_list_and_unlink(oidc_app, provider_url):
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    assert _sign_in(client, provider_url, sub).status_code == 303
    identities = client.get("/api/v1/me/identities").get_json()
    assert identities["next_cursor"] is None and len(identities["identities"]) == 1
    iid = identities["identities"][0]["id"]
    r = client.delete(f"/api/v1/me/identities/{iid}", headers=ORIGIN)
    assert r.status_code == 204
    r = client.delete(f"/api/v1/me/identities/{iid}", headers=ORIGIN)
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"
    assert client.get("/api/v1/me/identities").get_json()["identities"] == []


def test_a_signed_in_shopper_links_an_unverified_provider_account(oidc_app, mailbox, provider_url):
    client = oidc_app.test_client()
    me = sign_in(client, mailbox, "ana@example.com")
    sub = _user(provider_url, email="ana@work.example")  # no email_verified: linked, not joined
    r = _sign_in(client, provider_url, sub, "?link=1&next=/account/security")
    assert r.status_code == 303 and r.headers["Location"] == "/account/security"
    other = oidc_app.test_client()
    assert _sign_in(other, provider_url, sub).status_code == 303
    assert other.get("/api/v1/me").get_json()["id"] == me["customer"]["id"]


def test_deleting_the_account_deletes_its_identities(oidc_app, provider_url):
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    assert _sign_in(client, provider_url, sub).status_code == 303
    assert client.delete("/api/v1/me", headers=ORIGIN).status_code == 204
    assert count_rows(oidc_app, "identities") == 0


def test_an_id_token_signed_by_another_key_is_refused(oidc_app, provider_url):
    """The signature is checked against the provider's JWKS, not just decoded."""
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from loginsvc.auth import oidc_client
    from loginsvc.auth.oidc_client import OidcFailure

    p = oidc_app.config["SETTINGS"].oidc_providers[0]
    now = int(time.time())
    claims = {"iss": provider_url, "aud": "loginsvc-test", "sub": "forged", "iat": now,
              "exp": now + 300, "nonce": "n-1", "email": "ana@example.com",
              "email_verified": True}
    forged = jwt.encode({"alg": "RS256", "kid": "not-theirs"}, claims,
                        RSAKey.generate_key(2048))
    with pytest.raises(OidcFailure) as err:
        oidc_client.verify_id_token(p, forged, nonce="n-1", timeout=5, now=now)
    assert err.value.code == "invalid_id_token"



def test_the_last_identity_of_a_private_relay_address_stays(oidc_app, provider_url):
    sub = _user(provider_url, email="x1y2@privaterelay.appleid.com", email_verified=True)
    client = oidc_app.test_client()
    assert _sign_in(client, provider_url, sub).status_code == 303
    iid = client.get("/api/v1/me/identities").get_json()["identities"][0]["id"]
    r = client.delete(f"/api/v1/me/identities/{iid}", headers=ORIGIN)
    assert r.status_code == 409 and r.get_json()["code"] == "last_sign_in_method"
    assert count_rows(oidc_app, "identities") == 1


def test_an_unreachable_provider_is_a_page_not_a_500(make_app):
    from tests.helpers import free_port

    gone = OidcProvider(name="gone", issuer=f"http://127.0.0.1:{free_port()}", client_id="x")
    client = make_app(oidc_providers=(gone,), oidc_http_timeout=2).test_client()
    r = client.get("/login/oidc/gone")
    assert r.status_code == 400 and _page_code(r) == "provider_error"
    assert "loginsvc_oidc=" not in r.headers.get("Set-Cookie", "")


def test_odd_callbacks_are_pages_not_500s(oidc_app):
    client = oidc_app.test_client()
    for query in ("", "?state=", "?code=x", "?state=" + "s" * 5000, "?error=", "?state=a&code="):
        r = client.get("/login/oidc/mock/callback" + query)
        assert r.status_code == 400 and _page_code(r) == "invalid_state", query
    r = client.post("/login/oidc/mock/callback", data={"state": "nope", "code": "x"})
    assert r.status_code == 400 and _page_code(r) == "invalid_state"


def test_a_form_post_callback_signs_in(oidc_app, provider_url):
    """Apple answers with response_mode=form_post: the same fields, POSTed cross-site."""
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    client = oidc_app.test_client()
    back = _provider_answer(_to_provider(client), sub)
    fields = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    r = client.post("/login/oidc/mock/callback", data=fields,
                    headers={"Origin": "https://appleid.apple.com"})
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    assert client.get("/api/v1/me").get_json()["email"] == "ana@example.com"


def _real_id_token(provider_url: str, *, nonce: str) -> str:
    """An ID token the provider really issued (code flow done by hand, as a client would)."""
    sub = _user(provider_url, email="ana@example.com", email_verified=True)
    redirect = "http://localhost/cb"
    r = requests.post(f"{provider_url}/oauth2/authorize", params={
        "response_type": "code", "client_id": "loginsvc-test", "redirect_uri": redirect,
        "scope": "openid email", "state": "s", "nonce": nonce}, data={"sub": sub},
        allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    r = requests.post(f"{provider_url}/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
        auth=("loginsvc-test", "s3cret"), timeout=5)
    return str(r.json()["id_token"])


@pytest.mark.parametrize("case", ["nonce", "audience", "expired", "issuer"])
def test_a_genuine_id_token_that_does_not_fit_is_refused(oidc_app, provider_url, case):
    import dataclasses
    import time

    from loginsvc.auth import oidc_client
    from loginsvc.auth.oidc_client import OidcFailure

    p = oidc_app.config["SETTINGS"].oidc_providers[0]
    token = _real_id_token(provider_url, nonce="n-good")
    now = int(time.time())
    assert oidc_client.verify_id_token(p, token, nonce="n-good", timeout=5, now=now)["sub"]
    nonce = "n-other" if case == "nonce" else "n-good"
    if case == "audience":
        p = dataclasses.replace(p, client_id="another-client")
    if case == "expired":
        now += 2 * 3600
    if case == "issuer":
        oidc_client.metadata(p, timeout=5)  # cached under the genuine issuer
        p = dataclasses.replace(p, issuer=provider_url + "/elsewhere")
        oidc_client._cache[f"meta:{p.issuer}"] = oidc_client._cache[f"meta:{provider_url}"]
    with pytest.raises(OidcFailure) as err:
        oidc_client.verify_id_token(p, token, nonce=nonce, timeout=5, now=now)
    assert err.value.code == "invalid_id_token"
