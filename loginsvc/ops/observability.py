"""Request ids, security headers, CORS, request metrics and structured logs."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from loginsvc.ops import metrics

_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields are kept."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


_configured = False


def configure_logging(*, json_lines: bool) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("loginsvc")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def _csp(allowed_redirect_origins: tuple[str, ...]) -> str:
    form_targets = " ".join(["'self'", *allowed_redirect_origins])
    return (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; "
        f"form-action {form_targets}; frame-ancestors 'none'"
    )


_CORS_PATHS = ("/api/",)
_CORS_HEADERS = "Content-Type, Authorization, X-Request-ID"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SIGNED_PREFIXES = ("/api/v1/webhooks/", "/api/v1/sso/wordpress/")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _add_cors(resp: Response, origin: str, allowed: frozenset[str]) -> None:
    """CORS for PUBLIC_URL and the configured origins on /api/ (origin: the request's)."""
    resp.headers.add("Vary", "Origin")
    if not origin or origin not in allowed or not request.path.startswith(_CORS_PATHS):
        return
    # Credentials are allowed, so the origin is echoed, never "*".
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Access-Control-Allow-Credentials"] = "true"
    resp.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        resp.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
        resp.headers["Access-Control-Max-Age"] = "600"


def _webhook_outcome(resp: Response) -> str:
    if resp.headers.get("Webhook-Replayed"):
        return "replayed"
    status = resp.status_code
    if status == 201:
        return "created"
    if 200 <= status < 300:
        return "ok"
    return {401: "unauthenticated", 409: "in_progress", 503: "unavailable"}.get(
        status, "rejected" if status < 500 else "error"
    )


class _Series:
    """The labelled children of the request metrics, looked up once per series.

    `labels()` hashes and validates its arguments on every call; a verify or a
    health check should not pay that twice per request for the same route.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], Any] = {}
        self.seconds: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        count = self.counts.get((method, route, status))
        if count is None:
            count = metrics.requests_total.labels(method, route, str(status))
            self.counts[(method, route, status)] = count
        count.inc()
        hist = self.seconds.get((method, route))
        if hist is None:
            hist = metrics.request_seconds.labels(method, route)
            self.seconds[(method, route)] = hist
        hist.observe(seconds)


def _record_metrics(
    series: _Series, resp: Response, route: str, method: str, seconds: float
) -> None:
    status = resp.status_code
    series.record(method, route, status, seconds)
    if status == 429:
        metrics.rate_limit_hits.labels(limit=route).inc()
    if route.startswith(_SIGNED_PREFIXES) and method == "POST":
        metrics.webhooks_total.labels(endpoint=route, outcome=_webhook_outcome(resp)).inc()


def register_request_hooks(app: Flask) -> None:
    access = logging.getLogger("loginsvc.access")
    s = app.config["SETTINGS"]
    # Settings do not change while the app runs: the fixed headers are built once.
    fixed = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
        # /docs too: its scripts are files under /docs/assets, so no inline script is needed.
        ("Content-Security-Policy", _csp(s.allowed_redirect_origins)),
    ]
    if s.public_url.startswith("https://"):
        fixed.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    allowed = frozenset(
        {_origin_of(s.public_url), *(o.lower() for o in s.allowed_redirect_origins)}
    )
    series = _Series()

    @app.before_request
    def _start() -> None:
        rid = request.environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = rid if _RID.match(rid) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        environ = request.environ
        rid = g.get("request_id", "")
        headers = resp.headers
        headers["X-Request-ID"] = rid
        # One pass over the headers (a miss in `name in headers` raises inside werkzeug).
        present = {k.lower() for k in headers.keys()}  # noqa: SIM118 - iterating Headers yields pairs
        for name, value in fixed:
            if name.lower() not in present:
                headers.add(name, value)
        _add_cors(resp, environ.get("HTTP_ORIGIN", "").rstrip("/").lower(), allowed)
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        rule = request.url_rule
        # The route template, never the raw path: one series per endpoint, no tokens.
        route = rule.rule if rule is not None else "<unmatched>"
        # Clients choose the method: anything unusual shares one series.
        method = request.method if request.method in _METHODS else "OTHER"
        _record_metrics(series, resp, route, method, seconds)
        if access.isEnabledFor(logging.INFO):
            # The path only: query strings may carry tokens.
            access.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": request.method,
                    "path": request.path,
                    "route": rule.rule if rule is not None else None,
                    "status": resp.status_code,
                    "ms": round(seconds * 1000, 2),
                    "ip": request.remote_addr,
                },
            )
        return resp
