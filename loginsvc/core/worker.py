"""The mail worker: delivers queued e-mails with retries (RQ, in-process jobs).

While it runs it says so every HEARTBEAT_INTERVAL seconds in Redis (the
`mail:workers` sorted set, see core/store.py); `/readyz` answers 503 when no
worker has done so for MAIL_WORKER_STALE_AFTER seconds, and `loginsvc serve`
waits for the first heartbeat before it opens its port.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time

import redis
from rq import SimpleWorker

from loginsvc.config import Settings
from loginsvc.core.store import Store

log = logging.getLogger("loginsvc.core.worker")

HEARTBEAT_INTERVAL = 5.0
FORGET_AFTER = 86400.0  # heartbeats of workers gone this long are dropped


class Heartbeat:
    """A daemon thread that records, every few seconds, that this worker is alive."""

    def __init__(self, store: Store, name: str, *, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.store = store
        self.name = name
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-heartbeat", daemon=True)

    def beat(self) -> None:
        at = time.time()
        self.store.worker_heartbeat(self.name, at=at, forget_before=at - FORGET_AFTER)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                failing = False
            except redis.RedisError as exc:
                if not failing:  # once per outage, not every 5 s
                    log.warning("mail worker heartbeat failed: %s", type(exc).__name__)
                failing = True

    def start(self) -> None:
        self.beat()  # at once: `serve` waits for it
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):  # else it goes stale on its own
            self.store.worker_gone(self.name)


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    from loginsvc import create_app
    from loginsvc.core.jobs import bind_app
    from loginsvc.core.mailer import queue
    from loginsvc.core.worker_recovery import MAINTENANCE_INTERVAL, requeue_abandoned, worker_name

    app = create_app(settings)
    bind_app(app)
    gc.freeze()  # the app lives as long as the process; RQ's scheduler forks from here
    conn = app.extensions["loginsvc.redis"]
    with app.app_context():
        q = queue(conn)
        requeue_abandoned(q)  # at-least-once: a dead worker's unfinished mail goes again
    # No app context around work(): each job opens its own (jobs.app_context), so its
    # database session ends with the job and never holds SQLite's write lock.
    name = worker_name()
    worker = SimpleWorker(
        [q], connection=conn, maintenance_interval=MAINTENANCE_INTERVAL, name=name
    )
    # Events out (CONTRACT §9) are delivered beside the mail, by a thread of this process:
    # the outbox table is the truth, so a killed worker only delays them.
    from loginsvc.events.delivery import start_in_thread

    start_in_thread(app)
    heartbeat = Heartbeat(app.extensions["loginsvc.core.store"], name)
    heartbeat.start()
    log.info("mail worker started on queue %s", q.name)
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        heartbeat.stop()
    return 0
