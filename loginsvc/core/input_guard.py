"""Refuse NUL characters anywhere in the input, before any view sees them.

PostgreSQL text cannot hold U+0000, so a NUL that reached the database would
fail there (a 500) instead of being refused as bad input (a 422).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge

from loginsvc.core.errors import InvalidRequest

# Deeper than any body this API takes; Python's own parser gives up near 1,000.
MAX_DEPTH = 64


def _find_nul(value: Any) -> str | None:
    """The dotted path of the first NUL in a parsed JSON value, or None.

    Iterative (an explicit stack): a recursive walk of a hostile, deeply nested
    body would raise RecursionError, a 500 before any authentication check.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        children: list[tuple[Any, str, int]] = []
        if isinstance(node, dict):
            for k, v in node.items():
                key_path = f"{path}.{k}" if path else str(k)
                if isinstance(k, str) and "\x00" in k:
                    return key_path
                children.append((v, key_path, depth + 1))
        elif isinstance(node, list):
            children = [
                (v, f"{path}.{i}" if path else str(i), depth + 1) for i, v in enumerate(node)
            ]
        stack.extend(reversed(children))  # depth first, in document order
    return None


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"The JSON body is nested more than {MAX_DEPTH} levels deep.",
        [{"field": "body", "message": "nested too deeply"}],
        status=400,
    )


def _refuse(field: str) -> None:
    raise InvalidRequest(
        "The request contains a NUL character.",
        [{"field": field, "message": "NUL characters are not accepted"}],
    )


def _check_chunked_size(max_body: int) -> None:
    """A chunked body has no Content-Length; werkzeug cuts it at the limit silently.

    A view would then see the first MiB only (a 400 "not JSON" or, worse, a
    shortened value), so a body that goes on past the limit is refused here.
    """
    raw = request.get_data(cache=True)
    if len(raw) >= max_body and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


# Endpoints allowed a larger body than the 1 MiB default (endpoint name → bytes).
BODY_LIMITS: dict[str, int] = {
    "admin.import_customers": 64 * 1024 * 1024,
    "console.import_upload": 16 * 1024 * 1024,
}


def _refuse_page_options() -> None:
    """OPTIONS is for CORS preflights, which only the JSON API (/api/…) answers.

    Flask adds OPTIONS to every route; on a page it answered 200 with nothing,
    a method the API document does not list. Pages say 405, with Allow.
    """
    if request.method == "OPTIONS" and not request.path.startswith("/api/"):
        rule = request.url_rule
        allowed = sorted((rule.methods or set()) - {"OPTIONS"}) if rule is not None else []
        raise MethodNotAllowed(valid_methods=allowed)


def check_request(max_body: int) -> None:
    _refuse_page_options()
    if request.endpoint in BODY_LIMITS:
        max_body = BODY_LIMITS[request.endpoint]
        request.max_content_length = max_body
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            _refuse(key.replace("\x00", ""))
    length = request.content_length
    if length is not None and length > max_body:
        # Flask refuses an oversize body only when a view reads it; endpoints that
        # take no body (logout, DELETE) would answer 2xx (CONTRACT §2: over 1 MiB → 413).
        raise RequestEntityTooLarge()
    if length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        _check_chunked_size(max_body)
    if request.method in ("GET", "HEAD"):
        return
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                _refuse(key.replace("\x00", ""))
        return
    raw = request.get_data(cache=True)  # chunked bodies too: they have no Content-Length
    if not raw:
        return
    has_nul = b"\x00" in raw or b"\\u0000" in raw
    # Containers are parsed to bound their depth (a deep body would otherwise reach
    # a recursive serialiser later); the import's large body is read row by row.
    container = raw.lstrip()[:1] in (b"[", b"{") and request.endpoint not in BODY_LIMITS
    if not has_nul and not container:
        return
    try:
        parsed = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        if b"\x00" in raw and request.is_json:
            _refuse("body")
        return  # not JSON: the view answers it
    found = _find_nul(parsed)
    if found is not None:
        _refuse(found or "body")


def register_input_guard(app: Flask, *, max_body: int) -> None:
    app.before_request(lambda: check_request(max_body))
