"""The `loginsvc` command: serve, worker, db upgrade, api-key and owner management."""

from __future__ import annotations

import argparse
import atexit
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loginsvc.config import Settings, load_settings
from loginsvc.config.production import missing_for_production

log = logging.getLogger("loginsvc.cli")


def _settings() -> Settings:
    settings = load_settings()
    if settings.is_production:
        reason = missing_for_production(settings)
        if reason:
            print(reason, file=sys.stderr)
            raise SystemExit(2)
    return settings


def migrate(settings: Settings) -> None:
    from loginsvc.core.migrate import upgrade_locked

    upgrade_locked(settings.database_url, settings.instance_path)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    migrate(settings)
    print("database is up to date")
    return 0


def cmd_api_key_create(args: argparse.Namespace) -> int:
    from loginsvc import create_app
    from loginsvc.admin.api_keys import create_api_key

    settings = _settings()
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

    app = create_app(_settings())
    with app.app_context():
        if not revoke_api_key(name=args.name):
            print(f"loginsvc: no active API key named {args.name!r}", file=sys.stderr)
            return 1
    print(f"revoked {args.name}")
    return 0


def _owner_session(settings: Settings) -> Any:
    """A database session only: managing owners needs neither Redis nor the app."""
    from sqlalchemy.orm import Session

    from loginsvc.core.extensions import make_engine

    if not settings.is_production:
        migrate(settings)
    return Session(make_engine(settings.database_url))


def cmd_owner_add(args: argparse.Namespace) -> int:
    from loginsvc.admin.owners import add_owner

    settings = _settings()
    with _owner_session(settings) as session:
        try:
            row = add_owner(session, email=args.email, role=args.role)
        except ValueError as exc:
            print(f"loginsvc: {exc}", file=sys.stderr)
            return 1
        print(f"{row.email} is {'an owner' if row.role == 'owner' else 'staff'}")
    return 0


def cmd_owner_remove(args: argparse.Namespace) -> int:
    from loginsvc.admin.owners import remove_owner

    settings = _settings()
    with _owner_session(settings) as session:
        if not remove_owner(session, email=args.email):
            print(f"loginsvc: {args.email!r} is not an owner", file=sys.stderr)
            return 1
    print(f"removed {args.email}")
    return 0


def cmd_owner_list(args: argparse.Namespace) -> int:
    from loginsvc.admin.owners import list_owners

    settings = _settings()
    with _owner_session(settings) as session:
        for member in list_owners(session, admin_email=settings.admin_email):
            note = " (ADMIN_EMAIL)" if member.email == settings.admin_email.strip() else ""
            print(f"{member.email}\t{member.role}{note}")
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
    from loginsvc.core.embedded import ensure_embedded_redis

    settings = _settings()
    # Before anything imports prometheus-client (it reads the variable at import).
    _prepare_metrics_dir()
    redis_proc = None
    if settings.embedded_redis:
        url, redis_proc = ensure_embedded_redis(settings.instance_path, daemonize=False)
        settings = settings.replace(redis_url=url)
    if not settings.is_production:
        migrate(settings)
    from loginsvc.config.default import DEFAULT_PUBLIC_URL, child_environment

    if (
        settings.public_url == DEFAULT_PUBLIC_URL
        and args.port != 8000
        and not settings.is_production
    ):
        # Links must point where this server listens when PUBLIC_URL was left unset.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        settings = settings.replace(public_url=f"http://{host}:{args.port}")

    worker = None
    if not args.no_worker:
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "loginsvc.cli", "worker"],
            env=child_environment(settings),
        )
    try:
        from loginsvc.core.server import run_gunicorn

        workers = args.workers or settings.web_concurrency or default_workers()
        print(
            f"loginsvc listening on http://{args.host}:{args.port} ({workers} workers)"
            + ("" if settings.mail_server else f"; e-mails go to {settings.outbox_path}"),
            file=sys.stderr,
            flush=True,
        )
        run_gunicorn(settings, host=args.host, port=args.port, workers=workers)
    finally:
        for proc in (worker, redis_proc):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


def _prepare_metrics_dir() -> None:
    """Give every process of this tree one empty folder for Prometheus values.

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself, at import, in each
    process, so it is set here in the environment before anything imports it and
    before the mail worker starts. An operator's folder is emptied (values of a
    previous run would be added in); our own temporary one is removed on exit.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return
    path = tempfile.mkdtemp(prefix="loginsvc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    owner = os.getpid()

    def _remove() -> None:
        # Forked gunicorn workers inherit this handler and run it when they exit.
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(_remove)


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

    o = sub.add_parser("owner", help="who may sign in to the /admin console")
    osub = o.add_subparsers(dest="owner_command", required=True)
    oa = osub.add_parser("add", help="add an owner (or staff: read only)")
    oa.add_argument("email")
    oa.add_argument("--role", choices=["owner", "staff"], default="owner")
    oa.set_defaults(func=cmd_owner_add)
    orm = osub.add_parser("remove", help="remove an owner or staff member")
    orm.add_argument("email")
    orm.set_defaults(func=cmd_owner_remove)
    ol = osub.add_parser("list", help="list owners and staff")
    ol.set_defaults(func=cmd_owner_list)
    return p


def main(argv: list[str] | None = None) -> Any:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
