"""Render, queue and deliver e-mail. Delivery runs off the request path.

Requests put a job on a Redis-backed RQ queue; `loginsvc worker` (started by
`loginsvc serve` too) delivers it. A failed send is retried with growing
delays for about two days, so an SMTP outage delays mail and loses none.
Delivery is at-least-once: a worker killed after the SMTP server accepted a
message but before RQ recorded success sends that message again.
"""

from __future__ import annotations

import importlib.resources
import logging
import smtplib
import time
import uuid
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import force_locale, get_translations
from flask_mail import Message
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from redis import Redis
from rq import Queue, Retry

from loginsvc.admin.branding import branding
from loginsvc.admin.timeline import record as timeline_event
from loginsvc.core.extensions import mail
from loginsvc.core.i18n import DEFAULT, normalise_locale
from loginsvc.core.runtime import settings
from loginsvc.ops import metrics

log = logging.getLogger("loginsvc.mail")

# Seconds between attempts; the last interval repeats. 40 tries ≈ 2 days.
RETRY_INTERVALS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3600]
MAX_RETRIES = 40


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
    q = queue(current_app.extensions["loginsvc.redis"])
    q.enqueue_call(
        func,
        kwargs=kwargs,
        retry=Retry(max=MAX_RETRIES, interval=RETRY_INTERVALS),
        result_ttl=600,
        failure_ttl=30 * 86400,
        job_id=uuid.uuid4().hex,
    )


def deliver(*, to: str, subject: str, text: str, html: str) -> None:
    """Send now: over SMTP when MAIL_SERVER is set, else into the outbox folder."""
    s = settings()
    msg = Message(
        subject=subject, recipients=[to], body=text, html=html, sender=s.mail_default_sender
    )
    msg.date = time.time()
    msg.msgId = make_msgid(domain="loginsvc")
    if not s.mail_server:
        outbox = s.outbox_path
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = outbox / (name + ".tmp")
        tmp.write_bytes(msg.as_bytes())
        tmp.rename(outbox / name)  # readers never see half a file
        log.info("mail written to outbox", extra={"file": name, "date": formatdate()})
        metrics.mail_sent.labels(transport="outbox").inc()
        timeline_event(email=to, kind="mail.sent", detail={"subject": subject})
        return
    try:
        mail.send(msg)
    except (smtplib.SMTPException, OSError, TimeoutError) as exc:
        log.warning("SMTP send failed, will retry: %s", type(exc).__name__)
        timeline_event(
            email=to, kind="mail.failed", detail={"subject": subject, "error": type(exc).__name__}
        )
        metrics.count_send_failure()
        raise MailDeliveryError(str(exc)) from exc
    metrics.mail_sent.labels(transport="smtp").inc()
    timeline_event(email=to, kind="mail.sent", detail={"subject": subject})
