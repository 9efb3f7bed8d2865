"""Seed a PostgreSQL database with customers and orders for the admin benchmarks.

    .venv/bin/python bench/seed_admin.py postgresql://postgres@127.0.0.1/db [customers] [orders]

Uses COPY (psycopg 3), so 100,000 customers and 1,000,000 orders take minutes,
not hours. The database must be migrated and hold no customers yet. Customer
aggregates (order_count, total_spent, totals, last_order_at) match the orders.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loginsvc.core.models import group_key  # noqa: E402
from loginsvc.customers.service import fold  # noqa: E402

FIRST = ["Ana", "José", "Zoë", "Chloé", "Lukas", "Zofia", "Émile", "Marta", "Jürgen", "Noah",
         "Inès", "Paweł", "Lucía", "Søren", "Amélie", "Oliver", "Małgorzata", "Hugo", "Léa",
         "Mateo", "Björn", "Élodie", "Tomás", "Nina"]
LAST = ["García", "Müller", "Nowak", "Dubois", "Rossi", "Schmidt", "Martínez", "Kowalski",
        "Lefèvre", "Fernández", "Weiß", "Wiśniewska", "Moreau", "López", "Bauer", "Gómez",
        "Łukasik", "Durand", "Ruiz", "Becker"]
COMPANIES = [None, None, None, "Café Sol SL", "Bäckerei Groß GmbH", "Atelier Créatif",
             "Sklep Żółw", "Nordic Design ApS", "Tienda Olé"]
COUNTRIES = ["DE", "ES", "FR", "PL", "IT", "NL", "DK", "PT", "AT", "BE"]
GROUPS = ["VIP", "Wholesale", "Newsletter club", "Staff", "Trade"]
T0 = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
SPAN = 3 * 365 * 86400


def seed(url: str, customers: int = 100_000, orders: int = 1_000_000, *, seed: int = 7) -> None:
    rnd = random.Random(seed)
    url = url.replace("postgresql+psycopg://", "postgresql://")
    started = time.monotonic()
    created = [T0 + dt.timedelta(seconds=rnd.randrange(SPAN)) for _ in range(customers + 1)]

    def gen_orders() -> Iterator[tuple[int, int, dt.datetime, Decimal]]:
        # Generated twice from the same seed: once for the customers' aggregates,
        # once for COPY (the orders' foreign key needs the customers first).
        ornd = random.Random(seed + 1)
        for i in range(orders):
            cid = ornd.randrange(customers) + 1
            placed = created[cid] + dt.timedelta(seconds=ornd.randrange(86400 * 200))
            yield i + 1, cid, placed, Decimal(ornd.randrange(500, 30000)) / 100

    agg_count = [0] * (customers + 1)
    agg_total = [Decimal(0)] * (customers + 1)
    agg_last: list[dt.datetime | None] = [None] * (customers + 1)
    for _, cid, placed, total in gen_orders():
        agg_count[cid] += 1
        agg_total[cid] += total
        last = agg_last[cid]
        agg_last[cid] = placed if last is None or placed > last else last
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            if cur.execute("SELECT count(*) FROM customers").fetchone()[0]:  # type: ignore[index]
                raise SystemExit("the customers table is not empty")
            cols = ("id, email, email_norm, name, phone, company, locale, newsletter, "
                    "billing_address, country, status, has_account, account_created_at, "
                    "customer_number, notes, order_count, total_spent, totals, last_order_at, "
                    "search_text, created_at, updated_at")
            with cur.copy(f"COPY customers ({cols}) FROM STDIN") as copy:
                for cid in range(1, customers + 1):
                    first, last = rnd.choice(FIRST), rnd.choice(LAST)
                    name = f"{first} {last}" if rnd.random() > 0.05 else None
                    email = f"{fold(first)}.{fold(last)}.{cid}@example.com"
                    company = rnd.choice(COMPANIES)
                    number = f"C{cid:07d}" if rnd.random() < 0.3 else None
                    country = rnd.choice(COUNTRIES)
                    account = rnd.random() < 0.7
                    status = "blocked" if rnd.random() < 0.01 else (
                        "pending" if account and rnd.random() < 0.02 else "active")
                    search = " ".join(fold(p) for p in (email, name, company, number) if p)
                    n, spent = agg_count[cid], agg_total[cid]
                    copy.write_row((
                        cid, email, email, name, None, company, rnd.choice(["en", "es", "de"]),
                        rnd.random() < 0.4, json.dumps({"city": "X", "country": country}),
                        country, status, account, created[cid] if account else None, number,
                        None, n, spent, json.dumps({"EUR": str(spent)} if n else {}),
                        agg_last[cid], search, created[cid], created[cid]))
            print(f"  {customers} customers copied in {time.monotonic() - started:.0f} s",
                  flush=True)
            with cur.copy("COPY orders (id, order_id, customer_id, placed_at, status, currency,"
                          " total, items, created_at, updated_at) FROM STDIN") as copy:
                for oid, cid, placed, total in gen_orders():
                    items = json.dumps([{"product_id": f"p-{oid % 997}", "name": "T-shirt",
                                         "quantity": 1, "unit_price": str(total)}])
                    copy.write_row((oid, f"B{oid}", cid, placed, "paid", "EUR", total, items,
                                    placed, placed))
            print(f"  {orders} orders copied in {time.monotonic() - started:.0f} s", flush=True)
            cur.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), %s)",
                        (customers,))
            cur.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), %s)", (orders,))
            for gid, gname in enumerate(GROUPS, 1):
                cur.execute("INSERT INTO groups (id, name, name_key, created_at, updated_at) "
                            "VALUES (%s, %s, %s, now(), now())", (gid, gname, group_key(gname)))
            cur.execute("SELECT setval(pg_get_serial_sequence('groups', 'id'), %s)",
                        (len(GROUPS),))
            with cur.copy("COPY customer_groups (customer_id, group_id) FROM STDIN") as copy:
                for cid in range(1, customers + 1):
                    if rnd.random() < 0.2:
                        copy.write_row((cid, rnd.randrange(len(GROUPS)) + 1))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE customers")
        conn.execute("VACUUM ANALYZE orders")
        conn.execute("VACUUM ANALYZE customer_groups")
    print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    seed(args[0], *(int(a) for a in args[1:3]))
