"""Signing in by an attempt: the mailed code, and approval from another device (§3a).

The link path is auth/login.py; these reuse its one spending function, so the
code, the link and an approval all consume the same single-use mark.
"""

from __future__ import annotations

import hmac
import re

from loginsvc.auth import attempts, login
from loginsvc.auth.attempts import Attempt
from loginsvc.auth.tokens import LoginToken
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer
from loginsvc.core.runtime import now, store

_CODE = re.compile(r"[0-9]{6}")


def _invalid_code(left: int | None = None) -> ProblemError:
    extra = {} if left is None else {"attempts_left": left}
    return ProblemError(400, "invalid_code", "This code is not right.", extra=extra)


def _too_many() -> ProblemError:
    return ProblemError(
        429,
        "too_many_attempts",
        "Too many wrong codes: this code no longer works. Use the link in the e-mail, "
        "or ask for a new one.",
    )


def _used() -> ProblemError:
    return ProblemError(410, "token_used", "This sign-in was already used.")


def verify_code(*, code: str, attempt: str | None = None, email: str | None = None) -> login.SignIn:
    """Spend the attempt by its 6-digit code; at most CODE_TRIES wrong codes.

    The attempt is named by its handle or id, or by the address (its newest mail).
    """
    attempt_id = attempts.split_handle(attempt)[0] if attempt else attempts.latest_for(email or "")
    a = attempts.load(attempt_id)
    if a is None:
        raise _invalid_code()
    if a.status != "pending" or store().token_used(a.id):
        raise _used()
    if now() > a.expires_at:
        raise ProblemError(410, "code_expired", "This code has expired; use the link or ask again.")
    if a.code_fails >= attempts.CODE_TRIES or attempts.address_locked(a.email):
        raise _too_many()
    code = (code or "").replace(" ", "").replace("-", "")
    if not _CODE.fullmatch(code):
        raise _invalid_code(attempts.CODE_TRIES - a.code_fails)  # cannot be right: not counted
    if not attempts.code_matches(a, code):
        wrong = attempts.count_wrong_code(a.id, email=a.email)
        if wrong > attempts.CODE_TRIES:
            raise _too_many()
        raise _invalid_code(attempts.CODE_TRIES - wrong)
    # Wrong guesses racing this one are counted as they finish; read the count
    # again so that a right code never wins after the fifth wrong one.
    if attempts.wrong_codes(a.id) >= attempts.CODE_TRIES or attempts.address_locked(a.email):
        raise _too_many()
    if a.email is None or a.issued_at is None:  # no mail went out: nothing can match
        raise _invalid_code()
    return login.sign_in_parsed(_token_of(a), method="code")


def _token_of(a: Attempt) -> LoginToken:
    """The attempt as the login token its mail carries (same jti, same address)."""
    assert a.email is not None and a.issued_at is not None
    return LoginToken(
        email=a.email,
        customer_id=a.customer_id,
        jti=a.id,
        issued_at=a.issued_at,
        next_url=a.next_url,
        locale=a.locale,
    )


def _closed() -> ProblemError:
    return ProblemError(
        409,
        "approval_closed",
        "This link can no longer sign in another device; it still signs in this one.",
    )


def device_that_asked(token: str) -> Attempt | None:
    """The attempt a genuine link may approve, or None (nothing changes: GET-safe)."""
    try:
        tok = login.check_token(token)
    except ProblemError:
        return None
    a = attempts.load(tok.jti)
    if a is None or not a.device or a.current_status != "pending":
        return None
    if a.match_fails >= attempts.MATCH_TRIES:
        return None
    return a


def approve(*, token: str, match: str) -> None:
    """Spend the link to sign in the device that asked, if the number matches."""
    tok = login.check_token(token)  # invalid, expired, used, revoked, blocked: as verify
    a = attempts.load(tok.jti)
    if a is None or not a.device or a.current_status != "pending":
        raise _closed()
    if a.match_fails >= attempts.MATCH_TRIES:
        raise _closed()
    given = (match or "").strip()
    if not hmac.compare_digest(given.encode(), a.match.encode()):
        wrong = attempts.count_wrong_match(a.id)
        if wrong > attempts.MATCH_TRIES:
            raise _closed()
        raise ProblemError(
            400,
            "match_mismatch",
            "This is not the number shown on the other device.",
            extra={"attempts_left": attempts.MATCH_TRIES - wrong},
        )
    if attempts.wrong_matches(a.id) >= attempts.MATCH_TRIES:
        raise _closed()  # wrong numbers raced this one
    customer = login.spend(tok)
    if customer.status == "pending":
        from loginsvc.core.notifications import notify_pending_registration

        notify_pending_registration(customer)
        raise ProblemError(
            403,
            "account_pending",
            "Your account is waiting for the shop's approval; we will e-mail you when it is ready.",
        )
    attempts.mark_approved(a.id, customer_id=customer.id, next_url=login.safe_next(tok.next_url))


def status_of(*, attempt: str, cookie: str | None) -> Attempt:
    a = attempts.owned(attempt, cookie)
    if a is None:
        raise ProblemError(404, "not_found", "No such sign-in attempt for this browser.")
    return a


def complete(*, attempt: str, cookie: str | None) -> login.SignIn:
    """Sign in the asking browser once the link approved it; once."""
    a = status_of(attempt=attempt, cookie=cookie)
    if a.status == "signed_in":
        raise _used()
    if a.status != "approved" or a.approved_customer is None:
        raise ProblemError(
            409, "not_approved", "Not approved yet: open the link on the other device."
        )
    if not attempts.claim_completion(a.id):
        raise _used()
    try:
        customer = db.session.get(Customer, a.approved_customer)
        if customer is None or not customer.has_account:
            raise ProblemError(410, "token_revoked", "This sign-in no longer works.")
        if customer.status == "blocked":
            raise ProblemError(403, "account_blocked", "This account is blocked.")
        if customer.status != "active":
            raise ProblemError(
                403, "account_pending", "This account is waiting for the shop's approval."
            )
        result = login.session_for(customer, next_url=a.next_url, method="device")
    except Exception:
        db.session.rollback()
        attempts.release_completion(a.id)
        raise
    attempts.mark_signed_in(a.id)
    return result
