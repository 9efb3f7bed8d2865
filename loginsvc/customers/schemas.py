"""Shapes of the objects the API returns, as pydantic models (for the docs) and dicts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from loginsvc.core.models import Customer
from loginsvc.core.money import format_amount
from loginsvc.core.timefmt import rfc3339 as iso


class Total(BaseModel):
    currency: str
    amount: str


class Addresses(BaseModel):
    billing: dict[str, Any] | None
    shipping: dict[str, Any] | None


class CustomerOut(BaseModel):
    id: int
    email: str
    name: str | None
    phone: str | None
    company: str | None
    locale: str | None
    newsletter: bool
    addresses: Addresses
    groups: list[str]
    status: str
    created_at: str
    order_count: int
    totals: list[Total]


def totals_out(totals: dict[str, str] | None) -> list[dict[str, str]]:
    return [
        {"currency": cur, "amount": format_amount(amount, cur)}
        for cur, amount in sorted((totals or {}).items())
    ]


def customer_out(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "email": c.email,
        "name": c.name,
        "phone": c.phone,
        "company": c.company,
        "locale": c.locale,
        "newsletter": c.newsletter,
        "addresses": {"billing": c.billing_address, "shipping": c.shipping_address},
        "groups": [g.name for g in c.groups],
        "status": c.status,
        "created_at": iso(c.account_created_at or c.created_at),
        "order_count": c.order_count,
        "totals": totals_out(c.totals),
    }
