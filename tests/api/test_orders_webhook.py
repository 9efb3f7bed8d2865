"""CONTRACT §4: the signed order webhook, one test per failure mode."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import count_rows
from tests.helpers import sign_webhook, signed_post

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_dGhpcyBpcyB0aGUgb2xkIHNlY3JldCBrZXk="
OTHER = "whsec_c29tZW9uZSBlbHNlJ3Mgc2VjcmV0IGtleQ=="
PATH = "/api/v1/webhooks/orders"


def order(order_id: str = "1001", email: str = "Ana@Example.com", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id, "email": email, "placed_at": "2026-11-22T10:00:00Z",
        "status": "paid", "currency": "EUR", "total": "59.90",
        "customer": {"name": "Ana Ruiz", "phone": "+34600111222", "company": None},
        "billing_address": {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
                            "postal_code": "28013", "country": "es"},
        "shipping_address": {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid",
                             "postal_code": "28013", "country": "ES"},
        "items": [{"product_id": "p-7", "sku": "TS-RED-M", "name": "T-shirt", "quantity": 2,
                   "unit_price": "19.95"}],
        "invoice_url": "https://shop.example/invoices/1001.pdf",
    }
    body.update(data)
    return {"type": "order.placed", "data": body}


@pytest.fixture
def hook_app(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET, OLD_SECRET))


@pytest.fixture
def hook(hook_app: Any) -> Any:
    return hook_app.test_client()


def post(client: Any, payload: Any, secret: str = SECRET, **kw: Any) -> Any:
    return signed_post(client, PATH, payload, secret, **kw)


def customers(app: Any) -> list[Any]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        return list(db.session.scalars(select(Customer).order_by(Customer.id)))


def stored_order(app: Any, order_id: str) -> Any:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core.extensions import db
        from loginsvc.core.models import Order

        return db.session.scalars(select(Order).where(Order.order_id == order_id)).first()


def assert_nothing_stored(app: Any) -> None:
    assert count_rows(app, "orders") == 0
    assert count_rows(app, "customers") == 0


# -- the happy path ------------------------------------------------------------

def test_first_order_creates_account_and_sends_welcome(hook, hook_app, mailbox):
    r = post(hook, order(email="  Ana@Example.com "))
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    [c] = customers(hook_app)
    assert body == {"order_id": "1001", "customer_id": c.id, "account_created": True}
    assert c.email == "Ana@Example.com" and c.email_norm == "ana@example.com"
    assert c.has_account and c.status == "active"
    assert (c.name, c.phone, c.company) == ("Ana Ruiz", "+34600111222", None)
    assert c.shipping_address["city"] == "Madrid" and c.country == "ES"
    assert "ana ruiz" in c.search_text
    assert c.order_count == 1 and c.totals == {"EUR": "59.90"}
    assert c.last_order_at.isoformat() == "2026-11-22T10:00:00+00:00"
    [mail] = mailbox.wait_for("Ana@Example.com")
    assert "Welcome" in mail.subject and mail.link.startswith("http://localhost/login/verify")
    o = stored_order(hook_app, "1001")
    assert o.customer_id == c.id and str(o.total) in ("59.90", "59.9000")
    assert o.items == [{"product_id": "p-7", "sku": "TS-RED-M", "name": "T-shirt",
                        "quantity": 2, "unit_price": "19.95"}]
    assert o.extra is None


def test_welcome_mail_follows_order_locale(hook, mailbox):
    r = post(hook, order(email="jan@example.pl", locale="pl-PL"))
    assert r.status_code == 201
    [mail] = mailbox.wait_for("jan@example.pl")
    assert "Welcome" not in mail.subject  # the Polish template


def test_second_order_same_address_other_case_no_new_account(hook, hook_app, mailbox):
    first = post(hook, order("1", "ana@example.com")).get_json()
    mailbox.wait_for("ana@example.com")
    r = post(hook, order("2", " ANA@EXAMPLE.COM", total="10.00"))
    assert r.status_code == 201
    assert r.get_json() == {"order_id": "2", "customer_id": first["customer_id"],
                            "account_created": False}
    [c] = customers(hook_app)
    assert c.order_count == 2 and c.totals == {"EUR": "69.90"}
    time.sleep(0.2)
    assert len(mailbox.to("ana@example.com")) == 1  # one welcome only


def test_existing_profile_is_not_overwritten(hook, hook_app, mailbox):
    post(hook, order("1", customer={"name": "Ana", "phone": None, "company": None}))
    post(hook, order("2", customer={"name": "Someone Else", "phone": "+1", "company": "ACME"}))
    [c] = customers(hook_app)
    assert (c.name, c.phone, c.company) == ("Ana", "+1", "ACME")  # blanks filled, name kept


def test_newsletter_opt_in_travels_with_order(hook, hook_app, mailbox):
    post(hook, order("1", customer={"name": "Ana", "newsletter": True}))
    [c] = customers(hook_app)
    assert c.newsletter is True
    assert count_rows(hook_app, "consent_events") == 1
    post(hook, order("2", customer={"name": "Ana", "newsletter": False}))
    assert customers(hook_app)[0].newsletter is True  # an unticked box never unsubscribes


def test_required_mode_account_is_pending_and_owner_told(make_app, mailbox):
    app = make_app(webhook_secrets=(SECRET,))
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "required"})
    r = post(app.test_client(), order(email="new@example.com"))
    assert r.status_code == 201 and r.get_json()["account_created"] is True
    [c] = customers(app)
    assert c.has_account and c.status == "pending"
    [note] = mailbox.wait_for("owner@shop.test")
    assert "new@example.com" in note.text
    assert mailbox.to("new@example.com") == []


def test_disabled_mode_keeps_guest_order(make_app, mailbox):
    app = make_app(webhook_secrets=(SECRET,))
    with app.app_context():
        from loginsvc.admin.shop_settings import put_settings

        put_settings({"account_mode": "disabled"})
    r = post(app.test_client(), order(email="guest@example.com"))
    assert r.status_code == 201
    assert r.get_json() == {"order_id": "1001", "customer_id": None, "account_created": False}
    [c] = customers(app)
    assert not c.has_account and c.order_count == 1
    assert stored_order(app, "1001").customer_id == c.id
    time.sleep(0.2)
    assert mailbox.messages == []


def test_blocked_customer_gets_order_but_no_account(hook, hook_app, mailbox):
    with hook_app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        db.session.add(Customer(email="bad@example.com", email_norm="bad@example.com",
                                status="blocked", has_account=False, totals={}))
        db.session.commit()
    r = post(hook, order(email="bad@example.com"))
    assert r.status_code == 201 and r.get_json()["account_created"] is False
    assert r.get_json()["customer_id"] is None
    time.sleep(0.2)
    assert mailbox.messages == []


def test_integer_ids_are_the_same_order_as_strings(hook, hook_app, mailbox):
    assert post(hook, order(1001)).status_code == 201
    r = post(hook, order("1001"))
    assert r.status_code == 200 and r.get_json()["order_id"] == "1001"


def test_unknown_fields_are_kept_raw(hook, hook_app, mailbox):
    payload = order(gift_note="Happy birthday", coupon={"code": "X", "n": 1})
    payload["data"]["items"][0]["color"] = "red"
    payload["data"]["customer"]["vat_id"] = "ES123"
    payload["api_version"] = "2026-01"
    assert post(hook, payload).status_code == 201
    o = stored_order(hook_app, "1001")
    assert o.extra == {"event": {"api_version": "2026-01"},
                       "data": {"gift_note": "Happy birthday", "coupon": {"code": "X", "n": 1}},
                       "customer": {"vat_id": "ES123"}, "items": {"0": {"color": "red"}}}
    assert "color" not in o.items[0]


# -- known order ids ----------------------------------------------------------

def test_order_placed_again_changes_nothing(hook, hook_app, mailbox):
    first = post(hook, order()).get_json()
    r = post(hook, order(status="refunded", total="1.00"))
    assert r.status_code == 200
    assert r.get_json() == {**first, "account_created": False}
    o = stored_order(hook_app, "1001")
    assert o.status == "paid" and customers(hook_app)[0].totals == {"EUR": "59.90"}
    assert count_rows(hook_app, "orders") == 1


def test_order_updated_updates_order_and_aggregates(hook, hook_app, mailbox):
    post(hook, order("1", total="10.00"))
    post(hook, order("2", total="5.50", placed_at="2026-12-01T08:00:00+01:00"))
    upd = order("1", total="12.25", status="shipped", items=[],
                shipping_address={"city": "Sevilla", "country": "ES"})
    upd["type"] = "order.updated"
    r = post(hook, upd)
    assert r.status_code == 200 and r.get_json()["account_created"] is False
    o = stored_order(hook_app, "1")
    assert (o.status, o.items, o.shipping_address["city"]) == ("shipped", [], "Sevilla")
    [c] = customers(hook_app)
    assert c.order_count == 2 and c.totals == {"EUR": "17.75"}
    assert c.last_order_at.isoformat() == "2026-12-01T07:00:00+00:00"
    cancel = order("2", total="5.50", status="cancelled")
    cancel["type"] = "order.updated"
    assert post(hook, cancel).status_code == 200
    c = customers(hook_app)[0]
    assert c.order_count == 2 and c.totals == {"EUR": "12.25"}  # cancelled: not money spent


def test_order_updated_for_unknown_order_creates_it(hook, hook_app, mailbox):
    upd = order("77")
    upd["type"] = "order.updated"
    r = post(hook, upd)
    assert r.status_code == 201 and r.get_json()["account_created"] is True
    assert post(hook, order("77", total="1.00")).status_code == 200  # late order.placed: no-op
    assert customers(hook_app)[0].totals == {"EUR": "59.90"}


def test_totals_are_exact_per_currency(hook, hook_app, mailbox):
    post(hook, order("a", total="0.10"))
    post(hook, order("b", total="0.20"))
    post(hook, order("c", total="1500", currency="JPY",
                     items=[{"name": "Tea", "quantity": 1, "unit_price": "1500"}]))
    [c] = customers(hook_app)
    assert c.totals == {"EUR": "0.30", "JPY": "1500"}


# -- signatures ---------------------------------------------------------------

def _raw(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def test_no_secrets_configured_is_401(client):
    r = post(client, order())
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_401(hook, hook_app, drop):
    body = _raw(order())
    headers = sign_webhook(SECRET, body, msg_id="msg_1")
    del headers[drop]
    r = hook.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert_nothing_stored(hook_app)


def test_bad_signature_is_401(hook, hook_app):
    body = _raw(order())
    headers = sign_webhook(SECRET, body, msg_id="msg_1")
    headers["webhook-signature"] = "v1,bm90IGEgc2lnbmF0dXJl"
    r = hook.post(PATH, data=body, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert_nothing_stored(hook_app)


def test_tampered_body_is_401(hook, hook_app):
    headers = sign_webhook(SECRET, _raw(order()), msg_id="msg_1")
    r = hook.post(PATH, data=_raw(order(total="0.01")), headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert_nothing_stored(hook_app)


def test_wrong_secret_is_401(hook, hook_app):
    r = post(hook, order(), secret=OTHER)
    assert r.status_code == 401 and r.get_json()["code"] == "invalid_signature"
    assert_nothing_stored(hook_app)


def test_several_signatures_one_valid_is_accepted(hook):
    body = _raw(order())
    good = sign_webhook(SECRET, body, msg_id="msg_1")
    bad = sign_webhook(OTHER, body, msg_id="msg_1")["webhook-signature"]
    good["webhook-signature"] = f"{bad} v1,!!notbase64 {good['webhook-signature']}"
    r = hook.post(PATH, data=body, headers=good)
    assert r.status_code == 201


def test_rotation_old_and_new_secret_both_accepted(hook):
    assert post(hook, order("1"), secret=SECRET).status_code == 201
    assert post(hook, order("2"), secret=OLD_SECRET).status_code == 201


@pytest.mark.parametrize("offset", [-301, 305, -10_000])  # +305: time passes before the check
def test_stale_timestamp_is_401(hook, hook_app, offset):
    r = post(hook, order(), timestamp=int(time.time()) + offset)
    assert r.status_code == 401 and r.get_json()["code"] == "stale_timestamp"
    assert_nothing_stored(hook_app)


def test_timestamp_within_tolerance_is_accepted(hook):
    assert post(hook, order(), timestamp=int(time.time()) - 290).status_code == 201


def test_replay_returns_first_answer_without_second_effect(hook, hook_app, mailbox):
    body = _raw(order())
    headers = sign_webhook(SECRET, body, msg_id="msg_replay")
    first = hook.post(PATH, data=body, headers=headers)
    assert first.status_code == 201
    mailbox.wait_for("Ana@Example.com")
    again = hook.post(PATH, data=body, headers=sign_webhook(SECRET, body, msg_id="msg_replay"))
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Webhook-Replayed"] == "true"
    assert count_rows(hook_app, "orders") == 1 and customers(hook_app)[0].order_count == 1
    time.sleep(0.2)
    assert len(mailbox.to("Ana@Example.com")) == 1


def test_rejected_delivery_id_can_be_retried(hook, hook_app):
    bad = order(total=59.9)
    r = post(hook, bad, msg_id="msg_retry")
    assert r.status_code == 422
    assert_nothing_stored(hook_app)
    assert post(hook, order(), msg_id="msg_retry").status_code == 201


# -- validation ---------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"total": 59.9}, "data.total"),
    ({"total": 60}, "data.total"),
    ({"total": "59.999"}, "data.total"),
    ({"total": "-1.00"}, "data.total"),
    ({"total": "NaN"}, "data.total"),
    ({"total": "1e3"}, "data.total"),
    ({"currency": "eur"}, "data.currency"),
    ({"currency": "EURO"}, "data.currency"),
    ({"placed_at": "2026-11-22T10:00:00"}, "data.placed_at"),
    ({"placed_at": "2026-13-22T10:00:00Z"}, "data.placed_at"),
    ({"placed_at": 1763805600}, "data.placed_at"),
    ({"email": "not-an-address"}, "data.email"),
    ({"email": None}, "data.email"),
    ({"order_id": ""}, "data.order_id"),
    ({"order_id": "x" * 65}, "data.order_id"),
    ({"status": "Paid!"}, "data.status"),
    ({"invoice_url": "javascript:alert(1)"}, "data.invoice_url"),
    ({"items": [{"name": "T", "quantity": 0, "unit_price": "1.00"}]}, "data.items.0.quantity"),
    ({"items": [{"name": "T", "quantity": "2", "unit_price": "1.00"}]}, "data.items.0.quantity"),
    ({"items": [{"name": "T", "quantity": 1, "unit_price": 1.0}]}, "data.items.0.unit_price"),
    ({"items": [{"quantity": 1, "unit_price": "1.00"}]}, "data.items.0.name"),
    ({"items": {"not": "a list"}}, "data.items"),
    ({"billing_address": "Calle Mayor 1"}, "data.billing_address"),
])
def test_invalid_field_is_422_with_field_error(hook, hook_app, change, field):
    r = post(hook, order(**change))
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert r.headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "invalid_request"
    assert field in [e["field"] for e in body["errors"]], body["errors"]
    assert all(e["message"] for e in body["errors"])
    assert_nothing_stored(hook_app)


def test_unknown_type_is_422(hook, hook_app):
    r = post(hook, {"type": "order.deleted", "data": order()["data"]})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "type"
    assert_nothing_stored(hook_app)


@pytest.mark.parametrize("raw", [b"{nope", b"", b"\xff\xfe", b"[" * 100_000, b"null",
                                 b'{"type": "order.placed", "data": {"x": NaN}}',
                                 b'{"type": "order.placed", "data": {"x": 1e400}}'])
def test_unparseable_or_non_object_body(hook, hook_app, raw):
    headers = sign_webhook(SECRET, raw, msg_id=f"msg_{len(raw)}_{raw[:2]!r}")
    r = hook.post(PATH, data=raw, headers=headers)
    assert r.status_code in (400, 422) and r.get_json()["code"] == "invalid_request"
    assert_nothing_stored(hook_app)


def test_oversize_body_is_413(hook, hook_app):
    r = post(hook, order(note="x" * (1024 * 1024)))
    assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"
    assert_nothing_stored(hook_app)


def _malformed_bodies() -> list[Any]:
    """100 broken variants of a valid body: each field given each wrong kind of value."""
    wrong = [None, 1.5, -1, True, "", "x" * 5000, [], {}, [1, 2], {"a": {"b": None}}]
    base = order()
    out: list[Any] = []
    valid = {("customer", None), ("customer", "{}"), ("order_id", "-1"), ("items", "[]"),
             ("invoice_url", None),
             ("customer", '{"a": {"b": null}}')}  # unknown fields are kept, not refused
    for key in ["order_id", "email", "placed_at", "currency", "total", "items", "customer",
                "status", "invoice_url"]:
        for value in wrong:
            if (key, None if value is None else json.dumps(value)) in valid:
                continue
            variant = copy.deepcopy(base)
            variant["data"][key] = value
            out.append(variant)
    out += [{}, [], "order", 42, {"type": "order.placed"}, {"data": base["data"]},
            {"type": "order.placed", "data": None}, {"type": None, "data": base["data"]}]
    item_variants = [{"quantity": 10**30}, {"unit_price": "１２.00"}, {"name": None},
                     {"quantity": True}, {"unit_price": ""}, {"product_id": [1]},
                     {"sku": {"x": 1}}, {"name": "x" * 600}]
    for change in item_variants:
        variant = copy.deepcopy(base)
        variant["data"]["items"][0].update(change)
        out.append(variant)
    return out[:100]


def test_hundred_malformed_bodies_never_500(hook, hook_app):
    bodies = _malformed_bodies()
    assert len(bodies) == 100
    for n, payload in enumerate(bodies):
        r = post(hook, payload, msg_id=f"msg_bad_{n}")
        assert r.status_code == 422, (n, payload, r.get_data(as_text=True))
        assert r.get_json()["code"] == "invalid_request" and r.get_json()["errors"]
    assert_nothing_stored(hook_app)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=12)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(key=st.sampled_from(["order_id", "email", "placed_at", "status", "currency", "total",
                            "customer", "billing_address", "items", "invoice_url", "locale"]),
       value=_json)
def test_fuzzed_fields_never_500(hook, key, value):
    payload = order(order_id=f"fz{time.monotonic_ns()}")
    payload["data"][key] = value
    r = post(hook, payload)
    assert r.status_code in (200, 201, 400, 422), r.get_data(as_text=True)


@pytest.mark.parametrize(("raw_field", "field"), [
    ('"gift_note": "a\\u0000b"', "data.gift_note"),
    ('"gift_note": "\\ud800"', "data.gift_note"),
    ('"pickup_point": {"city": "x\\u0000"}', "data.pickup_point.city"),
    ('"gift": {"a\\u0000": 1}', "data.gift.a\x00"),
])
def test_text_the_database_cannot_store_is_422(hook, hook_app, raw_field, field):
    raw = json.dumps(order()).replace('"order_id": "1001"', '"order_id": "1001", ' + raw_field)
    r = hook.post(PATH, data=raw.encode(), headers=sign_webhook(SECRET, raw.encode(),
                                                                  msg_id="msg_nul"))
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["errors"][0]["field"] == field
    assert_nothing_stored(hook_app)


def test_deeply_nested_extra_is_422(hook, hook_app):
    deep: Any = "x"
    for _ in range(60):
        deep = {"a": deep}
    r = post(hook, order(gift=deep))
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_request"
    assert_nothing_stored(hook_app)
