"""Sign-in by code next to sign-in by link, in process (Flask test client), one at a time.

Prints median and p95 of POST /api/v1/auth/verify (link) and POST
/api/v1/auth/verify-code (code) on PostgreSQL and Redis on loopback: a quick
check that the code path costs about what the link path does (the concurrent
figures are bench_login.py's).
Usage: .venv/bin/python bench/bench_codes.py [N]
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def main() -> int:
    from loginsvc import create_app
    from loginsvc.config.testing import testing_settings
    from loginsvc.core.migrate import upgrade

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    name = f"loginsvc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    r = redis.Redis.from_url(REDIS_URL)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            settings = testing_settings(
                instance=Path(tmp), database_url=url, redis_url=REDIS_URL, prefix=prefix,
                ip_limit=10**9, email_limit=10**9,
            )  # fmt: skip
            app = create_app(settings)
            client = app.test_client()
            outbox = Path(tmp) / "outbox"
            link_times: list[float] = []
            code_times: list[float] = []
            for i in range(n):
                for kind in ("verify", "verify-code"):
                    email = f"b{i}-{kind}@example.com"
                    seen = set(outbox.glob("*.eml")) if outbox.exists() else set()
                    ans = client.post("/api/v1/auth/login-link", json={"email": email})
                    attempt = ans.get_json()["attempt"]
                    new = next(iter(set(outbox.glob("*.eml")) - seen))
                    raw = new.read_text()
                    if kind == "verify":
                        token = re.search(r"token=([A-Za-z0-9._\-]+)", raw.replace("=\n", ""))
                        assert token
                        body = {"token": token.group(1)}
                    else:
                        code = re.search(r"\b([0-9]{6})\b", raw)
                        assert code
                        body = {"attempt": attempt, "code": code.group(1)}
                    path = f"/api/v1/auth/{kind}"
                    t = time.perf_counter()
                    resp = client.post(path, json=body)
                    (link_times if kind == "verify" else code_times).append(time.perf_counter() - t)
                    assert resp.status_code == 200, resp.get_data(as_text=True)
            app.extensions["loginsvc.db"].engine.dispose()
        for label, xs in (("verify (link)", link_times), ("verify-code", code_times)):
            xs.sort()
            print(
                f"{label:14s} n={len(xs)} median={statistics.median(xs) * 1000:.2f} ms "
                f"p95={xs[int(len(xs) * 0.95) - 1] * 1000:.2f} ms"
            )
    finally:
        keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
        keys += list(r.scan_iter(match=f"rq:*{prefix}*", count=1000))
        if keys:
            r.delete(*keys)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
