"""Concurrent order webhooks: the database, not timing, keeps one account and every order.

Real threads, each with its own client (and so its own database connection),
released together by a barrier; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.test_orders_webhook import PATH, SECRET, customers, order
from tests.conftest import count_rows
from tests.helpers import sign_webhook

N = 20


@pytest.fixture
def shop(make_app: Any) -> Any:
    return make_app(webhook_secrets=(SECRET,))


def together(app: Any, requests: list[tuple[bytes, dict[str, str]]]) -> list[Any]:
    """POST every (body, headers) at once from its own thread; the answers in order."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)
    errors: list[BaseException] = []

    def run(n: int, body: bytes, headers: dict[str, str]) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.post(PATH, data=body, headers=headers)
            answers[n] = (r.status_code, r.get_json())
        except BaseException as exc:  # surfaced below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, b, h)) for n, (b, h) in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(a is not None for a in answers)
    return answers


def signed(payload: Any, msg_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, sign_webhook(SECRET, body, msg_id=msg_id)


def test_concurrent_first_orders_one_account_every_order(shop, mailbox):
    reqs = [signed(order(f"c{n}", "  Rush@Example.com" if n % 2 else "rush@example.com",
                         total="0.10"), f"msg_c{n}") for n in range(N)]
    answers = together(shop, reqs)
    assert Counter(status for status, _ in answers) == {201: N}, answers
    [c] = customers(shop)
    assert {body["customer_id"] for _, body in answers} == {c.id}
    assert sum(body["account_created"] for _, body in answers) == 1
    assert count_rows(shop, "orders") == N
    assert c.order_count == N and c.totals == {"EUR": "2.00"}
    mailbox.wait_for("rush@example.com")
    time.sleep(0.3)
    assert len(mailbox.to("rush@example.com")) == 1  # one welcome


def test_concurrent_deliveries_of_one_order_store_it_once(shop, mailbox):
    reqs = [signed(order("same", "once@example.com"), f"msg_s{n}") for n in range(N)]
    answers = together(shop, reqs)
    assert Counter(status for status, _ in answers) == {201: 1, 200: N - 1}, answers
    assert count_rows(shop, "orders") == 1
    [c] = customers(shop)
    assert c.order_count == 1 and c.totals == {"EUR": "59.90"}


def test_concurrent_replays_of_one_delivery_have_one_effect(shop, mailbox):
    body, headers = signed(order("dup", "dup@example.com"), "msg_dup")
    answers = together(shop, [(body, dict(headers)) for _ in range(N)])
    statuses = Counter(status for status, _ in answers)
    # Each is the first answer replayed, or 409 + Retry-After while the first still runs.
    assert statuses[201] >= 1 and set(statuses) <= {201, 409}, answers
    assert count_rows(shop, "orders") == 1 and customers(shop)[0].order_count == 1


def test_concurrent_updates_keep_aggregates_exact(shop, mailbox):
    first = together(shop, [signed(order(f"u{n}", "upd@example.com", total="1.00"),
                                   f"msg_u{n}") for n in range(N)])
    assert {s for s, _ in first} == {201}

    def updated(n: int) -> Any:
        payload = order(f"u{n}", "upd@example.com", total="2.50",
                        status="cancelled" if n < 5 else "shipped")
        payload["type"] = "order.updated"
        return signed(payload, f"msg_uu{n}")

    answers = together(shop, [updated(n) for n in range(N)])
    assert {s for s, _ in answers} == {200}
    [c] = customers(shop)
    assert c.order_count == N and c.totals == {"EUR": "37.50"}  # 15 × 2.50; 5 cancelled


def test_concurrent_first_orders_for_many_addresses(shop, mailbox):
    make: Callable[[int], Any] = lambda n: signed(  # noqa: E731
        order(f"m{n}", f"shopper{n % 5}@example.com"), f"msg_m{n}")
    answers = together(shop, [make(n) for n in range(N)])
    assert {s for s, _ in answers} == {201}
    assert count_rows(shop, "customers") == 5 and count_rows(shop, "orders") == N
    assert sum(body["account_created"] for _, body in answers) == 5
