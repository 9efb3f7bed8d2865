"""Shared by the admin API tests: a client that carries an admin API key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

P = "/api/v1/admin"


def make_key(app: Any, name: str = "tests", scope: str = "admin") -> str:
    with app.app_context():
        from loginsvc.admin.api_keys import create_api_key

        return create_api_key(name=name, scope=scope)


class Admin:
    """Calls /api/v1/admin/<path> with `Authorization: Bearer <key>`."""

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    def _h(self, kw: dict[str, Any]) -> dict[str, Any]:
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"Bearer {self.key}")
        kw["headers"] = headers
        return kw

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(P + path, **self._h(kw))

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(P + path, **self._h(kw))

    def patch(self, path: str, **kw: Any) -> Any:
        return self.client.patch(P + path, **self._h(kw))

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(P + path, **self._h(kw))


@pytest.fixture(name="admin")
def admin_fixture(app: Any, client: Any) -> Admin:
    return Admin(client, make_key(app))


def add_customer(app: Any, email: str, **fields: Any) -> int:
    """A customer row straight in the database (e.g. a guest buyer from an order)."""
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Customer
        from loginsvc.customers.service import country_of, refresh_search_text

        now = dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {"status": "active", "has_account": False, "newsletter": False,
                                  "order_count": 0, "total_spent": Decimal(0), "totals": {},
                                  "created_at": now, "updated_at": now}
        values.update(fields)
        c = Customer(email=email, email_norm=email.lower(), **values)
        c.country = country_of(c)
        refresh_search_text(c)
        db.session.add(c)
        db.session.commit()
        return int(c.id)


def add_order(app: Any, customer_id: int | None, order_id: str, *, total: str = "10.00",
              currency: str = "EUR", placed_at: dt.datetime | None = None) -> None:
    with app.app_context():
        from loginsvc.core.extensions import db
        from loginsvc.core.models import Order

        db.session.add(Order(order_id=order_id, customer_id=customer_id,
                             placed_at=placed_at or dt.datetime.now(dt.UTC), status="paid",
                             currency=currency, total=Decimal(total), items=[],
                             customer_info={"name": "X"}, billing_address={"city": "Lyon"},
                             shipping_address={"city": "Lyon"}))
        db.session.commit()


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["code"] == code, body
    return body
