"""A login link works once, however many verifications race for it."""

from __future__ import annotations

import threading
from collections import Counter

from tests.conftest import count_rows


def _race(app, token: str, n: int = 20) -> Counter:
    barrier = threading.Barrier(n)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/auth/verify", json={"token": token})
        body = r.get_json() or {}
        with lock:
            results.append((r.status_code, body.get("code")))

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return Counter(results)


def test_twenty_concurrent_verifications_give_one_session(app, mailbox):
    client = app.test_client()
    assert client.post("/api/v1/auth/login-link", json={"email": "race@example.com"}
                       ).status_code == 202
    token = mailbox.wait_for("race@example.com")[0].token
    outcome = _race(app, token)
    assert outcome == Counter({(200, None): 1, (410, "token_used"): 19}), outcome
    assert count_rows(app, "customers") == 1
    assert count_rows(app, "used_tokens") == 1
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.runtime import store
        from loginsvc.customers.service import find_by_email

        customer = find_by_email(db.session, "race@example.com")
        assert len(store().list_sessions(customer.id)) == 1


def test_concurrent_links_for_one_new_address_make_one_account(app, mailbox):
    client = app.test_client()
    for _ in range(5):
        assert client.post("/api/v1/auth/login-link", json={"email": "Twin@Example.com"}
                           ).status_code == 202
    tokens = [m.token for m in mailbox.wait_for("twin@example.com", 5)]
    barrier = threading.Barrier(len(tokens))
    codes: list[int] = []

    def worker(tok: str) -> None:
        c = app.test_client()
        barrier.wait()
        codes.append(c.post("/api/v1/auth/verify", json={"token": tok}).status_code)

    threads = [threading.Thread(target=worker, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200] * 5
    assert count_rows(app, "customers") == 1
