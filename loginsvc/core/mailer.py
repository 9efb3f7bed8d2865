"""Render, queue and deliver e-mail. Delivery runs off the request path.

Requests put a job on a Redis-backed RQ queue; `loginsvc worker` (started and
supervised by `loginsvc serve` too) delivers it. A failed send is retried
RETRY_INTERVALS apart: 5 s, 15 s, 30 s, 1, 2, 5, 10, 20 and 30 minutes, then
hourly, 56 retries spread over 48 h 9 min; an SMTP outage shorter than that
delays mail and loses none, and the server is never tried more than once an
hour after the first hour.

A worker killed mid-job runs the job again (RQ is at-least-once). The message
keeps its Message-ID (`<job id@loginsvc>`) across runs, and a job whose message
the SMTP server already accepted is not sent again; what remains is a kill
while the message is being acknowledged (after its last byte, before the mark),
where a resend carries the same Message-ID, so mail systems show one message.

Addresses with a non-ASCII local part (`ñoño@example.com`) are sent with
SMTPUTF8 (RFC 6531). A server that does not offer SMTPUTF8 cannot take them:
such a send fails at once, without retries, logged as an error and counted
in `loginsvc_mail_failures_total`.
"""

from __future__ import annotations

import email.policy
import importlib.resources
import logging
import smtplib
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import force_locale, get_translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from redis import Redis
from rq import Queue, Retry, get_current_job

from loginsvc.admin.branding import branding
from loginsvc.admin.timeline import record as timeline_event
from loginsvc.core.extensions import mail
from loginsvc.core.i18n import DEFAULT, normalise_locale
from loginsvc.core.runtime import settings, store
from loginsvc.ops import metrics

log = logging.getLogger("loginsvc.mail")

# Seconds before each retry, one entry per retry. RQ uses entry i for retry i only
# when the list is exactly as long as Retry.max (with a shorter list it repeats the
# FIRST entry until the retries left equal its length), so the list is spelled out.
_RAMP = [5, 15, 30, 60, 120, 300, 600, 1200, 1800]
_CAP = 3600
RETRY_INTERVALS = _RAMP + [_CAP] * 47  # 56 retries over 48 h 9 min

# How long a "this job's message was accepted" mark is kept (longer than any retry).
SENT_MARK_TTL = 4 * 86400


def retry_policy() -> Retry:
    return Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)


class MailDeliveryError(Exception):
    """A send that failed and should be tried again later."""


def _template_env() -> Environment:
    root = Path(str(importlib.resources.files("loginsvc.email_templates")))
    env = Environment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # The catalogs of the locale render() forces (mails are rendered in the worker,
    # outside any request, so the language is the recipient's, not a browser's).
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: get_translations().ugettext(s),
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    return env


_ENV: Environment | None = None


def render(name: str, locale: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) in `locale`. The text template's first line is `Subject: …`.

    One template per mail (`<name>.txt` and `<name>.html`); its texts come from the catalogs.
    """
    global _ENV
    if _ENV is None:
        _ENV = _template_env()
    loc = normalise_locale(locale) or DEFAULT
    brand = branding(settings().shop_name)
    ctx = {"shop_name": brand["shop_name"], "brand": brand, "locale": loc, **context}
    with force_locale(loc):
        text = _ENV.get_template(f"{name}.txt").render(ctx)
        html = _ENV.get_template(f"{name}.html").render(ctx)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"{name}.txt must start with a Subject: line")
    return first[len("Subject:") :].strip(), body.lstrip("\n"), html


def queue(redis_client: Redis) -> Queue:
    s = settings()
    return Queue(
        f"{s.redis_prefix}mail",
        connection=redis_client,
        is_async=s.mail_queue_async,
        default_timeout=120,
    )


def enqueue(func: str, **kwargs: Any) -> None:
    """Put a delivery job on the queue (returns at once)."""
    # One Queue per app: it remembers the server's version, which RQ would
    # otherwise ask for (INFO) on every enqueue.
    q = current_app.extensions.get("loginsvc.mail_queue")
    if q is None:
        q = current_app.extensions["loginsvc.mail_queue"] = queue(
            current_app.extensions["loginsvc.redis"]
        )
    q.enqueue_call(
        func,
        kwargs=kwargs,
        retry=retry_policy(),
        result_ttl=600,
        failure_ttl=30 * 86400,
        job_id=uuid.uuid4().hex,
    )


def _is_ascii(text: str) -> bool:
    return text.isascii()


def wire_address(to: str) -> str:
    """The address as mail travels: the domain in its IDNA (ASCII) spelling.

    `x@bücher.de` goes out as `x@xn--bcher-kva.de`, which every server takes;
    only a non-ASCII local part still needs SMTPUTF8.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(to, check_deliverability=False)
    except EmailNotValidError:
        return to
    return f"{valid.local_part}@{valid.ascii_domain or valid.domain}"


