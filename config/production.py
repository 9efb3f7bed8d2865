"""What production insists on before it starts."""

from __future__ import annotations

from .default import Settings


def missing_for_production(settings: Settings) -> str | None:
    """A one-line reason production cannot start, or None when all is set."""
    missing = []
    if not settings.secret_keys:
        missing.append("SECRET_KEYS")
    elif any(len(k) < 32 for k in settings.secret_keys):
        return "loginsvc: every SECRET_KEYS entry must be at least 32 characters"
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        missing.append("DATABASE_URL")
    if not settings.redis_url and not settings.redis_sentinels:
        missing.append("REDIS_URL")
    if not settings.mail_server:
        missing.append("MAIL_SERVER")
    if not settings.mail_default_sender or "localhost" in settings.mail_default_sender:
        missing.append("MAIL_DEFAULT_SENDER")
    if not settings.public_url.startswith("https://"):
        missing.append("PUBLIC_URL (https)")
    if missing:
        return "loginsvc: production needs " + ", ".join(missing) + " (see docs/operations.md)"
    return None
