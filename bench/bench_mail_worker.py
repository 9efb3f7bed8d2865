"""Mail worker throughput: login mails per second, queued by the API, sent by the worker.

    .venv/bin/python bench/bench_mail_worker.py [N] [outbox|smtp]
    BENCH_PROFILE=cumulative .venv/bin/python bench/bench_mail_worker.py 500   # + cProfile

Queues N login links through the real endpoint (SQLite in a temp folder, the
Redis at REDIS_URL or 127.0.0.1:6379 under a throw-away prefix), then runs the
service's own mail worker class in burst mode in this process and reports
mails/s. `outbox` (default) writes files like the embedded default; `smtp`
sends to an aiosmtpd sink on a free loopback port that accepts at once.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    transport = sys.argv[2] if len(sys.argv) > 2 else "outbox"
    prefix = f"benchmail{uuid.uuid4().hex[:8]}:"
    os.environ["RQ_KEY_PREFIX"] = f"{prefix}rq"  # read once, when rq is imported
    from loginsvc import create_app
    from loginsvc.config.testing import testing_settings
    from loginsvc.core.jobs import bind_app
    from loginsvc.core.mailer import queue
    from loginsvc.core.migrate import upgrade
    from loginsvc.core.worker import _Worker

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    sink = None
    overrides: dict[str, object] = {}
    received = [0]
    if transport == "smtp":
        from aiosmtpd.controller import Controller

        class Count:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                received[0] += 1
                return "250 OK"

        port = _free_port()
        sink = Controller(Count(), hostname="127.0.0.1", port=port)
        sink.start()
        overrides = {"mail_server": "127.0.0.1", "mail_port": port}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'mail.db'}"
        upgrade(db)
        settings = testing_settings(
            instance=Path(tmp) / "instance",
            database_url=db,
            redis_url=redis_url,
            prefix=prefix,
            ip_limit=10**9,
            email_limit=10**9,
            mail_queue_async=True,
            **overrides,
        )
        app = create_app(settings)
        logging.getLogger("loginsvc").setLevel(logging.ERROR)
        client = app.test_client()
        for i in range(n):
            r = client.post("/api/v1/auth/login-link", json={"email": f"m{i}@bench.example.com"})
            assert r.status_code == 202, r.get_data(as_text=True)
        bind_app(app)
        conn = app.extensions["loginsvc.redis"]
        with app.app_context():
            q = queue(conn)
        assert len(q) == n, (len(q), n)
        worker = _Worker([q], connection=conn, name=f"{prefix}bench")
        prof = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        c0 = time.process_time()
        worker.work(burst=True, logging_level="ERROR")
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if prof is not None:
            import pstats

            prof.disable()
            pstats.Stats(prof).sort_stats(os.environ["BENCH_PROFILE"]).print_stats(30)
        sent = (
            len(list((Path(tmp) / "instance" / "outbox").glob("*.eml")))
            if transport == "outbox"
            else received[0]
        )
        print(
            f"{transport}: {sent}/{n} mails in {wall:.1f} s = {sent / wall:.0f} mails/s "
            f"({cpu / max(sent, 1) * 1000:.2f} CPU ms per mail in the worker)"
        )
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(match=f"{prefix}*")) + list(r.scan_iter(match=f"*{prefix}*"))
        if keys:
            r.delete(*set(keys))
    if sink is not None:
        sink.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
