"""The `loginsvc` command: serve, worker, db upgrade, api-key create|revoke."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
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

from loginsvc.config import Settings, load_settings
from loginsvc.config.default import export_rq_key_prefix
from loginsvc.config.production import missing_for_production

log = logging.getLogger("loginsvc.cli")


def _settings(*, generate_secret: bool = True) -> Settings:
    settings = load_settings(generate_secret=generate_secret)
    if settings.is_production:
        reason = missing_for_production(settings)
        if reason:
            print(reason, file=sys.stderr)
            raise SystemExit(2)
    export_rq_key_prefix(settings)  # before anything imports rq
    return settings


def migrate(settings: Settings) -> None:
    from loginsvc.core.migrate import upgrade_locked

    upgrade_locked(settings.database_url, settings.instance_path)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    migrate(settings)
    print("database is up to date")
    return 0


def _database_settings() -> Settings:
    """Settings for commands that only use the database (api-key).

    They start no Redis (the service's Redis is named, never started, and never
    used), create no instance folder and generate no secret: run in a folder
    without the service's instance, they refuse instead of creating an empty
    database that the running service would never read.
    """
    import secrets

    from loginsvc.core.embedded import embedded_url

    settings = _settings(generate_secret=False)
    default_db = settings.instance_path / "loginsvc.db"
    if settings.database_url == f"sqlite:///{default_db}" and not default_db.exists():
        print(
            f"loginsvc: no database at {default_db}; run this in "
            "the folder `loginsvc serve` runs in, or set LOGINSVC_INSTANCE or DATABASE_URL",
            file=sys.stderr,
        )
        raise SystemExit(1)
    return settings.replace(
        redis_url=settings.redis_url or embedded_url(settings.instance_path),
        # Nothing these commands do is signed; the app factory only needs a key.
        secret_keys=settings.secret_keys or (secrets.token_urlsafe(32),),
    )


def cmd_api_key_create(args: argparse.Namespace) -> int:
    from loginsvc import create_app
    from loginsvc.admin.api_keys import create_api_key

    settings = _database_settings()
    if not settings.is_production:
        migrate(settings)
    app = create_app(settings)
    with app.app_context():
        try:
            key = create_api_key(name=args.name, scope=args.scope)
        except ValueError as exc:
            print(f"loginsvc: {exc}", file=sys.stderr)
            return 1
    print(key)
    return 0


def cmd_api_key_revoke(args: argparse.Namespace) -> int:
    from loginsvc import create_app
    from loginsvc.admin.api_keys import revoke_api_key

    app = create_app(_database_settings())
    with app.app_context():
        if not revoke_api_key(name=args.name):
            print(f"loginsvc: no active API key named {args.name!r}", file=sys.stderr)
            return 1
    print(f"revoked {args.name}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from loginsvc.core.worker import run_worker

    settings = _settings()
    if not settings.is_production:
        migrate(settings)
    return run_worker(settings, burst=args.burst)


def default_workers() -> int:
    return max(2, min(2 * multiprocessing.cpu_count() + 1, 9))


def cmd_serve(args: argparse.Namespace) -> int:
    """The whole service as one process tree, stopped in order by SIGINT or SIGTERM.

    This process starts and watches three children, each in a process group of
    its own (a Ctrl-C reaches only this process, which stops them in order):
    the embedded Redis (when no REDIS_URL), the mail worker (restarted when it
    dies, see core/supervisor.py) and gunicorn. It stops gunicorn and the
    worker together, then Redis, and exits within about 5 s.
    """
    settings = _settings()
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
            migrate(settings)
        settings = _listen_url(settings, args)
        if not args.no_worker:
            supervisor = _start_worker(settings, stop)
        if stop.is_set():
            return 0
        from loginsvc.config.default import child_environment
        from loginsvc.core.server import command

        workers = args.workers or settings.web_concurrency or default_workers()
        http = subprocess.Popen(  # noqa: S603
            command(host=args.host, port=args.port, workers=workers),
            env=child_environment(settings),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        print(
            f"loginsvc listening on http://{args.host}:{args.port} ({workers} workers)"
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


def _listen_url(settings: Settings, args: argparse.Namespace) -> Settings:
    from loginsvc.config.default import DEFAULT_PUBLIC_URL

    if (
        settings.public_url == DEFAULT_PUBLIC_URL
        and args.port != 8000
        and not settings.is_production
    ):
        # Links must point where this server listens when PUBLIC_URL was left unset.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        return settings.replace(public_url=f"http://{host}:{args.port}")
    return settings


def _start_worker(settings: Settings, cancel: threading.Event) -> Any:
    import redis

    from loginsvc.config.default import child_environment
    from loginsvc.core.store import Store
    from loginsvc.core.supervisor import MailWorkerSupervisor, WorkerStartError

    store = Store(redis.Redis.from_url(settings.redis_url, socket_timeout=3), settings.redis_prefix)

    def beat_seen_since(t: float) -> bool:
        try:
            last = store.last_worker_heartbeat()
        except redis.RedisError:
            return False
        return last is not None and last >= t

    supervisor = MailWorkerSupervisor(
        env=child_environment(settings), beat_seen_since=beat_seen_since
    )
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loginsvc", description="Passwordless login and customer accounts."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="HTTP server and e-mail delivery")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: by CPU)")
    s.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start e-mail delivery (run `loginsvc worker` apart)",
    )
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="e-mail delivery only")
    w.add_argument("--burst", action="store_true", help="deliver what is queued, then exit")
    w.set_defaults(func=cmd_worker)

    d = sub.add_parser("db", help="database commands")
    dsub = d.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="apply migrations (idempotent)")
    up.set_defaults(func=cmd_db_upgrade)

    k = sub.add_parser("api-key", help="admin API keys")
    ksub = k.add_subparsers(dest="key_command", required=True)
    kc = ksub.add_parser("create", help="print a new key once (stored hashed)")
    kc.add_argument("--name", required=True)
    kc.add_argument("--scope", choices=["admin", "read"], default="admin")
    kc.set_defaults(func=cmd_api_key_create)
    kr = ksub.add_parser("revoke", help="revoke a key at once")
    kr.add_argument("name")
    kr.set_defaults(func=cmd_api_key_revoke)
    return p


def main(argv: list[str] | None = None) -> Any:
    args = build_parser().parse_args(argv)
    code = args.func(args)
    if args.func in (cmd_serve, cmd_worker) and argv is None:
        # Everything is stopped and recorded; skip the interpreter's final garbage
        # collection, which takes seconds on a loaded machine and frees nothing
        # (a stop is to be over in under 5 s).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
