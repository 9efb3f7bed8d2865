"""Delivering the outbox: due rows are claimed, POSTed signed, and settled.

A row is claimed by moving its next_attempt_at a lease into the future in one
conditional UPDATE, so two deliverers never send one attempt twice and a
deliverer killed mid-request leaves a row that simply falls due again after
the lease, with the same webhook-id (receivers de-duplicate on it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any

from redis import Redis
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from loginsvc.core.extensions import db
from loginsvc.core.runtime import now, settings
from loginsvc.events.models import OutboxEvent

log = logging.getLogger("loginsvc.events")

# Seconds to wait after the 1st, 2nd, … failed attempt. 15 attempts over ~4.2 days.
BACKOFF = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 86400, 86400]
LEASE = 30  # > TIMEOUT: a claimed attempt falls due again after this, should its deliverer die
TIMEOUT = 10  # seconds for the receiver to answer
# Seconds between looks at the outbox when nobody wakes the deliverer; below the Redis
# client's 3 s socket timeout, which a blocking BLPOP must not outlast.
POLL = 2


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def wake_key() -> str:
    return f"{settings().redis_prefix}events:wake"


def wake(client: Redis) -> None:
    """Tell a waiting deliverer there is something to send; harmless when none waits."""
    try:
        pipe = client.pipeline()
        pipe.lpush(wake_key(), b"1")
        pipe.ltrim(wake_key(), 0, 0)
        pipe.execute()
    except Exception:  # the deliverer polls anyway; a lost wake-up only delays
        log.warning("could not wake the event deliverer", exc_info=True)


def claim(event_id: int, *, at: float, force: bool = False) -> OutboxEvent | None:
    """Take one attempt of an event for this deliverer; None when it is not due or taken."""
    sess = db.session
    cond = [OutboxEvent.id == event_id]
    if not force:
        cond += [OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= _utc(at)]
    res = sess.execute(
        update(OutboxEvent)
        .where(*cond)
        .values(status="pending", next_attempt_at=_utc(at + LEASE))
        .execution_options(synchronize_session=False)
    )
    sess.commit()
    if res.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return sess.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.id == event_id)
        .execution_options(populate_existing=True)
    ).one()


def send(ev: OutboxEvent, *, at: float) -> str | None:
    """POST one attempt; None when the receiver took it (2xx), else why not."""
    s = settings()
    body = json.dumps(ev.payload, separators=(",", ":"), ensure_ascii=False)
    signature = Webhook(s.events_secrets[0]).sign(ev.webhook_id, _utc(at), body)
    req = urllib.request.Request(  # noqa: S310 - EVENTS_URL is the operator's own setting
        s.events_url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "loginsvc-events/1",
            "webhook-id": ev.webhook_id,
            "webhook-timestamp": str(int(at)),
            "webhook-signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
            resp.read(65536)
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(exc).__name__}: {reason}"[:500]


def settle(ev: OutboxEvent, error: str | None, *, at: float) -> None:
    sess = db.session
    attempts = ev.attempts + 1
    values: dict[str, Any] = {"attempts": attempts}
    if error is None:
        values.update(
            status="delivered", delivered_at=_utc(at), next_attempt_at=None, last_error=None
        )
    elif attempts > len(BACKOFF):
        values.update(status="failed", last_error=error, next_attempt_at=None)
        log.error("event %s (%s) given up after %s attempts: %s", ev.id, ev.type, attempts, error)
    else:
        values.update(last_error=error, next_attempt_at=_utc(at + BACKOFF[attempts - 1]))
    sess.execute(update(OutboxEvent).where(OutboxEvent.id == ev.id).values(**values))
    sess.commit()


def attempt(event_id: int, *, at: float | None = None, force: bool = False) -> bool:
    """One delivery attempt of one event; True when it was made (whatever its outcome)."""
    t = now() if at is None else at
    ev = claim(event_id, at=t, force=force)
    if ev is None:
        return False
    settle(ev, send(ev, at=t), at=t)
    return True


def deliver_due(*, at: float | None = None, limit: int = 100) -> int:
    """Attempt every due event (oldest first); the number attempted."""
    s = settings()
    if not s.events_url or not s.events_secrets:
        return 0
    t = now() if at is None else at
    ids = list(
        db.session.scalars(
            select(OutboxEvent.id)
            .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= _utc(t))
            .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
            .limit(limit)
        )
    )
    db.session.rollback()  # end the read; each claim is a transaction of its own
    return sum(attempt(i, at=t) for i in ids)


def run_forever(app: Any, stop: threading.Event) -> None:
    """The worker's deliverer loop: deliver what is due, then sleep until woken or POLL."""
    client: Redis = app.extensions["loginsvc.redis"]
    with app.app_context():
        s = settings()
        if not s.events_url or not s.events_secrets:
            log.info("events out are off (EVENTS_URL / EVENTS_SECRETS not set)")
            return
    while not stop.is_set():
        try:
            with app.app_context():
                if deliver_due() >= 100:
                    continue  # more are waiting
                key = wake_key()
            client.blpop([key], timeout=POLL)
        except Exception:
            log.exception("event delivery round failed; trying again shortly")
            stop.wait(POLL)


def start_in_thread(app: Any) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(app, stop), name="events", daemon=True).start()
    return stop
