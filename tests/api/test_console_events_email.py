"""The console's events page (with "Retry now") and the card's "Change e-mail"."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.api.admin_support import add_customer
from tests.api.console_support import post, sign_in_owner
from tests.api.test_console_auth import add_member

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FOREIGN = {"Origin": "https://evil.example"}
# email-validator refuses special-use domains such as the suite's default owner@shop.test.
OWNER = "owner@example.com"


class Receiver:
    """The shop's events endpoint: takes every delivery (200) and notes its webhook-id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.ids.append(self.headers["webhook-id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def shop(make_app: Any, receiver: Receiver) -> Any:
    return make_app(events_url=receiver.url, events_secrets=(SECRET,), admin_email=OWNER)


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(admin_email=OWNER)


def add_event(app: Any, status: str, *, age: int = 0) -> tuple[int, str]:
    """An outbox row in `status`, `age` seconds old; its id and webhook-id."""
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.events.outbox import new_event

        ev = new_event("customer.updated", {"id": 7, "email": "x@example.com"})
        ev.created_at = ev.created_at - dt.timedelta(seconds=age)
        ev.status = status
        if status == "failed":
            ev.attempts, ev.last_error, ev.next_attempt_at = 15, "HTTP 503", None
        if status == "delivered":
            ev.attempts, ev.next_attempt_at, ev.delivered_at = 1, None, ev.created_at
        db.session.add(ev)
        db.session.commit()
        return ev.id, ev.webhook_id


def event_state(app: Any, event_id: int) -> tuple[str, int]:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.events.models import OutboxEvent

        ev = db.session.get(OutboxEvent, event_id)
        return ev.status, ev.attempts


def audit_actions(app: Any) -> list[tuple[str, int | None, dict[str, Any] | None]]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.admin.models import AuditEntry
        from loginsvc.core.extensions import db

        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.customer_id, e.detail) for e in rows]


def customer_email(app: Any, cid: int) -> str:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        return db.session.get(Customer, cid).email


# -- /admin/events ------------------------------------------------------------------------


def test_owner_sees_events_filters_and_retries(shop: Any, mailbox: Any,
                                               receiver: Receiver) -> None:
    client = shop.test_client()
    token = sign_in_owner(client, mailbox, OWNER)
    failed, failed_wid = add_event(shop, "failed", age=10)
    delivered, delivered_wid = add_event(shop, "delivered")
    listing = client.get("/admin/events").get_data(as_text=True)
    assert 'href="/admin/events"' in listing  # in the navigation
    assert failed_wid in listing and delivered_wid in listing and "HTTP 503" in listing
    assert f'action="/admin/events/{failed}/retry"' in listing
    assert f'action="/admin/events/{delivered}/retry"' not in listing
    german = client.get("/admin/events?lang=de").get_data(as_text=True)
    assert "Ereignisse" in german and "Jetzt erneut senden" in german
    only_failed = client.get("/admin/events?status=failed").get_data(as_text=True)
    assert failed_wid in only_failed and delivered_wid not in only_failed
    assert '<option value="failed" selected>' in only_failed
    assert '<input type="hidden" name="status" value="failed">' in only_failed  # kept by retry
    r = post(client, f"/admin/events/{failed}/retry", token, status="failed")
    assert r.status_code == 303
    assert r.headers["Location"] == "/admin/events?status=failed&done=event_retried"
    assert event_state(shop, failed) == ("delivered", 16)
    assert receiver.ids == [failed_wid]
    assert ("event.retry", None, {"event_id": failed}) in audit_actions(shop)
    after = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "The event was sent again" in after and failed_wid not in after


def test_events_page_by_page(shop: Any, mailbox: Any) -> None:
    client = shop.test_client()
    sign_in_owner(client, mailbox, OWNER)
    oldest = add_event(shop, "pending", age=100)[1]
    for n in range(50):
        add_event(shop, "pending", age=n)
    first = client.get("/admin/events?status=pending").get_data(as_text=True)
    assert oldest not in first and 'rel="next"' in first
    next_url = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "status=pending" in next_url and "cursor=" in next_url
    second = client.get(next_url.replace("&amp;", "&")).get_data(as_text=True)
    assert oldest in second and 'rel="next"' not in second
    # A cursor that is not ours starts at the newest instead of failing.
    assert client.get("/admin/events?cursor=garbage").status_code == 200


