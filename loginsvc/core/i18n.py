"""Locales, and gettext for every text shown to people (Flask-Babel + catalogs).

Write texts in English where they are used: `_("Sign in")` in Python and
`{{ _("Sign in") }}` in templates; translations live in gettext catalogs, one
`.po` file per locale (see the Makefile's `i18n-*` targets).
"""

from __future__ import annotations

from flask import has_request_context, request
from flask_babel import gettext, lazy_gettext, ngettext

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


_ = gettext

__all__ = [
    "SUPPORTED",
    "DEFAULT",
    "normalise_locale",
    "pick_locale",
    "gettext",
    "ngettext",
    "lazy_gettext",
    "_",
]
