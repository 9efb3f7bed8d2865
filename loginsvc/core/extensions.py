"""Shared clients, created here and bound to the app in create_app()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis
import sqlalchemy.exc
from flask import Flask, current_app, g, has_app_context
from flask_mail import Mail
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from loginsvc.config import Settings

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


# How long a command keeps trying while Redis is away: 0.1, 0.2, 0.4, 0.8, then 1 s
# pauses, about 5.5 s in all, which covers a Sentinel failover on the usual
# settings; after that the request answers 503 (and the worker retries its loop).
_REDIS_RETRIES = 8
_REDIS_BACKOFF = ExponentialBackoff(cap=1.0, base=0.1)
_REDIS_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": 3,
    "socket_connect_timeout": 3,
    "health_check_interval": 30,
}


def _retry() -> Retry:
    # ReadOnlyError: a client still on a master that was demoted to replica. The
    # Sentinel connection turns it into a ConnectionError and finds the new master.
    return Retry(
        _REDIS_BACKOFF,
        _REDIS_RETRIES,
        supported_errors=(
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError,
        ),
    )


def redis_client(settings: Settings) -> redis.Redis:
    """The one way to a Redis client: REDIS_URL, or the master Sentinel names.

    Everything that talks to Redis (store, sessions, rate limits, the mail queue
    and its worker) gets its connection from here, so a failover is followed
    everywhere alike.
    """
    if settings.redis_sentinels:
        # REDIS_URL, when given beside Sentinel, lends the master its password and db.
        url = urlsplit(settings.redis_url) if settings.redis_url else None
        db_path = (url.path if url else "").strip("/")
        sentinel = Sentinel(
            list(settings.redis_sentinels),
            sentinel_kwargs={
                "password": settings.redis_sentinel_password or None,
                "socket_timeout": 1,
                "socket_connect_timeout": 1,
            },
        )
        return sentinel.master_for(
            settings.redis_sentinel_master,
            password=unquote(url.password) if url and url.password else None,
            username=unquote(url.username) if url and url.username else None,
            db=int(db_path) if db_path.isdigit() else 0,
            retry=_retry(),
            **_REDIS_TIMEOUTS,
        )
    return redis.Redis.from_url(settings.redis_url, retry=_retry(), **_REDIS_TIMEOUTS)


class RedisHolder:
    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def init_app(self, app: Flask, settings: Settings) -> None:
        self.client = redis_client(settings)
        app.extensions["loginsvc.redis"] = self.client


def get_redis() -> redis.Redis:
    return current_app.extensions["loginsvc.redis"]


def is_backend_outage(exc: BaseException) -> bool:
    """True when an exception means Redis or the database is unreachable."""
    if isinstance(
        exc,
        redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | redis.exceptions.ReadOnlyError,
    ):
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sqlalchemy.exc.TimeoutError)
