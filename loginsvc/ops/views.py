"""Operator endpoints: /metrics (Prometheus) and /docs (Swagger UI from a Python package).

Swagger UI comes from the `swagger-ui-bundle` package and is served from here,
so the docs page needs no CDN. Its start-up code is a small script file
(/docs/init.js) rather than an inline <script>, so /docs keeps the same CSP as
every other page (no 'unsafe-inline').

Routes that are not declared with `@endpoint` (liveness, HTML pages, static
files) are added to the OpenAPI registry on the app's first request, so
/openapi.json lists every route the app answers.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from loginsvc.core.extensions import get_redis
from loginsvc.core.spec import REGISTRY, EndpointSpec, endpoint
from loginsvc.ops import metrics

bp = Blueprint("ops", __name__)

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
    url: "/docs/openapi-3.0.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false
  });
});
"""


@endpoint(
    bp,
    "/metrics",
    "GET",
    summary="Prometheus metrics of every worker process",
    tags=["operations"],
    response_media="text/plain",
)
def prometheus_metrics() -> Any:
    from loginsvc.core.mailer import queue

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
    summary="Swagger UI files (from swagger-ui-bundle)",
    tags=["operations"],
    response_media="application/octet-stream",
    errors=["not_found"],
)
def docs_asset(name: str) -> Any:
    if name not in _DOCS_ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, name, max_age=86400)


@endpoint(
    bp,
    "/docs/openapi-3.0.json",
    "GET",
    summary="The OpenAPI document in 3.0 form, for the bundled Swagger UI 4",
    tags=["operations"],
)
def openapi_30() -> Any:
    # swagger-ui-bundle ships Swagger UI 4, which refuses `openapi: 3.1.x`; the
    # canonical document stays /openapi.json (3.1, JSON Schema 2020-12).
    canonical = cast(Response, current_app.view_functions["health.openapi"]())
    doc = canonical.get_json()
    out = _to_30(doc)
    out["openapi"] = "3.0.3"
    return jsonify(out)


def _to_30(node: Any) -> Any:
    """The JSON Schema 2020-12 spellings pydantic uses, in their OpenAPI 3.0 form."""
    if isinstance(node, list):
        return [_to_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _to_30(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del node[key]
            if len(rest) == 1 and isinstance(rest[0], dict) and "$ref" not in rest[0]:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and node["examples"]:
        node["example"] = node.pop("examples")[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[plain] = node[bound]
            node[bound] = True
    return node


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