def test_staff_see_events_and_cannot_retry(shop: Any, mailbox: Any, receiver: Receiver) -> None:
    add_member(shop, "helper@example.com", "staff")
    client = shop.test_client()
    token = sign_in_owner(client, mailbox, "helper@example.com")
    failed, failed_wid = add_event(shop, "failed")
    listing = client.get("/admin/events")
    assert listing.status_code == 200 and failed_wid in listing.get_data(as_text=True)
    assert "/retry" not in listing.get_data(as_text=True)
    r = post(client, f"/admin/events/{failed}/retry", token)
    assert r.status_code == 403 and "forbidden" in r.get_data(as_text=True)
    assert event_state(shop, failed) == ("failed", 15)
    assert receiver.ids == [] and audit_actions(shop) == []


def test_retry_from_a_foreign_origin_is_refused(shop: Any, mailbox: Any,
                                                receiver: Receiver) -> None:
    client = shop.test_client()
    token = sign_in_owner(client, mailbox, OWNER)
    failed, _ = add_event(shop, "failed")
    r = client.post(f"/admin/events/{failed}/retry", data={"csrf_token": token}, headers=FOREIGN)
    assert r.status_code == 403 and "csrf_failed" in r.get_data(as_text=True)
    assert event_state(shop, failed) == ("failed", 15) and receiver.ids == []


def test_retry_of_an_unknown_event_is_404(shop: Any, mailbox: Any) -> None:
    client = shop.test_client()
    token = sign_in_owner(client, mailbox, OWNER)
    r = post(client, "/admin/events/999999/retry", token)
    assert r.status_code == 404 and "event_not_found" in r.get_data(as_text=True)
    assert audit_actions(shop) == []


# -- Change e-mail ----------------------------------------------------------------------------


@pytest.fixture
def owner(client: Any, mailbox: Any) -> str:
    return sign_in_owner(client, mailbox, OWNER)


def test_change_email(app: Any, client: Any, owner: str, mailbox: Any) -> None:
    cid = add_customer(app, "old@example.com", has_account=True)
    card = client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    assert f'action="/admin/customers/{cid}/email"' in card
    r = post(client, f"/admin/customers/{cid}/email", owner, email="New@Example.com")
    assert r.status_code == 303
    assert r.headers["Location"] == f"/admin/customers/{cid}?done=email_changed"
    assert customer_email(app, cid) == "New@Example.com"
    assert ("customer.email", cid, {"email": "New@Example.com", "previous": "old@example.com"}
            ) in audit_actions(app)
    assert len(mailbox.wait_for("old@example.com")) == 1  # the old address gets the notice
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "The e-mail address is changed" in page and "New@Example.com" in page


def test_change_email_to_a_taken_address(app: Any, client: Any, owner: str) -> None:
    cid = add_customer(app, "ann@example.com")
    add_customer(app, "bob@example.com")
    r = post(client, f"/admin/customers/{cid}/email", owner, email="BOB@example.com")
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert 'role="alert"' in page
    assert "Another customer already has this e-mail address. Nothing was changed." in page
    assert 'value="BOB@example.com"' in page and 'aria-invalid="true"' in page
    assert customer_email(app, cid) == "ann@example.com"
    assert audit_actions(app) == []


def test_change_email_to_an_invalid_address(app: Any, client: Any, owner: str) -> None:
    cid = add_customer(app, "ann@example.com")
    r = post(client, f"/admin/customers/{cid}/email", owner, email="not an address")
    assert r.status_code == 422
    assert "This is not a valid e-mail address. Nothing was changed." in r.get_data(as_text=True)
    assert customer_email(app, cid) == "ann@example.com" and audit_actions(app) == []


def test_change_email_from_a_foreign_origin_is_refused(app: Any, client: Any, owner: str) -> None:
    cid = add_customer(app, "ann@example.com")
    r = client.post(f"/admin/customers/{cid}/email",
                    data={"csrf_token": owner, "email": "new@example.com"}, headers=FOREIGN)
    assert r.status_code == 403 and "csrf_failed" in r.get_data(as_text=True)
    assert customer_email(app, cid) == "ann@example.com" and audit_actions(app) == []


def test_staff_cannot_change_email(app: Any, client: Any, mailbox: Any) -> None:
    add_member(app, "helper@example.com", "staff")
    cid = add_customer(app, "ann@example.com")
    token = sign_in_owner(client, mailbox, "helper@example.com")
    assert "/email" not in client.get(f"/admin/customers/{cid}").get_data(as_text=True)
    r = post(client, f"/admin/customers/{cid}/email", token, email="new@example.com")
    assert r.status_code == 403 and "forbidden" in r.get_data(as_text=True)
    assert customer_email(app, cid) == "ann@example.com"
