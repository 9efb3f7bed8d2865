"""Shared clients, created here and bound to the app in create_app()."""

from __future__ import annotations

from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, current_app, g, has_app_context
from flask_mail import Mail
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

mail = Mail()


def normalise_database_url(url: str) -> str:
    """Accept the common spellings and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the one writer; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue instead of
            # failing half-way with "database is locked".
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own transaction handling must be off for the BEGIN above.
        @event.listens_for(engine, "connect", insert=True)
        def _sqlite_autocommit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=5, max_overflow=10, pool_timeout=10)
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5}, **kwargs)


class Database:
    """An engine and a per-app-context session; one per app, found through `db`."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        self.sessionmaker: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


class _DatabaseFacade:
    """`db.session` is the current app context's session."""

    def init_app(self, app: Flask, url: str) -> Database:
        database = Database(url)
        app.extensions["loginsvc.db"] = database

        @app.teardown_appcontext
        def _close(_exc: BaseException | None) -> None:
            sess = g.pop("_db_session", None)
            if sess is not None:
                sess.close()

        return database

    @property
    def current(self) -> Database:
        return current_app.extensions["loginsvc.db"]

    @property
    def engine(self) -> Engine:
        return self.current.engine

    @property
    def is_sqlite(self) -> bool:
        return self.current.is_sqlite

    @property
    def session(self) -> Session:
        assert has_app_context(), "database session used outside an app context"
        sess = g.get("_db_session")
        if sess is None:
            sess = g._db_session = self.current.sessionmaker()
        return sess


db = _DatabaseFacade()


class RedisHolder:
    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def init_app(self, app: Flask, url: str) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=3, socket_connect_timeout=3, health_check_interval=30
        )
        app.extensions["loginsvc.redis"] = self.client


def get_redis() -> redis.Redis:
    return current_app.extensions["loginsvc.redis"]


def is_backend_outage(exc: BaseException) -> bool:
    """True when an exception means Redis or the database is unreachable."""
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sqlalchemy.exc.TimeoutError)
