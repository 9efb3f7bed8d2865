"""The mail worker: delivers queued e-mails with retries (RQ, in-process jobs)."""

from __future__ import annotations

import logging

from rq import SimpleWorker

from loginsvc.config import Settings

log = logging.getLogger("loginsvc.core.worker")


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    from loginsvc import create_app
    from loginsvc.core.jobs import bind_app
    from loginsvc.core.mailer import queue
    from loginsvc.core.worker_recovery import MAINTENANCE_INTERVAL, requeue_abandoned, worker_name

    app = create_app(settings)
    bind_app(app)
    with app.app_context():
        q = queue(app.extensions["loginsvc.redis"])
        requeue_abandoned(q)  # at-least-once: a dead worker's unfinished mail goes again
    # No app context around work(): each job opens its own (jobs.app_context), so its
    # database session ends with the job and never holds SQLite's write lock.
    worker = SimpleWorker(
        [q],
        connection=app.extensions["loginsvc.redis"],
        maintenance_interval=MAINTENANCE_INTERVAL,
        name=worker_name(),
    )
    # Events out (CONTRACT §9) are delivered beside the mail, by a thread of this process:
    # the outbox table is the truth, so a killed worker only delays them.
    from loginsvc.events.delivery import start_in_thread

    start_in_thread(app)
    log.info("mail worker started on queue %s", q.name)
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    return 0
