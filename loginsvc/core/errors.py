"""One error type and one handler: every failure leaves as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("loginsvc")

PROBLEM_TYPE = "https://loginsvc.dev/problems/"


class ProblemError(Exception):
    """Raise anywhere; the handler answers it as problem+json."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        *,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail or HTTPStatus(status).phrase
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        rid = getattr(g, "request_id", None)
        if rid:
            body["request_id"] = rid
        return body


class InvalidRequest(ProblemError):
    def __init__(
        self, detail: str, errors: list[dict[str, str]] | None = None, status: int = 422
    ) -> None:
        super().__init__(status, "invalid_request", detail, errors=errors or [])


class Unauthorized(ProblemError):
    def __init__(self, detail: str = "Sign in first.") -> None:
        super().__init__(
            401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="loginsvc"'}
        )


class ServiceUnavailable(ProblemError):
    def __init__(self, detail: str = "A backing service is unavailable; retry shortly.") -> None:
        super().__init__(503, "service_unavailable", detail, headers={"Retry-After": "5"})


# Status codes werkzeug raises itself, mapped to our stable codes.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def problem_response(err: ProblemError) -> Response:
    resp = Response(
        json.dumps(err.to_dict()), status=err.status, mimetype="application/problem+json"
    )
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp


def _wants_html() -> bool:
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def register_error_handlers(app: Flask) -> None:
    from loginsvc.core.render import render_error_page  # pages own the HTML look

    def handle(err: ProblemError) -> Response:
        if _wants_html():
            return render_error_page(err)
        return problem_response(err)

    app.register_error_handler(ProblemError, handle)

    def handle_http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        detail = exc.description or HTTPStatus(status).phrase
        if status == 413:
            detail = "The request body is larger than 1 MiB."
        err = ProblemError(status, code, detail)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            err.headers["Allow"] = ", ".join(exc.valid_methods)
        return handle(err)

    app.register_error_handler(HTTPException, handle_http)

    def handle_unknown(exc: Exception) -> Response:
        from loginsvc.core.extensions import is_backend_outage

        if is_backend_outage(exc):
            log.warning("backend unavailable: %s", type(exc).__name__)
            return handle(ServiceUnavailable())
        log.exception("unhandled error (request %s)", getattr(g, "request_id", "-"))
        return handle(ProblemError(500, "internal_error", "Something went wrong on our side."))

    app.register_error_handler(Exception, handle_unknown)
