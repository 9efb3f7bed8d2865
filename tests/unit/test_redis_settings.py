"""Redis Sentinel settings: parsed once in config/, checked for production, passed to the
mail worker that `serve` starts."""

from __future__ import annotations

import pytest

from loginsvc.config.default import child_environment, load_settings
from loginsvc.config.production import missing_for_production

PRODUCTION = {
    "LOGINSVC_ENV": "production", "SECRET_KEYS": "k" * 40,
    "DATABASE_URL": "postgresql://postgres@127.0.0.1/none", "MAIL_SERVER": "smtp.example",
    "MAIL_DEFAULT_SENDER": "Shop <shop@example.com>", "PUBLIC_URL": "https://login.example",
}


def test_sentinels_are_host_port_pairs_and_replace_the_embedded_redis(tmp_path):
    s = load_settings({"REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380",
                       "REDIS_SENTINEL_MASTER": "shop", "LOGINSVC_INSTANCE": str(tmp_path)})
    assert s.redis_sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert s.redis_sentinel_master == "shop" and not s.embedded_redis
    env = child_environment(s)
    assert env["REDIS_SENTINELS"] == "10.0.0.1:26379,[::1]:26380"
    assert load_settings(env).redis_sentinels == s.redis_sentinels
    assert env["REDIS_SENTINEL_MASTER"] == "shop"


@pytest.mark.parametrize("value", ["10.0.0.1", "10.0.0.1:port", ":26379"])
def test_a_malformed_sentinel_list_stops_with_one_line(tmp_path, value):
    with pytest.raises(SystemExit) as exc:
        load_settings({"REDIS_SENTINELS": value, "LOGINSVC_INSTANCE": str(tmp_path)})
    assert str(exc.value).startswith("loginsvc: REDIS_SENTINELS must be host:port pairs")


def test_production_takes_sentinels_in_place_of_redis_url(tmp_path):
    base = {**PRODUCTION, "LOGINSVC_INSTANCE": str(tmp_path)}
    assert "REDIS_URL" in (missing_for_production(load_settings(base)) or "")
    with_sentinels = load_settings({**base, "REDIS_SENTINELS": "10.0.0.1:26379"})
    assert missing_for_production(with_sentinels) is None
