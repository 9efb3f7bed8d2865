"""Redis Sentinel: the master dies in the middle of traffic, loginsvc follows the failover.

A real master, a replica and three sentinels (Debian's redis-server and
redis-sentinel) on free loopback ports, and one `loginsvc serve` process tree
(two gunicorn workers and the mail worker) that knows only REDIS_SENTINELS. A
stream of login-link requests and verifications runs while the master is
killed with SIGKILL; the same process tree must carry on against the promoted
replica.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import CI
from tests.helpers import free_port
from tests.load.test_multi_instance import Instance

pytestmark = pytest.mark.slow

MASTER_NAME = "shopredis"
SECRET = "sentinel-failover-secret-0123456789-abcdef"
PREFIX = f"sf{uuid.uuid4().hex[:8]}:"


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}")
                                  else None)
    if path is None:
        message = f"{name} is not installed (Debian package {name}; `make system-deps`)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _wait(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except redis.RedisError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class RedisSet:
    """Master, replica and three sentinels, each in its own folder under tmp."""

    def __init__(self, tmp: Path) -> None:
        self.server = _binary("redis-server")
        self.sentinel = _binary("redis-sentinel")
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    def _start(self, name: str, args: list[str]) -> None:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "log", "wb")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(args, cwd=folder, stdout=log,
                                            stderr=subprocess.STDOUT)

    def start(self) -> None:
        data = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._start("master", [self.server, "--port", str(self.master_port), *data])
        self._start("replica", [self.server, "--port", str(self.replica_port), *data,
                                "--replicaof", "127.0.0.1", str(self.master_port)])
        for i, port in enumerate(self.sentinel_ports):
            folder = self.tmp / f"sentinel{i}"
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"  # sentinel rewrites its own config: a file each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n")
            self._start(f"sentinel{i}", [self.sentinel, str(conf)])
        replica = redis.Redis(port=self.replica_port, socket_timeout=1)
        _wait("the replica to sync",
              lambda: replica.info("replication").get("master_link_status") == "up")
        for port in self.sentinel_ports:
            s = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            # Each sentinel must know the replica and the two other sentinels, or it
            # cannot reach the quorum and promote anyone.
            _wait("the sentinels to find each other and the replica",
                  lambda s=s: len(s.sentinel_sentinels(MASTER_NAME)) == 2
                  and len(s.sentinel_slaves(MASTER_NAME)) == 1)

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def current_master_port(self) -> int:
        s = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1, decode_responses=True)
        return int(s.sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def kill_master(self) -> None:
        proc = self.procs["master"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def redis_set(tmp_path: Path) -> Iterator[RedisSet]:
    rs = RedisSet(tmp_path / "redis")
    try:
        rs.start()
        yield rs
    finally:
        rs.stop()


@pytest.fixture
def service(redis_set: RedisSet, pg_url: str | None, smtp_sink: Any,
            tmp_path: Path) -> Iterator[Instance]:
    database_url = pg_url or f"sqlite:///{tmp_path / 'sentinel.db'}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "PROMETHEUS_"))}
    env.update(LOGINSVC_ENV="development", DATABASE_URL=database_url,
               REDIS_SENTINELS=redis_set.sentinels, REDIS_SENTINEL_MASTER=MASTER_NAME,
               REDIS_PREFIX=PREFIX, SECRET_KEYS=SECRET,
               MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp_sink.port),
               RATE_LIMIT_IP="100000", RATE_LIMIT_EMAIL="1000")
    inst = Instance(env, tmp_path / "serve")
    try:
        inst.wait_ready()
        yield inst
    finally:
        inst.stop()


def _call(inst: Instance, method: str, path: str, payload: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any, http.client.HTTPMessage]:
    conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=30)
    try:
        conn.request(method, path, body=None if payload is None else json.dumps(payload),
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        body = json.loads(raw) if raw and resp.headers.get_content_type().endswith("json") \
            else raw.decode(errors="replace")
        return resp.status, body, resp.headers
    finally:
        conn.close()


def _unavailable(status: int, body: Any, headers: http.client.HTTPMessage) -> None:
    """Only a 503 service_unavailable with Retry-After (never a 500) while the master moves."""
    assert status == 503, (status, body)
    assert isinstance(body, dict) and body["code"] == "service_unavailable", body
    assert int(headers["Retry-After"]) > 0


def test_master_killed_mid_stream_fails_over_without_500_or_double_use(
        service: Instance, redis_set: RedisSet, smtp_sink: Any) -> None:
    run = uuid.uuid4().hex[:6]
    requested: dict[str, int] = {}  # address → status of its login-link request
    sign_ins: Counter[str] = Counter()  # token → number of 200s it gave
    used_before_kill: list[str] = []
    verified: set[str] = set()
    unavailable = 0
    pool = ThreadPoolExecutor(4)

    def verify(token: str) -> tuple[int, Any, http.client.HTTPMessage]:
        return _call(service, "POST", "/api/v1/auth/verify", {"token": token})

    def step(i: int) -> bool:
        """One login-link request, then two racing verifications per arrived link."""
        nonlocal unavailable
        ok = True
        address = f"sf-{run}-{i}@example.com"
        status, body, headers = _call(service, "POST", "/api/v1/auth/login-link",
                                      {"email": address})
        requested[address] = status
        if status != 202:
            _unavailable(status, body, headers)
            unavailable += 1
            ok = False
        for addr in list(requested):
            mails = smtp_sink.to(addr)
            if not mails or addr in verified:
                continue
            token = mails[0].token
            for status, body, headers in pool.map(verify, [token, token]):
                if status == 200:
                    sign_ins[token] += 1
                elif status == 410:
                    assert body["code"] == "token_used", body
                else:
                    _unavailable(status, body, headers)
                    unavailable += 1
                    ok = False
            if sign_ins[token]:
                verified.add(addr)
                if not killed:
                    used_before_kill.append(token)
        return ok

    old_master = redis_set.master_port
    killed = False
    i = 0
    started = time.monotonic()
    # Traffic on the original master: a few seconds, and some links used already.
    while time.monotonic() - started < 3 or len(used_before_kill) < 3:
        assert time.monotonic() - started < 30, "too slow before the failover"
        assert step(i)
        i += 1
        time.sleep(0.02)
    redis_set.kill_master()
    killed = True
    killed_at = time.monotonic()
    healthy_in_a_row = 0
    while healthy_in_a_row < 15:  # on until the service has clearly recovered
        assert time.monotonic() - killed_at < 30, "loginsvc did not recover from the failover"
        healthy_in_a_row = healthy_in_a_row + 1 if step(i) else 0
        i += 1
    recovered_after = time.monotonic() - killed_at
    pool.shutdown()

    # The sentinels promoted the replica and the same loginsvc process tree uses it.
    assert redis_set.current_master_port() == redis_set.replica_port != old_master
    assert service.proc.poll() is None
    promoted = redis.Redis(port=redis_set.replica_port, socket_timeout=2)
    assert promoted.info("replication")["role"] == "master"
    assert any(promoted.scan_iter(match=f"{PREFIX}sess:*")), "no sessions on the new master"

    # Mail: every accepted request gets exactly one mail; a refused one at most one.
    accepted = [a for a, s in requested.items() if s == 202]
    assert len(accepted) >= 20
    for address in accepted:
        smtp_sink.wait_for(address, timeout=30)
    time.sleep(2)  # a duplicate would arrive within the worker's next rounds
    counts = {a: len(smtp_sink.to(a)) for a in requested}
    assert all(counts[a] == 1 for a in accepted), {a: c for a, c in counts.items() if c != 1}
    assert all(c <= 1 for c in counts.values())

    # No link signed anyone in twice, and links used before the failover stay used
    # (Redis's mark may be lost with the old master; the database's is not).
    assert sign_ins and max(sign_ins.values()) == 1
    for token in used_before_kill:
        status, body, _ = verify(token)
        assert (status, body["code"]) == (410, "token_used")

    # A link requested now works end to end.
    address = f"sf-{run}-after@example.com"
    assert service.call("POST", "/api/v1/auth/login-link", {"email": address})[0] == 202
    token = smtp_sink.wait_for(address, timeout=20)[0].token
    status, body, _ = verify(token)
    assert status == 200, body
    me = service.call("GET", "/api/v1/me",
                      headers={"Authorization": f"Bearer {body['session_token']}"})
    assert me[0] == 200 and me[1]["email"] == address
    assert service.call("GET", "/readyz")[0] == 200
    print(f"failover: {unavailable} answers 503, recovered {recovered_after:.1f} s after the kill")
