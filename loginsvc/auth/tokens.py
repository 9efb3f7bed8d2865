"""Signing and checking login-link tokens. Pure: no Flask, no Redis, no clock of its own.

Format (version 1): itsdangerous URL-safe signed JSON with the salt
``loginsvc.login-link.v1``::

    {"v": 1, "e": email_norm, "c": customer_id | null, "j": jti,
     "t": issued_at_ms, "n": next | null, "l": locale | null}

The first key in ``keys`` signs; every key verifies, so keys can be rotated by
adding the new one in front and dropping the old one once its links expired.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

TOKEN_VERSION = 1
MAX_TOKEN_LENGTH = 4096
# What the signer writes: an optional "." (compressed), then two unpadded
# URL-safe base64 segments joined by one dot. Nothing else is a token.
_CANONICAL = re.compile(r"\.?([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


class TokenError(Exception):
    """Base of every token failure."""


class TokenInvalid(TokenError):
    """Tampered, truncated, signed with an unknown key, or not a token at all."""


class TokenExpired(TokenError):
    def __init__(self, issued_at: float) -> None:
        super().__init__("token expired")
        self.issued_at = issued_at


@dataclass(frozen=True)
class LoginToken:
    email: str
    customer_id: int | None
    jti: str
    issued_at: float  # unix seconds, millisecond precision
    next_url: str | None
    locale: str | None

    def expires_at(self, max_age: int) -> float:
        return self.issued_at + max_age


class TokenSigner:
    """One purpose (a salt), a key list, a lifetime."""

    def __init__(self, keys: Sequence[str], *, salt: str, max_age: int) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the *last* key of a list; our first key signs.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=salt)
        self.max_age = max_age

    def dumps(self, payload: dict[str, Any]) -> str:
        return str(self._serializer.dumps(payload))

    def loads(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("not a token")
        if not _is_canonical(token):
            # itsdangerous forgives padding, stray characters and unused low bits,
            # so one signed payload has many spellings; a cross-site form post can
            # smuggle one. Only the exact form the signer produced is accepted.
            raise TokenInvalid("not in canonical form")
        try:
            data = self._serializer.loads(token)
        except BadSignature as exc:
            raise TokenInvalid("bad signature") from exc
        except Exception as exc:  # malformed compression or JSON inside a valid signature
            raise TokenInvalid("malformed") from exc
        if not isinstance(data, dict):
            raise TokenInvalid("malformed")
        return data


def _is_canonical(token: str) -> bool:
    match = _CANONICAL.fullmatch(token)
    if match is None:
        return False
    for segment in match.groups():
        try:
            decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except ValueError:
            return False
        if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != segment:
            return False
    return True


class LoginTokens:
    SALT = "loginsvc.login-link.v1"

    def __init__(self, keys: Sequence[str], *, max_age: int) -> None:
        self._signer = TokenSigner(keys, salt=self.SALT, max_age=max_age)
        self.max_age = max_age

    def issue(
        self,
        *,
        email: str,
        customer_id: int | None,
        now: float,
        next_url: str | None = None,
        locale: str | None = None,
        jti: str | None = None,
    ) -> tuple[str, LoginToken]:
        """`jti`: the sign-in attempt's id, so the link and the mailed code share one mark."""
        tok = LoginToken(
            email=email,
            customer_id=customer_id,
            jti=jti or secrets.token_urlsafe(16),
            issued_at=round(now, 3),
            next_url=next_url,
            locale=locale,
        )
        payload = {
            "v": TOKEN_VERSION,
            "e": tok.email,
            "c": tok.customer_id,
            "j": tok.jti,
            "t": int(tok.issued_at * 1000),
            "n": tok.next_url,
            "l": tok.locale,
        }
        return self._signer.dumps(payload), tok

    def peek_email(self, token: str) -> str | None:
        """The address of a genuine token, whatever its age (to offer a new link)."""
        try:
            email = self._signer.loads(token).get("e")
        except TokenInvalid:
            return None
        return email if isinstance(email, str) else None

    def parse(self, token: str, *, now: float) -> LoginToken:
        """Check signature, shape and age. Raises TokenInvalid or TokenExpired."""
        data = self._signer.loads(token)
        try:
            if data["v"] != TOKEN_VERSION:
                raise TokenInvalid("unknown version")
            tok = LoginToken(
                email=_str(data["e"]),
                customer_id=_opt_int(data.get("c")),
                jti=_str(data["j"]),
                issued_at=int(data["t"]) / 1000.0,
                next_url=_opt_str(data.get("n")),
                locale=_opt_str(data.get("l")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenInvalid("malformed payload") from exc
        if now - tok.issued_at > self.max_age:
            raise TokenExpired(tok.issued_at)
        if tok.issued_at - now > 300:  # from the future: a clock gone wrong or a forgery
            raise TokenInvalid("issued in the future")
        return tok


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise TypeError("expected a string")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _opt_int(v: Any) -> int | None:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError("expected an integer")
    return v
