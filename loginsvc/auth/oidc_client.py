"""The OpenID Connect relying party, protocol only: discovery, PKCE, tokens, ID token.

Authlib's OAuth 2 client does the authorization URL (state, nonce, PKCE S256)
and the code exchange; joserfc (Authlib's JOSE successor) verifies the ID
token against the provider's JWKS. Nothing here knows about customers.
Network goes only to the configured issuer's discovery document and the
endpoints it names; their answers are cached in the process for an hour.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loginsvc.config import OidcProvider

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session
    from joserfc.jwk import KeySet

# requests, Authlib and joserfc load on the first OpenID Connect sign-in, not in
# every process that serves logins.

CACHE_SECONDS = 3600
SCOPE = "openid email profile"
APPLE_AUDIENCE = "https://appleid.apple.com"
# Asymmetric algorithms only: an HS256 ID token would be signed with our own secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class OidcFailure(Exception):
    """The sign-in failed; `code` is one of ours, `detail` safe to show."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


_lock = threading.Lock()
_cache: dict[str, tuple[float, Any]] = {}


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return bool(host) and ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check_url(url: Any, issuer: str) -> str:
    """Endpoints must be https (plain http only for a provider on loopback, as in tests)."""
    if not isinstance(url, str):
        raise OidcFailure("provider_error", "The provider's configuration is incomplete.")
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http"
        and _loopback(parts.hostname)
        and _loopback(urlsplit(issuer).hostname)
    ):
        return url
    raise OidcFailure("provider_error", "The provider named an endpoint that is not https.")


def _get_json(url: str, timeout: int) -> Any:
    import requests

    try:
        resp = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        resp.raise_for_status()
        return resp.json()
    except (requests.RequestException, ValueError):
        raise OidcFailure("provider_error", "The provider could not be reached.") from None


def _cached(key: str, fetch: Any, *, refresh: bool = False) -> Any:
    with _lock:
        hit = _cache.get(key)
    if hit and not refresh and hit[0] > time.monotonic():
        return hit[1]
    value = fetch()
    with _lock:
        _cache[key] = (time.monotonic() + CACHE_SECONDS, value)
    return value


def metadata(p: OidcProvider, *, timeout: int) -> dict[str, Any]:
    def fetch() -> dict[str, Any]:
        doc = _get_json(
            _check_url(f"{p.issuer}/.well-known/openid-configuration", p.issuer), timeout
        )
        if not isinstance(doc, dict) or doc.get("issuer") != p.issuer:
            raise OidcFailure("provider_error", "The provider's discovery names another issuer.")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            _check_url(doc.get(name), p.issuer)
        return doc

    result: dict[str, Any] = _cached(f"meta:{p.issuer}", fetch)
    return result


def _keys(p: OidcProvider, *, timeout: int, refresh: bool = False) -> KeySet:
    uri = metadata(p, timeout=timeout)["jwks_uri"]

    def fetch() -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        doc = _get_json(uri, timeout)
        try:
            return KeySet.import_key_set(doc)
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcFailure("provider_error", "The provider's keys are unreadable.") from None

    keys: KeySet = _cached(f"jwks:{uri}", fetch, refresh=refresh)
    return keys


def _client_secret(p: OidcProvider, now: int) -> str:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    if not p.is_apple or not p.private_key:
        return p.client_secret
    # Apple's client secret is a short-lived ES256 JWT signed with the team's key.
    key = ECKey.import_key(p.private_key)
    claims = {
        "iss": p.team_id,
        "iat": now,
        "exp": now + 300,
        "aud": APPLE_AUDIENCE,
        "sub": p.client_id,
    }
    return jwt.encode({"alg": "ES256", "kid": p.key_id}, claims, key, algorithms=["ES256"])


def _session(p: OidcProvider, redirect_uri: str, now: int) -> OAuth2Session:
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id=p.client_id,
        client_secret=_client_secret(p, now),
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post" if p.is_apple else "client_secret_basic",
    )


@dataclass
class Flow:
    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization(p: OidcProvider, *, redirect_uri: str, timeout: int, now: int) -> Flow:
    from authlib.common.security import generate_token

    meta = metadata(p, timeout=timeout)
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    extra: dict[str, str] = {"nonce": nonce}
    if p.is_apple:
        extra["response_mode"] = "form_post"  # Apple posts back when asking for the e-mail
    url, _ = _session(p, redirect_uri, now).create_authorization_url(
        meta["authorization_endpoint"], state=state, code_verifier=verifier, **extra
    )
    return Flow(url=url, state=state, nonce=nonce, code_verifier=verifier)


def exchange(
    p: OidcProvider, *, code: str, code_verifier: str, redirect_uri: str, timeout: int, now: int
) -> str:
    """The code for tokens; the ID token (not yet verified)."""
    meta = metadata(p, timeout=timeout)
    try:
        token = _session(p, redirect_uri, now).fetch_token(
            meta["token_endpoint"], code=code, code_verifier=code_verifier, timeout=timeout
        )
    except Exception as exc:  # authlib's OAuthError, requests' errors, a non-JSON answer
        raise OidcFailure("provider_error", "The provider did not accept the sign-in.") from exc
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise OidcFailure("invalid_id_token", "The provider sent no ID token.")
    return id_token


def verify_id_token(
    p: OidcProvider, id_token: str, *, nonce: str, timeout: int, now: int
) -> dict[str, Any]:
    """Signature by the provider's JWKS, then iss, aud, exp, iat, nonce and sub."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    offered = metadata(p, timeout=timeout).get("id_token_signing_alg_values_supported")
    algs = [a for a in ALGORITHMS if not isinstance(offered, list) or a in offered]
    try:
        try:
            token = jwt.decode(id_token, _keys(p, timeout=timeout), algorithms=algs)
        except JoseError:
            # Keys rotate: fetch them again once before refusing.
            token = jwt.decode(id_token, _keys(p, timeout=timeout, refresh=True), algorithms=algs)
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=60,
            iss={"essential": True, "value": p.issuer},
            aud={"essential": True, "value": p.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcFailure("invalid_id_token", "The provider's ID token did not verify.") from exc
    claims = token.claims
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != p.client_id:
        raise OidcFailure("invalid_id_token", "The ID token was issued to another party.")
    if not isinstance(claims.get("sub"), str) or len(claims["sub"]) > 255:
        raise OidcFailure("invalid_id_token", "The ID token names no subject.")
    return claims
