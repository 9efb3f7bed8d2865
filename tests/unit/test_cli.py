"""The `loginsvc` command as an operator runs it (real subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import still_running

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


# -- whatever `serve` starts, it stops (issue 11) -----------------------------------------

def _serve_tree(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[Any], str]:
    """`loginsvc serve` on the embedded default in tmp_path, ready, with its process tree."""
    import json
    import urllib.request

    import psutil

    from tests.helpers import free_port

    port = free_port()
    env = _clean_env(tmp_path, LOG_JSON="false")
    env.pop("REDIS_PREFIX", None)
    proc = subprocess.Popen([sys.executable, "-m", "loginsvc.cli", "serve", "--port", str(port),
                             "--workers", "2"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # a terminal's foreground group of its own
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            urllib.request.urlopen(base + "/readyz", timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
    req = urllib.request.Request(base + "/api/v1/auth/login-link", method="POST",
                                 data=json.dumps({"email": "stop@example.com"}).encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=5).status == 202
    outbox = tmp_path / "instance" / "outbox"
    while not list(outbox.glob("*.eml")):
        assert time.monotonic() < deadline + 30, "no mail"
        time.sleep(0.1)
    tree = psutil.Process(proc.pid).children(recursive=True)
    return proc, tree, base


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_everything_quickly_and_quietly(tmp_path, sig):

    proc, tree, _ = _serve_tree(tmp_path)
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    assert "redis-server" in names and "loginsvc.cli worker" in names
    assert "loginsvc.core.server" in names
    # redis, the mail worker (its retry scheduler is a thread), gunicorn master + 2 workers;
    # the migration ran in a child that has exited.
    assert len(tree) == 5, names
    t0 = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        proc.send_signal(sig)  # systemd, docker stop, kill
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert took < 5, f"stopped in {took:.1f} s"
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert still_running(tree) == []


def test_api_key_from_another_folder_refuses_and_creates_nothing(tmp_path):
    import psutil

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in _clean_env(tmp_path).items() if k != "LOGINSVC_INSTANCE"}
    r = _run(["api-key", "create", "--name", "shop"], env, elsewhere)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loginsvc: no database at "), r.stderr
    assert str(elsewhere / "instance" / "loginsvc.db") in lines[0]
    assert list(elsewhere.iterdir()) == []  # no instance/, no secret, no database
    # No redis-server for this folder (other processes on the machine may run their own).
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(tmp_path) in " ".join(p.info["cmdline"] or [])]


def test_api_key_on_the_embedded_default_starts_no_redis(tmp_path):
    import sqlite3

    import psutil

    env = _clean_env(tmp_path)
    assert _run(["db", "upgrade"], env, tmp_path).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run(["api-key", "create", "--name", "shop"], env, elsewhere)  # LOGINSVC_INSTANCE set
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("lsk_")
    rows = sqlite3.connect(tmp_path / "instance" / "loginsvc.db").execute(
        "SELECT name FROM api_keys").fetchall()
    assert rows == [("shop",)]
    assert not (tmp_path / "instance" / "redis.sock").exists()
    assert not [p for p in psutil.process_iter(["cmdline"])
                if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert list(elsewhere.iterdir()) == []
    r = _run(["api-key", "revoke", "shop"], env, elsewhere)
    assert r.returncode == 0 and "revoked shop" in r.stdout
    assert not (tmp_path / "instance" / "redis.sock").exists()
