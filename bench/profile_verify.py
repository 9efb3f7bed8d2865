"""Profile one hot path in-process: CPU ms per request and where it goes.

    .venv/bin/python bench/profile_verify.py [verify|login-link|healthz] [N]

Runs the real app (SQLite in a temp folder, the Redis at REDIS_URL or
127.0.0.1:6379 under a throw-away prefix) through Flask's test client, so the
figure is the service's own CPU per request without HTTP parsing or gunicorn.
Prints CPU ms/request and the top of a cProfile sorted by cumulative time.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "verify"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    from loginsvc import create_app
    from loginsvc.config.testing import testing_settings
    from loginsvc.core.migrate import upgrade

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"prof{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'prof.db'}"
        upgrade(db)
        app = create_app(
            testing_settings(
                instance=Path(tmp) / "instance",
                database_url=db,
                redis_url=redis_url,
                prefix=prefix,
                ip_limit=10**9,
                email_limit=10**9,
                mail_queue_async=True,
            )
        )
        logging.getLogger("loginsvc.access").setLevel(logging.WARNING)
        client = app.test_client()
        tokens = app.extensions["loginsvc.auth.tokens"]
        headers = {"Origin": "http://localhost"}

        def one(i: int) -> None:
            if what == "verify":
                tok, _ = tokens.issue(
                    email=f"p{i}@bench.example.com", customer_id=None, now=time.time()
                )
                r = client.post("/api/v1/auth/verify", json={"token": tok}, headers=headers)
                assert r.status_code == 200, r.get_data(as_text=True)
            elif what == "login-link":
                r = client.post(
                    "/api/v1/auth/login-link", json={"email": f"p{i}@bench.example.com"}
                )
                assert r.status_code == 202, r.get_data(as_text=True)
            else:
                r = client.get("/healthz")
                assert r.status_code == 200

        for i in range(20):  # warm up
            one(-i - 1)
        prof = cProfile.Profile()
        t0 = time.process_time()
        prof.enable()
        for i in range(n):
            one(i)
        prof.disable()
        cpu = (time.process_time() - t0) / n * 1000
        print(f"{what}: {cpu:.2f} CPU ms/request over {n} requests (with cProfile overhead)")
        t0 = time.process_time()
        for i in range(n, 2 * n):
            one(i)
        print(
            f"{what}: {(time.process_time() - t0) / n * 1000:.2f} CPU ms/request without profiler"
        )
        # PROFILE_SORT=tottime|cumulative|…, PROFILE_TOP=N: which part of the profile to print.
        order = os.environ.get("PROFILE_SORT", "cumulative")
        pstats.Stats(prof).sort_stats(order).print_stats(int(os.environ.get("PROFILE_TOP", "25")))
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=f"{prefix}*")) + list(r.scan_iter(match=f"rq:*{prefix}*"))
        if keys:
            r.delete(*keys)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
