"""Operator endpoints: /metrics (Prometheus) and /docs (Swagger UI, shipped in the wheel).

Swagger UI 5 (the npm package `swagger-ui-dist`, Apache-2.0, its LICENSE and
NOTICE beside it) is vendored under loginsvc/static/swagger-ui/ and served from
here, so the docs page needs no CDN and reads /openapi.json (OpenAPI 3.1) as it
is. To update it: `make swagger-ui SWAGGER_UI_VERSION=…`. Its start-up code is a small script file
(/docs/init.js) rather than an inline <script>, so /docs keeps the same CSP as
every other page (no 'unsafe-inline').

Routes that are not declared with `@endpoint` (liveness, HTML pages, static
files) are added to the OpenAPI registry on the app's first request, so
/openapi.json lists every route the app answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    request,
    send_from_directory,
)

from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import get_redis
from loginsvc.core.runtime import settings
from loginsvc.core.spec import REGISTRY, EndpointSpec, endpoint
from loginsvc.ops import metrics

bp = Blueprint("ops", __name__)

_SWAGGER_UI = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
_DOCS_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)

_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loginsvc API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<noscript>The API reference needs JavaScript; the raw document is at
<a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

_DOCS_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false
  });
});
"""


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False  # a unix socket or no address: not provably local


def _check_metrics_access() -> None:
    """METRICS_TOKEN set: a matching bearer token. Unset: loopback clients only.

    The metrics name routes, error codes and queue depths: not for everyone. The
    client address is the one after TRUST_PROXY; behind a proxy on the same host
    without TRUST_PROXY every client looks local, so set METRICS_TOKEN there.
    """
    token = settings().metrics_token
    if not token:
        if not _loopback(request.remote_addr):
            raise ProblemError(404, "not_found", "No such resource.")
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise ProblemError(
            401,
            "unauthorized",
            "A bearer token (METRICS_TOKEN) is needed.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


@endpoint(
    bp,
    "/metrics",
    "GET",
    summary="Prometheus metrics of every worker process (METRICS_TOKEN or loopback)",
    tags=["operations"],
    response_media="text/plain",
    errors=["unauthorized", "not_found"],
)
def prometheus_metrics() -> Any:
    from loginsvc.core.mailer import queue

    _check_metrics_access()

    redis_client = get_redis()
    body, content_type = metrics.exposition(redis_client, queue(redis_client).name)
    resp = Response(body, mimetype=None, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@endpoint(
    bp,
    "/docs",
    "GET",
    summary="The API reference (Swagger UI)",
    tags=["operations"],
    response_media="text/html",
)
def docs() -> Any:
    return Response(_DOCS_HTML, content_type="text/html; charset=utf-8")


@endpoint(
    bp,
    "/docs/init.js",
    "GET",
    summary="Start-up script of the docs page",
    tags=["operations"],
    response_media="text/javascript",
)
def docs_init() -> Any:
    resp = Response(_DOCS_INIT, content_type="text/javascript; charset=utf-8")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@endpoint(
    bp,
    "/docs/assets/<name>",
    "GET",
    summary="Swagger UI files (swagger-ui-dist, shipped in the package)",
    tags=["operations"],
    response_media="application/octet-stream",
    errors=["not_found"],
)
def docs_asset(name: str) -> Any:
    if name not in _DOCS_ASSETS:
        abort(404)
    return send_from_directory(_SWAGGER_UI, name, max_age=86400)


# -- documenting routes declared without @endpoint -----------------------------

_documented_lock = threading.Lock()

# Media types of the plain routes we know; anything else is an HTML page.
_PLAIN_MEDIA = {
    "/healthz": "application/json",
    "/readyz": "application/json",
    "/openapi.json": "application/json",
    "/account/export/download": "application/json",  # the data export, as a file
}


def _summary(app: Flask, endpoint_name: str) -> str:
    view = app.view_functions.get(endpoint_name)
    doc = (getattr(view, "__doc__", None) or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else endpoint_name.replace("_", " ")


def document_plain_routes(app: Flask) -> None:
    """Add every route of `app` missing from the OpenAPI registry (idempotent)."""
    with _documented_lock:
        known = {(spec.rule, spec.method) for spec in REGISTRY}
        for rule in app.url_map.iter_rules():
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                if (rule.rule, method) in known:
                    continue
                if rule.endpoint == "static":
                    media, tags = "application/octet-stream", ["operations"]
                elif rule.rule in _PLAIN_MEDIA:
                    media, tags = _PLAIN_MEDIA[rule.rule], ["operations"]
                else:
                    media, tags = "text/html", ["pages"]
                REGISTRY.append(
                    EndpointSpec(
                        rule=rule.rule,
                        method=method,
                        summary=_summary(app, rule.endpoint),
                        tags=tags,
                        status=303 if method == "POST" and media == "text/html" else 200,
                        response_media=media,
                        content_types=["application/x-www-form-urlencoded"],
                    )
                )
                known.add((rule.rule, method))


@bp.before_app_request
def _document_once() -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.extensions.get("loginsvc.ops.documented"):
        document_plain_routes(app)
        app.extensions["loginsvc.ops.documented"] = True
