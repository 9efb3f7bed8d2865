"""Two `loginsvc serve` process trees on different ports sharing PostgreSQL and Redis."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.helpers import free_port

SECRET = "multi-instance-secret-0123456789-abcdefghij"

pytestmark = pytest.mark.slow


class Instance:
    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        self.log = open(tmp / "serve.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loginsvc.cli", "serve", "--port", str(self.port),
             "--workers", "2"],
            env={**env, "LOGINSVC_INSTANCE": str(tmp / "instance"),
                 "PUBLIC_URL": f"http://127.0.0.1:{self.port}"},
            cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "loginsvc serve exited early"
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("loginsvc serve did not become ready")

    def call(self, method: str, path: str, payload: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = None if payload is None else json.dumps(payload)
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.headers.get_content_type().endswith("json") and raw:
                return resp.status, json.loads(raw)
            return resp.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def instances(pg_url: str | None, redis_url: str, smtp_sink: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    if pg_url is None:
        pytest.skip("PostgreSQL is not running (it is mandatory under CI=true)")
    prefix = f"mi{uuid.uuid4().hex[:8]}:"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "PROMETHEUS_"))}
    env.update(LOGINSVC_ENV="development", DATABASE_URL=pg_url, REDIS_URL=redis_url,
               REDIS_PREFIX=prefix, SECRET_KEYS=SECRET, MAIL_SERVER="127.0.0.1",
               MAIL_PORT=str(smtp_sink.port), RATE_LIMIT_IP="10000")
    tmp = tmp_path_factory.mktemp("multi")
    pair = (Instance(env, tmp / "a"), Instance(env, tmp / "b"))
    try:
        for inst in pair:
            inst.wait_ready()
        yield pair
    finally:
        for inst in pair:
            inst.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*")) + list(
            client.scan_iter(match=f"{os.environ['RQ_KEY_PREFIX']}:*{prefix}*"))
        if keys:
            client.delete(*keys)


def _token(inst: Instance, sink: Any, address: str) -> str:
    status, body = inst.call("POST", "/api/v1/auth/login-link", {"email": address})
    assert status == 202, body
    return str(sink.wait_for(address, timeout=30)[-1].token)


def _count(pg_url: str, sql: str, *args: Any) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(sql, args).fetchone()
        assert row is not None
        return int(row[0])


def test_twenty_verifications_across_two_instances_give_one_session(instances, smtp_sink,
                                                                    pg_url):
    a, b = instances
    address = f"race-{uuid.uuid4().hex[:6]}@example.com"
    token = _token(a, smtp_sink, address)
    barrier = threading.Barrier(20)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def verify(inst: Instance) -> None:
        barrier.wait()
        status, body = inst.call("POST", "/api/v1/auth/verify", {"token": token})
        with lock:
            results.append((status, body.get("code") if isinstance(body, dict) else None))

    threads = [threading.Thread(target=verify, args=(a if i % 2 else b,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(results) == Counter({(200, None): 1, (410, "token_used"): 19})
    assert _count(pg_url, "SELECT count(*) FROM customers WHERE email_norm = %s",
                  address.lower()) == 1


def test_a_session_started_on_one_instance_works_and_ends_on_the_other(instances, smtp_sink):
    a, b = instances
    token = _token(b, smtp_sink, f"share-{uuid.uuid4().hex[:6]}@example.com")
    status, body = a.call("POST", "/api/v1/auth/verify", {"token": token})
    assert status == 200
    auth = {"Authorization": f"Bearer {body['session_token']}"}
    assert b.call("POST", "/api/v1/auth/logout", headers=auth)[0] == 204
    status, problem = a.call("POST", "/api/v1/auth/logout", headers=auth)
    assert status == 401 and problem["code"] == "unauthorized"


def test_metrics_add_up_every_gunicorn_worker(instances):
    a, _ = instances
    for _ in range(30):  # spread over both workers of instance a
        assert a.call("GET", "/healthz")[0] == 200
    status, text = a.call("GET", "/metrics")
    assert status == 200
    line = next(ln for ln in text.splitlines()
                if ln.startswith("loginsvc_http_requests_total{")
                and 'route="/healthz"' in ln and 'status="200"' in ln)
    assert float(line.rsplit(" ", 1)[1]) >= 30
