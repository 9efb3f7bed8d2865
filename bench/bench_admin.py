"""Admin benchmarks on 100,000 customers / 1,000,000 orders in PostgreSQL.

- GET /api/v1/admin/customers with `q` and a filter: p99 per page (target < 50 ms);
- the same list paged on with the cursor (page 5 of a `-total_spent` sort);
- GET /api/v1/admin/customers/export?format=csv of all 100,000: rows/s and peak RSS;
- the owner console's /admin/customers page (search + filter, the count of matches), one
  owner at a time: p99 (target < 100 ms).
BENCH_ADMIN_CUSTOMERS / BENCH_ADMIN_ORDERS seed fewer for a quick run.
Next to the /healthz ceiling of the same server in the same run.
Needs PostgreSQL and Redis on loopback (the embedded fallback is not what this measures).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Service, ceiling, measure, write_results
from seed_admin import seed

CUSTOMERS = int(os.environ.get("BENCH_ADMIN_CUSTOMERS", "100000"))
ORDERS = int(os.environ.get("BENCH_ADMIN_ORDERS", "1000000"))
OWNER = "bench-owner@example.com"
REQUESTS = 2000
# Name fragments a shop owner would type, and a filter beside them.
QUERIES = ["garc", "müll", "zoe", "cafe", "nowak", "lucia", "ruiz", "c00012", "marta.d",
           "bauer", "jose", "lefevre", "gomez", "sklep", "nordic", "ines", "hugo", "lea.du"]
FILTERS = [{"country": "DE"}, {"has_account": "true"}, {"newsletter": "false"},
           {"status": "active"}, {"group": "VIP"}]


def api_key(svc: Service) -> str:
    r = subprocess.run([sys.executable, "-m", "loginsvc.cli", "api-key", "create", "--name",
                        "bench"], env=svc.env, cwd=svc.tmp, capture_output=True, text=True,
                       timeout=120, check=True)
    return r.stdout.strip()


def console_cookie(svc: Service) -> str:
    """Sign the owner in as a browser does: the link from the outbox, then its button."""
    outbox = svc.tmp / "instance" / "outbox"
    origin = {"Origin": f"http://127.0.0.1:{svc.port}",
              "Content-Type": "application/x-www-form-urlencoded"}
    status, _ = svc.request("POST", "/admin/login", body=urlencode({"email": OWNER}).encode(),
                            headers=origin)
    if status != 303:
        raise RuntimeError(f"/admin/login answered {status}")
    deadline = time.monotonic() + 30
    token = None
    while token is None and time.monotonic() < deadline:
        for mail in outbox.glob("*.eml") if outbox.is_dir() else []:
            m = re.search(r"/admin/login/verify\?token=([A-Za-z0-9._%-]+)", mail.read_text())
            if m:
                token = m.group(1)
        time.sleep(0.1)
    if token is None:
        raise RuntimeError("no console link in the outbox")
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=30)
    conn.request("POST", "/admin/login/verify", body=f"token={token}".encode(), headers=origin)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    cookie = resp.getheader("Set-Cookie") or ""
    if resp.status != 303 or not cookie.startswith("loginsvc_admin="):
        raise RuntimeError(f"console sign-in answered {resp.status}")
    return cookie.split(";", 1)[0]


def export_run(svc: Service, key: str) -> dict[str, Any]:
    """One streamed CSV export of every customer, with the server's peak RSS."""
    peak = [svc.tree_rss_bytes()]
    done = threading.Event()

    def sampler() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], svc.tree_rss_bytes())

    watcher = threading.Thread(target=sampler, daemon=True)
    watcher.start()
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=300)
    t0 = time.perf_counter()
    conn.request("GET", "/api/v1/admin/customers/export?format=csv",
                 headers={"Authorization": f"Bearer {key}"})
    resp = conn.getresponse()
    first_byte = (time.perf_counter() - t0) * 1000
    size, lines = 0, 0
    while chunk := resp.read(65536):
        size += len(chunk)
        lines += chunk.count(b"\n")  # a chunk may split "\r\n"
    seconds = time.perf_counter() - t0
    conn.close()
    done.set()
    watcher.join()
    if resp.status != 200:
        raise RuntimeError(f"export answered {resp.status}")
    rows = lines - 1  # the header
    print(f"  export: {rows} rows, {size / 2**20:.1f} MiB in {seconds:.1f} s "
          f"({rows / seconds:.0f} rows/s), first byte {first_byte:.0f} ms, "
          f"peak RSS {peak[0] / 2**20:.0f} MB", flush=True)
    return {"name": f"GET export?format=csv ({rows} rows; rps = rows/s)",
            "rps": round(rows / seconds, 1), "p50_ms": round(first_byte, 2),
            "p99_ms": round(seconds * 1000, 2), "peak_rss_mb": round(peak[0] / 2**20, 1),
            "ratio_to_ceiling": None, "rows": rows, "bytes": size,
            "note": "rps is rows per second; p50_ms is time to first byte, p99_ms the whole"}


