"""The `loginsvc` command as an operator runs it (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loginsvc.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEYS", "LOGINSVC_ENV", "MAIL_SERVER",
                        "PUBLIC_URL", "LOGINSVC_INSTANCE"}}
    env["LOGINSVC_INSTANCE"] = str(tmp_path / "instance")
    env.update(extra)
    return env


@pytest.mark.parametrize("missing", ["SECRET_KEYS", "DATABASE_URL", "REDIS_URL", "MAIL_SERVER"])
def test_production_refuses_to_start_with_one_line_reason(tmp_path, missing):
    full = {
        "LOGINSVC_ENV": "production", "SECRET_KEYS": "k" * 40,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1/none", "REDIS_URL": "redis://127.0.0.1:1",
        "MAIL_SERVER": "smtp.example", "MAIL_DEFAULT_SENDER": "Shop <shop@example.com>",
        "PUBLIC_URL": "https://login.example",
    }
    full.pop(missing)
    r = _run(["serve", "--port", "1"], _clean_env(tmp_path, **full), tmp_path)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    assert len(lines) == 1, r.stderr
    assert missing in lines[0]


def test_db_upgrade_is_idempotent_and_api_keys_work(tmp_path):
    env = _clean_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
                     REDIS_URL="redis://127.0.0.1:6379/0")
    for _ in range(2):
        r = _run(["db", "upgrade"], env, tmp_path)
        assert r.returncode == 0, r.stderr
    r = _run(["api-key", "create", "--name", "shop"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("lsk_") and len(key) > 30
    import sqlite3

    rows = sqlite3.connect(tmp_path / "cli.db").execute(
        "SELECT name, key_hash, scope FROM api_keys").fetchall()
    assert rows[0][0] == "shop" and rows[0][2] == "admin"
    assert key not in rows[0][1]  # stored hashed, never in clear
    assert _run(["api-key", "create", "--name", "shop"], env, tmp_path).returncode == 1
    assert _run(["api-key", "revoke", "shop"], env, tmp_path).returncode == 0
    assert _run(["api-key", "revoke", "shop"], env, tmp_path).returncode == 1
