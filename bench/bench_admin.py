"""Admin benchmarks on 100,000 customers / 1,000,000 orders in PostgreSQL.

- GET /api/v1/admin/customers with `q` and a filter: p99 per page (target < 50 ms);
- the same list paged on with the cursor (page 5 of a `-total_spent` sort);
- GET /api/v1/admin/customers/export?format=csv of all 100,000: rows/s and peak RSS.
Next to the /healthz ceiling of the same server in the same run.
Needs PostgreSQL and Redis on loopback (the embedded fallback is not what this measures).
"""

from __future__ import annotations

import http.client
import json
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

CUSTOMERS = 100_000
ORDERS = 1_000_000
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
    with Service() as svc:
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
    rows = [top.row(None), listed.row(top), single.row(top), page5.row(top), exported]
    write_results("admin", rows)
    print("\n| benchmark | req/s | p50 ms | p99 ms | peak RSS MB | ÷ ceiling |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = "–" if r["ratio_to_ceiling"] is None else f"{r['ratio_to_ceiling']:.2f}"
        print(f"| {r['name']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
              f"| {r['peak_rss_mb']:.0f} | {ratio} |")
    print(f"\nlist p99 {rows[1]['p99_ms']} ms at concurrency 32, {rows[2]['p99_ms']} ms "
          f"one client; page-5 p99 {rows[3]['p99_ms']} ms (target < 50 ms)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