def build_message(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    msg_id: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = subject
    msg["From"] = settings().mail_default_sender
    msg["To"] = wire_address(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = msg_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text, cte="8bit")  # links stay readable in the raw message
    msg.add_alternative(html, subtype="html")
    return msg


def _message_id() -> tuple[str, str | None]:
    """(Message-ID, job id): one Message-ID per job, whichever run sends it."""
    job = get_current_job()
    if job is None:
        return make_msgid(domain="loginsvc"), None
    return f"<{job.id}@loginsvc>", job.id


def unsubscribe_headers(link: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: the mail client's own one-click unsubscribe (a POST to `link`)."""
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def deliver(
    *, to: str, subject: str, text: str, html: str, headers: dict[str, str] | None = None
) -> None:
    """Send now: over SMTP when MAIL_SERVER is set, else into the outbox folder."""
    s = settings()
    msg_id, job_id = _message_id()
    if job_id is not None and store().mail_sent(job_id):
        log.warning("mail job %s was delivered before the worker stopped; not sent again", job_id)
        return
    msg = build_message(
        to=to, subject=subject, text=text, html=html, msg_id=msg_id, headers=headers
    )
    if not s.mail_server:
        outbox = s.outbox_path
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = outbox / (name + ".tmp")
        # A non-ASCII address is written as UTF-8 (RFC 6532), as SMTPUTF8 would carry it.
        policy = email.policy.SMTP if _is_ascii(str(msg["To"])) else email.policy.SMTPUTF8
        tmp.write_bytes(msg.as_bytes(policy=policy))
        tmp.rename(outbox / name)  # readers never see half a file
        log.info("mail written to outbox", extra={"file": name, "date": formatdate()})
        metrics.mail_sent.labels(transport="outbox").inc()
        timeline_event(email=to, kind="mail.sent", detail={"subject": subject})
        return
    try:
        # Flask-Mail opens the connection (TLS, login, timeout from the settings);
        # the stdlib sends, because it speaks SMTPUTF8 when an address needs it.
        with mail.connect() as conn:
            assert conn.host is not None
            conn.host.send_message(msg)
    except smtplib.SMTPNotSupportedError:
        # Permanent: this server will never take a non-ASCII address. Retrying for two
        # days would only hide it; say so now.
        log.error("SMTP server does not offer SMTPUTF8; mail to a non-ASCII address dropped")
        metrics.mail_failures.inc()
        return
    except (smtplib.SMTPException, OSError, TimeoutError) as exc:
        log.warning("SMTP send failed, will retry: %s", type(exc).__name__)
        timeline_event(
            email=to, kind="mail.failed", detail={"subject": subject, "error": type(exc).__name__}
        )
        metrics.count_send_failure()
        raise MailDeliveryError(str(exc)) from exc
    if job_id is not None:
        store().mark_mail_sent(job_id, ttl=SENT_MARK_TTL)
    metrics.mail_sent.labels(transport="smtp").inc()
    timeline_event(email=to, kind="mail.sent", detail={"subject": subject})
