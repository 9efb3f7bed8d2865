"""Glue between HTML forms and the account services, and locale-aware formatting.

Forms post flat strings; the services take the same schema as the JSON API, so
a form is turned into that shape here and its errors are mapped back to inputs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_currency
from pydantic import ValidationError

from loginsvc.core.i18n import lazy_gettext, supported_locales
from loginsvc.core.iso_codes import COUNTRIES
from loginsvc.customers.profile import ADDRESS_FIELDS, ProfileChange


def language_names() -> dict[str, str]:
    """Each language the service has a catalog for, named in itself ("Deutsch")."""
    names = {}
    for code in supported_locales():
        name = Locale.parse(code).get_display_name(code) or code
        names[code] = name[:1].upper() + name[1:]
    return names


# pydantic error types → short localised messages.
_ERROR_TEXTS = {
    "string_too_long": lazy_gettext("This is too long."),
    "missing": lazy_gettext("This is needed for an address."),
    "country": lazy_gettext("Choose a country from the list."),
    "phone": lazy_gettext("Use digits, spaces and + ( ) - . / only."),
    "control_chars": lazy_gettext("This contains characters that are not allowed."),
    "literal_error": lazy_gettext("Choose one of the options."),
}
_INVALID = lazy_gettext("Please check this field.")

ORDER_STATUSES = {
    "paid": lazy_gettext("Paid"),
    "pending": lazy_gettext("Pending"),
    "processing": lazy_gettext("Processing"),
    "shipped": lazy_gettext("Shipped"),
    "completed": lazy_gettext("Completed"),
    "cancelled": lazy_gettext("Cancelled"),
    "refunded": lazy_gettext("Refunded"),
}


class Formatter:
    """Dates, money and country names in the page's language."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._babel = Locale.parse(locale)

    def date(self, value: dt.datetime | str | None) -> str:
        if not value:
            return ""
        if isinstance(value, str):  # an RFC 3339 string from the serialisers
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: dt.datetime | float | None) -> str:
        if value is None:
            return ""
        if isinstance(value, float | int):
            value = dt.datetime.fromtimestamp(value, dt.UTC)
        return format_datetime(value, format="medium", tzinfo=dt.UTC, locale=self.locale) + " UTC"

    def ago(self, ts: float, now: float) -> str:
        return format_timedelta(
            dt.timedelta(seconds=ts - now), add_direction=True, threshold=1.1, locale=self.locale
        )

    def order_status(self, status: str) -> str:
        """A known order status in words; one the shop made up is shown as it came."""
        text = ORDER_STATUSES.get(status)
        return str(text) if text is not None else status

    def money(self, amount: Any, currency: str | None) -> str:
        if amount is None or not currency:
            return ""
        return format_currency(Decimal(str(amount)), currency, locale=self.locale)

    def country(self, code: str | None) -> str:
        if not code:
            return ""
        return str(self._babel.territories.get(code.upper(), code.upper()))

    def countries(self) -> list[tuple[str, str]]:
        """(code, name) sorted by the name as this language spells it."""
        return sorted(((c, self.country(c)) for c in COUNTRIES), key=lambda p: p[1].casefold())


def profile_form_values(customer: Any) -> dict[str, str]:
    """The current profile as flat form values."""
    values = {
        "name": customer.name or "",
        "phone": customer.phone or "",
        "company": customer.company or "",
        "locale": customer.locale or "",
        "newsletter": "on" if customer.newsletter else "",
    }
    for kind in ("billing", "shipping"):
        addr = getattr(customer, f"{kind}_address") or {}
        for f in ADDRESS_FIELDS:
            values[f"{kind}-{f}"] = str(addr.get(f) or "")
    return values


def parse_profile_form(form: Any) -> tuple[ProfileChange | None, dict[str, Any], dict[str, str]]:
    """(change or None, error texts by input name, the posted values)."""
    values = {k: str(form.get(k, ""))[:1000] for k in profile_form_values_keys()}
    values["newsletter"] = "on" if form.get("newsletter") else ""
    data: dict[str, Any] = {
        "name": values["name"],
        "phone": values["phone"],
        "company": values["company"],
        "newsletter": bool(values["newsletter"]),
    }
    if values["locale"]:
        data["locale"] = values["locale"]
    addresses: dict[str, Any] = {}
    for kind in ("billing", "shipping"):
        addr = {f: values[f"{kind}-{f}"] for f in ADDRESS_FIELDS}
        # An address left entirely blank means "no address".
        addresses[kind] = addr if any(v.strip() for v in addr.values()) else None
    data["addresses"] = addresses
    try:
        return ProfileChange.model_validate(data), {}, values
    except ValidationError as exc:
        errors: dict[str, Any] = {}
        for e in exc.errors(include_url=False, include_input=False):
            loc = [str(p) for p in e.get("loc", ())]
            name = "-".join(loc[1:3]) if loc[:1] == ["addresses"] else (loc[0] if loc else "")
            errors.setdefault(name, _ERROR_TEXTS.get(str(e.get("type")), _INVALID))
        return None, errors, values


def profile_form_values_keys() -> list[str]:
    keys = ["name", "phone", "company", "locale", "newsletter"]
    keys += [f"{kind}-{f}" for kind in ("billing", "shipping") for f in ADDRESS_FIELDS]
    return keys
