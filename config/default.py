"""The one place settings are read from the environment.

Every setting has one name and one default. With nothing set, the service runs
on the embedded default: SQLite, an embedded Redis and an outbox folder, all
under the instance folder.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_LINK_MAX_AGE = 14 * 24 * 3600


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"loginsvc: {name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    redis_url: str = ""  # empty: the embedded Redis under instance/
    redis_prefix: str = "loginsvc:"
    secret_keys: tuple[str, ...] = ()
    public_url: str = DEFAULT_PUBLIC_URL
    login_link_max_age: int = DEFAULT_LINK_MAX_AGE
    allowed_redirect_origins: tuple[str, ...] = ()
    mail_server: str = ""
    mail_port: int = 25
    mail_username: str = ""
    mail_password: str = ""
    mail_use_tls: bool = False
    mail_use_ssl: bool = False
    mail_default_sender: str = "loginsvc <no-reply@localhost>"
    mail_timeout: int = 10
    webhook_secrets: tuple[str, ...] = ()
    wordpress_sso_secrets: tuple[str, ...] = ()
    shop_name: str = "Our shop"
    admin_email: str = ""
    # Seconds an owner's e-mailed /admin sign-in link lives.
    admin_link_max_age: int = 900
    # Rate limits: requests per window.
    ip_limit: int = 30
    ip_window: int = 60
    email_limit: int = 5
    email_window: int = 3600
    # A shopper stays signed in until signing out; sessions unused this long expire.
    session_idle_days: int = 400
    reauth_seconds: int = 900
    web_concurrency: int = 0  # 0: chosen from the CPU count
    mail_queue_async: bool = True
    trust_proxy: int = 0
    check_deliverability: bool = False
    log_json: bool = True
    # A folder of extra gettext catalogs (<lang>/LC_MESSAGES/messages.po) used before
    # the shipped ones: a language with a catalog there is offered, its texts win.
    translations_dir: str = ""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def outbox_path(self) -> Path:
        return self.instance_path / "outbox"

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _secret_file_keys(instance: Path) -> tuple[str, ...]:
    """The generated secret of the embedded default, kept in instance/."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return (path.read_text().strip(),)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment (and a `.env` file in the working dir)."""
    if environ is None:
        env_file = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        environ = {**env_file, **os.environ}
    e = environ
    instance = Path(e.get("LOGINSVC_INSTANCE", "instance")).resolve()
    settings = Settings(
        env=e.get("LOGINSVC_ENV", "development").strip() or "development",
        instance_path=instance,
        database_url=e.get("DATABASE_URL", "").strip(),
        redis_url=e.get("REDIS_URL", "").strip(),
        redis_prefix=e.get("REDIS_PREFIX", "loginsvc:"),
        secret_keys=_csv(e.get("SECRET_KEYS")),
        public_url=(e.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        login_link_max_age=_int(
            "LOGIN_LINK_MAX_AGE", e.get("LOGIN_LINK_MAX_AGE"), DEFAULT_LINK_MAX_AGE
        ),
        allowed_redirect_origins=tuple(
            o.rstrip("/") for o in _csv(e.get("ALLOWED_REDIRECT_ORIGINS"))
        ),
        mail_server=e.get("MAIL_SERVER", "").strip(),
        mail_port=_int("MAIL_PORT", e.get("MAIL_PORT"), 25),
        mail_username=e.get("MAIL_USERNAME", ""),
        mail_password=e.get("MAIL_PASSWORD", ""),
        mail_use_tls=_bool(e.get("MAIL_USE_TLS")),
        mail_use_ssl=_bool(e.get("MAIL_USE_SSL")),
        mail_default_sender=e.get("MAIL_DEFAULT_SENDER") or "loginsvc <no-reply@localhost>",
        webhook_secrets=_csv(e.get("WEBHOOK_SECRETS")),
        wordpress_sso_secrets=_csv(e.get("WORDPRESS_SSO_SECRETS")),
        shop_name=e.get("SHOP_NAME") or "Our shop",
        admin_email=e.get("ADMIN_EMAIL", "").strip(),
        admin_link_max_age=_int("ADMIN_LINK_MAX_AGE", e.get("ADMIN_LINK_MAX_AGE"), 900),
        ip_limit=_int("RATE_LIMIT_IP", e.get("RATE_LIMIT_IP"), 30),
        email_limit=_int("RATE_LIMIT_EMAIL", e.get("RATE_LIMIT_EMAIL"), 5),
        web_concurrency=_int("WEB_CONCURRENCY", e.get("WEB_CONCURRENCY"), 0),
        trust_proxy=_int("TRUST_PROXY", e.get("TRUST_PROXY"), 0),
        check_deliverability=_bool(e.get("EMAIL_CHECK_DELIVERABILITY")),
        log_json=_bool(e.get("LOG_JSON"), True),
        translations_dir=e.get("TRANSLATIONS_DIR", "").strip(),
    )
    if overrides:
        settings = settings.replace(**overrides)
    if not settings.database_url:
        settings = settings.replace(
            database_url=f"sqlite:///{settings.instance_path / 'loginsvc.db'}"
        )
    if not settings.secret_keys and not settings.is_production:
        settings = settings.replace(secret_keys=_secret_file_keys(settings.instance_path))
    return settings


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for processes `serve` starts (the mail worker)."""
    env = dict(os.environ)
    env["REDIS_URL"] = settings.redis_url
    env["DATABASE_URL"] = settings.database_url
    env["LOGINSVC_INSTANCE"] = str(settings.instance_path)
    env["PUBLIC_URL"] = settings.public_url
    if not env.get("SECRET_KEYS"):
        env["SECRET_KEYS"] = ",".join(settings.secret_keys)
    return env
