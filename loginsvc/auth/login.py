"""Passwordless login: issue a single-use link, verify it once, start a session.

Past 300 lines on purpose: the order of the checks on a link (signature, age,
used mark, revocation, admission, durable mark) is the security of the
service and reads as one sequence; the code attempts and sessions it calls
live in their own modules.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sqlalchemy.exc import IntegrityError

from loginsvc.admin.shop_settings import account_mode
from loginsvc.admin.timeline import record as timeline_event
from loginsvc.auth import attempts, revocations, sessions
from loginsvc.auth.admission import Refused, admit, void_links_issued_before_now
from loginsvc.auth.tokens import LoginToken, TokenExpired, TokenInvalid
from loginsvc.core import mailer, throttle
from loginsvc.core.emails import legacy_norm, normalise, parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import duration_in_words, pick_locale
from loginsvc.core.models import Customer, UsedToken
from loginsvc.core.runtime import login_tokens, now, settings, store
from loginsvc.customers import service as customers_svc
from loginsvc.ops import metrics

log = logging.getLogger("loginsvc.login")


# -- redirects --------------------------------------------------------------


def safe_next(next_url: str | None) -> str | None:
    """`next` kept only when it is same-origin or an allowed origin; else dropped."""
    if not next_url or not isinstance(next_url, str) or len(next_url) > 2048:
        return None
    if any(c in next_url for c in "\r\n\t\\") or next_url.startswith("//"):
        return None
    parts = urlsplit(next_url)
    if not parts.scheme and not parts.netloc:
        return next_url if next_url.startswith("/") else None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in sessions.allowed_origins():
        return next_url
    return None


# -- issuing ------------------------------------------------------------------


def request_login_link(
    *, email: str, next_url: str | None, locale: str | None, ip: str, user_agent: str = ""
) -> str:
    """Queue a login link; the attempt's handle. Same answer for every valid address."""
    s = settings()
    throttle.per_ip("login-ip", ip)
    mode = account_mode()
    # End the read at once: on SQLite it holds the write lock until the request ends.
    db.session.rollback()
    if mode == "disabled":
        raise ProblemError(403, "accounts_disabled", "Customer accounts are turned off.")
    try:
        address = parse_email(email, check_deliverability=s.check_deliverability)
    except ValueError as exc:  # the body's syntax passed; a domain without mail did not
        raise InvalidRequest(
            "The e-mail address is not valid.", [{"field": "email", "message": str(exc)}]
        ) from None
    # Every valid address gets an attempt (no enumeration); only mailed ones get a code.
    handle = attempts.start(
        device=_describe_device(user_agent),
        ip_prefix=sessions.ip_prefix(ip),
        next_url=safe_next(next_url),
    )
    ok, _ = store().hit("login-email", address.norm, limit=s.email_limit, window=s.email_window)
    if not ok:
        log.info("login link suppressed by the per-address limit")
        timeline_event(email=address.norm, kind="link.refused", detail={"reason": "rate_limited"})
        metrics.rate_limit_hits.labels(limit="login-email").inc()
        return handle
    # Everything that depends on whether the address is known happens in the
    # worker, so the answer takes the same time for every address.
    mailer.enqueue(
        "loginsvc.core.jobs.send_login_link",
        email=address.display,
        next_url=safe_next(next_url),
        locale=pick_locale(locale),
        attempt=attempts.split_handle(handle)[0],
    )
    metrics.login_links_requested.inc()
    return handle


def _describe_device(user_agent: str) -> str:
    from loginsvc.customers.devices import describe_user_agent

    return describe_user_agent(user_agent) if user_agent else "Unknown device"


def link_for(token: str) -> str:
    return f"{settings().public_url}/login/verify?{urlencode({'token': token})}"


