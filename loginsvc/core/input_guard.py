"""Refuse NUL characters anywhere in the input, before any view sees them.

PostgreSQL text cannot hold U+0000, so a NUL that reached the database would
fail there (a 500) instead of being refused as bad input (a 422).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from loginsvc.core.errors import InvalidRequest


def _find_nul(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and "\x00" in k:
                return f"{path}.{k}" if path else k
            found = _find_nul(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _find_nul(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


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


def check_request(max_body: int) -> None:
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
    if not length or request.method in ("GET", "HEAD"):
        return
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                _refuse(key.replace("\x00", ""))
        return
    raw = request.get_data(cache=True)
    if b"\x00" not in raw and b"\\u0000" not in raw:
        return
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        if b"\x00" in raw and request.is_json:
            _refuse("body")
        return  # not JSON: the view answers it
    found = _find_nul(parsed, "")
    if found is not None:
        _refuse(found or "body")


def register_input_guard(app: Flask, *, max_body: int) -> None:
    app.before_request(lambda: check_request(max_body))
