"""The gettext catalogs: every text the code uses is translated in every language."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from loginsvc.core.i18n import CATALOG_DIR, SUPPORTED, catalog_locales, load_translations

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "lazy_gettext": None}


def _read_babel_cfg() -> list[tuple[str, str]]:
    """The extraction map of babel.cfg (what `make i18n-extract` reads)."""
    method_map = []
    for line in (ROOT / "babel.cfg").read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            method, pattern = line[1:-1].split(":", 1)
            method_map.append((pattern.strip(), method.strip()))
    return method_map


@pytest.fixture(scope="module")
def used_msgids() -> set[tuple[str | None, str]]:
    """(context, msgid) of every text in the code and templates, read from the sources."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), _read_babel_cfg(), keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple | list) else message
        found.add((context, msgid))
    assert len(found) > 150  # the extraction really read the templates and the code
    return found


def _catalog(locale: str):
    with open(CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as fp:
        return read_po(fp, locale=locale)


TRANSLATED = [loc for loc in SUPPORTED if loc != "en"]


def test_the_shipped_languages_are_the_catalogs_present():
    assert SUPPORTED == ("en", "de", "es", "fr", "pl")
    assert catalog_locales([CATALOG_DIR]) == SUPPORTED


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_text_in_use_is_translated(locale, used_msgids):
    catalog = _catalog(locale)
    missing, empty = [], []
    for context, msgid in sorted(used_msgids, key=str):
        msg = catalog.get(msgid, context=context)
        if msg is None:
            missing.append((context, msgid))
            continue
        forms = msg.string if isinstance(msg.string, tuple | list) else (msg.string,)
        if msg.fuzzy or not all(forms):
            empty.append((context, msgid))
    assert missing == [], f"{locale}: no entry (run make i18n-extract i18n-update)"
    assert empty == [], f"{locale}: empty or fuzzy msgstr"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_the_placeholders_and_plural_forms(locale):
    catalog = _catalog(locale)
    assert catalog.num_plurals == get_plural(locale).num_plurals
    assert catalog.plural_expr == get_plural(locale).plural_expr
    problems = [(msg.id, [str(e) for e in errors]) for msg, errors in catalog.check()]
    assert problems == []


def test_polish_has_three_plural_forms():
    assert _catalog("pl").num_plurals == 3
    t = load_translations((str(CATALOG_DIR),), "pl")
    singular = "Your wishlist is full (%(num)d product). Remove one first."
    plural = "Your wishlist is full (%(num)d products). Remove one first."
    said = {n: t.ungettext(singular, plural, n) % {"num": n} for n in (1, 3, 22, 5, 12, 500)}
    assert said == {
        1: "Lista życzeń jest pełna (1 produkt). Najpierw usuń jeden.",
        3: "Lista życzeń jest pełna (3 produkty). Najpierw usuń jeden.",
        22: "Lista życzeń jest pełna (22 produkty). Najpierw usuń jeden.",
        5: "Lista życzeń jest pełna (5 produktów). Najpierw usuń jeden.",
        12: "Lista życzeń jest pełna (12 produktów). Najpierw usuń jeden.",
        500: "Lista życzeń jest pełna (500 produktów). Najpierw usuń jeden.",
    }


def test_every_language_has_a_name_in_itself():
    for loc in SUPPORTED:
        assert Locale.parse(loc).get_display_name(loc)


def test_no_compiled_catalogs_are_committed():
    # The .po files are compiled when they are loaded (core/i18n.py); a committed .mo
    # would be a second copy that can disagree with its .po.
    tracked = subprocess.run(["git", "ls-files", "loginsvc/translations"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert any(name.endswith("/messages.po") for name in tracked)
    assert [name for name in tracked if name.endswith(".mo")] == []
