"""What the events outbox costs the order webhook: ingest with EVENTS_URL off, then on.

    PYTHONPATH=. .venv/bin/python bench/bench_events_overhead.py [--orders 300] [--pg URL]

In-process (Flask test client, one thread), a fresh database each run
(SQLite in a temp folder, or a throw-away PostgreSQL database with --pg), the
local Redis at 127.0.0.1:6379 under a throw-away prefix. Each order is a first
order of a new address (account opened: one customer.created event per order
when events are on) or a repeat order of one address (no event). Prints
orders/s and the mean per request; nothing is delivered (no worker runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis

from loginsvc import create_app
from loginsvc.config.testing import testing_settings
from loginsvc.core.migrate import upgrade
from tests.api.test_orders_webhook import SECRET, order
from tests.helpers import sign_webhook

EVENTS = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def run(url: str, *, events: bool, n: int, new_addresses: bool, tmp: Path) -> list[float]:
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    extra = {"events_url": "http://127.0.0.1:9/x", "events_secrets": (EVENTS,)} if events else {}
    app = create_app(testing_settings(instance=tmp / "i", database_url=url,
                                      redis_url="redis://127.0.0.1:6379/0", prefix=prefix,
                                      webhook_secrets=(SECRET,), mail_queue_async=True, **extra))
    client = app.test_client()
    times = []
    try:
        for k in range(n):
            address = f"b{k}@example.com" if new_addresses else "same@example.com"
            body = json.dumps(order(f"{prefix}{k}", address)).encode()
            headers = sign_webhook(SECRET, body, msg_id=f"msg_{prefix}{k}")
            t = time.perf_counter()
            r = client.post("/api/v1/webhooks/orders", data=body, headers=headers)
            times.append(time.perf_counter() - t)
            assert r.status_code == 201, r.get_data(as_text=True)
    finally:
        rc = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(rc.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            rc.delete(*keys)
        app.extensions["loginsvc.db"].engine.dispose()
    return times


def fresh_db(pg: str | None, tmp: Path, label: str) -> tuple[str, str | None]:
    if pg is None:
        path = tmp / f"{label}.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        return url, None
    name = f"bench_ev_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url, name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--pg", default=None, help="admin URL: postgresql://postgres@127.0.0.1/postgres")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for new in (True, False):
            for events in (False, True):
                url, name = fresh_db(args.pg, tmp, f"{new}{events}")
                try:
                    t = run(url, events=events, n=args.orders, new_addresses=new, tmp=tmp)
                finally:
                    if name and args.pg:
                        with psycopg.connect(args.pg, autocommit=True) as conn:
                            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                kind = "first orders (new accounts)" if new else "repeat orders (one account)"
                backend = "pg" if args.pg else "sqlite"
                rate, mean = len(t) / sum(t), statistics.mean(t) * 1000
                p99 = sorted(t)[int(len(t) * 0.99) - 1] * 1000
                print(f"{backend:6} {kind:30} events {'on ' if events else 'off'}: "
                      f"{rate:7.1f} orders/s, mean {mean:6.2f} ms, p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
