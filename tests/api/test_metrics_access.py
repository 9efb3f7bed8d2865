"""Issue 11: /metrics is not for everyone — METRICS_TOKEN, else loopback clients only."""

from __future__ import annotations

import pytest

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


def test_metrics_without_token_answer_loopback(client):
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200 and "loginsvc_http_requests_total" in r.get_data(as_text=True)
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"})
    assert r.status_code == 200


def test_metrics_without_token_are_404_for_other_clients(client):
    r = client.get("/metrics", environ_base=REMOTE)
    assert r.status_code == 404
    assert r.get_json()["code"] == "not_found"
    assert "loginsvc_" not in r.get_data(as_text=True)


def test_metrics_behind_a_trusted_proxy_judge_the_forwarded_client(make_app):
    client = make_app(trust_proxy=1).test_client()
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                   headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"


def test_metrics_with_token_need_it_even_from_loopback(make_app):
    client = make_app(metrics_token="scrape-secret-123").test_client()
    r = client.get("/metrics")
    assert r.status_code == 401
    assert r.get_json()["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "loginsvc_" not in r.get_data(as_text=True)


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic scrape-secret-123",
                                    "Bearer scrape-secret-1234", "scrape-secret-123"])
def test_metrics_with_token_refuse_a_wrong_one(make_app, header):
    client = make_app(metrics_token="scrape-secret-123").test_client()
    r = client.get("/metrics", headers={"Authorization": header})
    assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"


def test_metrics_with_token_answer_any_client_that_has_it(make_app):
    client = make_app(metrics_token="scrape-secret-123").test_client()
    r = client.get("/metrics", environ_base=REMOTE,
                   headers={"Authorization": "Bearer scrape-secret-123"})
    assert r.status_code == 200
    assert "loginsvc_mail_queue_depth" in r.get_data(as_text=True)


def test_metrics_token_is_read_from_the_environment(tmp_path):
    from loginsvc.config import load_settings

    s = load_settings({"METRICS_TOKEN": " tok ", "LOGINSVC_INSTANCE": str(tmp_path)})
    assert s.metrics_token == "tok"
    assert load_settings({"LOGINSVC_INSTANCE": str(tmp_path)}).metrics_token == ""
