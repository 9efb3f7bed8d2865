"""Locales, and gettext for every text shown to people (Flask-Babel + catalogs).

Add a text: write it in English where it is used — `_("Sign in")` in Python
(`lazy_gettext` at import time), `{{ _("Sign in") }}` in templates, `ngettext` when
a number is shown — then `make i18n-extract i18n-update` and fill its msgstr in
every `loginsvc/translations/<lang>/LC_MESSAGES/messages.po`.
Add a language: `pybabel init -i loginsvc/translations/messages.pot -d loginsvc/translations
-l <lang>`, translate the .po; that catalog being present is what makes it offered.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Annotated, Any

from babel.dates import format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, get_locale, gettext, lazy_gettext, ngettext, pgettext
from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

DEFAULT = "en"  # the language of the msgids: it needs no catalog
DOMAIN = "messages"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "translations"


def catalog_locales(directories: Iterable[str | Path]) -> tuple[str, ...]:
    """English first, then every language with a `<lang>/LC_MESSAGES/messages.po`."""
    found: set[str] = set()
    for directory in directories:
        root = Path(directory)
        if root.is_dir():
            found.update(
                sub.name
                for sub in root.iterdir()
                if (sub / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
            )
    return (DEFAULT, *sorted(found - {DEFAULT}))


# The languages of the shipped catalogs (also the API document's enum). A running
# app may offer more: see supported_locales().
SUPPORTED = catalog_locales([CATALOG_DIR])


@dataclass(frozen=True)
class Catalogs:
    directories: tuple[str, ...]  # searched in order: the first that has a text wins
    locales: tuple[str, ...]


def supported_locales() -> tuple[str, ...]:
    """The languages this app has catalogs for (the shipped ones outside an app)."""
    if has_app_context():
        cats = current_app.extensions.get("loginsvc.i18n")
        if cats is not None:
            return tuple(cats.locales)
    return SUPPORTED


def normalise_locale(value: str | None) -> str | None:
    if not value:
        return None
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in supported_locales() else None


def pick_locale(explicit: str | None = None, fallback: str | None = None) -> str:
    """Explicit choice, then the browser's Accept-Language, then the fallback, then English."""
    loc = normalise_locale(explicit)
    if loc:
        return loc
    if has_request_context():
        best = request.accept_languages.best_match(supported_locales())
        if best:
            return best
    return normalise_locale(fallback) or DEFAULT


def duration_in_words(seconds: int, locale: str | None = None) -> str:
    """ "2 weeks", "15 minutes", "1 hour": a setting's duration said in the page's language."""
    loc = locale or str(get_locale() or DEFAULT)
    return format_timedelta(dt.timedelta(seconds=seconds), locale=loc, format="long")


def _known_locale(value: str) -> str:
    if value not in supported_locales():
        expected = " or ".join(
            [", ".join(repr(x) for x in supported_locales()[:-1]), repr(supported_locales()[-1])]
        )
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return value


# A language code the service has a catalog for (validated against the running app).
LocaleCode = Annotated[
    str, AfterValidator(_known_locale), WithJsonSchema({"type": "string", "enum": list(SUPPORTED)})
]


# -- catalogs ---------------------------------------------------------------------
# The .po files are the only form of the catalogs in the repository and the wheel;
# they are compiled in memory when a language is first used (a few milliseconds,
# once per process). Committed .mo files would be a second copy that goes stale
# when someone edits a .po and forgets `make i18n-compile`, and binary files that
# cannot be merged; compiling at load time makes a fresh clone, `make run` and an
# installed wheel use exactly the translations that are in the .po files.


def _compile(path: str) -> Translations:
    with open(path, "rb") as fp:
        catalog = read_po(fp, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)  # as `pybabel compile`: fuzzy entries stay English
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


@functools.lru_cache(maxsize=64)
def load_translations(directories: tuple[str, ...], locale: str) -> NullTranslations:
    """The catalogs for `locale` (once per process); where directories disagree the first wins."""
    paths = [os.path.join(d, locale, "LC_MESSAGES", f"{DOMAIN}.po") for d in directories]
    found = [_compile(path) for path in paths if os.path.isfile(path)]
    if not found:
        return NullTranslations()
    merged = Translations(domain=DOMAIN)
    for translations in reversed(found):  # merge() lets the later one win
        merged.merge(translations)
    merged.plural = found[0].plural  # merge() does not carry the plural rule
    return merged


class _PoDomain(Domain):
    """Flask-Babel's domain, reading the .po catalogs instead of compiled .mo files."""

    def get_translations(self) -> NullTranslations:
        if not has_app_context():
            return NullTranslations()
        locale = get_locale()
        cats: Catalogs = current_app.extensions["loginsvc.i18n"]
        return load_translations(cats.directories, locale.language if locale else DEFAULT)


class _PoBabel(Babel):
    @functools.cached_property
    def domain_instance(self) -> _PoDomain:
        return _PoDomain(domain=DOMAIN)


def init_app(app: Flask, *, locale_selector: Any, extra_directory: str = "") -> None:
    """Flask-Babel on the shipped catalogs (after an operator's own folder, if given)."""
    directories = tuple(str(Path(d).resolve()) for d in (extra_directory, CATALOG_DIR) if d)
    app.extensions["loginsvc.i18n"] = Catalogs(
        directories=directories, locales=catalog_locales(directories)
    )
    _PoBabel(app, locale_selector=locale_selector, default_translation_directories=directories[0])


_ = gettext

__all__ = [
    "SUPPORTED",
    "DEFAULT",
    "LocaleCode",
    "catalog_locales",
    "supported_locales",
    "normalise_locale",
    "pick_locale",
    "duration_in_words",
    "init_app",
    "gettext",
    "ngettext",
    "pgettext",
    "lazy_gettext",
    "_",
]
