"""Server-to-server calls signed the Standard Webhooks way (CONTRACT §2).

Headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{raw body}")>``, several
space-separated signatures allowed). Secrets are ``whsec_<base64>``; several
are accepted so they can be rotated.

The official ``standardwebhooks`` package decodes the secrets (padded or not,
as every other Standard Webhooks sender does), signs and verifies. What stays
hand-written here, and why:

- the header checks before the library sees them: the timestamp must be ASCII
  digits (the library's ``float()`` takes ``1796_149943``, ``+…`` and ``1e9``),
  and a malformed signature part is skipped (the library raises ``ValueError``
  or ``binascii.Error`` on one, which would be a 500);
- the 300 s window against the service's one clock, answered as its own code
  (``stale_timestamp``): the library reports every failure with one exception
  type, and the contract tells a late call from a forged one;
- several secrets (rotation): one library ``Webhook`` per secret, tried in turn;
- replay handling (``signed_endpoint``): a ``webhook-id`` seen before gets the
  first answer again.

The HMAC covers the raw body, so the body is read before the check (bounded at
1 MiB by the input guard, which also parses a JSON body once to refuse NULs and
nesting deeper than 64 levels, with a 4xx, before any signature is looked at).
Nothing acts on the body until a signature matches: the view parses it only then.
A body that is not even UTF-8 gets its 400 first: the library signs text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import Response, request
from standardwebhooks import Webhook, WebhookVerificationError

from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import now, store

log = logging.getLogger("loginsvc")

TOLERANCE = 300  # seconds
PREFIX = "whsec_"
_TIMESTAMP = re.compile(r"^[0-9]{1,12}\Z")  # unix seconds, ASCII digits only
_SIGNATURE = re.compile(r"^v1,[A-Za-z0-9+/]+={0,2}\Z")


@functools.lru_cache(maxsize=64)
def webhook_for(secret: str) -> Webhook | None:
    """The library's verifier for one configured secret; None when it is unusable."""
    if not secret.startswith(PREFIX):
        return None
    try:
        return Webhook(secret)
    except Exception:  # EmptyWebhookSecretError, binascii.Error: not a usable key
        return None


def unusable_secrets(secrets: Iterable[str]) -> list[int]:
    """1-based positions of secrets that can never verify a call."""
    return [i for i, secret in enumerate(secrets, 1) if webhook_for(secret) is None]


def warn_unusable_secrets(named: dict[str, Sequence[str]]) -> None:
    """At start: say which configured secret would make every call signed with it a 401."""
    for setting, secrets in named.items():
        for position in unusable_secrets(secrets):
            log.warning(
                "%s: secret #%d is not whsec_<base64>; calls signed with it are refused (401)",
                setting,
                position,
            )


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<sig>` value for a body (used by tests, the docs and the plugin vectors)."""
    wh = webhook_for(secret)
    if wh is None:
        raise ValueError("secrets look like whsec_<base64>")
    return wh.sign(msg_id, dt.datetime.fromtimestamp(timestamp, dt.UTC), body.decode())


def _signatures(header: str) -> str:
    """Only well-formed `v1,<base64>` parts (the library raises on a malformed one)."""
    parts = []
    for part in header.split():
        if _SIGNATURE.match(part):
            try:
                base64.b64decode(part[3:], validate=True)
            except binascii.Error:
                continue
            parts.append(part)
    return " ".join(parts)


def verify(
    secrets: Sequence[str],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    at: float,
) -> None:
    """Raise 401 invalid_signature / stale_timestamp; return when one secret matches."""
    if not secrets:
        raise ProblemError(401, "invalid_signature", "Signed calls are not configured here.")
    if not msg_id or not timestamp or not signature or len(msg_id) > 256:
        raise ProblemError(
            401,
            "invalid_signature",
            "webhook-id, webhook-timestamp and webhook-signature are required.",
        )
    if not _TIMESTAMP.match(timestamp):
        raise ProblemError(
            401, "invalid_signature", "webhook-timestamp is not unix seconds in digits."
        )
    if abs(at - int(timestamp)) > TOLERANCE:
        raise ProblemError(
            401, "stale_timestamp", "webhook-timestamp is more than 300 seconds off."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # The library signs text; a body that is not UTF-8 cannot be JSON (RFC 8259)
        # and is refused as such, signed or not: nothing is done with it either way.
        raise ProblemError(400, "invalid_request", "The body is not UTF-8 JSON.") from None
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": _signatures(signature),
    }
    if headers["webhook-signature"]:
        for secret in secrets:
            wh = webhook_for(secret)
            if wh is None:
                continue
            try:
                wh.verify(text, headers, json_parse=False)
                return
            except WebhookVerificationError:
                continue
    raise ProblemError(401, "invalid_signature", "The signature does not match.")


def signed_endpoint(
    *, secrets: Callable[[], Sequence[str]], scope: str, replay_ttl: int
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Verify the signature, then answer a repeated webhook-id with the first answer.

    Only successful (2xx) answers are remembered; a rejected or failed call
    leaves nothing behind, so the sender's retry is processed afresh.
    """

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            body = request.get_data(cache=True)
            msg_id = request.headers.get("webhook-id")
            verify(
                secrets(),
                msg_id=msg_id,
                timestamp=request.headers.get("webhook-timestamp"),
                signature=request.headers.get("webhook-signature"),
                body=body,
                at=now(),
            )
            assert msg_id is not None
            st = store()
            if not st.claim_delivery(scope, msg_id, ttl=replay_ttl):
                previous = st.delivery_answer(scope, msg_id)
                if isinstance(previous, dict):
                    return _replay(previous)
                raise ProblemError(
                    409,
                    "conflict",
                    "This delivery is being processed; retry shortly.",
                    headers={"Retry-After": "1"},
                )
            try:
                resp = view(*args, **kwargs)
            except BaseException:
                st.release_delivery(scope, msg_id)
                raise
            if 200 <= resp.status_code < 300:
                st.save_delivery_answer(
                    scope,
                    msg_id,
                    {
                        "status": resp.status_code,
                        "body": resp.get_data(as_text=True),
                        "mimetype": resp.mimetype,
                    },
                    ttl=replay_ttl,
                )
            else:
                st.release_delivery(scope, msg_id)
            return resp

        return wrapper

    return decorate


def _replay(answer: dict[str, Any]) -> Response:
    resp = Response(answer["body"], status=int(answer["status"]), mimetype=answer["mimetype"])
    resp.headers["Webhook-Replayed"] = "true"
    return resp


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProblemError(400, "invalid_request", "The body is not valid JSON.") from None
