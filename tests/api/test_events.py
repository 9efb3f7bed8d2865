"""CONTRACT §9: events out, from a transactional outbox, signed with standardwebhooks.

The receiver is a small HTTP server in the test that verifies every delivery
with the `standardwebhooks` package, as a shop would, and answers as scripted.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.api.admin_support import Admin, make_key
from tests.helpers import ORIGIN, bearer, sign_in

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEXT = "whsec_bmV4dCBzZWNyZXQgZm9yIHJvdGF0aW9uIQ=="


class Receiver:
    """The shop's endpoint: verifies with standardwebhooks; answers per `script[type]`, else 200."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.script: dict[str, list[int]] = {}
        self.hold = threading.Event()
        self.hold.set()
        self.got: list[tuple[str, dict[str, Any]]] = []  # (webhook-id, body) verified
        self.refused = 0
        self.waiting = 0  # requests taken and not yet answered (while `hold` is clear)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(outer.secret).verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with outer.lock:
                        outer.refused += 1
                    return self._answer(401)
                with outer.lock:
                    outer.waiting += 1
                outer.hold.wait(60)
                with outer.lock:
                    outer.waiting -= 1
                    outer.got.append((self.headers["webhook-id"], payload))
                    planned = outer.script.get(payload["type"])
                    status = planned.pop(0) if planned else 200
                self._answer(status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/loginsvc-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types(self) -> Counter[str]:
        return Counter(p["type"] for _, p in self.got)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.hold.set()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def shop(make_app: Any, receiver: Receiver) -> Any:
    return make_app(events_url=receiver.url, events_secrets=(SECRET, NEXT))


@pytest.fixture
def web(shop: Any) -> Any:
    return shop.test_client()


@pytest.fixture
def admin(shop: Any, web: Any) -> Admin:
    return Admin(web, make_key(shop))


def outbox(app: Any) -> list[Any]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core.extensions import db
        from loginsvc.events.models import OutboxEvent

        return list(db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def types(app: Any) -> Counter[str]:
    return Counter(e.type for e in outbox(app))


def deliver(app: Any, at: float | None = None) -> int:
    with app.app_context():
        from loginsvc.events.delivery import deliver_due

        return deliver_due(at=at)


def new_account(web: Any, mailbox: Any, address: str = "ana@example.com") -> dict[str, Any]:
    return sign_in(web, mailbox, address)


# -- each event type, once per change -----------------------------------------------


def test_first_sign_in_creates_and_signs_in_once_each(shop, web, mailbox):
    body = new_account(web, mailbox)
    assert types(shop) == {"customer.created": 1, "customer.signed_in": 1}
    created = next(e for e in outbox(shop) if e.type == "customer.created")
    assert created.payload["type"] == "customer.created"
    assert created.payload["data"]["id"] == body["customer"]["id"]
    assert created.payload["data"]["email"] == "ana@example.com"
    assert created.payload["timestamp"].endswith("Z") and created.status == "pending"


def test_profile_change_is_one_update(shop, web, mailbox):
    auth = bearer(new_account(web, mailbox)["session_token"])
    before = types(shop)
    r = web.patch("/api/v1/me", json={"name": "Ana Ruiz", "phone": "+34600111222"},
                  headers={**auth, **ORIGIN})
    assert r.status_code == 200
    assert types(shop) - before == {"customer.updated": 1}
    ev = outbox(shop)[-1]
    assert ev.payload["data"]["name"] == "Ana Ruiz"
    assert ev.payload["data"]["changed"] == ["name", "phone"]


def test_newsletter_change_is_one_consent_event_not_an_update(shop, web, mailbox):
    auth = bearer(new_account(web, mailbox)["session_token"])
    before = types(shop)
    r = web.patch("/api/v1/me", json={"newsletter": True}, headers={**auth, **ORIGIN})
    assert r.status_code == 200
    assert types(shop) - before == {"customer.consent_changed": 1}
    data = outbox(shop)[-1].payload["data"]
    assert (data["newsletter"], data["source"]) == (True, "profile")


def test_refused_change_writes_no_event(shop, web, mailbox):
    auth = bearer(new_account(web, mailbox)["session_token"])
    before = types(shop)
    r = web.patch("/api/v1/me", json={"name": 42}, headers={**auth, **ORIGIN})
    assert r.status_code == 422
    assert types(shop) == before


def test_status_change_by_the_owner_is_one_status_event(shop, web, mailbox, admin):
    cid = new_account(web, mailbox)["customer"]["id"]
    before = types(shop)
    r = admin.patch(f"/customers/{cid}", json={"status": "blocked"})
    assert r.status_code == 200, r.get_json()
    assert types(shop) - before == {"customer.status_changed": 1}
    data = outbox(shop)[-1].payload["data"]
    assert (data["status"], data["previous_status"]) == ("blocked", "active")


def test_deletion_is_one_deleted_event(shop, web, mailbox, admin):
    cid = new_account(web, mailbox)["customer"]["id"]
    before = types(shop)
    assert admin.delete(f"/customers/{cid}").status_code == 204
    assert types(shop) - before == {"customer.deleted": 1}
    assert outbox(shop)[-1].payload["data"] == {"id": cid, "email": "ana@example.com"}


def test_group_membership_by_the_owner_is_one_update_per_customer(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    bo = new_account(web, mailbox, "bo@example.com")["customer"]["id"]
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    before = types(shop)
    r = admin.post(f"/groups/{gid}/members", json={"customer_ids": [ana, bo, ana]})
    assert r.status_code == 200 and r.get_json()["added"] == 2, r.get_json()
    assert types(shop) - before == {"customer.updated": 2}
    updates = [e.payload["data"] for e in outbox(shop)[-2:]]
    assert sorted(d["id"] for d in updates) == sorted([ana, bo])
    assert all(d["groups"] == ["VIP"] and d["changed"] == ["groups"] for d in updates)


def test_adding_existing_members_again_writes_no_event(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    assert admin.post(f"/groups/{gid}/members", json={"customer_ids": [ana]}).status_code == 200
    before = types(shop)
    r = admin.post(f"/groups/{gid}/members", json={"customer_ids": [ana]})
    assert r.status_code == 200 and r.get_json()["added"] == 0
    assert types(shop) == before


def test_removing_a_member_is_one_update(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    bo = new_account(web, mailbox, "bo@example.com")["customer"]["id"]
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    admin.post(f"/groups/{gid}/members", json={"customer_ids": [ana]})
    before = types(shop)
    r = admin.delete(f"/groups/{gid}/members", json={"customer_ids": [ana, bo]})
    assert r.status_code == 200 and r.get_json()["removed"] == 1, r.get_json()
    assert types(shop) - before == {"customer.updated": 1}
    data = outbox(shop)[-1].payload["data"]
    assert (data["id"], data["groups"], data["changed"]) == (ana, [], ["groups"])


def test_deleting_a_group_is_one_update_per_member(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    vip = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    b2b = admin.post("/groups", json={"name": "B2B"}).get_json()["id"]
    admin.post(f"/groups/{vip}/members", json={"customer_ids": [ana]})
    admin.post(f"/groups/{b2b}/members", json={"customer_ids": [ana]})
    before = types(shop)
    assert admin.delete(f"/groups/{vip}").status_code == 204
    assert types(shop) - before == {"customer.updated": 1}
    assert outbox(shop)[-1].payload["data"]["groups"] == ["B2B"]


def test_renaming_a_group_is_one_update_per_member(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    new_account(web, mailbox, "bo@example.com")
    gid = admin.post("/groups", json={"name": "VIP"}).get_json()["id"]
    admin.post(f"/groups/{gid}/members", json={"customer_ids": [ana]})
    before = types(shop)
    assert admin.patch(f"/groups/{gid}", json={"name": "Gold"}).status_code == 200
    assert types(shop) - before == {"customer.updated": 1}
    data = outbox(shop)[-1].payload["data"]
    assert (data["id"], data["groups"], data["changed"]) == (ana, ["Gold"], ["groups"])
    before = types(shop)
    assert admin.patch(f"/groups/{gid}", json={"name": "Gold"}).status_code == 200
    assert types(shop) == before  # the same name again is no change


def test_groups_and_name_in_one_patch_is_one_update(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    admin.post("/groups", json={"name": "VIP"})
    admin.post("/groups", json={"name": "B2B"})
    before = types(shop)
    r = admin.patch(f"/customers/{ana}", json={"groups": ["VIP", "B2B"], "name": "Ana"})
    assert r.status_code == 200, r.get_json()
    assert types(shop) - before == {"customer.updated": 1}
    data = outbox(shop)[-1].payload["data"]
    assert (data["groups"], data["changed"]) == (["B2B", "VIP"], ["groups", "name"])


def test_patching_the_same_groups_again_writes_no_event(shop, web, mailbox, admin):
    ana = new_account(web, mailbox)["customer"]["id"]
    admin.post("/groups", json={"name": "VIP"})
    assert admin.patch(f"/customers/{ana}", json={"groups": ["VIP"]}).status_code == 200
    before = types(shop)
    r = admin.patch(f"/customers/{ana}", json={"groups": ["vip"]})
    assert r.status_code == 200 and r.get_json()["groups"] == ["VIP"], r.get_json()
    assert types(shop) == before


def test_nothing_is_written_without_events_url(make_app, mailbox):
    app = make_app()
    sign_in(app.test_client(), mailbox, "ana@example.com")
    assert outbox(app) == []


# -- delivery ------------------------------------------------------------------------


def test_500_twice_then_200_same_webhook_id_three_times_then_delivered(shop, web, mailbox,
                                                                       receiver, admin):
    new_account(web, mailbox)
    receiver.script = {"customer.created": [500, 500]}
    t0 = time.time()
    assert deliver(shop, t0) == 2  # created (500) and signed_in (200)
    first = outbox(shop)[0]
    assert first.type == "customer.created"
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "HTTP 500")
    assert outbox(shop)[1].status == "delivered"
    assert deliver(shop, t0 + 1) == 0  # not due yet: backoff
    assert deliver(shop, t0 + 11) == 1
    assert deliver(shop, t0 + 11 + 31) == 1
    ids = [wid for wid, p in receiver.got if p["type"] == "customer.created"]
    assert len(ids) == 3 and len(set(ids)) == 1 and ids[0] == first.webhook_id
    assert receiver.refused == 0
    done = outbox(shop)[0]
    assert (done.status, done.attempts, done.last_error) == ("delivered", 3, None)
    listed = admin.get("/events").get_json()
    assert listed["next_cursor"] is None
    row = next(e for e in listed["events"] if e["id"] == done.id)
    assert (row["type"], row["status"], row["attempts"], row["next_attempt_at"]) == (
        "customer.created", "delivered", 3, None)
    assert set(row) >= {"id", "type", "status", "attempts", "last_error", "next_attempt_at",
                        "created_at"}


def test_body_is_type_timestamp_data_and_verifies(shop, web, mailbox, receiver):
    new_account(web, mailbox)
    deliver(shop)
    assert receiver.types() == {"customer.created": 1, "customer.signed_in": 1}
    _, payload = receiver.got[0]
    assert set(payload) == {"type", "timestamp", "data"}


def test_receiver_down_is_retried_and_nothing_lost(make_app, mailbox):
    app = make_app(events_url="http://127.0.0.1:9/down", events_secrets=(SECRET,))
    sign_in(app.test_client(), mailbox, "ana@example.com")
    deliver(app)
    evs = outbox(app)
    assert {e.status for e in evs} == {"pending"} and all(e.attempts == 1 for e in evs)
    assert all("Connection" in (e.last_error or "") or "refused" in (e.last_error or "").lower()
               for e in evs)


def test_backoff_covers_more_than_three_days_then_failed(shop, web, mailbox, receiver):
    from loginsvc.events.delivery import BACKOFF

    assert sum(BACKOFF) > 3 * 86400
    new_account(web, mailbox)
    receiver.script = {"customer.created": [503] * 100}
    t = time.time()
    for delay in [0, *BACKOFF]:
        t += delay
        with shop.app_context():
            from loginsvc.events.delivery import attempt

            # standardwebhooks refuses stale timestamps, so each attempt is signed "now"
            # in the receiver's eyes; the schedule is what is checked here.
            assert attempt(outbox(shop)[0].id, at=t) is True
    ev = outbox(shop)[0]
    assert (ev.status, ev.attempts) == ("failed", len(BACKOFF) + 1)


def test_killed_deliverer_leaves_the_event_due_again_under_the_same_id(shop, web, mailbox,
                                                                       receiver):
    from loginsvc.events.delivery import LEASE

    new_account(web, mailbox)
    ev = outbox(shop)[0]
    t0 = time.time()
    with shop.app_context():
        from loginsvc.events.delivery import claim

        assert claim(ev.id, at=t0) is not None  # taken, then its deliverer "dies"
    deliver(shop, t0 + 1)
    assert ev.webhook_id not in [w for w, _ in receiver.got]  # still leased
    deliver(shop, t0 + LEASE + 1)
    assert [w for w, _ in receiver.got].count(ev.webhook_id) == 1
    assert outbox(shop)[0].status == "delivered"


def test_admin_retry_sends_again_now_under_the_same_id(shop, web, mailbox, receiver, admin):
    new_account(web, mailbox)
    deliver(shop)
    ev = outbox(shop)[0]
    r = admin.post(f"/events/{ev.id}/retry")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "delivered" and r.get_json()["attempts"] == 2
    assert [w for w, _ in receiver.got].count(ev.webhook_id) == 2


def test_admin_retry_unknown_event_404(admin):
    r = admin.post("/events/999999/retry")
    assert r.status_code == 404 and r.get_json()["code"] == "event_not_found"


def test_admin_events_need_the_key(web):
    r = web.get("/api/v1/admin/events")
    assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"


def test_admin_events_paginate_newest_first(shop, web, mailbox, admin):
    for n in range(3):
        new_account(web, mailbox, f"p{n}@example.com")
    r = admin.get("/events?limit=4")
    page1 = r.get_json()
    assert len(page1["events"]) == 4 and page1["next_cursor"]
    page2 = admin.get(f"/events?limit=4&cursor={page1['next_cursor']}").get_json()
    ids = [e["id"] for e in page1["events"] + page2["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6
    assert page2["next_cursor"] is None


@pytest.mark.slow
def test_worker_killed_mid_delivery_loses_nothing(shop, web, mailbox, receiver, tmp_path):
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    from loginsvc.events.delivery import LEASE

    def worker() -> subprocess.Popen[bytes]:
        s = shop.config["SETTINGS"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "EVENTS_"))}
        env.update(LOGINSVC_ENV="testing", DATABASE_URL=s.database_url, REDIS_URL=s.redis_url,
                   REDIS_PREFIX=s.redis_prefix, SECRET_KEYS=",".join(s.secret_keys),
                   PUBLIC_URL=s.public_url, MAIL_SERVER="127.0.0.1",
                   MAIL_PORT=str(mailbox.port), EVENTS_URL=receiver.url,
                   EVENTS_SECRETS=SECRET, LOGINSVC_INSTANCE=str(tmp_path / "w"), LOG_JSON="true")
        return subprocess.Popen([sys.executable, "-m", "loginsvc.cli", "worker"], env=env,
                                cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    new_account(web, mailbox)
    ids = {e.webhook_id for e in outbox(shop)}
    receiver.hold.clear()  # the receiver takes requests and does not answer yet
    procs = [worker()]
    try:
        deadline = time.monotonic() + 30
        while not _in_flight(receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _in_flight(receiver), "the worker never reached the receiver"
        os.killpg(procs[0].pid, signal.SIGKILL)  # mid-delivery, nothing recorded
        procs[0].wait(10)
        assert {e.status for e in outbox(shop)} == {"pending"}
        receiver.hold.set()
        procs.append(worker())
        deadline = time.monotonic() + LEASE + 30
        while time.monotonic() < deadline and {e.status for e in outbox(shop)} != {"delivered"}:
            time.sleep(0.2)
        assert {e.status for e in outbox(shop)} == {"delivered"}
        seen = Counter(w for w, _ in receiver.got)
        assert set(seen) == ids  # every event, each under its own id
        assert max(seen.values()) == 2  # the killed attempt went again, under the same id
    finally:
        receiver.hold.set()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _in_flight(receiver: Receiver) -> bool:
    with receiver.lock:
        return receiver.waiting > 0


def test_ten_concurrent_first_orders_one_created_event(make_app, receiver, mailbox):
    from tests.api.platform_support import together
    from tests.api.test_orders_webhook import PATH, order
    from tests.api.test_orders_webhook import SECRET as HOOK
    from tests.helpers import sign_webhook

    app = make_app(events_url=receiver.url, events_secrets=(SECRET,), webhook_secrets=(HOOK,))
    reqs = []
    for n in range(10):
        body = json.dumps(order(f"e{n}", "rush@example.com")).encode()
        reqs.append((body, sign_webhook(HOOK, body, msg_id=f"msg_e{n}")))
    answers = together(app, PATH, reqs)
    assert Counter(s for s, _ in answers) == {201: 10}
    assert types(app) == {"customer.created": 1}
    assert outbox(app)[0].payload["data"]["email"] == "rush@example.com"
