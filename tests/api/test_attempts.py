"""CONTRACT §3a: the 6-digit code and sign-in from another device, one test per failure mode."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
from freezegun import freeze_time

from tests.conftest import count_rows
from tests.helpers import ORIGIN, Mail, bearer, mail_code, sent_shape

UA_LAPTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/131.0 Safari/537.36")


def ask(client: Any, mailbox: Any, address: str, **extra: Any) -> tuple[str, Mail]:
    before = len(mailbox.to(address))
    r = client.post("/api/v1/auth/login-link", json={"email": address, **extra},
                    headers={"User-Agent": UA_LAPTOP})
    assert r.status_code == 202, r.get_data(as_text=True)
    assert sent_shape(r.get_json()), r.get_json()
    return r.get_json()["attempt"], mailbox.wait_for(address, before + 1)[-1]


def verify_code(client: Any, attempt: str, code: str, **kw: Any) -> Any:
    return client.post("/api/v1/auth/verify-code", json={"attempt": attempt, "code": code}, **kw)


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["code"] == code and body["status"] == status, body
    return body


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_every_valid_address_gets_an_attempt_of_the_same_shape(client, mailbox, app):
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer

        db.session.add(Customer(email="blocked@example.com", email_norm="blocked@example.com",
                                status="blocked", has_account=True, totals={}))
        db.session.commit()
    handles = set()
    for address in ("new@example.com", "blocked@example.com"):
        r = client.post("/api/v1/auth/login-link", json={"email": address})
        assert r.status_code == 202 and sent_shape(r.get_json())
        handles.add(r.get_json()["attempt"])
    assert len(handles) == 2
    mailbox.wait_for("new@example.com")
    assert mailbox.to("blocked@example.com") == []
    # The blocked address's attempt exists but no code can ever match it.
    blocked = [h for h in handles if verify_code(client, h, "000000").status_code == 400]
    assert len(blocked) >= 1
    r = client.get(f"/api/v1/auth/attempts/{sorted(handles)[0]}")
    assert r.status_code == 200 and r.get_json()["status"] == "pending"


def test_code_signs_in_and_spends_the_link(client, mailbox, app):
    attempt, mail = ask(client, mailbox, "Code@Example.com")
    code = mail_code(mail)
    assert code in mail.html
    r = verify_code(client, attempt, code, headers=ORIGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["customer"]["email"] == "Code@Example.com"
    assert body["session_token"] and body["expires_at"].endswith("Z")
    assert "loginsvc_session=" in r.headers["Set-Cookie"]
    assert client.get("/api/v1/me", headers=bearer(body["session_token"])).status_code == 200
    # code first, link after: the link is spent
    problem(client.post("/api/v1/auth/verify", json={"token": mail.token}), 410, "token_used")
    problem(verify_code(client, attempt, code), 410, "token_used")
    assert count_rows(app, "used_tokens") == 1
    assert client.get(f"/api/v1/auth/attempts/{attempt}").get_json()["status"] == "signed_in"


def test_link_first_then_code_is_used(client, mailbox):
    attempt, mail = ask(client, mailbox, "link-first@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    problem(verify_code(client, attempt, mail_code(mail)), 410, "token_used")


def test_five_wrong_codes_void_the_code_but_not_the_link(client, mailbox):
    attempt, mail = ask(client, mailbox, "guess@example.com")
    code = mail_code(mail)
    lefts = [problem(verify_code(client, attempt, wrong(code)), 400, "invalid_code")
             ["attempts_left"] for _ in range(5)]
    assert lefts == [4, 3, 2, 1, 0]
    problem(verify_code(client, attempt, code), 429, "too_many_attempts")  # even the right one
    problem(verify_code(client, attempt, wrong(code)), 429, "too_many_attempts")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_code_that_is_not_six_digits_is_refused_and_not_counted(client, mailbox):
    attempt, mail = ask(client, mailbox, "typo@example.com")
    for bad in ("12345", "abcdef", "1234567", "１２３４５６"):
        body = problem(verify_code(client, attempt, bad), 400, "invalid_code")
        assert body["attempts_left"] == 5
    assert verify_code(client, attempt, " " + mail_code(mail)[:3] + " " + mail_code(mail)[3:]
                       ).status_code == 200


def test_unknown_attempt_is_invalid_code(client):
    problem(verify_code(client, "nosuchattempt", "123456"), 400, "invalid_code")
    problem(verify_code(client, "x" * 200, "123456"), 400, "invalid_code")


def test_code_expires_after_login_code_max_age(client, mailbox):
    attempt, mail = ask(client, mailbox, "late@example.com")
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=901)):
        problem(verify_code(client, attempt, mail_code(mail)), 410, "code_expired")
        assert client.get(f"/api/v1/auth/attempts/{attempt}").get_json()["status"] == "expired"
        # the link keeps its 14 days
        assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_code_max_age_is_a_setting(make_app, mailbox):
    client = make_app(login_code_max_age=60).test_client()
    attempt, mail = ask(client, mailbox, "short@example.com")
    assert "1 minute" in mail.text.splitlines()[0]
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)):
        problem(verify_code(client, attempt, mail_code(mail)), 410, "code_expired")


def test_twenty_concurrent_right_codes_give_one_session(app, mailbox):
    client = app.test_client()
    attempt, mail = ask(client, mailbox, "race-code@example.com")
    code = mail_code(mail)
    n = 20
    barrier = threading.Barrier(n)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def worker() -> None:
        c = app.test_client()
        barrier.wait()
        r = verify_code(c, attempt, code)
        with lock:
            results.append((r.status_code, (r.get_json() or {}).get("code")))

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(results) == Counter({(200, None): 1, (410, "token_used"): 19}), results
    assert count_rows(app, "customers") == 1 and count_rows(app, "used_tokens") == 1
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.runtime import store
        from loginsvc.customers.service import find_by_email

        customer = find_by_email(db.session, "race-code@example.com")
        assert len(store().list_sessions(customer.id)) == 1


def test_concurrent_wrong_guesses_never_exceed_five(app, mailbox):
    client = app.test_client()
    attempt, mail = ask(client, mailbox, "flood@example.com")
    code = mail_code(mail)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def worker(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        guess = f"{(int(code) + 1 + i) % 1_000_000:06d}"
        statuses.append(verify_code(c, attempt, guess).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(statuses) == Counter({400: 5, 429: 15})
    problem(verify_code(client, attempt, code), 429, "too_many_attempts")


def test_durable_mark_holds_when_redis_forgets(client, mailbox, app):
    attempt, mail = ask(client, mailbox, "durable@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    with app.app_context():
        from loginsvc.core.runtime import store

        assert store().token_used(attempt.split(".")[0])
        store().unmark_token_used(attempt.split(".")[0])  # Redis lost the used mark
        store().update_attempt(attempt.split(".")[0], {"st": "pending"})
    problem(verify_code(client, attempt, mail_code(mail)), 410, "token_used")


def test_verify_code_refuses_foreign_origin_and_non_json(client, mailbox):
    attempt, mail = ask(client, mailbox, "csrf@example.com")
    code = mail_code(mail)
    problem(verify_code(client, attempt, code, headers={"Origin": "https://evil.example"}),
            403, "csrf_failed")
    problem(verify_code(client, attempt, code, headers={"Origin": "null"}), 403, "csrf_failed")
    r = client.post("/api/v1/auth/verify-code", data=f'{{"attempt":"{attempt}","code":"{code}"}}',
                    content_type="text/plain")
    problem(r, 415, "unsupported_media_type")
    # nothing was spent by the refusals
    assert verify_code(client, attempt, code, headers=ORIGIN).status_code == 200


@pytest.mark.parametrize("payload", [
    {}, {"attempt": "a"}, {"code": "123456"}, {"attempt": 1, "code": "123456"},
    {"attempt": "a", "code": 123456}, {"attempt": "a", "code": "1", "extra": 1},
])
def test_verify_code_bad_bodies_are_422(client, payload):
    problem(client.post("/api/v1/auth/verify-code", json=payload), 422, "invalid_request")


def test_code_for_a_customer_blocked_since_is_refused_and_not_spent(client, mailbox, app):
    attempt, mail = ask(client, mailbox, "later-blocked@example.com")
    assert client.post("/api/v1/auth/verify", json={"token": ask(
        client, mailbox, "later-blocked@example.com")[1].token}).status_code == 200
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        find_by_email(db.session, "later-blocked@example.com").status = "blocked"
        db.session.commit()
    problem(verify_code(client, attempt, mail_code(mail)), 403, "account_blocked")
    assert count_rows(app, "used_tokens") == 1  # the refused code spent nothing


# -- another device -------------------------------------------------------------------

def approve(client: Any, token: str, match: str, **kw: Any) -> Any:
    return client.post("/api/v1/auth/approve", json={"token": token, "match": match}, **kw)


def status(client: Any, attempt: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/auth/attempts/{attempt}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def other(match: str) -> str:
    return f"{(int(match) + 1) % 100:02d}"


def test_other_device_approves_and_the_asker_completes_once(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "two@example.com")
    st = status(laptop, attempt)
    assert st["status"] == "pending" and len(st["match"]) == 2 and st["expires_at"].endswith("Z")
    problem(laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}), 409, "not_approved")
    r = approve(phone, mail.token, st["match"])
    assert r.status_code == 204 and r.get_data() == b""
    assert "loginsvc_session" not in r.headers.get("Set-Cookie", "")  # the phone is not signed in
    assert status(laptop, attempt)["status"] == "approved"
    r = laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}, headers=ORIGIN)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["customer"]["email"] == "two@example.com"
    assert "loginsvc_session=" in r.headers["Set-Cookie"]
    assert laptop.get("/api/v1/me").status_code == 200
    assert status(laptop, attempt)["status"] == "signed_in"
    problem(laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}), 410, "token_used")
    # the link was spent by the approval, and so was the code
    problem(phone.post("/api/v1/auth/verify", json={"token": mail.token}), 410, "token_used")
    problem(verify_code(laptop, attempt, mail_code(mail)), 410, "token_used")


def test_knowing_the_attempt_id_alone_gives_nothing(app, mailbox):
    laptop, stranger = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "owner@example.com")
    attempt_id = attempt.split(".")[0]
    problem(stranger.get(f"/api/v1/auth/attempts/{attempt_id}"), 404, "not_found")
    problem(stranger.get(f"/api/v1/auth/attempts/{attempt_id}.wrongsecret"), 404, "not_found")
    assert approve(stranger, mail.token, status(laptop, attempt)["match"]).status_code == 204
    problem(stranger.post(f"/api/v1/auth/attempts/{attempt_id}/complete", json={}),
            404, "not_found")
    assert laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}).status_code == 200


def test_three_wrong_numbers_close_the_approval_but_the_link_works(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "numbers@example.com")
    match = status(laptop, attempt)["match"]
    lefts = [problem(approve(phone, mail.token, other(match)), 400, "match_mismatch")
             ["attempts_left"] for _ in range(3)]
    assert lefts == [2, 1, 0]
    problem(approve(phone, mail.token, match), 409, "approval_closed")
    assert status(laptop, attempt)["status"] == "pending"
    problem(laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}), 409, "not_approved")
    assert phone.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_approve_failures(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "approve-fail@example.com")
    match = status(laptop, attempt)["match"]
    problem(approve(phone, "not-a-token", match), 400, "invalid_token")
    problem(approve(phone, mail.token, match, headers={"Origin": "https://evil.example"}),
            403, "csrf_failed")
    problem(phone.post("/api/v1/auth/approve", data="{}", content_type="text/plain"),
            415, "unsupported_media_type")
    problem(phone.post("/api/v1/auth/approve", json={"token": mail.token}), 422, "invalid_request")
    assert verify_code(laptop, attempt, mail_code(mail)).status_code == 200
    problem(approve(phone, mail.token, match), 410, "token_used")


def test_welcome_mail_code_has_no_device_to_approve(app, mailbox):
    client = app.test_client()
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.notifications import send_invite
        from loginsvc.customers.service import get_or_create, open_account

        c, _ = get_or_create(db.session, email="invited@example.com",
                             email_norm="invited@example.com")
        open_account(c, status="active")
        db.session.commit()
        send_invite(c)
    mail = mailbox.wait_for("invited@example.com")[-1]
    code = mail_code(mail)
    problem(approve(client, mail.token, "00"), 409, "approval_closed")
    page = client.get("/login/verify", query_string={"token": mail.token})
    assert page.status_code == 200 and "device that asked" not in page.get_data(as_text=True)
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200
    assert len(code) == 6


def test_approval_after_the_wait_expired_is_closed(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "slow-phone@example.com")
    match = status(laptop, attempt)["match"]
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=901)):
        problem(approve(phone, mail.token, match), 409, "approval_closed")
        assert phone.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_complete_refuses_a_customer_blocked_after_approval(app, mailbox):
    laptop, phone = app.test_client(), app.test_client()
    attempt, mail = ask(laptop, mailbox, "blocked-later@example.com")
    assert approve(phone, mail.token, status(laptop, attempt)["match"]).status_code == 204
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.customers.service import find_by_email

        find_by_email(db.session, "blocked-later@example.com").status = "blocked"
        db.session.commit()
    problem(laptop.post(f"/api/v1/auth/attempts/{attempt}/complete", json={}),
            403, "account_blocked")
    assert laptop.get("/api/v1/me").status_code == 401


def test_wrong_codes_per_address_are_capped_across_attempts(make_app, mailbox):
    client = make_app(email_limit=100).test_client()
    mails = [ask(client, mailbox, "target@example.com") for _ in range(5)]
    for attempt, mail in mails[:4]:  # 4 attempts x 5 wrong codes = the daily cap of 20
        for _ in range(5):
            problem(verify_code(client, attempt, wrong(mail_code(mail))), 400, "invalid_code")
    attempt, mail = mails[4]
    problem(verify_code(client, attempt, mail_code(mail)), 429, "too_many_attempts")
    assert client.post("/api/v1/auth/verify", json={"token": mail.token}).status_code == 200


def test_code_by_address_uses_the_newest_mail(client, mailbox):
    _, first = ask(client, mailbox, "by-address@example.com")
    _, newest = ask(client, mailbox, "by-address@example.com")
    if mail_code(first) != mail_code(newest):
        problem(client.post("/api/v1/auth/verify-code", json={
            "email": "by-address@example.com", "code": mail_code(first)}), 400, "invalid_code")
    problem(client.post("/api/v1/auth/verify-code", json={
        "email": "nobody-asked@example.com", "code": mail_code(newest)}), 400, "invalid_code")
    problem(client.post("/api/v1/auth/verify-code", json={
        "email": "by-address@example.com", "attempt": "x", "code": "123456"}),
        422, "invalid_request")
    r = client.post("/api/v1/auth/verify-code", json={
        "email": " By-Address@Example.com ", "code": mail_code(newest)})
    assert r.status_code == 200 and r.get_json()["customer"]["email"] == "by-address@example.com"
    problem(client.post("/api/v1/auth/verify", json={"token": newest.token}), 410, "token_used")
