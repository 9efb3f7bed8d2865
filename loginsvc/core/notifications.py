"""E-mails to the shop owner and account-state e-mails to shoppers."""

from __future__ import annotations

from loginsvc.core import mailer
from loginsvc.core.models import Customer
from loginsvc.core.runtime import settings


def _admin(template: str, context: dict[str, object]) -> None:
    # The shop owner's notices are sent in English (templates/email/admin_*).
    to = settings().admin_email
    if to:
        mailer.enqueue(
            "loginsvc.core.jobs.send_template",
            to=to,
            template=template,
            locale="en",
            context=context,
        )


def notify_pending_registration(customer: Customer) -> None:
    _admin(
        "admin_pending",
        {"email": customer.email, "customer_id": customer.id, "name": customer.name or ""},
    )


def notify_account_deleted(
    *, customer_id: int, email: str, by: str, actor: str | None = None
) -> None:
    """`by`: "customer" (they deleted it themselves) or "admin" (the owner; `actor`
    is the admin API key's name)."""
    _admin(
        "admin_deleted",
        {"email": email, "customer_id": customer_id, "by": by, "actor": actor or ""},
    )


def send_welcome(customer: Customer, *, locale: str | None) -> None:
    mailer.enqueue(
        "loginsvc.core.jobs.send_login_link",
        email=customer.email,
        next_url=None,
        locale=locale or customer.locale,
        template="welcome",
    )


def send_approved(customer: Customer) -> None:
    mailer.enqueue(
        "loginsvc.core.jobs.send_login_link",
        email=customer.email,
        next_url=None,
        locale=customer.locale,
        template="approved",
    )


def send_invite(customer: Customer) -> None:
    mailer.enqueue(
        "loginsvc.core.jobs.send_login_link",
        email=customer.email,
        next_url=None,
        locale=customer.locale,
        template="invite",
    )
