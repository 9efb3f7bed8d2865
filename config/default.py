"""The one place settings are read from the environment.

Every setting has one name and one default. With nothing set, the service runs
on the embedded default: SQLite, an embedded Redis and an outbox folder, all
under the instance folder.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_LINK_MAX_AGE = 14 * 24 * 3600

# OpenID providers that need no OIDC_<NAME>_ISSUER. Microsoft's is the tenant of
# personal accounts (its "common" endpoint names no single issuer to check).
OIDC_PRESETS = {
    "google": ("https://accounts.google.com", "Google"),
    "apple": ("https://appleid.apple.com", "Apple"),
    "microsoft": (
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "Microsoft",
    ),
}


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _host_ports(name: str, value: str | None) -> tuple[tuple[str, int], ...]:
    out = []
    for part in _csv(value):
        host, sep, port = part.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise SystemExit(f"loginsvc: {name} must be host:port pairs, got {part!r}")
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def _int(name: str, value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"loginsvc: {name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class OidcProvider:
    """One configured OpenID Connect provider (OIDC_<NAME>_*)."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = ""
    label: str = ""
    # Apple signs in with a client secret that is a JWT made from these (OIDC_APPLE_*).
    team_id: str = ""
    key_id: str = ""
    private_key: str = ""

    @property
    def is_apple(self) -> bool:
        return self.name == "apple"


def _oidc_providers(e: Mapping[str, str]) -> tuple[OidcProvider, ...]:
    out = []
    for raw in _csv(e.get("OIDC_PROVIDERS")):
        name = raw.lower()
        if not name.replace("_", "").isalnum() or len(name) > 40:
            raise SystemExit(f"loginsvc: OIDC_PROVIDERS: {raw!r} is not a provider name")
        up = name.upper()
        preset_issuer, preset_label = OIDC_PRESETS.get(name, ("", name.title()))
        issuer = (e.get(f"OIDC_{up}_ISSUER") or preset_issuer).strip().rstrip("/")
        if not issuer:
            raise SystemExit(f"loginsvc: OIDC_{up}_ISSUER is needed for provider {name!r}")
        client_id = (e.get(f"OIDC_{up}_CLIENT_ID") or "").strip()
        if not client_id:
            raise SystemExit(f"loginsvc: OIDC_{up}_CLIENT_ID is needed for provider {name!r}")
        provider = OidcProvider(
            name=name,
            issuer=issuer,
            client_id=client_id,
            client_secret=e.get(f"OIDC_{up}_CLIENT_SECRET") or "",
            label=(e.get(f"OIDC_{up}_LABEL") or "").strip() or preset_label,
            team_id=(e.get(f"OIDC_{up}_TEAM_ID") or "").strip(),
            key_id=(e.get(f"OIDC_{up}_KEY_ID") or "").strip(),
            # A PEM in one environment line may carry its newlines as "\n".
            private_key=(e.get(f"OIDC_{up}_PRIVATE_KEY") or "").replace("\\n", "\n"),
        )
        if (
            provider.is_apple
            and not provider.client_secret
            and not (provider.team_id and provider.key_id and provider.private_key)
        ):
            raise SystemExit(
                "loginsvc: apple needs OIDC_APPLE_TEAM_ID, OIDC_APPLE_KEY_ID and "
                "OIDC_APPLE_PRIVATE_KEY (its client secret is a JWT made from them)"
            )
        out.append(provider)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    redis_url: str = ""  # empty: the embedded Redis under instance/
    redis_prefix: str = "loginsvc:"
    # Redis Sentinel: when set, the master is found through these (host, port) pairs
    # and REDIS_URL (if any) only lends the master its password and database number.
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "mymaster"
    redis_sentinel_password: str = ""
    secret_keys: tuple[str, ...] = ()
    public_url: str = DEFAULT_PUBLIC_URL
    login_link_max_age: int = DEFAULT_LINK_MAX_AGE
    login_code_max_age: int = 900  # the 6-digit code and the "other device" wait
    email_change_max_age: int = 86400  # the confirmation link sent to a new address
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
    # Shop platforms' own webhooks (CONTRACT §4b).
    shopify_webhook_secrets: tuple[str, ...] = ()
    woocommerce_webhook_secrets: tuple[str, ...] = ()
    ecwid_client_secret: str = ""
    ecwid_store_id: str = ""
    ecwid_api_token: str = ""
    ecwid_api_url: str = "https://app.ecwid.com/api/v3"
    # Events out to the shop (CONTRACT §9).
    events_url: str = ""
    events_secrets: tuple[str, ...] = ()
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
    # Passkeys: the relying party is PUBLIC_URL's host unless WEBAUTHN_RP_ID names a parent domain.
    webauthn_rp_id: str = ""
    passkey_challenge_ttl: int = 300
    oidc_providers: tuple[OidcProvider, ...] = ()
    oidc_flow_ttl: int = 600
    oidc_http_timeout: int = 10
    # RQ's own keys (queue, jobs, registries, workers, scheduler lock) start with
    # this; empty: "{redis_prefix}rq", so every key of a deployment is under its prefix.
    rq_key_prefix: str = ""
    # /readyz answers 503 when no mail worker has sent a heartbeat for this long.
    mail_worker_stale_after: int = 30
    # Bearer token for /metrics; empty: /metrics answers loopback clients only.
    metrics_token: str = ""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url and not self.redis_sentinels

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


