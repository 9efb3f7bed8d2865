"""CONTRACT §5: DELETE /api/v1/me — fresh sign-in needed; person gone, orders detached."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

from freezegun import freeze_time

from tests.conftest import count_rows
from tests.helpers import ORIGIN, bearer, sign_in

ADDRESS = {"name": "Ana Ruiz", "line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"}


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["code"] == code
    return body


def _fill_account(client: Any, auth: dict[str, str], app: Any) -> int:
    client.patch("/api/v1/me", headers=auth, json={
        "name": "Ana Ruiz", "phone": "+34 600", "newsletter": True,
        "addresses": {"billing": ADDRESS, "shipping": ADDRESS}})
    client.put("/api/v1/me/wishlist/p-7", headers=auth, json={"name": "T-shirt"})
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer, CustomerGroup, Group, Order

        c = db.session.query(Customer).one()
        group = Group(name="vip")
        db.session.add(group)
        db.session.flush()
        db.session.add(CustomerGroup(customer_id=c.id, group_id=group.id))
        db.session.add(Order(order_id="1001", customer_id=c.id, status="paid", currency="EUR",
                             total=Decimal("59.90"), placed_at=dt.datetime.now(dt.UTC),
                             items=[{"product_id": "p-7", "name": "T-shirt", "quantity": 3,
                                     "unit_price": "19.95"}],
                             customer_info={"name": "Ana Ruiz", "phone": "+34 600"},
                             billing_address=ADDRESS, shipping_address=ADDRESS,
                             extra={"note": "ring twice, Ana"}))
        db.session.commit()
        return c.id


def _set_auth_at(app: Any, customer_id: int, when: float) -> None:
    """Age every session of the customer, as if the sign-in happened at `when`."""
    with app.app_context():
        from loginsvc.core.runtime import store

        st = store()
        key = f"{st.p}csess:{customer_id}"
        for th in st.r.hgetall(key).values():
            skey = f"{st.p}sess:{th.decode()}"
            from loginsvc.core.store import SessionRecord

            rec = SessionRecord.from_json(st.r.get(skey))
            rec.auth_at = when
            st.r.set(skey, rec.to_json(), keepttl=True)


def test_delete_removes_person_and_detaches_orders(client, mailbox, app):
    body = sign_in(client, mailbox, "Ana@Example.com")
    auth = bearer(body["session_token"])
    cid = _fill_account(client, auth, app)
    link = mailbox.to("ana@example.com")[-1]  # a link mailed before the deletion
    r = client.delete("/api/v1/me", headers=auth)
    assert r.status_code == 204 and r.data == b""
    for table in ("customers", "wishlist_items", "consent_events", "customer_groups"):
        assert count_rows(app, table) == 0, table
    assert count_rows(app, "groups") == 1 and count_rows(app, "orders") == 1
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Order

        o = db.session.query(Order).one()
        assert o.customer_id is None and o.customer_info is None and o.extra is None
        assert o.billing_address is None and o.shipping_address is None
        assert o.total == Decimal("59.90") and o.items[0]["quantity"] == 3  # the books stay
    # Sessions end, old links stop working, the owner is told.
    _problem(client.get("/api/v1/me", headers=auth), 401, "unauthorized")
    _problem(client.post("/api/v1/auth/verify", json={"token": link.token}), 410,
             "token_used")
    notice = mailbox.wait_for("owner@shop.test")[-1]
    assert "Ana@Example.com" in notice.text and str(cid) in notice.text


def test_links_issued_before_deletion_are_revoked(client, mailbox, app):
    auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
    client.post("/api/v1/auth/login-link", json={"email": "ana@example.com"})
    unused = mailbox.wait_for("ana@example.com", 2)[-1]
    assert client.delete("/api/v1/me", headers=auth).status_code == 204
    _problem(client.post("/api/v1/auth/verify", json={"token": unused.token}), 410,
             "token_revoked")
    assert count_rows(app, "customers") == 0


def test_every_session_ends(client, mailbox, app):
    other = app.test_client()
    old = bearer(sign_in(other, mailbox, "ana@example.com")["session_token"])
    auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
    assert client.delete("/api/v1/me", headers=auth).status_code == 204
    _problem(other.get("/api/v1/me", headers=old), 401, "unauthorized")


def test_old_session_needs_reauth(client, mailbox, app):
    auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
    cid = client.get("/api/v1/me", headers=auth).get_json()["id"]
    _set_auth_at(app, cid, time.time() - 901)
    body = _problem(client.delete("/api/v1/me", headers=auth), 403, "reauth_required")
    assert "15 minutes" in body["detail"]
    assert count_rows(app, "customers") == 1
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    assert mailbox.to("owner@shop.test") == []


def test_reauth_window_by_the_clock(client, mailbox, app):
    with freeze_time("2026-11-22 10:00:00") as frozen:
        auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
        frozen.tick(dt.timedelta(minutes=16))
        _problem(client.delete("/api/v1/me", headers=auth), 403, "reauth_required")
        # A fresh link (the confirmation) makes it possible again.
        auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
        frozen.tick(dt.timedelta(minutes=14))
        assert client.delete("/api/v1/me", headers=auth).status_code == 204


def test_without_session_is_401(client, app):
    _problem(client.delete("/api/v1/me"), 401, "unauthorized")


def test_cookie_delete_from_foreign_origin_is_403(client, mailbox, app):
    sign_in(client, mailbox, "ana@example.com")
    _problem(client.delete("/api/v1/me", headers={"Origin": "https://evil.test"}), 403,
             "csrf_failed")
    assert count_rows(app, "customers") == 1
    r = client.delete("/api/v1/me", headers=ORIGIN)
    assert r.status_code == 204
    assert "loginsvc_session=;" in r.headers["Set-Cookie"]
    assert count_rows(app, "customers") == 0


def test_service_function_for_admin_reuse(client, mailbox, app):
    auth = bearer(sign_in(client, mailbox, "ana@example.com")["session_token"])
    cid = _fill_account(client, auth, app)
    with app.test_request_context():
        from loginsvc.customers.account_data import delete_customer_data

        assert delete_customer_data(cid, by="admin") == "ana@example.com"
        assert delete_customer_data(cid, by="admin") is None  # already gone
    assert count_rows(app, "customers") == 0
    _problem(client.get("/api/v1/me", headers=auth), 401, "unauthorized")
    assert "admin" in mailbox.wait_for("owner@shop.test")[-1].text


def test_link_sent_before_the_account_existed_stays_revoked_when_redis_forgets(
        app, client, mailbox):
    """The deletion mark is durable: Redis losing its data does not revive old links."""
    from tests.helpers import bearer, sign_in

    client.post("/api/v1/auth/login-link", json={"email": "forget@example.com"})
    early = mailbox.wait_for("forget@example.com")[0].token  # no account yet: names no customer
    session = sign_in(app.test_client(), mailbox, "forget@example.com")["session_token"]
    assert client.delete("/api/v1/me", headers=bearer(session)).status_code == 204
    with app.app_context():
        from loginsvc.core.runtime import store

        s = store()
        for key in s.r.scan_iter(match=f"{s.p}gone:*"):
            s.r.delete(key)
    r = client.post("/api/v1/auth/verify", json={"token": early})
    assert r.status_code == 410 and r.get_json()["code"] == "token_revoked"
    # a link asked for after the deletion works and opens a new account
    client.post("/api/v1/auth/login-link", json={"email": "forget@example.com"})
    fresh = mailbox.wait_for("forget@example.com", 3)[-1].token
    assert client.post("/api/v1/auth/verify", json={"token": fresh}).status_code == 200
