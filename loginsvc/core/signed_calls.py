"""Server-to-server calls signed the Standard Webhooks way (CONTRACT §2).

Headers ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{raw body}")>``, several
space-separated signatures allowed). Secrets are ``whsec_<base64>``; several
are accepted so they can be rotated.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, request

from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import now, store

TOLERANCE = 300  # seconds


def _key(secret: str) -> bytes | None:
    if not secret.startswith("whsec_"):
        return None
    try:
        return base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        return None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<sig>` value for a body (used by tests, the docs and the plugin vectors)."""
    key = _key(secret)
    if key is None:
        raise ValueError("secrets look like whsec_<base64>")
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


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
    try:
        ts = int(timestamp)
    except ValueError:
        raise ProblemError(401, "invalid_signature", "webhook-timestamp is not a number.") from None
    if abs(at - ts) > TOLERANCE:
        raise ProblemError(
            401, "stale_timestamp", "webhook-timestamp is more than 300 seconds off."
        )
    signed = f"{msg_id}.{ts}.".encode() + body
    given = []
    for part in signature.split():
        version, _, value = part.partition(",")
        if version == "v1" and value:
            try:
                given.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
    for secret in secrets:
        key = _key(secret)
        if key is None:
            continue
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        for g in given:
            if hmac.compare_digest(expected, g):
                return
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
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "invalid_request", "The body is not valid JSON.") from None
