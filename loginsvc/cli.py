"""The `loginsvc` command: serve, worker, db upgrade, api-key and owner management."""

from __future__ import annotations

import argparse
import logging
import os
import sys
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


def cmd_serve(args: argparse.Namespace) -> int:
    from loginsvc.core.serve import serve

    return serve(
        _settings(),
        host=args.host,
        port=args.port,
        workers=args.workers,
        with_worker=not args.no_worker,
    )


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
