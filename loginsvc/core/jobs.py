"""Jobs the mail worker runs. Each one opens an app context of its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, has_app_context

log = logging.getLogger("loginsvc.core.jobs")

_APP: Flask | None = None


def bind_app(app: Flask) -> None:
    """The worker process's app (set by `loginsvc worker` and by tests)."""
    global _APP
    _APP = app


@contextmanager
def app_context() -> Iterator[None]:
    global _APP
    if has_app_context():  # synchronous queue: the job runs inside the request
        yield
        return
    if _APP is None:
        from loginsvc import create_app

        _APP = create_app()
    with _APP.app_context():
        yield


def send_login_link(
    *,
    email: str,
    next_url: str | None,
    locale: str | None,
    template: str = "login_link",
    attempt: str | None = None,
) -> None:
    from loginsvc.auth.login import send_login_link_now

    with app_context():
        send_login_link_now(
            email=email, next_url=next_url, locale=locale, template=template, attempt=attempt
        )


def send_template(*, to: str, template: str, locale: str, context: dict[str, Any]) -> None:
    from loginsvc.core.mailer import deliver, render, unsubscribe_headers

    with app_context():
        subject, text, html = render(template, locale, context)
        # A mail that carries an unsubscribe link offers it to the mail client too.
        link = context.get("unsubscribe_link")
        headers = unsubscribe_headers(link) if isinstance(link, str) and link else None
        deliver(to=to, subject=subject, text=text, html=html, headers=headers)