def send_login_link_now(
    *,
    email: str,
    next_url: str | None,
    locale: str | None,
    template: str = "login_link",
    attempt: str | None = None,
) -> None:
    """Worker side: decide, sign and send. Blocked or disabled addresses get nothing."""
    address = parse_email(email)
    customer = customers_svc.find_by_email(db.session, address.norm)
    decision = admit(way="link", mode=account_mode(), customer=customer)
    if isinstance(decision, Refused) and decision.code != "account_pending":
        # A pending account gets its link: verifying it tells the shopper to wait.
        log.info("no login link: %s", decision.code)
        if customer is not None:
            timeline_event(
                customer_id=customer.id, kind="link.refused", detail={"reason": decision.code}
            )
        return
    if attempt is None:  # welcome, invite, approval: no device asked, the mail starts one
        attempt = attempts.split_handle(attempts.start(device="", ip_prefix="", next_url=None))[0]
    code = attempts.new_code()
    token, tok = login_tokens().issue(
        email=customer.email if customer else address.display,
        customer_id=customer.id if customer is not None and customer.has_account else None,
        now=now(),
        next_url=next_url,
        locale=locale,
        jti=attempt,
    )
    attempts.attach_mail(
        attempt_id=attempt,
        code=code,
        email=tok.email,
        customer_id=tok.customer_id,
        locale=locale,
        issued_at=tok.issued_at,
    )
    metrics.login_links_issued.inc()
    loc = pick_locale(locale, customer.locale if customer else None)
    to = customer.email if customer else address.display
    subject, text, html = mailer.render(
        template,
        loc,
        {
            "link": link_for(token),
            "name": (customer.name if customer else None) or "",
            "valid_for": duration_in_words(settings().login_link_max_age, loc),
            "code": code,
            "code_valid_for": duration_in_words(settings().login_code_max_age, loc),
        },
    )
    # End the read transaction before the slow part (SQLite: never hold a lock over SMTP).
    db.session.rollback()
    timeline_event(
        customer_id=customer.id if customer else None,
        email=to,
        kind="link.issued",
        detail={"mail": template},
    )
    mailer.deliver(to=to, subject=subject, text=text, html=html)
    if not settings().mail_server:
        # The embedded default has no mail server: show the link where a developer looks.
        log.warning(
            "login link for %s: %s (code %s)", _mask(address.display), link_for(token), code
        )


def _mask(email: str) -> str:
    local, _, domain = email.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


# -- verifying ----------------------------------------------------------------


@dataclass
class SignIn:
    customer: Customer
    session_token: str
    expires_at: dt.datetime
    next_url: str | None


def _parse(token: str) -> LoginToken:
    try:
        return login_tokens().parse(token, now=now())
    except TokenExpired:
        timeline_event(
            email=login_tokens().peek_email(token),
            kind="link.refused",
            detail={"reason": "token_expired"},
        )
        raise ProblemError(410, "token_expired", "This login link has expired.") from None
    except TokenInvalid:
        raise ProblemError(400, "invalid_token", "This is not a valid login link.") from None


def check_token(token: str) -> LoginToken:
    """Parse and check a token without consuming it (for the GET page)."""
    tok = _parse(token)
    if store().token_used(tok.jti) or db.session.get(UsedToken, tok.jti) is not None:
        _refusal_of_a_marked_link(tok)
    _check_customer(tok)
    db.session.rollback()
    # Opened but not (yet) used: a person on the button page, or a mail scanner's preview.
    timeline_event(customer_id=tok.customer_id, email=tok.email, kind="link.opened")
    return tok


def _revoked() -> ProblemError:
    return ProblemError(410, "token_revoked", "This login link no longer works.")


_UNREAD: float = -1.0  # deleted_at not read yet (None: read, no mark)


def _links_void_before(
    tok: LoginToken, norm: str, customer: Customer | None, deleted_at: float | None = _UNREAD
) -> float:
    """The instant up to which links for this address are void (0: none are).

    One value from three records: the address's deletion (Redis's fast mark;
    the database's durable one whenever Redis has none — it may have lost its
    data, and a re-registered address has an account again), and the
    customer's own `links_valid_after` (logout-all, a block).
    """
    if deleted_at == _UNREAD:
        deleted_at = store().address_deleted_at(norm)
    if deleted_at is None:
        forms = [norm] if legacy_norm(tok.email) == norm else [norm, legacy_norm(tok.email)]
        deleted_at = revocations.revoked_at(db.session, *forms)
    own = customer.links_valid_after.timestamp() if customer and customer.links_valid_after else 0
    return max(deleted_at or 0.0, own)


def _check_customer(tok: LoginToken, deleted_at: float | None = _UNREAD) -> Customer | None:
    """May this link sign in now? The customer row (None: the address has none yet).

    A blocked customer is told so first, whatever else holds. Then one
    revocation check: the link must be newer than every voiding event and name
    the account it was issued for. Then the admission policy decides.
    """
    norm = normalise(tok.email)
    customer = customers_svc.find_by_email(db.session, norm)
    decision = admit(way="link", mode=account_mode(), customer=customer)
    if isinstance(decision, Refused) and decision.code == "account_blocked":
        raise decision.error()
    issued_for_another = tok.customer_id is not None and (
        customer is None or customer.id != tok.customer_id or not customer.has_account
    )
    if issued_for_another or tok.issued_at <= _links_void_before(tok, norm, customer, deleted_at):
        raise _revoked()
    if isinstance(decision, Refused):
        raise decision.error()
    return customer


