"""`loginsvc api-key create|revoke` as real subprocesses, checked against the admin API."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from loginsvc import create_app
from loginsvc.config import testing as testing_config
from tests.conftest import REDIS_URL

FIELDS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEYS", "LOGINSVC_ENV", "MAIL_SERVER",
          "LOGINSVC_INSTANCE"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in FIELDS}
    e.update(DATABASE_URL=f"sqlite:///{tmp_path / 'keys.db'}", REDIS_URL=REDIS_URL,
             LOGINSVC_INSTANCE=str(tmp_path / "instance"), LOG_JSON="false")
    return e


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loginsvc.cli", "api-key", *args], env=env,
                          cwd=Path(env["LOGINSVC_INSTANCE"]).parent, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def api(tmp_path: Path) -> Any:
    def client() -> Any:
        settings = testing_config.testing_settings(instance=tmp_path / "instance",
                                    database_url=f"sqlite:///{tmp_path / 'keys.db'}",
                                    redis_url=REDIS_URL, prefix=f"k{uuid.uuid4().hex[:8]}:")
        return create_app(settings).test_client()

    return client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_prints_key_once_and_it_works_until_revoked(env, api, tmp_path):
    r = cli(env, "create", "--name", "backend")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("lsk_") and "\n" not in key
    row = sqlite3.connect(tmp_path / "keys.db").execute(
        "SELECT key_hash, scope, last_used_at FROM api_keys WHERE name='backend'").fetchone()
    assert key not in row[0] and row[1] == "admin" and row[2] is None
    client = api()
    assert client.get("/api/v1/admin/settings", headers=auth(key)).status_code == 200
    assert sqlite3.connect(tmp_path / "keys.db").execute(
        "SELECT last_used_at FROM api_keys WHERE name='backend'").fetchone()[0] is not None
    r = cli(env, "revoke", "backend")
    assert r.returncode == 0 and "revoked backend" in r.stdout
    # The same running app refuses the key on the very next request.
    resp = client.get("/api/v1/admin/settings", headers=auth(key))
    assert resp.status_code == 401 and resp.get_json()["code"] == "unauthorized"


def test_read_scope_key_cannot_write(env, api):
    key = cli(env, "create", "--name", "viewer", "--scope", "read").stdout.strip()
    client = api()
    assert client.get("/api/v1/admin/customers", headers=auth(key)).status_code == 200
    resp = client.post("/api/v1/admin/groups", json={"name": "x"}, headers=auth(key))
    assert resp.status_code == 403 and resp.get_json()["code"] == "forbidden"


def test_duplicate_active_name_and_unknown_revoke_fail(env):
    assert cli(env, "create", "--name", "dup").returncode == 0
    r = cli(env, "create", "--name", "dup")
    assert r.returncode == 1 and "revoke it first" in r.stderr and r.stdout == ""
    r = cli(env, "revoke", "nobody")
    assert r.returncode == 1 and "no active API key" in r.stderr
    r = cli(env, "create", "--name", "x", "--scope", "root")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_name_can_be_reused_after_revoke(env, api):
    old = cli(env, "create", "--name", "rot").stdout.strip()
    assert cli(env, "revoke", "rot").returncode == 0
    new = cli(env, "create", "--name", "rot").stdout.strip()
    assert new != old
    client = api()
    assert client.get("/api/v1/admin/settings", headers=auth(old)).status_code == 401
    assert client.get("/api/v1/admin/settings", headers=auth(new)).status_code == 200
