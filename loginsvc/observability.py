"""Request ids, security headers and structured logs."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from .runtime import settings

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
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("loginsvc")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def _csp() -> str:
    s = settings()
    form_targets = " ".join(["'self'", *s.allowed_redirect_origins])
    return ("default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action {form_targets}; frame-ancestors 'none'")


def register_request_hooks(app: Flask) -> None:
    access = logging.getLogger("loginsvc.access")

    @app.before_request
    def _start() -> None:
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if _RID.match(rid) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if request.path != "/docs":
            resp.headers.setdefault("Content-Security-Policy", _csp())
        if settings().public_url.startswith("https://"):
            resp.headers.setdefault("Strict-Transport-Security",
                                    "max-age=31536000; includeSubDomains")
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        # The path only: query strings may carry tokens.
        access.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "status": resp.status_code,
            "ms": round(elapsed, 2), "ip": request.remote_addr,
        })
        return resp
