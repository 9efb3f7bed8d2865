"""A bounded hypothesis fuzz of the input guard: hostile bodies never give a 5xx.

Bodies are JSON values with NULs, control characters, lone surrogates and
deep nesting, raw bytes, and the nesting bombs of the hardening review, sent
to the JSON endpoints before and after authentication.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.api.admin_support import make_key
from tests.helpers import ORIGIN, bearer, sign_in

SEED = 11_2026
EXAMPLES = 150

hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from("\x00\r\n\t\x1b\x7f\u2028\ufeff\"\\[]{}"),
                       st.characters(codec="utf-8")),
    max_size=40,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=False, allow_infinity=False), hostile_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=30,
)


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["json", "nested", "bomb", "bytes"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "nested":
        depth = draw(st.one_of(st.sampled_from([63, 64, 65, 900, 1000, 3000]),
                               st.integers(min_value=1, max_value=3000)))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        leaf = draw(st.sampled_from(['"\\u0000"', "1", '"x"', "null"]))
        return (opener * depth + leaf + closer * depth).encode()
    if kind == "bomb":  # the review's, as written and as valid JSON
        depth = draw(st.integers(min_value=500, max_value=5000))
        opener = draw(st.sampled_from(['["', "["]))
        return (opener * depth + '"\\u0000"' + "]" * depth).encode()
    return draw(st.binary(max_size=200))


ENDPOINTS = [("POST", "/api/v1/auth/login-link", "none"), ("POST", "/api/v1/auth/verify", "none"),
             ("POST", "/api/v1/webhooks/orders", "none"), ("POST", "/api/v1/admin/groups", "admin"),
             ("PATCH", "/api/v1/admin/settings", "admin"), ("PATCH", "/api/v1/me", "session"),
             ("PUT", "/api/v1/me/wishlist/p-1", "session"),
             ("POST", "/api/v1/admin/customers/import", "admin")]


@pytest.fixture
def target(make_app: Any, mailbox: Any) -> Any:
    app = make_app(ip_limit=1_000_000, email_limit=1_000_000,
                   webhook_secrets=("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",))
    client = app.test_client()
    creds = {"none": {}, "admin": bearer(make_key(app)),
             "session": {**bearer(sign_in(client, mailbox, "g@example.com")["session_token"]),
                         **ORIGIN}}
    return client, creds


def test_no_body_gives_a_server_error(target):
    client, creds = target
    seen: list[tuple[int, str]] = []

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=bodies(), which=st.integers(min_value=0, max_value=len(ENDPOINTS) - 1),
           ctype=st.sampled_from(["application/json", "text/csv", "text/plain"]))
    def fuzz(body: bytes, which: int, ctype: str) -> None:
        method, path, auth = ENDPOINTS[which]
        r = client.open(path, method=method, data=body,
                        headers={"Content-Type": ctype, **creds[auth]})
        seen.append((r.status_code, path))
        assert r.status_code < 500, (path, body[:200], r.get_data(as_text=True)[:300])
        if r.status_code >= 400:
            assert r.headers["Content-Type"] == "application/problem+json"

    fuzz()
    assert len(seen) >= EXAMPLES  # and every one of them below 500
    assert any(status == 400 for status, _ in seen) and any(status == 422 for status, _ in seen)