def main() -> int:
    with Service(env={"ADMIN_EMAIL": OWNER}) as svc:
        if svc.backend != "postgresql+redis":
            print("PostgreSQL and Redis are needed for this benchmark", file=sys.stderr)
            return 1
        print(f"loginsvc serve on port {svc.port}; seeding {CUSTOMERS} customers, "
              f"{ORDERS} orders", flush=True)
        seed(svc.env["DATABASE_URL"], CUSTOMERS, ORDERS)
        key = api_key(svc)
        auth = {"Authorization": f"Bearer {key}"}
        top = ceiling(svc)

        def search(i: int) -> Any:
            qs = {"q": QUERIES[i % len(QUERIES)], **FILTERS[i % len(FILTERS)]}
            return ("GET", "/api/v1/admin/customers?" + urlencode(qs), None, auth)

        listed = measure(svc, "GET customers?q=…&<filter> (page 1, limit 20)", search,
                         requests=REQUESTS)
        # One admin at a time: the latency a person at the screen sees.
        single = measure(svc, "GET customers?q=…&<filter>, one client", search,
                         requests=500, concurrency=1)

        # Cursors for page 5 of a few sorts, taken once, then replayed.
        cursors = []
        for sort in ("-total_spent", "-created_at", "name", "-order_count"):
            cursor = None
            for _ in range(4):
                qs = {"sort": sort, "country": "ES", **({"cursor": cursor} if cursor else {})}
                status, body = svc.request("GET", "/api/v1/admin/customers?" + urlencode(qs),
                                           headers=auth)
                cursor = json.loads(body)["next_cursor"]
            cursors.append((sort, cursor))

        def paged(i: int) -> Any:
            sort, cursor = cursors[i % len(cursors)]
            qs = {"sort": sort, "country": "ES", "cursor": cursor}
            return ("GET", "/api/v1/admin/customers?" + urlencode(qs), None, auth)

        page5 = measure(svc, "GET customers?sort=…&country=ES (page 5 by cursor)", paged,
                        requests=REQUESTS)
        exported = export_run(svc, key)

        cookie = {"Cookie": console_cookie(svc)}

        def console_page(i: int) -> Any:
            qs = {"q": QUERIES[i % len(QUERIES)], **FILTERS[i % len(FILTERS)]}
            return ("GET", "/admin/customers?" + urlencode(qs), None, cookie)

        console = measure(svc, "GET /admin/customers?q=…&<filter> (console page), one client",
                          console_page, requests=500, concurrency=1,
                          expect=lambda status: status == 200)
    rows = [top.row(None), listed.row(top), single.row(top), page5.row(top), exported,
            console.row(top)]
    write_results("admin", rows)
    print("\n| benchmark | req/s | p50 ms | p99 ms | peak RSS MB | ÷ ceiling |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = "–" if r["ratio_to_ceiling"] is None else f"{r['ratio_to_ceiling']:.2f}"
        print(f"| {r['name']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
              f"| {r['peak_rss_mb']:.0f} | {ratio} |")
    print(f"\nlist p99 {rows[1]['p99_ms']} ms at concurrency 32, {rows[2]['p99_ms']} ms "
          f"one client; page-5 p99 {rows[3]['p99_ms']} ms (target < 50 ms); console page p99 "
          f"{rows[5]['p99_ms']} ms one client (target < 100 ms) at {CUSTOMERS} customers",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
