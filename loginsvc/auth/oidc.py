"""Social sign-in: an OpenID provider's identity (issuer, sub) signs a customer in.

The state, nonce and PKCE verifier of each sign-in are kept in Redis under the
state (GETDEL on the way back: one use), bound to the browser that started it
by a random HttpOnly cookie, so a callback URL is worthless in another browser
and a second time. An identity joins an existing customer by address only when
the provider says the address is verified.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loginsvc.auth import oidc_client, signin_gate
from loginsvc.auth.models import Identity, Passkey
from loginsvc.auth.oidc_client import OidcFailure
from loginsvc.config import OidcProvider
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer, utcnow
from loginsvc.core.runtime import now, settings, store
from loginsvc.core.timefmt import rfc3339

log = logging.getLogger("loginsvc.oidc")

FLOW = "oidc"
# Apple's "Hide My Email" addresses reach the shopper only through Apple's relay.
RELAY_DOMAINS = ("privaterelay.appleid.com",)


def providers() -> dict[str, OidcProvider]:
    return {p.name: p for p in settings().oidc_providers}


def provider(name: str) -> OidcProvider:
    p = providers().get(name.lower()) if len(name) <= 40 else None
    if p is None:
        raise ProblemError(404, "unknown_provider", "No such sign-in provider.")
    return p


def redirect_uri(p: OidcProvider) -> str:
    return f"{settings().public_url}/login/oidc/{p.name}/callback"


def _bind(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def begin(*, name: str, next_url: str | None, binding: str, link_to: int | None) -> str:
    """The provider's authorization URL; the flow is remembered for OIDC_FLOW_TTL."""
    p = provider(name)
    s = settings()
    try:
        flow = oidc_client.authorization(
            p, redirect_uri=redirect_uri(p), timeout=s.oidc_http_timeout, now=int(now())
        )
    except OidcFailure as err:
        raise ProblemError(400, err.code, err.detail) from None
    store().put_once(
        FLOW,
        flow.state,
        {
            "provider": p.name,
            "nonce": flow.nonce,
            "verifier": flow.code_verifier,
            "next": next_url,
            "binding": _bind(binding),
            "link_to": link_to,
        },
        ttl=s.oidc_flow_ttl,
    )
    return flow.url


@dataclass
class Callback:
    state: str | None
    code: str | None
    error: str | None
    error_description: str | None


def finish(
    *, name: str, answer: Callback, binding: str | None, signed_in_as: int | None
) -> signin_gate.Started:
    """Verify the provider's answer and start a session; ProblemError on any failure."""
    p = provider(name)
    valid_state = bool(answer.state) and len(answer.state or "") < 200
    flow = store().take_once(FLOW, answer.state or "") if valid_state else None
    if answer.error:
        # Shown even without a matching state (some providers drop it from error
        # answers): an error starts nothing, and the flow, if any, is spent.
        log.info("provider %s answered %s", p.name, answer.error[:80])
        detail = (answer.error_description or answer.error)[:300]
        raise ProblemError(400, "provider_error", f"{p.label} did not sign you in: {detail}")
    if (
        flow is None
        or flow.get("provider") != p.name
        or not binding
        or not hmac.compare_digest(str(flow.get("binding")), _bind(binding))
    ):
        raise ProblemError(400, "invalid_state", "This sign-in expired or was already used.")
    if not answer.code or len(answer.code) > 4096:
        raise ProblemError(400, "provider_error", f"{p.label} sent no authorization code.")
    s = settings()
    t = int(now())
    try:
        id_token = oidc_client.exchange(
            p,
            code=answer.code,
            code_verifier=str(flow["verifier"]),
            redirect_uri=redirect_uri(p),
            timeout=s.oidc_http_timeout,
            now=t,
        )
        claims = oidc_client.verify_id_token(
            p, id_token, nonce=str(flow["nonce"]), timeout=s.oidc_http_timeout, now=t
        )
    except OidcFailure as err:
        raise ProblemError(400, err.code, err.detail) from None
    link_to = flow.get("link_to")
    if link_to is not None and link_to != signed_in_as:
        link_to = None  # signed out (or in as someone else) meanwhile: a plain sign-in
    customer = _customer_for(p, claims, link_to=link_to)
    return signin_gate.start(customer, method="oidc", next_url=flow.get("next"))


