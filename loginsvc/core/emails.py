"""E-mail addresses: parsing, and the one comparison form (one mailbox, one customer).

Every place that compares addresses — the customer row (`customers.email_norm`),
revocations, per-address rate limits, orders, checkout eligibility, import,
SSO, webhooks and admin search — compares `normalise(address)`, and nothing
else computes it.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, ValidatedEmail, validate_email

MAX_EMAIL = 320
# The deliverability lookup runs inside the request: a resolver that does not
# answer may hold it this long, then the address passes (email-validator treats
# a timeout as "unknown", not undeliverable, so a DNS outage never locks anyone out).
DELIVERABILITY_TIMEOUT = 3  # seconds


@dataclass(frozen=True)
class Address:
    display: str  # as first given (trimmed), for display
    norm: str  # for comparison and lookup


def _validated(raw: str, *, check_deliverability: bool) -> tuple[str, ValidatedEmail]:
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    value = raw.strip()
    if not value:
        raise ValueError("an e-mail address is required")
    if len(value) > MAX_EMAIL:
        raise ValueError("is longer than 320 characters")
    try:
        # Deliverability (a DNS MX lookup) is a production setting; off by default.
        valid = validate_email(
            value,
            check_deliverability=check_deliverability,
            timeout=DELIVERABILITY_TIMEOUT if check_deliverability else None,
        )
        return value, valid
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def _comparison_form(valid: ValidatedEmail) -> str:
    """email-validator's normalized form, made comparable.

    The domain in its IDNA (ASCII) spelling, lower-cased, so `bücher.de` and
    `xn--bcher-kva.de` are one domain; the local part NFC-normalised (as the
    validator does) and case-folded, because addresses are compared
    case-insensitively (CONTRACT §2) — an NFD spelling and another case are the
    same mailbox.
    """
    local = unicodedata.normalize("NFC", unicodedata.normalize("NFC", valid.local_part).casefold())
    domain = (valid.ascii_domain or valid.domain).lower()
    norm = f"{local}@{domain}"
    if len(norm) > MAX_EMAIL:
        raise ValueError("is longer than 320 characters")
    return norm


def parse_email(raw: str, *, check_deliverability: bool = False) -> Address:
    """Raise ValueError with a human message when the address is not usable."""
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    if check_deliverability:
        value, valid = _validated(raw, check_deliverability=True)
        return Address(display=value, norm=_comparison_form(valid))
    return _parse_syntax(raw)


@functools.lru_cache(maxsize=4096)
def _parse_syntax(raw: str) -> Address:
    # Syntax and IDNA checks cost 0.15-0.9 ms an address, and a verify or an
    # order asks about the same few addresses again and again: remember them
    # (a pure function of the string; errors are not cached).
    value, valid = _validated(raw, check_deliverability=False)
    return Address(display=value, norm=_comparison_form(valid))


def normalise(raw: str) -> str:
    """The comparison form of an address; ValueError when it is not an address."""
    return parse_email(raw).norm


def legacy_norm(raw: str) -> str:
    """The comparison form before migration 0003 (trimmed, lower-cased).

    Only for records that hold a hash of it and cannot be rewritten (address
    revocations live at most LOGIN_LINK_MAX_AGE); nothing new is stored this way.
    """
    return raw.strip().lower()
