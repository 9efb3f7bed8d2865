"""`loginsvc serve`: the whole service as one process tree.

This process starts and watches its children, each in a process group of its
own, so that a Ctrl-C in the terminal reaches only this process, which then
stops them in order: the embedded Redis (when no REDIS_URL), the mail worker
(restarted when it dies, see core/supervisor.py) and gunicorn (core/server.py).
On SIGINT, SIGTERM or SIGHUP it stops gunicorn and the worker side by side,
then Redis, and exits in about a second.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loginsvc.config import Settings


def default_workers() -> int:
    return max(2, min(2 * multiprocessing.cpu_count() + 1, 9))


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    with_worker: bool,
) -> int:
    """Run until a stop signal; 1 with a one-line reason when it cannot run."""
    # Before anything imports prometheus-client (it reads the variable at import).
    remove_metrics_dir = _prepare_metrics_dir()
    stop = threading.Event()
    # SIGHUP too: a closed terminal must not leave the children (own sessions) behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    redis_proc: subprocess.Popen[bytes] | None = None
    http: subprocess.Popen[bytes] | None = None
    supervisor = None
    try:
        settings, redis_proc = _start_embedded_redis(settings)
        if not settings.is_production:
            _migrate(settings)
        settings = _listen_url(settings, host=host, port=port)
        if with_worker:
            supervisor = _start_worker(settings, stop)
        if stop.is_set():
            return 0
        from loginsvc.core.server import command

        workers = workers or settings.web_concurrency or default_workers()
        http = subprocess.Popen(  # noqa: S603
            command(host=host, port=port, workers=workers),
            env=_children_env(settings),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        print(
            f"loginsvc listening on http://{host}:{port} ({workers} workers)"
            + ("" if settings.mail_server else f"; e-mails go to {settings.outbox_path}"),
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.2):
            code = http.poll()
            if code is not None:  # gunicorn has printed why (e.g. the port is taken)
                raise _ServeError(f"the HTTP server exited with status {code}")
    except _ServeError as exc:
        print(f"loginsvc: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # gunicorn and the worker stop side by side (each ≤ 2.5 s), then Redis.
        if http is not None and http.poll() is None:
            http.send_signal(signal.SIGTERM)  # graceful: gunicorn's graceful_timeout is 2 s
        if supervisor is not None:
            supervisor.stop()
        _stop(http, timeout=2.5, signalled=True)
        _stop(redis_proc, timeout=1.5)
        remove_metrics_dir()
    return 0


class _ServeError(Exception):
    """`serve` cannot run; the message is the one-line reason."""


def _start_embedded_redis(settings: Settings) -> tuple[Settings, subprocess.Popen[bytes] | None]:
    if not settings.embedded_redis:
        return settings, None
    from loginsvc.core.embedded import ensure_embedded_redis

    url, proc = ensure_embedded_redis(settings.instance_path, daemonize=False)
    return settings.replace(redis_url=url), proc


def _migrate(settings: Settings) -> None:
    """Migrate in a child process: Alembic and the models stay out of this one's memory."""
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-P",
            "-m",
            "loginsvc.core.migrate",
            settings.database_url,
            str(settings.instance_path),
        ],
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:  # the child has printed why
        raise _ServeError(f"the database migration failed (status {done.returncode})")


# Set for the children `serve` starts after it migrated: their create_app skips the
# migration, so Alembic is never imported by the long-lived processes.
SCHEMA_CURRENT = "LOGINSVC_SCHEMA_CURRENT"


def _children_env(settings: Settings) -> dict[str, str]:
    from loginsvc.config.default import child_environment

    env = child_environment(settings)
    if not settings.is_production:
        env[SCHEMA_CURRENT] = "1"
    return env


def _listen_url(settings: Settings, *, host: str, port: int) -> Settings:
    from loginsvc.config.default import DEFAULT_PUBLIC_URL

    if settings.public_url == DEFAULT_PUBLIC_URL and port != 8000 and not settings.is_production:
        # Links must point where this server listens when PUBLIC_URL was left unset.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        return settings.replace(public_url=f"http://{shown}:{port}")
    return settings


def _start_worker(settings: Settings, cancel: threading.Event) -> Any:
    import redis

    from loginsvc.core.extensions import redis_client
    from loginsvc.core.store import Store
    from loginsvc.core.supervisor import MailWorkerSupervisor, WorkerStartError

    # The same connection rules as the app (REDIS_URL or the Sentinel-named master).
    store = Store(redis_client(settings), settings.redis_prefix)

    def beat_seen_since(t: float) -> bool:
        try:
            last = store.last_worker_heartbeat()
        except redis.RedisError:
            return False
        return last is not None and last >= t

    supervisor = MailWorkerSupervisor(env=_children_env(settings), beat_seen_since=beat_seen_since)
    try:
        supervisor.start(cancel=cancel)
    except WorkerStartError as exc:
        raise _ServeError(f"the mail worker could not start: {exc}") from None
    return supervisor


def _stop(proc: subprocess.Popen[bytes] | None, *, timeout: float, signalled: bool = False) -> None:
    """SIGTERM (once), then SIGKILL to the child's whole process group after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    if not signalled:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _prepare_metrics_dir() -> Callable[[], None]:
    """Give every process of this tree one empty folder for Prometheus values.

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself, at import, in each
    process, so it is set here in the environment before anything imports it and
    before the children start. An operator's folder is emptied (values of a
    previous run would be added in); our own temporary one is removed by the
    returned function (and at exit, should that not run).
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return lambda: None
    path = tempfile.mkdtemp(prefix="loginsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    owner = os.getpid()

    def _remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(_remove)
    return _remove