def _refusal_of_a_marked_link(tok: LoginToken) -> None:
    """A link already marked: used — unless the customer's state refuses it anyway.

    Concurrent verifies of one link race for the mark; the winner may then be
    refused (blocked, revoked), which leaves the link unspent. The losers must
    give that same answer, not `token_used` for a link nobody used.
    """
    if db.session.get(UsedToken, tok.jti) is None:
        try:
            _check_customer(tok)
        finally:
            db.session.rollback()
    raise ProblemError(410, "token_used", "This login link was already used.")


@metrics.counted_verification
def verify_and_sign_in(token: str) -> SignIn:
    """Consume a token exactly once and start a session."""
    return sign_in_parsed(_parse(token), method="link")


def sign_in_parsed(tok: LoginToken, *, method: str) -> SignIn:
    """Spend a checked token (or the attempt a mailed code belongs to) and start a session."""
    customer = spend(tok)
    if customer.status == "pending":
        from loginsvc.core.notifications import notify_pending_registration

        notify_pending_registration(customer)
        raise ProblemError(
            403,
            "account_pending",
            "Your account is waiting for the shop's approval; we will e-mail you when it is ready.",
        )
    # The attempt is marked signed in by the same round trip that writes the session.
    return session_for(
        customer,
        next_url=safe_next(tok.next_url),
        method=method,
        update_attempt=(tok.jti, attempts.SIGNED_IN),
    )


def session_for(
    customer: Customer,
    *,
    next_url: str | None,
    method: str,
    update_attempt: tuple[str, dict[str, str]] | None = None,
) -> SignIn:
    session_token, record = sessions.start_session(
        customer_id=customer.id, method=method, update_attempt=update_attempt
    )
    expires_at = dt.datetime.fromtimestamp(
        record.created_at + settings().session_idle_days * 86400, dt.UTC
    )
    return SignIn(
        customer=customer, session_token=session_token, expires_at=expires_at, next_url=next_url
    )


def spend(tok: LoginToken) -> Customer:
    """Mark the token used once (Redis and database) and return its (new) customer."""
    expires = tok.expires_at(settings().login_link_max_age)
    # The atomic mark answers "used before?"; the durable mark is checked by the
    # insert in _consume and the customer inside its transaction, so nothing is read twice.
    # Redis's deletion mark for the address comes back with the used mark (one round trip).
    first, deleted_at = store().mark_token_used_reading_deletion(
        tok.jti, expires_at=expires, email_norm=normalise(tok.email)
    )
    if not first:
        timeline_event(email=tok.email, kind="link.refused", detail={"reason": "token_used"})
        _refusal_of_a_marked_link(tok)
    try:
        customer = _consume(tok, expires, deleted_at)
    except ProblemError as err:
        db.session.rollback()
        timeline_event(
            customer_id=tok.customer_id,
            email=tok.email,
            kind="link.refused",
            detail={"reason": err.code},
        )
        if err.code != "token_used":
            # Refused (blocked, revoked, pending, disabled): the link is not spent by it.
            store().unmark_token_used(tok.jti)
        raise
    except Exception:
        # Nothing half-done: the link stays usable when the database failed.
        db.session.rollback()
        store().unmark_token_used(tok.jti)
        raise
    timeline_event(customer_id=customer.id, kind="link.used")
    return customer


def _consume(tok: LoginToken, expires: float, deleted_at: float | None) -> Customer:
    sess = db.session
    sess.rollback()
    sess.add(UsedToken(jti=tok.jti, expires_at=dt.datetime.fromtimestamp(expires, dt.UTC)))
    try:
        sess.flush()
    except IntegrityError:
        # Redis lost its data, the database still remembers: used is used.
        sess.rollback()
        raise ProblemError(410, "token_used", "This login link was already used.") from None
    # Inside the transaction that marks the token.
    customer = _check_customer(tok, deleted_at)
    if customer is None or not customer.has_account:
        customer, _ = customers_svc.get_or_create(
            sess, email=tok.email, email_norm=normalise(tok.email), missing=customer is None
        )
        decision = admit(way="link", mode=account_mode(), customer=customer)
        if isinstance(decision, Refused):  # the row appeared meanwhile, blocked
            raise decision.error()
        if decision.open_account:
            customers_svc.open_account(customer, status=decision.status)
        if tok.locale and not customer.locale:
            customer.locale = tok.locale
    customer.groups  # noqa: B018 - the answer lists them: load them in this transaction
    sess.commit()
    return customer


def logout_all(customer: Customer) -> None:
    """End every session and void every link issued before now."""
    void_links_issued_before_now(customer)
    db.session.commit()
    sessions.end_all(customer.id)
