"""Passkeys (WebAuthn) with py_webauthn: registration and sign-in ceremonies.

Past 300 lines on purpose: both ceremonies share the relying party, the
challenge store and the credential rows; the views are in passkey_views.py.

Every ceremony's challenge is kept in Redis for PASSKEY_CHALLENGE_TTL seconds,
keyed by the challenge itself and taken with GETDEL, so a challenge serves one
ceremony at most and an API client needs no cookie between the two calls.
Credentials are discoverable (resident keys): sign-in needs no address first.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from loginsvc.auth import sessions, signin_gate
from loginsvc.auth.models import Passkey
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer, utcnow
from loginsvc.core.pagination import as_id, as_text, decode_cursor, encode_cursor
from loginsvc.core.runtime import settings, store
from loginsvc.core.timefmt import rfc3339

# py_webauthn (and cryptography, cbor2, pyOpenSSL under it) loads on the first
# ceremony, not in every process that serves logins.

log = logging.getLogger("loginsvc.passkeys")

REG, AUTH = "wa:reg", "wa:auth"


def _transports() -> set[str]:
    from webauthn.helpers.structs import AuthenticatorTransport

    return {t.value for t in AuthenticatorTransport}


def rp_id() -> str:
    s = settings()
    return s.webauthn_rp_id or (urlsplit(s.public_url).hostname or "localhost")


def expected_origins() -> list[str]:
    return sorted(sessions.allowed_origins())


def _user_handle(customer_id: int) -> str:
    """The WebAuthn user id (base64url): random, one per account, kept on its passkeys.

    Random rather than derived from a secret, so rotating SECRET_KEYS never
    orphans a passkey; reused for every passkey of the account, so an
    authenticator replaces its old passkey for this account instead of adding one.
    """
    from webauthn.helpers import bytes_to_base64url

    existing = db.session.scalars(
        select(Passkey.user_handle).where(Passkey.customer_id == customer_id).limit(1)
    ).first()
    return existing or bytes_to_base64url(secrets.token_bytes(32))


def _invalid(reason: str) -> ProblemError:
    log.info("passkey refused: %s", reason)
    return ProblemError(400, "invalid_passkey", "This passkey could not be verified.")


def _challenge_of(credential: Any) -> str:
    """The challenge the browser signed, read from clientDataJSON (verified again below)."""
    try:
        raw = credential["response"]["clientDataJSON"]
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        challenge = data["challenge"]
    except Exception:
        raise _invalid("clientDataJSON unreadable") from None
    if not isinstance(challenge, str) or not 16 <= len(challenge) <= 200:
        raise _invalid("no challenge")
    return challenge


def _b64url_to_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


# -- registration ---------------------------------------------------------------


def registration_options(*, customer: Customer) -> dict[str, Any]:
    from webauthn import generate_registration_options
    from webauthn.helpers import bytes_to_base64url, options_to_json_dict
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    existing = db.session.scalars(
        select(Passkey.credential_id).where(Passkey.customer_id == customer.id)
    ).all()
    ttl = settings().passkey_challenge_ttl
    handle = _user_handle(customer.id)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=settings().shop_name,
        user_id=_b64url_to_bytes(handle),
        user_name=customer.email,
        user_display_name=customer.name or customer.email,
        timeout=ttl * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=_b64url_to_bytes(c)) for c in existing
        ],
    )
    db.session.rollback()
    challenge = bytes_to_base64url(options.challenge)
    store().put_once(REG, challenge, {"customer_id": customer.id, "user_handle": handle}, ttl=ttl)
    return options_to_json_dict(options)


def register(
    *, customer: Customer, credential: dict[str, Any], name: str | None, default_name: str
) -> Passkey:
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.exceptions import WebAuthnException

    challenge = _challenge_of(credential)
    opened = store().take_once(REG, challenge)
    if opened is None or opened.get("customer_id") != customer.id:
        raise _invalid("registration challenge unknown, used or expired")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=_b64url_to_bytes(challenge),
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
            require_user_verification=False,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise _invalid(f"registration: {exc}") from None
    transports = credential.get("response", {}).get("transports")
    passkey = Passkey(
        customer_id=customer.id,
        user_handle=str(opened["user_handle"]),
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in transports if t in _transports()][:8]
        if isinstance(transports, list)
        else None,
        aaguid=str(verified.aaguid)[:36] or None,
        backed_up=bool(getattr(verified, "credential_backed_up", False)),
        name=(name or "").strip()[:100] or default_name[:100],
        created_at=utcnow(),
    )
    db.session.add(passkey)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ProblemError(409, "conflict", "This passkey is registered already.") from None
    return passkey


# -- sign-in ------------------------------------------------------------------------


def authentication_options() -> dict[str, Any]:
    from webauthn import generate_authentication_options
    from webauthn.helpers import bytes_to_base64url, options_to_json_dict
    from webauthn.helpers.structs import UserVerificationRequirement

    ttl = settings().passkey_challenge_ttl
    options = generate_authentication_options(
        rp_id=rp_id(),
        timeout=ttl * 1000,
        allow_credentials=[],  # discoverable: the authenticator offers its passkeys
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    store().put_once(AUTH, bytes_to_base64url(options.challenge), {}, ttl=ttl)
    return options_to_json_dict(options)


def authenticate(*, credential: dict[str, Any]) -> signin_gate.Started:
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    challenge = _challenge_of(credential)
    if store().take_once(AUTH, challenge) is None:
        raise _invalid("sign-in challenge unknown, used or expired")
    cred_id = credential.get("id")
    if not isinstance(cred_id, str) or not 1 <= len(cred_id) <= 1400:
        raise _invalid("no credential id")
    sess = db.session
    passkey = sess.scalars(select(Passkey).where(Passkey.credential_id == cred_id)).first()
    if passkey is None:
        sess.rollback()
        raise _invalid("unknown credential")
    handle = credential.get("response", {}).get("userHandle")
    same_user = isinstance(handle, str) and hmac.compare_digest(handle, passkey.user_handle)
    if handle and not same_user:
        sess.rollback()
        raise _invalid("user handle does not match the credential")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=_b64url_to_bytes(challenge),
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=False,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        sess.rollback()
        raise _invalid(f"assertion: {exc}") from None
    customer = sess.get(Customer, passkey.customer_id)
    try:
        signin_gate.check_may_sign_in(customer)
    except ProblemError:
        sess.rollback()
        raise
    assert customer is not None
    # Compare-and-set: two sign-ins racing with one counter value give one session.
    done = sess.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        sess.rollback()
        raise _invalid("sign counter moved meanwhile")
    sess.commit()
    return signin_gate.start(customer, method="passkey")


# -- managing -----------------------------------------------------------------------


def passkey_out(p: Passkey) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "created_at": rfc3339(p.created_at),
        "last_used_at": rfc3339(p.last_used_at),
    }


def list_passkeys(*, customer_id: int) -> list[Passkey]:
    rows = db.session.scalars(
        select(Passkey)
        .where(Passkey.customer_id == customer_id)
        .order_by(Passkey.created_at.desc(), Passkey.id.desc())
    ).all()
    return list(rows)


def page_passkeys(
    *, customer_id: int, limit: int, cursor: str | None
) -> tuple[list[Passkey], str | None]:
    after = decode_cursor(cursor, as_text, as_id)
    stmt = select(Passkey).where(Passkey.customer_id == customer_id)
    if after is not None:
        at, last_id = after
        try:
            at_dt = dt.datetime.fromisoformat(str(at))
            last = int(last_id)
        except (TypeError, ValueError):
            raise InvalidRequest(
                "The cursor is not valid.",
                [{"field": "cursor", "message": "not a cursor from this API"}],
            ) from None
        stmt = stmt.where(
            (Passkey.created_at < at_dt) | ((Passkey.created_at == at_dt) & (Passkey.id < last))
        )
    rows = list(
        db.session.scalars(
            stmt.order_by(Passkey.created_at.desc(), Passkey.id.desc()).limit(limit + 1)
        ).all()
    )
    page = rows[:limit]
    more = len(rows) > limit
    nxt = encode_cursor([page[-1].created_at.isoformat(), page[-1].id]) if more else None
    return page, nxt


def _own(customer_id: int, passkey_id: str | int) -> Passkey:
    try:
        pid = int(passkey_id)
    except (TypeError, ValueError):
        pid = -1
    p = db.session.get(Passkey, pid) if 0 < pid < 2**62 else None
    if p is None or p.customer_id != customer_id:
        db.session.rollback()
        raise ProblemError(404, "not_found", "No such passkey.")
    return p


def rename(*, customer_id: int, passkey_id: str | int, name: str) -> Passkey:
    p = _own(customer_id, passkey_id)
    p.name = name.strip()[:100] or p.name
    db.session.commit()
    return p


def remove(*, customer_id: int, passkey_id: str | int) -> None:
    p = _own(customer_id, passkey_id)
    db.session.delete(p)
    db.session.commit()


def count_for(customer_id: int) -> int:
    return len(
        db.session.scalars(select(Passkey.id).where(Passkey.customer_id == customer_id)).all()
    )
