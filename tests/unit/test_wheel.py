"""A plain `pip install .` gives a working `loginsvc`: templates, pages, migrations and
static files ship inside the wheel, not only in the editable dev install."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.helpers import free_port, still_running

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's files as a clean clone has them (with its `loginsvc/` folder)."""
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, source_copy: Path) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from the copy, so builds in parallel test workers never share a build/ folder.
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(source_copy, build, dirs_exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(build)], check=True, timeout=300)
    return next(out.glob("loginsvc-*.whl"))


def test_wheel_carries_templates_migrations_and_static(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("loginsvc/email_templates/login_link.txt",
                   "loginsvc/email_templates/welcome.html",
                   "loginsvc/email_templates/_layout.html",
                   "loginsvc/translations/de/LC_MESSAGES/messages.po",
                   "loginsvc/templates/pages/login.html",
                   "loginsvc/static/style.css",
                   "loginsvc/static/swagger-ui/swagger-ui-bundle.js",
                   "loginsvc/static/swagger-ui/NOTICE",
                   "loginsvc/migrations/env.py",
                   "loginsvc/migrations/script.py.mako",
                   "loginsvc/migrations/versions/0001_initial_schema.py",
                   "loginsvc/config/default.py"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "config/", "templates/")) for n in names)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (not editable) installed: its `loginsvc` command."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Dependencies come from the dev environment; the package itself only from the wheel.
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    sp = subprocess.run([str(py), "-c", code], capture_output=True, text=True,
                        check=True).stdout.strip()
    Path(sp, "_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    where = subprocess.run([str(py), "-c", "import loginsvc; print(loginsvc.__file__)"],
                           capture_output=True, text=True, check=True,
                           cwd=tmp_path_factory.mktemp("elsewhere")).stdout
    assert str(venv) in where, where
    return venv / "bin" / "loginsvc"


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEYS", "MAIL_SERVER", "PYTHONPATH",
                         "LOGINSVC_INSTANCE", "LOGINSVC_ENV", "PUBLIC_URL"}}


def _serve_and_mail(exe: Path, run_dir: Path, address: str) -> None:
    """`loginsvc serve` in run_dir on the embedded default: pages, static files, a mail."""
    import psutil

    env = _plain_env()
    port = free_port()
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--workers", "2"],
                            cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tree: list[psutil.Process] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        tree = psutil.Process(proc.pid).children(recursive=True)
        started = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "redis-server" in started and "loginsvc.cli worker" in started, started
        page = urllib.request.urlopen(base + "/login", timeout=5).read().decode()
        assert 'action="/login"' in page
        css = urllib.request.urlopen(base + "/static/style.css", timeout=5).read()
        assert b"--accent" in css
        req = urllib.request.Request(base + "/api/v1/auth/login-link", method="POST",
                                     data=json.dumps({"email": address}).encode(),
                                     headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=5).status == 202
        outbox = run_dir / "instance" / "outbox"
        deadline = time.monotonic() + 30
        while not list(outbox.glob("*.eml")):
            assert time.monotonic() < deadline, "no e-mail in the outbox"
            time.sleep(0.2)
        eml = next(outbox.glob("*.eml")).read_text()
        assert address in eml and "login/verify?token=" in eml
        assert (run_dir / "instance" / "loginsvc.db").exists()
        assert (run_dir / "instance" / "secret_key").exists()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "ModuleNotFoundError" not in text, text
    # Everything serve started (embedded redis-server, mail worker, gunicorn) is gone.
    assert still_running(tree) == []


@pytest.mark.slow
def test_installed_wheel_serves_from_an_empty_folder(installed, tmp_path):
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    assert subprocess.run([str(installed), "db", "upgrade"], cwd=run_dir, env=_plain_env(),
                          timeout=120).returncode == 0
    _serve_and_mail(installed, run_dir, "wheel@example.com")


@pytest.mark.slow
def test_installed_wheel_serves_from_the_repository_root(installed, source_copy, tmp_path):
    # The checkout's own `loginsvc/` folder (without `loginsvc/config`) is right here;
    # the worker must still import the installed package.
    run_dir = tmp_path / "checkout"
    shutil.copytree(source_copy, run_dir)
    assert (run_dir / "loginsvc" / "__init__.py").exists()
    assert not (run_dir / "loginsvc" / "config").exists()
    _serve_and_mail(installed, run_dir, "root@example.com")