def _verified(claims: dict[str, Any]) -> bool:
    # The standard says boolean; Apple has been known to send the string "true".
    return claims.get("email_verified") in (True, "true")


def _customer_for(p: OidcProvider, claims: dict[str, Any], *, link_to: int | None) -> Customer:
    sess = db.session
    sess.rollback()
    sub = claims["sub"]
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    identity = sess.scalars(
        select(Identity).where(Identity.issuer == p.issuer, Identity.subject == sub)
    ).first()
    opened = False
    if identity is not None:
        if link_to is not None and identity.customer_id != link_to:
            sess.rollback()
            raise ProblemError(
                409, "identity_taken", f"This {p.label} account already signs in another customer."
            )
        customer = sess.get(Customer, identity.customer_id)
    elif link_to is not None:
        customer = sess.get(Customer, link_to)
    else:
        if not email or not _verified(claims) or len(email) > 320 or "@" not in email:
            sess.rollback()
            raise ProblemError(
                403,
                "email_not_verified",
                f"{p.label} did not confirm this e-mail address. Sign in with a link "
                "sent to your address instead.",
                extra={"email": email or ""},
            )
        try:
            customer, opened = signin_gate.open_or_join(sess, email=email)
        except ProblemError:
            sess.rollback()
            raise
    assert customer is not None or identity is not None
    if identity is None and customer is not None:
        identity = Identity(
            customer_id=customer.id,
            provider=p.name,
            issuer=p.issuer,
            subject=sub,
            created_at=utcnow(),
        )
        sess.add(identity)
    assert identity is not None
    identity.last_used_at = utcnow()
    if email and len(email) <= 320:
        identity.email = email
    try:
        if opened and customer is not None and customer.status == "pending":
            sess.commit()
            signin_gate.after_open(customer)
        signin_gate.check_may_sign_in(customer, way="oidc")
        sess.commit()
    except IntegrityError:
        # The same identity arrived twice at once: the first one won; sign in as it.
        sess.rollback()
        return _customer_for(p, claims, link_to=None)
    except ProblemError:
        sess.rollback()
        raise
    assert customer is not None
    return customer


# -- the shopper's identities ---------------------------------------------------------


def identity_out(i: Identity) -> dict[str, Any]:
    label = providers()[i.provider].label if i.provider in providers() else i.provider
    return {
        "id": i.id,
        "provider": i.provider,
        "label": label,
        "email": i.email,
        "created_at": rfc3339(i.created_at),
        "last_used_at": rfc3339(i.last_used_at),
    }


def list_identities(*, customer_id: int) -> list[Identity]:
    return list(
        db.session.scalars(
            select(Identity)
            .where(Identity.customer_id == customer_id)
            .order_by(Identity.created_at.desc(), Identity.id.desc())
        ).all()
    )


def remove_identity(*, customer: Customer, identity_id: str | int) -> None:
    """Unlink one identity; never the last way in.

    The e-mail address is always a way in (a link can be sent to it), so an
    identity can go, except when the address is a provider's private relay
    (Apple's "Hide My Email"): mail reaches it only while the identity stands,
    so the last such identity stays unless a passkey remains.
    """
    try:
        iid = int(identity_id)
    except (TypeError, ValueError):
        iid = -1
    sess = db.session
    identity = sess.get(Identity, iid) if 0 < iid < 2**62 else None
    if identity is None or identity.customer_id != customer.id:
        sess.rollback()
        raise ProblemError(404, "not_found", "No such linked account.")
    if customer.email_norm.rsplit("@", 1)[-1] in RELAY_DOMAINS:
        others = [i for i in list_identities(customer_id=customer.id) if i.id != identity.id]
        has_passkey = sess.scalars(
            select(Passkey.id).where(Passkey.customer_id == customer.id).limit(1)
        ).first()
        if not others and has_passkey is None:
            sess.rollback()
            raise ProblemError(
                409,
                "last_sign_in_method",
                "Your address is a private relay that only this account can reach; "
                "add a passkey before removing it.",
            )
    sess.delete(identity)
    sess.commit()
