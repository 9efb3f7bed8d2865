"""The API document and the behaviour agree on what the fuzzing review found apart."""

from __future__ import annotations

from tests.api.admin_support import admin_fixture, problem  # noqa: F401


def test_options_on_pages_is_405_and_the_api_keeps_its_cors_preflight(client):
    for path in ("/account", "/account/orders", "/login"):
        r = client.options(path)
        problem(r, 405, "method_not_allowed")
        assert "OPTIONS" not in r.headers["Allow"] and "GET" in r.headers["Allow"]
    r = client.options("/api/v1/me", headers={"Origin": "http://localhost",
                                              "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200


def test_account_mode_null_is_refused_and_not_offered(client, admin):
    doc = client.get("/openapi.json").get_json()
    prop = doc["components"]["schemas"]["SettingsIn"]["properties"]["account_mode"]
    assert prop["enum"] == ["disabled", "optional", "required"] and "anyOf" not in prop
    problem(admin.patch("/settings", json={"account_mode": None}), 422, "invalid_request")


def test_addresses_cursors_and_pages_are_described_as_they_behave(client):
    doc = client.get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["LoginLinkIn"]["properties"]["email"]["format"] == "email"
    assert schemas["CustomerCreate"]["properties"]["email"]["format"] == "email"
    params = {p["name"]: p for p in doc["paths"]["/api/v1/me/orders"]["get"]["parameters"]}
    assert params["cursor"]["schema"]["anyOf"][0]["pattern"] == "^[A-Za-z0-9_-]+$"
    ids = doc["paths"]["/api/v1/admin/customers/{customer_id}"]["get"]["parameters"][0]
    assert ids["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    page = doc["paths"]["/account"]["get"]["responses"]
    assert {"200", "303", "4XX"} <= set(page)
    assert set(page["4XX"]["content"]) == {"text/html", "application/problem+json"}
