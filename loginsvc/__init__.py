"""loginsvc: passwordless login and customer accounts for online shops."""

from __future__ import annotations

import logging
import os

from flask import Flask

from loginsvc.config import Settings, load_settings
from loginsvc.config.default import export_rq_key_prefix
from loginsvc.config.production import missing_for_production

MAX_BODY = 1024 * 1024  # 1 MiB

log = logging.getLogger("loginsvc")


def create_app(settings: Settings | None = None) -> Flask:
    """The application factory (gunicorn: `wsgi:app`)."""
    settings = settings or load_settings()
    if settings.is_production:
        reason = missing_for_production(settings)
        if reason:
            raise SystemExit(reason)
    export_rq_key_prefix(settings)  # before anything imports rq
    if settings.env == "development" and os.environ.get("LOGINSVC_SCHEMA_CURRENT") != "1":
        # The embedded default applies migrations on start (`serve` has done it
        # already for the processes it starts: see core/serve.py).
        from loginsvc.core.migrate import upgrade_locked

        upgrade_locked(settings.database_url, settings.instance_path)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    from loginsvc.core.ids import register_url_types

    register_url_types(app)  # before any route: bounded ids, NUL-free path segments
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_keys[0] if settings.secret_keys else None,
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        JSON_SORT_KEYS=False,
        TESTING=settings.env == "testing",
    )
    if settings.trust_proxy:
        # Behind N trusted proxies: the client address (rate limits, devices) and
        # scheme come from their X-Forwarded-* headers.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trust_proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]
    register_logging(app, settings)
    from loginsvc.core.signed_calls import warn_unusable_secrets

    warn_unusable_secrets(
        {
            "WEBHOOK_SECRETS": settings.webhook_secrets,
            "WORDPRESS_SSO_SECRETS": settings.wordpress_sso_secrets,
        }
    )
    register_extensions(app, settings)
    from loginsvc.events.outbox import install as install_event_outbox

    install_event_outbox()
    register_blueprints(app)
    register_error_handlers(app)
    register_request_hooks(app)
    from loginsvc.core.input_guard import register_input_guard

    register_input_guard(app, max_body=MAX_BODY)
    return app


def register_logging(app: Flask, settings: Settings) -> None:
    from loginsvc.ops.observability import configure_logging

    configure_logging(json_lines=settings.log_json)


def register_extensions(app: Flask, settings: Settings) -> None:
    from loginsvc.auth.tokens import LoginTokens
    from loginsvc.core.embedded import ensure_embedded_redis
    from loginsvc.core.extensions import RedisHolder, db, mail
    from loginsvc.core.store import Store

    db.init_app(app, settings.database_url)
    redis_settings = settings
    if settings.embedded_redis:
        url, _ = ensure_embedded_redis(settings.instance_path, daemonize=True)
        redis_settings = settings.replace(redis_url=url)
    RedisHolder().init_app(app, redis_settings)
    app.extensions["loginsvc.core.store"] = Store(
        app.extensions["loginsvc.redis"], settings.redis_prefix
    )
    app.extensions["loginsvc.auth.tokens"] = LoginTokens(
        settings.secret_keys, max_age=settings.login_link_max_age
    )
    app.config.update(
        MAIL_SERVER=settings.mail_server or "localhost",
        MAIL_PORT=settings.mail_port,
        MAIL_USERNAME=settings.mail_username or None,
        MAIL_PASSWORD=settings.mail_password or None,
        MAIL_USE_TLS=settings.mail_use_tls,
        MAIL_USE_SSL=settings.mail_use_ssl,
        MAIL_DEFAULT_SENDER=settings.mail_default_sender,
        MAIL_TIMEOUT=settings.mail_timeout,
        MAIL_SUPPRESS_SEND=False,  # tests read real mail from a real SMTP sink
    )
    mail.init_app(app)
    register_i18n(app)


def register_i18n(app: Flask) -> None:
    from loginsvc.core import i18n
    from loginsvc.core.render import page_locale

    i18n.init_app(
        app, locale_selector=page_locale, extra_directory=app.config["SETTINGS"].translations_dir
    )


def register_blueprints(app: Flask) -> None:
    from loginsvc.admin import branding_views as branding
    from loginsvc.admin import log_views as admin_log
    from loginsvc.admin import views as admin
    from loginsvc.admin.console import pages as console
    from loginsvc.auth import (
        attempt_pages,
        attempt_views,
        oidc_pages,
        passkey_views,
        security_pages,
    )
    from loginsvc.auth import pages as views
    from loginsvc.auth import views as auth
    from loginsvc.core import codes as _codes  # noqa: F401  (declares the error codes)
    from loginsvc.customers import email_pages, email_views
    from loginsvc.customers import pages as account
    from loginsvc.customers import views as me
    from loginsvc.events import views as events
    from loginsvc.ops import health
    from loginsvc.ops import views as ops
    from loginsvc.orders import views as orders
    from loginsvc.orders.platforms import views as platforms
    from loginsvc.sso import views as sso
    from loginsvc.storefront import views as storefront

    for module in (
        health,
        auth,
        orders,
        platforms,
        me,
        admin,
        admin_log,
        events,
        sso,
        storefront,
        views,
        account,
        console,
        branding,
        ops,
    ):
        app.register_blueprint(module.bp)
    for extra in (passkey_views, oidc_pages, security_pages):
        app.register_blueprint(extra.bp)
    for module in (attempt_views, attempt_pages, email_views, email_pages):
        app.register_blueprint(module.bp)


def register_error_handlers(app: Flask) -> None:
    from loginsvc.core.errors import register_error_handlers as register

    register(app)


def register_request_hooks(app: Flask) -> None:
    from loginsvc.ops.observability import register_request_hooks as register

    register(app)


__all__ = ["create_app", "MAX_BODY"]
