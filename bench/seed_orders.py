"""Seed a PostgreSQL bench database: 100,000 customers and 1,000,000 orders, in minutes.

    .venv/bin/python bench/seed_orders.py [DBNAME]      (default $BENCH_DB or loginsvc_bench)

Creates the database if needed, applies the migrations, empties the tables of
THAT database only and streams rows in with COPY. Customer aggregates are
computed while generating, so they match the orders exactly. One customer,
heavy@bench.example, has 1,000 orders (the history benchmark reads them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loginsvc.core.migrate import upgrade  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
HEAVY_EMAIL = "heavy@bench.example"
CITIES = ["Madrid", "Paris", "Berlin", "Warsaw", "Lisbon", "Rome", "Vienna", "Prague"]
COUNTRIES = ["ES", "FR", "DE", "PL", "PT", "IT", "AT", "CZ"]


def db_url(name: str) -> str:
    return f"{PG}/{name}"


def ensure_database(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise SystemExit("the database name may hold letters, digits and _ only")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(name: str, *, customers: int, orders: int, heavy: int, seed_value: int) -> None:
    rnd = random.Random(seed_value)
    start = time.perf_counter()
    ensure_database(name)
    upgrade(db_url(name))
    # Customer 1 is the heavy one; the others share the rest at random.
    per_customer = [0] * (customers + 1)
    per_customer[1] = heavy
    for _ in range(orders - heavy):
        per_customer[rnd.randint(2, customers)] += 1
    base = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    span = 4 * 365 * 86400
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(db_url(name)) as conn:
        conn.execute("TRUNCATE orders, customers, consent_events, wishlist_items, "
                     "customer_groups RESTART IDENTITY CASCADE")
        order_cols = ("id, order_id, customer_id, placed_at, status, currency, total, items, "
                      "customer_info, billing_address, shipping_address, invoice_url, extra, "
                      "created_at, updated_at")
        # Orders stream in before the customers they point to (their aggregates are
        # summed on the way), so the foreign-key triggers are off for this one load.
        conn.execute("ALTER TABLE orders DISABLE TRIGGER ALL")
        cust_rows = []
        oid = 0
        with conn.cursor().copy(f"COPY orders ({order_cols}) FROM STDIN") as copy:
            for cid in range(1, customers + 1):
                n = per_customer[cid]
                email = HEAVY_EMAIL if cid == 1 else f"customer{cid}@bench.example"
                city = rnd.randrange(len(CITIES))
                addr = json.dumps({"name": f"Customer {cid}", "line1": f"Street {cid}",
                                   "city": CITIES[city], "postal_code": f"{cid % 99999:05d}",
                                   "country": COUNTRIES[city]})
                spent = Decimal(0)
                last = None
                for _ in range(n):
                    oid += 1
                    placed = base + dt.timedelta(seconds=rnd.randrange(span))
                    qty = rnd.randint(1, 3)
                    price = Decimal(rnd.randrange(199, 9999)) / 100
                    total = price * qty
                    items = json.dumps([{"product_id": f"p-{rnd.randrange(500)}",
                                         "sku": f"SKU-{rnd.randrange(500)}", "name": "T-shirt",
                                         "quantity": qty, "unit_price": str(price)}])
                    spent += total
                    last = placed if last is None or placed > last else last
                    copy.write_row((oid, f"B{oid}", cid, placed, "paid", "EUR", total, items,
                                    json.dumps({"name": f"Customer {cid}"}), addr, addr, None,
                                    None, placed, placed))
                cust_rows.append((cid, email, email, f"Customer {cid}", None, None, "en", False,
                                  addr, addr, COUNTRIES[city], "active", True, base, n, spent,
                                  json.dumps({"EUR": f"{spent:.2f}"} if n else {}), last,
                                  f"{email} customer {cid}", base, now))
        cust_cols = ("id, email, email_norm, name, phone, company, locale, newsletter, "
                     "billing_address, shipping_address, country, status, has_account, "
                     "account_created_at, order_count, total_spent, totals, last_order_at, "
                     "search_text, created_at, updated_at")
        with conn.cursor().copy(f"COPY customers ({cust_cols}) FROM STDIN") as copy:
            for row in cust_rows:
                copy.write_row(row)
        conn.execute("ALTER TABLE orders ENABLE TRIGGER ALL")
        conn.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), %s)",
                     (customers,))
        conn.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), %s)", (oid,))
        conn.commit()
    with psycopg.connect(db_url(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE customers")
        conn.execute("VACUUM ANALYZE orders")
    print(f"seeded {name}: {customers:,} customers, {oid:,} orders "
          f"({heavy:,} for {HEAVY_EMAIL}) in {time.perf_counter() - start:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", nargs="?", default=os.environ.get("BENCH_DB", "loginsvc_bench"))
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--heavy", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    seed(a.db, customers=a.customers, orders=a.orders, heavy=a.heavy, seed_value=a.seed)


if __name__ == "__main__":
    main()
