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
from rq.scheduler import RQScheduler

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


class _ThreadScheduler(RQScheduler):
    """RQ's scheduler (retries due, lock, heartbeat) in a thread of the worker.

    RQ forks it as a second process, a whole copy of the app's memory for a loop
    that wakes once a second; a thread does the same work with the same lock, so
    another instance's worker still takes over when this one dies.
    """

    _thread: threading.Thread | None = None

    def _install_signal_handlers(self) -> None:  # the worker's own handlers stop it
        pass

    def start(self) -> threading.Thread:
        self._status = self.Status.STARTED
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name="rq-scheduler", daemon=True)
        self._process = self._thread  # type: ignore[assignment]  # RQ checks is_alive()
        self._thread.start()
        return self._thread

    def _run(self) -> None:
        try:
            self.work()
        except Exception:
            log.exception("mail retry scheduler stopped")

    def stop_thread(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 2)


class _Worker(SimpleWorker):
    """A SimpleWorker whose scheduler is a thread (see _ThreadScheduler)."""

    def _start_scheduler(
        self, burst: bool = False, logging_level: str | None = "INFO", *a: object, **kw: object
    ) -> None:
        self.scheduler = _ThreadScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker schedules; maintenance retries the lock
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        if isinstance(self.scheduler, _ThreadScheduler):
            self.scheduler.stop_thread()


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    from loginsvc import create_app
    from loginsvc.core.jobs import bind_app
    from loginsvc.core.mailer import queue
    from loginsvc.core.worker_recovery import MAINTENANCE_INTERVAL, requeue_abandoned, worker_name

    app = create_app(settings)
    bind_app(app)
    gc.freeze()  # the app lives as long as the process
    conn = app.extensions["loginsvc.redis"]
    with app.app_context():
        q = queue(conn)
        requeue_abandoned(q)  # at-least-once: a dead worker's unfinished mail goes again
    # No app context around work(): each job opens its own (jobs.app_context), so its
    # database session ends with the job and never holds SQLite's write lock.
    name = worker_name()
    worker = _Worker([q], connection=conn, maintenance_interval=MAINTENANCE_INTERVAL, name=name)
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
