"""Newsletter sign-up by double opt-in; unsubscribe by a link in every newsletter mail.

A confirmed address joins the register like a newsletter-only entry of a shop
system: a customer record without an account (unless the address has one),
`newsletter: true`, and the consent recorded with its time and source — which
also fires `customer.consent_changed` (events/outbox.py sees the record).
"""

from __future__ import annotations

import logging

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from loginsvc.core import mailer, throttle
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import normalise_locale
from loginsvc.core.models import ConsentEvent, Customer, utcnow
from loginsvc.core.runtime import settings, store
from loginsvc.customers import service as customers_svc

log = logging.getLogger("loginsvc.newsletter")

CONFIRM_MAX_AGE = 7 * 86400
EMAIL_LIMIT = 3  # confirmation mails per address per hour
_CONFIRM = "loginsvc.newsletter.confirm"
_UNSUBSCRIBE = "loginsvc.newsletter.unsubscribe"


def _serializer(salt: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and verifies with all; SECRET_KEYS signs with its first.
    return URLSafeTimedSerializer(list(reversed(settings().secret_keys)), salt=salt)


def unsubscribe_link(email_norm: str) -> str:
    token = _serializer(_UNSUBSCRIBE).dumps({"e": email_norm})
    return f"{settings().public_url}/newsletter/unsubscribe?token={token}"


def request_signup(*, email: str, locale: str | None, ip: str) -> None:
    """Mail a confirmation link; the same answer for every valid address."""
    s = settings()
    throttle.per_ip("newsletter-ip", ip)
    try:
        address = parse_email(email, check_deliverability=s.check_deliverability)
    except ValueError as exc:
        raise InvalidRequest(
            "The e-mail address is not valid.", [{"field": "email", "message": str(exc)}]
        ) from None
    ok, _ = store().hit("newsletter-email", address.norm, limit=EMAIL_LIMIT, window=3600)
    if not ok:
        log.info("newsletter confirmation suppressed by the per-address limit")
        return
    lang = normalise_locale(locale)
    token = _serializer(_CONFIRM).dumps({"e": address.display, "l": lang})
    mailer.enqueue(
        "loginsvc.core.jobs.send_template",
        to=address.display,
        template="newsletter_confirm",
        locale="en",  # the template exists in English; translations follow the catalogs
        context={
            "confirm_link": f"{s.public_url}/newsletter/confirm?token={token}",
            "unsubscribe_link": unsubscribe_link(address.norm),
        },
    )


def _load(salt: str, token: str, max_age: int | None) -> dict[str, str]:
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise ProblemError(410, "token_expired", "This link has expired; sign up again.") from None
    except BadSignature:
        raise ProblemError(400, "invalid_token", "This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str):
        raise ProblemError(400, "invalid_token", "This link is not valid.")
    return data


def check_confirm_token(token: str) -> str:
    """The address a confirmation link is for (GET shows a button; nothing changes)."""
    return _load(_CONFIRM, token, CONFIRM_MAX_AGE)["e"]


def confirm(*, token: str) -> Customer:
    """The address is proven: it joins the register with newsletter consent. Idempotent."""
    data = _load(_CONFIRM, token, CONFIRM_MAX_AGE)
    address = parse_email(data["e"])
    sess = db.session
    sess.rollback()
    customer, _ = customers_svc.get_or_create(sess, email=address.display, email_norm=address.norm)
    if customer.status != "blocked" and not customer.newsletter:
        # Only the consent changes: one change, one customer.consent_changed event.
        customer.newsletter = True
        customer.updated_at = utcnow()
        sess.add(
            ConsentEvent(customer_id=customer.id, newsletter=True, source="newsletter", at=utcnow())
        )
    sess.commit()
    return customer


def unsubscribe(*, token: str) -> None:
    """Opt out; for an unknown or already unsubscribed address this changes nothing."""
    data = _load(_UNSUBSCRIBE, token, None)
    sess = db.session
    sess.rollback()
    customer = customers_svc.find_by_email(sess, data["e"], for_update=True)
    if customer is not None and customer.newsletter:
        customer.newsletter = False
        customer.updated_at = utcnow()
        sess.add(
            ConsentEvent(
                customer_id=customer.id, newsletter=False, source="unsubscribe", at=utcnow()
            )
        )
    sess.commit()