def load_settings(
    environ: Mapping[str, str] | None = None, *, generate_secret: bool = True, **overrides: Any
) -> Settings:
    """Read settings from the environment (and a `.env` file in the working dir).

    generate_secret=False: without SECRET_KEYS, leave them empty rather than create
    instance/secret_key (commands that sign nothing must not create an instance).
    """
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
        redis_sentinels=_host_ports("REDIS_SENTINELS", e.get("REDIS_SENTINELS")),
        redis_sentinel_master=e.get("REDIS_SENTINEL_MASTER", "").strip() or "mymaster",
        redis_sentinel_password=e.get("REDIS_SENTINEL_PASSWORD", ""),
        secret_keys=_csv(e.get("SECRET_KEYS")),
        public_url=(e.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        login_link_max_age=_int(
            "LOGIN_LINK_MAX_AGE", e.get("LOGIN_LINK_MAX_AGE"), DEFAULT_LINK_MAX_AGE
        ),
        login_code_max_age=_int("LOGIN_CODE_MAX_AGE", e.get("LOGIN_CODE_MAX_AGE"), 900),
        email_change_max_age=_int("EMAIL_CHANGE_MAX_AGE", e.get("EMAIL_CHANGE_MAX_AGE"), 86400),
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
        shopify_webhook_secrets=_csv(e.get("SHOPIFY_WEBHOOK_SECRETS")),
        woocommerce_webhook_secrets=_csv(e.get("WOOCOMMERCE_WEBHOOK_SECRETS")),
        ecwid_client_secret=e.get("ECWID_CLIENT_SECRET", "").strip(),
        ecwid_store_id=e.get("ECWID_STORE_ID", "").strip(),
        ecwid_api_token=e.get("ECWID_API_TOKEN", "").strip(),
        ecwid_api_url=(e.get("ECWID_API_URL") or "https://app.ecwid.com/api/v3").rstrip("/"),
        events_url=e.get("EVENTS_URL", "").strip(),
        events_secrets=_csv(e.get("EVENTS_SECRETS")),
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
        webauthn_rp_id=e.get("WEBAUTHN_RP_ID", "").strip().lower(),
        oidc_providers=_oidc_providers(e),
        rq_key_prefix=e.get("RQ_KEY_PREFIX", "").strip(),
        mail_worker_stale_after=_int(
            "MAIL_WORKER_STALE_AFTER", e.get("MAIL_WORKER_STALE_AFTER"), 30
        ),
        metrics_token=e.get("METRICS_TOKEN", "").strip(),
    )
    if overrides:
        settings = settings.replace(**overrides)
    settings = with_rq_key_prefix(settings)
    if not settings.database_url:
        settings = settings.replace(
            database_url=f"sqlite:///{settings.instance_path / 'loginsvc.db'}"
        )
    if not settings.secret_keys and not settings.is_production and generate_secret:
        settings = settings.replace(secret_keys=_secret_file_keys(settings.instance_path))
    return settings


_RQ_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:{}-]+")


def with_rq_key_prefix(settings: Settings) -> Settings:
    """Fill in RQ's key prefix ("{REDIS_PREFIX}rq" unless given) and check its spelling."""
    prefix = settings.rq_key_prefix or f"{settings.redis_prefix}rq"
    if not _RQ_PREFIX_RE.fullmatch(prefix):
        raise SystemExit(
            f"loginsvc: RQ keys need a prefix of letters, digits and _ . : - {{ }}; "
            f"REDIS_PREFIX/RQ_KEY_PREFIX give {prefix!r}"
        )
    return settings.replace(rq_key_prefix=prefix)


def export_rq_key_prefix(settings: Settings) -> None:
    """Make RQ build its keys under `settings.rq_key_prefix`, in this process and its children.

    RQ reads RQ_KEY_PREFIX from the environment once, when `rq` is first imported,
    and builds every key from it (rq.defaults); so it is set here, before that import.
    """
    wanted = with_rq_key_prefix(settings).rq_key_prefix
    loaded = sys.modules.get("rq.defaults")
    if loaded is not None:
        current = getattr(loaded, "RQ_KEY_PREFIX", None)
        if current != wanted:
            raise SystemExit(
                f"loginsvc: RQ was imported with key prefix {current!r} before the settings "
                f"({wanted!r}) were applied"
            )
        return
    os.environ["RQ_KEY_PREFIX"] = wanted


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment for processes `serve` starts (the mail worker)."""
    env = dict(os.environ)
    env["REDIS_URL"] = settings.redis_url
    env["REDIS_SENTINELS"] = ",".join(
        f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in settings.redis_sentinels
    )
    env["REDIS_SENTINEL_MASTER"] = settings.redis_sentinel_master
    env["DATABASE_URL"] = settings.database_url
    env["LOGINSVC_INSTANCE"] = str(settings.instance_path)
    env["PUBLIC_URL"] = settings.public_url
    env["REDIS_PREFIX"] = settings.redis_prefix
    env["RQ_KEY_PREFIX"] = settings.rq_key_prefix
    if not env.get("SECRET_KEYS"):
        env["SECRET_KEYS"] = ",".join(settings.secret_keys)
    return env
