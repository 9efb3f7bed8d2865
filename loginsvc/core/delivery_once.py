"""Answer a sender's delivery id once: a repeat gets the first answer, no second effect.

The same replay store as the Standard Webhooks endpoints (``Store.claim_delivery``
and friends, see signed_calls.py), for senders that sign and name deliveries
their own way (Shopify, WooCommerce, Ecwid). Only 2xx answers are remembered; a
failed or refused delivery leaves nothing behind, so the sender's retry runs afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response

from loginsvc.core.errors import ProblemError
from loginsvc.core.runtime import store

# Shopify retries for 48 hours, WooCommerce and Ecwid for less: three days covers all.
REPLAY_TTL = 3 * 86400


def answer_once(
    *, scope: str, delivery_id: str, handle: Callable[[], Response], ttl: int = REPLAY_TTL
) -> Response:
    st = store()
    if not st.claim_delivery(scope, delivery_id, ttl=ttl):
        previous = st.delivery_answer(scope, delivery_id)
        if isinstance(previous, dict):
            return replayed(previous)
        raise ProblemError(
            409,
            "conflict",
            "This delivery is being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    try:
        resp = handle()
    except BaseException:
        st.release_delivery(scope, delivery_id)
        raise
    if 200 <= resp.status_code < 300:
        answer = {
            "status": resp.status_code,
            "body": resp.get_data(as_text=True),
            "mimetype": resp.mimetype,
        }
        st.save_delivery_answer(scope, delivery_id, answer, ttl=ttl)
    else:
        st.release_delivery(scope, delivery_id)
    return resp


def replayed(answer: dict[str, Any]) -> Response:
    resp = Response(answer["body"], status=int(answer["status"]), mimetype=answer["mimetype"])
    resp.headers["Webhook-Replayed"] = "true"
    return resp
