"""Mail jobs of a worker that died mid-send are sent again: at-least-once delivery.

RQ keeps a started job in its StartedJobRegistry under a heartbeat. When a
worker is killed (OOM, SIGKILL, power loss) the entry outlives it, and RQ's
maintenance (`StartedJobRegistry.cleanup`) retries the job once the heartbeat
has expired: about 90 s after the death, noticed at the next maintenance run
(every MAINTENANCE_INTERVAL seconds here, 10 minutes by RQ's default).

That bound holds across machines. On the same machine we need not wait: a
starting worker looks for registered workers of this host (and PID namespace,
so containers sharing a host name do not judge each other's processes) whose
process is gone, and puts their unfinished job back on the queue at once. A message the
SMTP server had already accepted when the worker died is therefore sent a
second time; we prefer a duplicate to a lost login link.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

log = logging.getLogger("loginsvc.core.worker")

# Seconds between RQ maintenance runs (abandoned jobs of other hosts are found then).
MAINTENANCE_INTERVAL = 60


def _local_prefix() -> str:
    try:
        pid_namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pid_namespace = 0
    return f"loginsvc.{socket.gethostname()}.{pid_namespace}."


def worker_name() -> str:
    """A unique RQ worker name that says where the worker's process lives."""
    return f"{_local_prefix()}{os.getpid()}.{uuid.uuid4().hex[:8]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # A zombie has exited; only its parent has not collected it yet.
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def requeue_abandoned(queue: Queue) -> list[str]:
    """Requeue the jobs of dead workers of this host; return their ids.

    Only workers named by `worker_name()` in this host's PID namespace are judged.
    """
    local = _local_prefix()
    requeued: list[str] = []
    for worker in SimpleWorker.all(queue=queue):
        if not worker.name.startswith(local) or not worker.pid or worker.pid == os.getpid():
            continue
        if _process_alive(worker.pid):
            continue
        job_id = worker.get_current_job_id()
        worker.register_death()
        if not job_id:
            continue
        try:
            job = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            continue
        if job.get_status() != JobStatus.STARTED:
            continue
        # The old execution must go, or RQ's own cleanup would requeue it a second time.
        queue.started_job_registry.remove_executions(job)
        queue.enqueue_job(job, at_front=True)
        requeued.append(job.id)
        log.warning("requeued mail job %s of dead worker %s", job.id, worker.name)
    return requeued
