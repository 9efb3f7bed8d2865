"""Money as exact decimals with an ISO 4217 currency; never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 minor units that differ from 2 (the rest use 2).
_MINOR_UNITS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}

MAX_AMOUNT = Decimal("999999999999999")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def parse_amount(value: object, currency: str) -> Decimal:
    """A decimal string such as "59.90"; at most the currency's minor units."""
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "59.90"')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError('must be a decimal string such as "59.90"') from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > minor_units(currency):
        raise ValueError(f"has more decimals than {currency} allows")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError("is too large")
    return amount


def format_amount(amount: Decimal | int | str, currency: str) -> str:
    q = Decimal(1).scaleb(-minor_units(currency))
    return str(Decimal(amount).quantize(q, rounding=ROUND_HALF_EVEN))
