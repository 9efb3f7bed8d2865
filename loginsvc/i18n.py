"""Locales and the short UI texts of the pages (e-mails have their own templates)."""

from __future__ import annotations

from flask import has_request_context, request

SUPPORTED = ("en", "es", "fr", "pl", "de")
DEFAULT = "en"


def normalise_locale(value: str | None) -> str | None:
    if not value:
        return None
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED else None


def pick_locale(explicit: str | None = None, fallback: str | None = None) -> str:
    """Explicit choice, then the browser's Accept-Language, then the fallback, then English."""
    loc = normalise_locale(explicit)
    if loc:
        return loc
    if has_request_context():
        best = request.accept_languages.best_match(SUPPORTED)
        if best:
            return best
    return normalise_locale(fallback) or DEFAULT
