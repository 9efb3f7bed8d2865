"""The WordPress plugin for real: its PHP against a running service, and a real WordPress.

Needs php-cli (signing and the client), and for the browser journey Debian's
`wordpress` + `php-mysql` packages, MariaDB on 127.0.0.1:3306 (root, no
password) and Debian's chromium. Locally a missing piece skips; under CI=true
it fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
WP_CLIENT = ROOT / "clients" / "wordpress"
PLUGIN = WP_CLIENT / "loginsvc-sso"
PHP_TESTS = WP_CLIENT / "tests"
WP_DIST = Path("/usr/share/wordpress")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MARIADB = ("127.0.0.1", 3306)
CI = os.environ.get("CI", "").lower() == "true"
SECRET = "whsec_" + base64.b64encode(b"wordpress-e2e-secret-0123456789a").decode()
WRONG = "whsec_" + base64.b64encode(b"not-the-secret-the-service-has!!").decode()


def _need(ok: bool, what: str) -> None:
    if not ok:
        if CI:
            pytest.fail(f"{what} is required under CI=true (make test installs it)")
        pytest.skip(f"{what} is not available (make test installs it)")


@pytest.fixture(scope="session")
def php() -> str:
    path = shutil.which("php")
    _need(path is not None, "php-cli")
    assert path is not None
    return path


def _run_php(php: str, *args: str | Path, timeout: float = 60) -> str:
    done = subprocess.run([php, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _cli(php: str, *args: str) -> dict[str, Any]:
    out = _run_php(php, PHP_TESTS / "sso-cli.php", *args)
    return dict(json.loads(out.strip().splitlines()[-1]))


class Service:
    """The service on a loopback port; `restart` puts an app with other settings behind
    the same URL and database, as an owner restarting loginsvc with a new setting does."""

    def __init__(self, make_app: Any) -> None:
        self.make_app = make_app
        self.url = f"http://127.0.0.1:{free_port()}"
        self.app = make_app(public_url=self.url, wordpress_sso_secrets=(SECRET,))

    def restart(self, **settings: Any) -> None:
        self.app = self.make_app(public_url=self.url, wordpress_sso_secrets=(SECRET,), **settings)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture
def live_service(make_app: Any) -> Iterator[Service]:
    svc = Service(make_app)
    server = make_server("127.0.0.1", int(svc.url.rsplit(":", 1)[1]), svc, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield svc
    server.shutdown()


@pytest.fixture
def service(live_service: Service) -> str:
    return live_service.url


# -- the plugin's PHP with php-cli ---------------------------------------------------


def test_php_signs_the_shared_vectors_like_python(php):
    out = _run_php(php, PHP_TESTS / "verify-vectors.php", WP_CLIENT / "test-vectors.json")
    assert "all vectors match" in out


def test_php_client_signs_in_and_out_against_the_service(php, service):
    ticket = _cli(php, service, SECRET, "login", "Php@Example.com", "501", "Pia")
    assert ticket["ok"] is True and ticket["expires_in"] == 60
    assert ticket["login_url"].startswith(service + "/sso/wordpress/ticket?t=")

    browser = requests.Session()
    r = browser.get(ticket["login_url"], allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/account"
    me = browser.get(service + "/api/v1/me", timeout=10)
    assert me.status_code == 200 and "Php@Example.com" in me.text

    assert _cli(php, service, SECRET, "logout", "501") == {"ok": True}
    after = browser.get(service + "/api/v1/me", timeout=10)
    assert after.status_code == 401


def test_php_client_reports_a_wrong_secret(php, service):
    got = _cli(php, service, WRONG, "login", "a@example.com", "1")
    assert (got["ok"], got["code"], got["status"]) == (False, "invalid_signature", 401)
    assert "does not match" in got["message"]


def test_php_client_reports_a_malformed_secret(php, service):
    got = _cli(php, service, "not-a-secret", "login", "a@example.com", "1")
    assert (got["ok"], got["code"]) == (False, "bad_secret")


def test_php_client_reports_an_unreachable_service(php):
    got = _cli(php, f"http://127.0.0.1:{free_port()}", SECRET, "logout", "1")
    assert (got["ok"], got["code"], got["status"]) == (False, "unreachable", 0)


def test_php_client_reports_a_refused_body(php, service):
    got = _cli(php, service, SECRET, "login", "not-an-address", "1")
    assert (got["ok"], got["code"], got["status"]) == (False, "invalid_request", 422)


def test_plugin_files_are_valid_php(php):
    for path in sorted(PLUGIN.rglob("*.php")) + sorted(PHP_TESTS.glob("*.php")):
        _run_php(php, "-l", path)


# -- a real WordPress served by `php -S` -----------------------------------------------


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class WordPress:
    url: str
    user_id: int
    login: str
    password: str
    email: str


def _mysql(php: str, sql: str) -> None:
    # php-mysql is there anyway; no Python MySQL driver needed.
    code = ("$m = new mysqli('127.0.0.1', 'root', '', '', 3306);"
            "$m->query($argv[1]) or exit(1);")
    subprocess.run([php, "-r", code, sql], check=True, timeout=30, capture_output=True)


WP_CONFIG = """<?php
define( 'DB_NAME', '{db}' );
define( 'DB_USER', 'root' );
define( 'DB_PASSWORD', '' );
define( 'DB_HOST', '127.0.0.1:3306' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
{salts}
$table_prefix = 'wp_';
define( 'WP_HOME', '{url}' );
define( 'WP_SITEURL', '{url}' );
define( 'WP_CONTENT_DIR', __DIR__ . '/wp-content' );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', false );
define( 'WP_DEBUG_LOG', __DIR__ . '/debug.log' );
if ( ! defined( 'ABSPATH' ) ) {{
	define( 'ABSPATH', __DIR__ . '/' );
}}
require_once ABSPATH . 'wp-settings.php';
"""
SALTS = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
         "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                proc.wait(timeout=1)
                return
            proc.poll()  # reap the parent so the group can empty
            time.sleep(0.05)


@pytest.fixture
def wordpress(php: str, service: str, tmp_path: Path) -> Iterator[Callable[..., WordPress]]:
    """Build a WordPress with the plugin, talking to `service` with a given secret."""
    _need(WP_DIST.joinpath("wp-settings.php").exists(), "Debian's wordpress package")
    _need(_port_open(*MARIADB), "MariaDB on 127.0.0.1:3306")
    _need(os.path.exists(CHROMIUM), "Debian's chromium")
    started: list[tuple[subprocess.Popen[bytes], str, Path]] = []

    def build(secret: str, role: str = "subscriber") -> WordPress:
        db = f"loginsvc_wp_{secrets.token_hex(5)}"
        _mysql(php, f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        docroot = tmp_path / f"wp-{db}"
        # A private copy: Debian's own wp-config.php picks its configuration
        # from /etc/wordpress by host name, which parallel tests would share,
        # and WordPress finds wp-config.php next to the real (not linked) files.
        shutil.copytree(WP_DIST, docroot, symlinks=True,
                        ignore=shutil.ignore_patterns("languages"))
        (docroot / "wp-config.php").unlink()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        salts = "\n".join(f"define( '{k}', '{secrets.token_hex(32)}' );" for k in SALTS)
        (docroot / "wp-config.php").write_text(WP_CONFIG.format(db=db, url=url, salts=salts))
        (docroot / "wp-content" / "plugins" / "loginsvc-sso").symlink_to(PLUGIN)
        login, password, email = "wpshopper", secrets.token_urlsafe(12), "Shopper@Example.com"
        out = _run_php(php, PHP_TESTS / "install-wordpress.php", docroot, service, secret,
                       login, password, email, "Wendy Shopper", role)
        user_id = int(json.loads(out.strip().splitlines()[-1])["user_id"])
        env = {**os.environ, "PHP_CLI_SERVER_WORKERS": "4"}
        # Its own process group: with workers, `php -S` forks children that a
        # plain terminate() of the parent would leave running.
        proc = subprocess.Popen([php, "-S", f"127.0.0.1:{port}", "-t", str(docroot)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        started.append((proc, db, docroot))
        deadline = time.monotonic() + 15
        while not _port_open("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, "php -S did not start"
            time.sleep(0.05)
        return WordPress(url=url, user_id=user_id, login=login, password=password, email=email)

    yield build
    for proc, db, docroot in started:
        _stop_group(proc)
        log = docroot / "debug.log"
        if log.exists():
            print(f"WordPress debug.log:\n{log.read_text()[-4000:]}")
        _mysql(php, f"DROP DATABASE IF EXISTS `{db}`")
        shutil.rmtree(docroot, ignore_errors=True)


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page()
        pg.set_default_timeout(20000)
        yield pg
        browser.close()


def _wp_login(page: Any, wp: WordPress) -> None:
    page.goto(wp.url + "/wp-login.php")
    page.fill("#user_login", wp.login)
    page.fill("#user_pass", wp.password)
    page.click("#wp-submit")


def _assert_signed_in(page: Any, service: str, email: str) -> None:
    # The browser's own cookie jar: the session cookie the ticket page set.
    me = page.request.get(service + "/api/v1/me")
    assert me.status == 200 and email in me.text()


@pytest.mark.e2e
def test_wordpress_login_lands_signed_in_and_logout_ends_the_session(wordpress, service, page):
    wp = wordpress(SECRET)
    _wp_login(page, wp)
    page.wait_for_url(service + "/account")
    _assert_signed_in(page, service, wp.email)

    # Log out on WordPress (its admin bar's nonce-protected link).
    page.goto(wp.url + "/wp-admin/profile.php")
    href = page.get_attribute("#wp-admin-bar-logout a", "href")
    assert href and "action=logout" in href
    page.goto(href)
    page.wait_for_url(lambda u: urlsplit(u).path.endswith("/wp-login.php"))
    assert "loggedout=true" in page.url and "logout_failed" not in page.url

    assert page.request.get(service + "/api/v1/me").status == 401


@pytest.mark.e2e
def test_shortcode_button_signs_a_logged_in_user_in_again(wordpress, service, page, php):
    wp = wordpress(SECRET)
    _wp_login(page, wp)
    page.wait_for_url(service + "/account")
    # Signed out at the shop only; WordPress still knows the user.
    assert _cli(php, service, SECRET, "logout", str(wp.user_id)) == {"ok": True}
    assert page.request.get(service + "/api/v1/me").status == 401
    page.goto(wp.url + "/wp-admin/admin-post.php?action=loginsvc_sso_sign_in")
    page.wait_for_url(service + "/account")
    _assert_signed_in(page, service, wp.email)


@pytest.mark.e2e
def test_wrong_secret_keeps_the_wordpress_login_and_says_why(wordpress, service, page):
    wp = wordpress(WRONG)
    _wp_login(page, wp)
    page.wait_for_url(lambda u: u.startswith(wp.url + "/wp-admin/"))
    notice = page.locator("[role=alert]").inner_text()
    assert "signing in to the shop failed" in notice and "invalid_signature" in notice
    assert page.request.get(service + "/api/v1/me").status == 401


def _wc_delivery(url: str, secret: str) -> requests.Response:
    """A WooCommerce `order.created` delivery as WooCommerce signs it (base64 HMAC-SHA256
    of the raw body with the webhook's secret)."""
    body = (ROOT / "tests" / "fixtures" / "platforms" / "woocommerce" / "order_created.json"
            ).read_bytes()
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return requests.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-Delivery-ID": secrets.token_hex(16), "X-WC-Webhook-Signature": sig})


@pytest.mark.e2e
def test_settings_page_shows_the_woocommerce_url_and_a_secret_the_service_accepts(
        wordpress, live_service, page):
    wp = wordpress(SECRET, role="administrator")
    _wp_login(page, wp)
    page.wait_for_url(live_service.url + "/account")
    page.goto(wp.url + "/wp-admin/options-general.php?page=loginsvc-sso")
    url = page.input_value("#loginsvc-wc-url")
    secret = page.input_value("#loginsvc-wc-secret")
    assert url == live_service.url + "/api/v1/webhooks/woocommerce"
    assert len(secret) >= 32 and secret.isalnum()
    page.reload()
    assert page.input_value("#loginsvc-wc-secret") == secret  # made once, not per view

    # Not yet given to the service: refused.
    refused = _wc_delivery(url, secret)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_signature"
    # Pasted into WOOCOMMERCE_WEBHOOK_SECRETS, loginsvc restarted: the delivery is an order.
    live_service.restart(woocommerce_webhook_secrets=(secret,))
    r = _wc_delivery(url, secret)
    assert r.status_code == 201, r.text
    assert r.json()["order_id"] == "727" and r.json()["account_created"] is True
