"""Signed calls: strict headers, secrets as the official library reads them, one text rule."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.api.admin_support import problem
from tests.api.test_orders_webhook import PATH, SECRET, order
from tests.conftest import count_rows
from tests.helpers import sign_webhook

UNPADDED = "whsec_dGVzdHNlY3JldA"  # base64("testsecret") without its "=="


def library_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers as a sender using the official standardwebhooks package makes them."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    sig = Webhook(secret).sign(msg_id, dt.datetime.fromtimestamp(ts, dt.UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig,
            "Content-Type": "application/json"}


@pytest.fixture
def hook_app(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


@pytest.mark.parametrize("stamp", ["{ts:_}", "+{ts}", " {ts}", "{ts}.0", "{ts}e0", "0x{ts:x}",
                                   "\u0661{ts}", "-{ts}", "{ts}\t"])
def test_webhook_timestamp_is_digits_only(hook_app, stamp):
    body = json.dumps(order("t1")).encode()
    ts = int(time.time())
    headers = sign_webhook(SECRET, body, msg_id="msg_ts", timestamp=ts)
    headers["webhook-timestamp"] = stamp.format(ts=ts)
    r = hook_app.test_client().post(PATH, data=body, headers=headers)
    problem(r, 401, "invalid_signature")
    assert count_rows(hook_app, "orders") == 0


def test_malformed_signature_parts_are_skipped_not_a_500(hook_app):
    body = json.dumps(order("t2")).encode()
    good = sign_webhook(SECRET, body, msg_id="msg_parts")
    for junk in ("v1", "v1,a,b", "v1,!!!!", ",", "v2,abc"):
        headers = {**good, "webhook-signature": junk}
        problem(hook_app.test_client().post(PATH, data=body, headers=headers), 401,
                "invalid_signature")
    headers = {**good, "webhook-signature": "v1 v1,a,b " + good["webhook-signature"]}
    r = hook_app.test_client().post(PATH, data=body, headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_an_unpadded_secret_verifies_as_the_official_library_signs(make_app):
    app = make_app(webhook_secrets=(UNPADDED,))
    body = json.dumps(order("u1", "pad@example.com")).encode()
    r = app.test_client().post(PATH, data=body, headers=library_headers(UNPADDED, body))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["order_id"] == "u1"


def test_an_unusable_secret_is_named_at_start(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="loginsvc"):
        make_app(webhook_secrets=(SECRET, "whsec_", "not-a-whsec"),
                 wordpress_sso_secrets=("whsec_@@@@",))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("WEBHOOK_SECRETS: secret #2 is not whsec_<base64>" in w for w in warnings)
    assert any("WEBHOOK_SECRETS: secret #3 is not whsec_<base64>" in w for w in warnings)
    assert any("WORDPRESS_SSO_SECRETS: secret #1" in w for w in warnings)
    assert not any("secret #1" in w and w.startswith("WEBHOOK_SECRETS") for w in warnings)


@pytest.mark.parametrize("field,value", [("name", "Ana\r\nBcc: x@evil.example"),
                                         ("name", "Ana\x07"), ("company", "ACME\nLtd"),
                                         ("phone", "+34\r600")])
def test_order_customer_fields_refuse_control_characters(hook_app, field, value):
    payload = order("c1", "ctl@example.com")
    payload["data"]["customer"][field] = value
    body = json.dumps(payload).encode()
    r = hook_app.test_client().post(PATH, data=body,
                                    headers=sign_webhook(SECRET, body, msg_id="msg_ctl"))
    err = problem(r, 422, "invalid_request")
    assert err["errors"][0]["field"] == f"data.customer.{field}"
    assert count_rows(hook_app, "orders") == 0 and count_rows(hook_app, "customers") == 0


def test_profile_and_webhook_share_the_rule(hook_app, mailbox):
    from tests.helpers import ORIGIN, bearer, sign_in

    web = hook_app.test_client()
    auth = {**bearer(sign_in(web, mailbox, "same@example.com")["session_token"]), **ORIGIN}
    r = web.patch("/api/v1/me", json={"name": "Ana\r\nRuiz"}, headers=auth)
    assert problem(r, 422, "invalid_request")["errors"][0]["message"].endswith(
        "Control characters are not allowed.")


def test_the_stdlib_signing_script_agrees_with_the_library_on_unpadded_secrets():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "sign_webhook.py"
    spec = importlib.util.spec_from_file_location("sign_webhook_script", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    body = b'{"type":"order.placed"}'
    at = dt.datetime.fromtimestamp(1796149943, dt.UTC)
    for secret in (UNPADDED, SECRET, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert script.sign(secret, "msg_1", 1796149943, body) == Webhook(secret).sign(
            "msg_1", at, body.decode())
