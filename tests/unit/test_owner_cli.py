"""`loginsvc owner add|remove|list` as real subprocesses: a database only, never Redis."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

FIELDS = {"DATABASE_URL", "REDIS_URL", "SECRET_KEYS", "LOGINSVC_ENV", "MAIL_SERVER",
          "LOGINSVC_INSTANCE", "ADMIN_EMAIL"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in FIELDS}
    # No Redis listens on port 1: a command that touched Redis would fail.
    e.update(DATABASE_URL=f"sqlite:///{tmp_path / 'owners.db'}", REDIS_URL="redis://127.0.0.1:1",
             LOGINSVC_INSTANCE=str(tmp_path / "instance"), LOG_JSON="false",
             ADMIN_EMAIL="Boss@Shop.example")
    return e


def owner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loginsvc.cli", "owner", *args], env=env,
                          cwd=Path(env["LOGINSVC_INSTANCE"]).parent, capture_output=True,
                          text=True, timeout=120)


def test_add_list_remove(env: dict[str, str], tmp_path: Path) -> None:
    r = owner(env, "add", "  Ann@Example.com ")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Ann@Example.com is an owner"
    r = owner(env, "add", "sam@example.com", "--role", "staff")
    assert r.returncode == 0 and r.stdout.strip() == "sam@example.com is staff"
    rows = sqlite3.connect(tmp_path / "owners.db").execute(
        "SELECT email_norm, role FROM owners ORDER BY email_norm").fetchall()
    assert rows == [("ann@example.com", "owner"), ("sam@example.com", "staff")]
    r = owner(env, "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["Boss@Shop.example\towner (ADMIN_EMAIL)",
                                     "Ann@Example.com\towner", "sam@example.com\tstaff"]
    r = owner(env, "remove", "ANN@example.com")
    assert r.returncode == 0 and "removed" in r.stdout
    assert "Ann@Example.com" not in owner(env, "list").stdout


def test_bad_address_role_and_unknown_remove_fail(env: dict[str, str]) -> None:
    r = owner(env, "add", "not an address")
    assert r.returncode == 1 and r.stderr.startswith("loginsvc: ")
    r = owner(env, "add", "x@example.com", "--role", "king")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = owner(env, "remove", "nobody@example.com")
    assert r.returncode == 1 and "is not an owner" in r.stderr
