"""E-mail address parsing: trimmed, validated, compared case-insensitively."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL = 320
# The deliverability lookup runs inside the request: a resolver that does not
# answer may hold it this long, then the address passes (email-validator treats
# a timeout as "unknown", not undeliverable, so a DNS outage never locks anyone out).
DELIVERABILITY_TIMEOUT = 3  # seconds


@dataclass(frozen=True)
class Address:
    display: str  # as first given (trimmed), for display
    norm: str  # for comparison and lookup


def parse_email(raw: str, *, check_deliverability: bool = False) -> Address:
    """Raise ValueError with a human message when the address is not usable."""
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    value = raw.strip()
    if not value:
        raise ValueError("an e-mail address is required")
    if len(value) > MAX_EMAIL:
        raise ValueError("is longer than 320 characters")
    try:
        # Deliverability (a DNS MX lookup) is a production setting; off by default.
        validate_email(
            value,
            check_deliverability=check_deliverability,
            timeout=DELIVERABILITY_TIMEOUT if check_deliverability else None,
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return Address(display=value, norm=value.lower())


def normalise(raw: str) -> str:
    return raw.strip().lower()
