"""Orders benchmark: webhook ingest and order-history pages against `loginsvc serve`.

    .venv/bin/python bench/seed_orders.py            # once: 100k customers, 1M orders
    .venv/bin/python bench/bench_orders.py [--db loginsvc_bench] [--seconds 10]

Starts `loginsvc serve` on loopback (PostgreSQL bench database, the local Redis
under a throw-away key prefix, an outbox in a temp folder), drives it at
concurrency 32 from several client processes, and reports requests/s, p50/p99
and the server's peak RSS for each scenario, next to the trivial /healthz
ceiling of the same run. Writes bench/results/orders.json and prints the
EXPLAIN ANALYZE plan of the history query. Every loop is bounded by a request
count and a time limit.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
HEAVY_EMAIL = "heavy@bench.example"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
HOST = "127.0.0.1"


# -- the server -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(db: str, port: int, workers: int, instance: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DATABASE_URL=f"{PG}/{db}", REDIS_URL=REDIS,
               REDIS_PREFIX=f"bench{secrets.token_hex(4)}:", WEBHOOK_SECRETS=SECRET,
               LOGINSVC_INSTANCE=str(instance), PUBLIC_URL=f"http://{HOST}:{port}",
               RATE_LIMIT_IP="100000")
    log = open(instance / "serve.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen([str(ROOT / ".venv/bin/loginsvc"), "serve", "--host", HOST,
                             "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"the server did not start; see {instance / 'serve.log'}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (the gunicorn workers, the mail worker)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            time.sleep(0.2)


# -- the load ---------------------------------------------------------------------

def signed_order(order_id: str, email_addr: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "order.placed", "data": {
        "order_id": order_id, "email": email_addr, "placed_at": "2026-11-22T10:00:00Z",
        "status": "paid", "currency": "EUR", "total": "39.90",
        "customer": {"name": "Bench Shopper", "phone": None, "company": None},
        "items": [{"product_id": "p-7", "sku": "TS", "name": "T-shirt", "quantity": 2,
                   "unit_price": "19.95"}]}}).encode()
    msg_id = "msg_" + secrets.token_hex(12)
    ts = int(time.time())
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                    hashlib.sha256).digest()).decode()
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                  "webhook-signature": f"v1,{sig}", "Content-Type": "application/json"}


def _request(kind: str, n: int, ctx: dict[str, Any]) -> tuple[str, str, bytes | None,
                                                               dict[str, str]]:
    if kind == "healthz":
        return "GET", "/healthz", None, {}
    if kind in ("ingest_new", "ingest_repeat"):
        # New ids are unique per run; repeats cycle through a pool stored by a warm-up.
        order_id = f"{ctx['run']}-rep-{n % ctx['repeat_pool']}" if kind == "ingest_repeat" \
            else f"{ctx['run']}-{n}"
        customer = 2 + (n * 7919) % (ctx["customers"] - 1)
        body, headers = signed_order(order_id, f"customer{customer}@bench.example")
        return "POST", "/api/v1/webhooks/orders", body, headers
    auth = {"Authorization": f"Bearer {ctx['session']}"}
    if kind == "history_first":
        return "GET", "/api/v1/me/orders?limit=20", None, auth
    cursors = ctx["cursors"]
    return "GET", f"/api/v1/me/orders?limit=20&cursor={cursors[n % len(cursors)]}", None, auth


def _client_process(kind: str, port: int, threads: int, per_thread: int, seconds: float,
                    ctx: dict[str, Any], out: Any) -> None:
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def loop(tid: int) -> None:
        local: list[tuple[float, int]] = []
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        deadline = time.monotonic() + seconds
        for i in range(per_thread):
            if time.monotonic() > deadline:
                break
            n = (i * threads + tid) * ctx["procs"] + ctx["proc"]  # unique across clients
            method, path, body, headers = _request(kind, n, ctx)
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                status = 0
            local.append((time.perf_counter() - t0, status))
        with lock:
            results.extend(local)

    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(results)


def run_scenario(kind: str, port: int, *, concurrency: int, max_requests: int, seconds: float,
                 ctx: dict[str, Any], server_pid: int, procs: int = 4) -> dict[str, Any]:
    sampler = RssSampler(server_pid)
    sampler.start()
    queue: Any = mp.Queue()
    threads = concurrency // procs
    per_thread = max(1, max_requests // concurrency)
    workers = [mp.Process(target=_client_process,
                          args=(kind, port, threads, per_thread, seconds,
                                {**ctx, "proc": w, "procs": procs}, queue))
               for w in range(procs)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    results: list[tuple[float, int]] = []
    for _ in workers:
        results += queue.get(timeout=seconds + 120)
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.join(timeout=30)
    sampler.running = False
    sampler.join()
    lat = sorted(r[0] for r in results)
    statuses: dict[int, int] = {}
    for _, s in results:
        statuses[s] = statuses.get(s, 0) + 1

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    return {"name": kind, "rps": round(len(results) / elapsed, 1), "p50_ms": round(pct(0.50), 2),
            "p99_ms": round(pct(0.99), 2), "peak_rss_mb": round(sampler.peak, 1),
            "requests": len(results), "statuses": statuses}


# -- setup: a session for the heavy customer, cursors into its history -------------

def sign_in(port: int, outbox: Path) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("POST", "/api/v1/auth/login-link", body=json.dumps({"email": HEAVY_EMAIL}),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().read() is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
        if mails:
            msg = email.message_from_bytes(mails[-1].read_bytes(), policy=email.policy.default)
            text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            link = re.search(r"https?://\S+/login/verify\?token=\S+", text)
            assert link, "no link in the mail"
            token = parse_qs(urlsplit(link.group(0)).query)["token"][0]
            conn.request("POST", "/api/v1/auth/verify", body=json.dumps({"token": token}),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
            assert resp.status == 200, data
            return str(data["session_token"])
        time.sleep(0.2)
    raise SystemExit("no login mail arrived in the outbox")


def history_cursors(port: int, session: str, pages: int = 50) -> list[str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    cursors: list[str] = []
    cursor = None
    for _ in range(pages):
        q = "/api/v1/me/orders?limit=20" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", q, headers={"Authorization": f"Bearer {session}"})
        body = json.loads(conn.getresponse().read())
        cursor = body["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    return cursors


def explain(db: str) -> str:
    with psycopg.connect(f"{PG}/{db}") as conn:
        cid, at, oid = conn.execute(
            "SELECT c.id, o.placed_at, o.id FROM customers c JOIN orders o ON o.customer_id = c.id"
            " WHERE c.email_norm = %s ORDER BY o.placed_at DESC, o.id DESC OFFSET 500 LIMIT 1",
            (HEAVY_EMAIL,)).fetchone() or (None, None, None)
        sql = ("EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders WHERE customer_id = %s"
               " AND (placed_at, id) < (%s, %s) ORDER BY placed_at DESC, id DESC LIMIT 21")
        rows = conn.execute(sql, (cid, at, oid)).fetchall()  # type: ignore[arg-type]
        return "\n".join(r[0] for r in rows)


# -- main ---------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default=os.environ.get("BENCH_DB", "loginsvc_bench"))
    p.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: serve's default)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10.0, help="time limit per scenario")
    p.add_argument("--requests", type=int, default=20_000, help="request cap per scenario")
    a = p.parse_args()
    with psycopg.connect(f"{PG}/{a.db}") as conn:
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]  # type: ignore[index]
    if customers < 10:
        raise SystemExit(f"{a.db} is not seeded; run bench/seed_orders.py first")
    port = free_port()
    workers = a.workers or max(2, min(2 * (os.cpu_count() or 1) + 1, 9))
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        instance = Path(tmp)
        server = start_server(a.db, port, workers, instance)
        try:
            session = sign_in(port, instance / "outbox")
            cursors = history_cursors(port, session)
            ctx = {"run": f"r{int(time.time())}", "customers": customers, "repeat_pool": 2000,
                   "session": session, "cursors": cursors}
            rows = []
            plan = [("healthz", a.concurrency), ("ingest_new", a.concurrency),
                    ("ingest_repeat", a.concurrency), ("history_first", a.concurrency),
                    ("history_deep", a.concurrency),
                    # One shopper at a time: the page latency itself, without queueing.
                    ("history_deep", 1)]
            for kind, conc in plan:
                if kind == "ingest_repeat":  # warm-up, not measured: stores the pool's ids
                    run_scenario(kind, port, concurrency=a.concurrency,
                                 max_requests=ctx["repeat_pool"] + a.concurrency,
                                 seconds=a.seconds * 3,
                                 ctx=ctx, server_pid=server.pid)
                row = run_scenario(kind, port, concurrency=conc, max_requests=a.requests,
                                   seconds=a.seconds, ctx=ctx, server_pid=server.pid,
                                   procs=min(4, conc))
                row["name"] = f"{kind} c{conc}"
                rows.append(row)
        finally:
            stop_server(server)
    ceiling = rows[0]["rps"] or 1
    for r in rows:
        r["ratio_to_ceiling"] = round(r["rps"] / ceiling, 3)
    print(f"\nloginsvc orders bench: {workers} gunicorn workers, c = concurrency, "
          f"{customers:,} customers in {a.db}, {os.cpu_count()} CPUs\n")
    print("| scenario | req/s | p50 ms | p99 ms | peak RSS MB | × /healthz | statuses |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['name']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['peak_rss_mb']} | {r['ratio_to_ceiling']} | {r['statuses']} |")
    out = ROOT / "bench/results/orders.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{k: r[k] for k in ("name", "rps", "p50_ms", "p99_ms",
                                                  "peak_rss_mb", "ratio_to_ceiling")}
                               for r in rows], indent=2) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)}\n\nhistory query plan (page 26 of the "
          f"1,000-order customer):\n{explain(a.db)}")


if __name__ == "__main__":
    main()
