"""Prometheus metrics: one module every other one may call (`metrics.x.inc()`).

Under gunicorn every worker is its own process, so `loginsvc serve` points
PROMETHEUS_MULTIPROC_DIR at an empty folder before this module is first
imported; prometheus-client then keeps each process's values in memory-mapped
files there and /metrics adds them up. Without that variable (tests, the
development server) the values live in this process's default registry.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("loginsvc.ops.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()

requests_total = Counter(
    "loginsvc_http_requests_total",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
request_seconds = Histogram(
    "loginsvc_http_request_duration_seconds",
    "Time to answer, by route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
login_links_requested = Counter(
    "loginsvc_login_links_requested_total", "Login-link requests accepted (202)"
)
login_links_issued = Counter(
    "loginsvc_login_links_issued_total", "Login links signed and handed to the mailer"
)
login_links_verified = Counter(
    "loginsvc_login_links_verified_total", "Login links consumed into a session"
)
login_links_failed = Counter(
    "loginsvc_login_links_failed_total",
    "Login-link verifications refused, by error code",
    ["reason"],
)
webhooks_total = Counter(
    "loginsvc_webhooks_total",
    "Signed server-to-server calls, by endpoint and outcome",
    ["endpoint", "outcome"],
)
mail_sent = Counter("loginsvc_mail_sent_total", "E-mails handed over, by transport", ["transport"])
mail_retries = Counter("loginsvc_mail_retries_total", "Failed sends that will be tried again")
mail_failures = Counter("loginsvc_mail_failures_total", "Sends given up after the last retry")
rate_limit_hits = Counter(
    "loginsvc_rate_limit_hits_total", "Requests over a rate limit, by limit", ["limit"]
)

F = TypeVar("F", bound=Callable[..., Any])


def counted_verification(func: F) -> F:
    """Count a verification's outcome: verified, or failed by its error code."""
    from loginsvc.core.errors import ProblemError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except ProblemError as err:
            login_links_failed.labels(reason=err.code).inc()
            raise
        except Exception as exc:
            from loginsvc.core.extensions import is_backend_outage

            reason = "service_unavailable" if is_backend_outage(exc) else "internal_error"
            login_links_failed.labels(reason=reason).inc()
            raise
        login_links_verified.inc()
        return result

    return wrapper  # type: ignore[return-value]


class MailQueueCollector(Collector):
    """Mail queue depth, read from Redis at scrape time (not a per-process value)."""

    def __init__(self, redis_client: Any, queue_name: str) -> None:
        self.redis = redis_client
        self.queue_name = queue_name

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from rq import Queue

        fam = GaugeMetricFamily(
            "loginsvc_mail_queue_depth",
            "Mail jobs waiting, by state (read from Redis)",
            labels=["state"],
        )
        try:
            q = Queue(self.queue_name, connection=self.redis)
            fam.add_metric(["queued"], q.count)
            fam.add_metric(["scheduled"], q.scheduled_job_registry.count)
            fam.add_metric(["started"], q.started_job_registry.count)
            fam.add_metric(["failed"], q.failed_job_registry.count)
        except Exception as exc:  # Redis down: the scrape still answers, without depth
            log.warning("mail queue depth unavailable: %s", type(exc).__name__)
            return
        yield fam


def exposition(redis_client: Any, queue_name: str) -> tuple[bytes, str]:
    """The /metrics body: every process's values plus the scrape-time gauges."""
    registry: CollectorRegistry
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(MailQueueCollector(redis_client, queue_name))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    body = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(MailQueueCollector(redis_client, queue_name))
    return body + generate_latest(extra), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """gunicorn child_exit: drop a dead worker's live gauges (none today, kept safe)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def count_send_failure() -> None:
    """A failed send: a retry while the RQ job has retries left, else a give-up."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None and (job.retries_left or 0) > 0:
        mail_retries.inc()
    else:
        mail_failures.inc()
