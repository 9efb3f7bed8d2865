"""Fixtures on real services: PostgreSQL and SQLite, a Redis server, an SMTP sink.

Locally, a missing PostgreSQL skips its half of the matrix and a missing Redis
server falls back to the embedded one. Under CI=true both are mandatory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import text

from loginsvc import create_app
from loginsvc.config.testing import testing_settings
from loginsvc.core.migrate import upgrade
from loginsvc.schema import Base

from .helpers import SmtpSink

# RQ reads its key prefix once, at import: every RQ key this run writes (queues, jobs,
# workers, registries, the scheduler's lock) goes under this run's own prefix, which
# the session fixture below removes at the end. Subprocesses inherit it.
RQ_PREFIX = os.environ.setdefault("RQ_KEY_PREFIX", f"trq{uuid.uuid4().hex[:10]}:rq")

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    if not _pg_available():
        if CI:
            pytest.fail(f"PostgreSQL is required under CI=true ({PG_ADMIN})")
        yield None
        return
    name = f"loginsvc_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        url = REDIS_URL
    except redis.RedisError:
        if CI:
            pytest.fail(f"a Redis server is required under CI=true ({REDIS_URL})")
        from loginsvc.core.embedded import ensure_embedded_redis

        url, _ = ensure_embedded_redis(tmp_path_factory.mktemp("redis"), daemonize=True)
    yield url
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{RQ_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def mailbox(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    smtp_sink.clear()
    smtp_sink.fail = False
    smtp_sink.delay = 0.0
    yield smtp_sink
    smtp_sink.fail = False
    smtp_sink.delay = 0.0


def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                 sqlite_template: Path) -> str:
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        if url is None:
            pytest.skip("PostgreSQL is not running (it is mandatory under CI=true)")
        _truncate_pg(url)
        return str(url)
    db = tmp_path / "test.db"
    shutil.copy(sqlite_template, db)
    return f"sqlite:///{db}"


@pytest.fixture
def make_app(database_url: str, redis_url: str, smtp_sink: SmtpSink, tmp_path: Path
             ) -> Iterator[Any]:
    """Build an app on this test's database; keyword arguments override settings."""
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    apps = []

    def factory(**overrides: Any) -> Any:
        base: dict[str, Any] = {
            "mail_server": "127.0.0.1", "mail_port": smtp_sink.port,
            "admin_email": "owner@shop.test",
        }
        base.update(overrides)
        settings = testing_settings(instance=tmp_path / "instance", database_url=database_url,
                                    redis_url=redis_url, prefix=prefix, **base)
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    keys += list(client.scan_iter(match=f"{RQ_PREFIX}:*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    for app in apps:
        app.extensions["loginsvc.db"].engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def db_session(app: Any) -> Iterator[Any]:
    with app.app_context():
        from loginsvc.core.extensions import db

        yield db.session


def count_rows(app: Any, table: str) -> int:
    with app.app_context():
        from loginsvc.core.extensions import db

        return int(db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
