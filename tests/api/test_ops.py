"""CONTRACT §8 and issue 8: /metrics, /docs, /openapi.json, security headers, CORS, logs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import sign_in

ROOT = Path(__file__).resolve().parents[2]


def _samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- /metrics -----------------------------------------------------------------

def test_metrics_count_requests_by_route_template_and_status(client, mailbox):
    before = _samples(client)
    client.get("/login/verify?token=secret-token-value-123")
    client.get("/docs/assets/swagger-ui.css")
    client.get("/no/such/path/abc123")
    r = client.get("/metrics")
    text = r.get_data(as_text=True)
    after = _samples(client)
    assert _value(after, "loginsvc_http_requests_total", method="GET",
                  route="/docs/assets/<name>", status="200") == _value(
        before, "loginsvc_http_requests_total", method="GET", route="/docs/assets/<name>",
        status="200") + 1
    assert _value(after, "loginsvc_http_requests_total", method="GET", route="<unmatched>",
                  status="404") >= 1
    # The raw path (and with it any token in a query string) never becomes a label.
    assert "secret-token-value-123" not in text and "abc123" not in text
    assert _value(after, "loginsvc_http_request_duration_seconds_count", method="GET",
                  route="/login/verify") >= 1
    assert 'loginsvc_http_request_duration_seconds_bucket{le="0.05",method="GET"' in text


def test_metrics_fold_unknown_methods_into_one_series(client):
    for method in ("FOO", "BAR"):
        assert client.open("/healthz", method=method).status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    assert "FOO" not in text and "BAR" not in text
    assert 'method="OTHER"' in text


def test_metrics_count_login_links_issued_verified_and_failed_by_reason(client, mailbox):
    before = _samples(client)
    body = sign_in(client, mailbox, "metrics@example.com")
    assert body["session_token"]
    token = mailbox.to("metrics@example.com")[-1].token
    assert client.post("/api/v1/auth/verify", json={"token": token}).status_code == 410
    assert client.post("/api/v1/auth/verify", json={"token": "nope"}).status_code == 400
    after = _samples(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("loginsvc_login_links_requested_total") == 1
    assert delta("loginsvc_login_links_issued_total") == 1
    assert delta("loginsvc_login_links_verified_total") == 1
    assert delta("loginsvc_login_links_failed_total", reason="token_used") == 1
    assert delta("loginsvc_login_links_failed_total", reason="invalid_token") == 1
    assert delta("loginsvc_mail_sent_total", transport="smtp") == 1
    assert delta("loginsvc_http_requests_total", method="POST", route="/api/v1/auth/verify",
                 status="410") == 1


def test_metrics_count_rate_limit_hits(make_app, mailbox):
    client = make_app(ip_limit=1, email_limit=1).test_client()
    before = _samples(client)
    for _ in range(2):
        client.post("/api/v1/auth/login-link", json={"email": "rl@example.com"})
    after = _samples(client)
    route = "/api/v1/auth/login-link"
    assert _value(after, "loginsvc_rate_limit_hits_total", limit=route) - _value(
        before, "loginsvc_rate_limit_hits_total", limit=route) == 1


def test_metrics_count_per_address_limit_hits(make_app, mailbox):
    client = make_app(email_limit=1).test_client()
    before = _samples(client)
    for _ in range(3):
        assert client.post("/api/v1/auth/login-link", json={"email": "pa@example.com"}
                           ).status_code == 202
    after = _samples(client)
    assert _value(after, "loginsvc_rate_limit_hits_total", limit="login-email") - _value(
        before, "loginsvc_rate_limit_hits_total", limit="login-email") == 2


def test_metrics_count_signed_calls_by_outcome(client):
    before = _samples(client)
    r = client.post("/api/v1/sso/wordpress/login", json={"email": "a@example.com"})
    assert r.status_code == 401
    after = _samples(client)
    labels = {"endpoint": "/api/v1/sso/wordpress/login", "outcome": "unauthenticated"}
    assert _value(after, "loginsvc_webhooks_total", **labels) - _value(
        before, "loginsvc_webhooks_total", **labels) == 1


def test_metrics_show_mail_queue_depth_from_redis(make_app, mailbox):
    app = make_app(mail_queue_async=True)  # jobs wait in Redis: no worker runs here
    client = app.test_client()
    for i in range(3):
        assert client.post("/api/v1/auth/login-link", json={"email": f"q{i}@example.com"}
                           ).status_code == 202
    samples = _samples(client)
    assert _value(samples, "loginsvc_mail_queue_depth", state="queued") == 3
    assert mailbox.messages == []


def test_failed_mail_sends_are_counted(make_app, mailbox):
    from loginsvc.ops import metrics

    client = make_app().test_client()
    before = metrics.mail_retries._value.get() + metrics.mail_failures._value.get()
    mailbox.fail = True
    r = client.post("/api/v1/auth/login-link", json={"email": "down@example.com"})
    assert r.status_code == 202  # the failed send never shows in the answer
    # Retried or given up depends on the RQ job's retries left (see test_failures.py).
    assert metrics.mail_retries._value.get() + metrics.mail_failures._value.get() == before + 1


# -- /docs ----------------------------------------------------------------------

def test_docs_page_is_served_locally_without_inline_script(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in html
    assert 'src="/docs/init.js"' in html
    assert "https://" not in html and "//cdn" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    init = client.get("/docs/init.js")
    assert init.status_code == 200 and "javascript" in init.headers["Content-Type"]
    assert '"/openapi.json"' in init.get_data(as_text=True)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and len(asset.data) > 10_000
        asset.close()


def test_docs_read_the_openapi_31_document_without_a_down_conversion(client):
    # Swagger UI 5 reads 3.1 itself; the 3.0 copy for Swagger UI 4 is gone.
    assert client.get("/openapi.json").get_json()["openapi"].startswith("3.1")
    r = client.get("/docs/openapi-3.0.json")
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.data
    bundle.close()
    notice = client.get("/static/swagger-ui/NOTICE")  # Apache-2.0: the notice ships too
    assert notice.status_code == 200 and b"SmartBear" in notice.data
    notice.close()


@pytest.mark.parametrize("name", ["index.html", "..%2f..%2fsetup.py", "swagger-ui.js.map"])
def test_docs_serves_only_the_listed_assets(client, name):
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 404
    assert r.get_json()["code"] == "not_found"


# -- /openapi.json -----------------------------------------------------------------

def test_openapi_lists_every_registered_route(app, client):
    doc = client.get("/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([A-Za-z_]\w*)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert missing == []


def test_openapi_declares_every_error_code(client):
    from loginsvc.core.spec import ERROR_DESCRIPTIONS

    doc = client.get("/openapi.json").get_json()
    enum = set(doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert enum == set(ERROR_DESCRIPTIONS)
    # Every code an operation may answer is a declared one, under its own status.
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                for code in re.findall(r"`([a-z_]+)`", resp.get("description", "")):
                    assert code in ERROR_DESCRIPTIONS, (method, path, code)
                    # invalid_request is 422, or 400 for a body that is not JSON at all.
                    allowed = {str(ERROR_DESCRIPTIONS[code][0])} | (
                        {"400"} if code == "invalid_request" else set())
                    assert status in allowed, (method, path, code)
    # Every code raised anywhere in the service is declared.
    raised = set()
    for source in (ROOT / "loginsvc").rglob("*.py"):
        raised |= set(re.findall(r"ProblemError\(\s*\d{3},\s*\"([a-z_]+)\"",
                                 source.read_text()))
    assert raised - set(ERROR_DESCRIPTIONS) == set()


def test_openapi_operations_have_request_and_response_schemas(client):
    doc = client.get("/openapi.json").get_json()
    login = doc["paths"]["/api/v1/auth/login-link"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert login["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
    assert "429" in login["responses"] and "503" in login["responses"]


# -- security headers ---------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", [
    ("get", "/login", None),
    ("post", "/api/v1/auth/login-link", {"email": "h@example.com"}),
    ("get", "/api/v1/nothing-here", None),
    ("get", "/healthz", None),
])
def test_security_headers_on_pages_and_api(client, mailbox, method, path, body):
    r = getattr(client, method)(path, json=body) if body else getattr(client, method)(path)
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    csp = h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert re.fullmatch(r"[0-9a-f]{32}", h["X-Request-ID"])
    assert "Strict-Transport-Security" not in h  # PUBLIC_URL is http here


def test_hsts_when_public_url_is_https(make_app):
    client = make_app(public_url="https://login.shop.example").test_client()
    r = client.get("/login")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_request_id_is_echoed_when_well_formed(client):
    r = client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"})
    assert r.headers["X-Request-ID"] == "edge-1234abcd"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id; <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    problem = client.get("/api/v1/nothing", headers={"X-Request-ID": "edge-5678abcd"})
    assert problem.get_json()["request_id"] == "edge-5678abcd"


# -- CORS -------------------------------------------------------------------------------

def test_cors_preflight_from_configured_origin(make_app):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    r = client.options("/api/v1/auth/login-link", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    assert "Origin" in r.headers.get_all("Vary")


def test_cors_simple_request_from_public_url_origin(client, mailbox):
    r = client.post("/api/v1/auth/login-link", json={"email": "c@example.com"},
                    headers={"Origin": "http://localhost"})
    assert r.status_code == 202
    assert r.headers["Access-Control-Allow-Origin"] == "http://localhost"
    assert "X-Request-ID" in r.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://shop.example.evil"])
def test_cors_refuses_other_origins(make_app, origin):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    r = client.options("/api/v1/auth/verify", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_cors_is_for_the_api_only(make_app):
    client = make_app(allowed_redirect_origins=("https://shop.example",)).test_client()
    r = client.get("/login", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


# -- structured logs -------------------------------------------------------------------

def test_one_json_access_line_per_request_without_the_token(client, mailbox):
    from loginsvc.ops.observability import JsonFormatter

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    loggers = [logging.getLogger("loginsvc")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        body = sign_in(client, mailbox, "logs@example.com")
        token = mailbox.to("logs@example.com")[-1].token
        client.get(f"/login/verify?token={token}", headers={"X-Request-ID": "rid-12345678"})
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    lines = [JsonFormatter().format(r) for r in records]
    access = [json.loads(line) for line in lines if '"loginsvc.access"' in line]
    assert len(access) == 3  # login-link, verify, GET page
    assert access[-1]["request_id"] == "rid-12345678"
    assert access[-1]["path"] == "/login/verify" and access[-1]["route"] == "/login/verify"
    assert {"method", "status", "ms", "ip"} <= set(access[-1])
    everything = "\n".join(lines)
    assert token not in everything
    assert body["session_token"] not in everything
    assert "Subject:" not in everything  # no mail body either
