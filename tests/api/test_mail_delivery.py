"""Mail delivery (issue 11): the retry schedule RQ really computes, non-ASCII
addresses over SMTPUTF8 and in the outbox, one Message-ID per job."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from rq.job import Job

from tests.helpers import free_port


def test_retry_schedule_is_the_one_rq_computes_over_two_days(make_app):
    from loginsvc.core import mailer

    app = make_app(mail_queue_async=True)
    conn = app.extensions["loginsvc.redis"]
    with app.app_context():
        q = mailer.queue(conn)
        mailer.enqueue("loginsvc.core.jobs.send_template", to="x@example.com",
                       template="login_link", locale="en", context={})
    job_id = q.job_ids[0]
    waits: list[int] = []
    while True:
        job = Job.fetch(job_id, connection=conn)  # as a worker sees it after each failure
        if not job.should_retry:
            break
        before = int(datetime.now(UTC).timestamp())  # the registry keeps whole seconds
        with conn.pipeline() as pipe:
            job.retry(q, pipe)  # what RQ's worker does when the job raised
            pipe.execute()
        at = q.scheduled_job_registry.get_scheduled_time(job).timestamp()
        waits.append(round(at - before))
        q.scheduled_job_registry.remove(job)
    assert len(waits) == 56
    assert waits[:9] == [5, 15, 30, 60, 120, 300, 600, 1200, 1800]
    assert set(waits[9:]) == {3600}  # never more than once an hour after the ramp
    assert sum(waits) >= 48 * 3600
    job.delete()


class _Utf8Handler:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"


def _sink(*, smtputf8: bool) -> Any:
    handler = _Utf8Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            enable_SMTPUTF8=smtputf8)
    controller.start()
    return controller, handler


@pytest.fixture
def utf8_sink() -> Any:
    controller, handler = _sink(smtputf8=True)
    yield controller, handler
    controller.stop()


@pytest.fixture
def ascii_sink() -> Any:
    controller, handler = _sink(smtputf8=False)
    yield controller, handler
    controller.stop()


def test_non_ascii_local_part_is_delivered_with_smtputf8(make_app, utf8_sink):
    controller, handler = utf8_sink
    client = make_app(mail_port=controller.port).test_client()
    r = client.post("/api/v1/auth/login-link", json={"email": "ñoño@example.com"})
    assert r.status_code == 202 and r.get_json()["status"] == "sent"
    assert len(handler.envelopes) == 1
    env = handler.envelopes[0]
    assert env.rcpt_tos == ["ñoño@example.com"]
    assert "SMTPUTF8" in [o.upper() for o in env.mail_options]
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    assert msg["To"] == "ñoño@example.com"
    text = msg.get_body(("plain",)).get_content()
    assert "/login/verify?token=" in text
    token = text.split("token=", 1)[1].split()[0]
    r = client.post("/api/v1/auth/verify", json={"token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["customer"]["email"] == "ñoño@example.com"


def test_non_ascii_local_part_without_smtputf8_fails_at_once_and_is_counted(make_app,
                                                                             ascii_sink):
    from loginsvc.ops import metrics

    controller, handler = ascii_sink
    failures = metrics.mail_failures._value.get()
    retries = metrics.mail_retries._value.get()
    app = make_app(mail_queue_async=True, mail_port=controller.port)
    client = app.test_client()
    r = client.post("/api/v1/auth/login-link", json={"email": "ñoño@example.com"})
    assert r.status_code == 202
    from rq import SimpleWorker

    from loginsvc.core import jobs, mailer

    jobs.bind_app(app)
    try:
        conn = app.extensions["loginsvc.redis"]
        with app.app_context():
            q = mailer.queue(conn)
        SimpleWorker([q], connection=conn).work(burst=True)
    finally:
        jobs._APP = None
    # A server without SMTPUTF8 cannot take it: no retry for two days, one failure
    # counted, nothing left waiting.
    assert handler.envelopes == []
    assert metrics.mail_failures._value.get() == failures + 1
    assert metrics.mail_retries._value.get() == retries
    assert q.scheduled_job_registry.count == 0 and q.count == 0


def test_non_ascii_local_part_goes_to_the_outbox_as_utf8(make_app, tmp_path):
    app = make_app(mail_server="")
    r = app.test_client().post("/api/v1/auth/login-link", json={"email": "ñoño@example.com"})
    assert r.status_code == 202
    files = list((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert "To: ñoño@example.com".encode() in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "/login/verify?token=" in msg.get_body(("plain",)).get_content()


def test_a_job_keeps_its_message_id_and_is_not_sent_twice(make_app, mailbox):
    from loginsvc.core import jobs, mailer

    app = make_app(mail_queue_async=True)
    conn = app.extensions["loginsvc.redis"]
    with app.app_context():
        q = mailer.queue(conn)
        mailer.enqueue("loginsvc.core.jobs.send_template", to="once@example.com",
                       template="login_link", locale="en",
                       context={"link": "http://localhost/x", "name": "", "valid_for": "1"})
    job = Job.fetch(q.job_ids[0], connection=conn)
    jobs.bind_app(app)
    try:
        job.perform()
        job.perform()  # a second run of the same job, as after a worker's crash
    finally:
        jobs._APP = None
    mails = mailbox.to("once@example.com")
    assert len(mails) == 1
    msg = email.message_from_bytes(mails[0].raw, policy=email.policy.default)
    assert msg["Message-ID"] == f"<{job.id}@loginsvc>"
    job.delete()


def test_rq_key_prefix_follows_redis_prefix_and_a_bad_one_is_refused(tmp_path):
    from loginsvc.config import load_settings

    base = {"LOGINSVC_INSTANCE": str(tmp_path), "SECRET_KEYS": "k" * 40}
    assert load_settings({**base, "REDIS_PREFIX": "shopA:"}).rq_key_prefix == "shopA:rq"
    given = load_settings({**base, "REDIS_PREFIX": "shopA:", "RQ_KEY_PREFIX": "shopA:queue"})
    assert given.rq_key_prefix == "shopA:queue"
    with pytest.raises(SystemExit) as exc:
        load_settings({**base, "REDIS_PREFIX": "shop A/"})
    assert str(exc.value).startswith("loginsvc: RQ keys need a prefix of letters")
