"""The shopper's wishlist: product ids with an optional snapshot of what was seen."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.iso_codes import CURRENCIES
from loginsvc.core.models import Customer, WishlistItem, utcnow
from loginsvc.core.money import format_amount, parse_amount
from loginsvc.core.plain_text import CONTROL
from loginsvc.customers.profile import _clean

CAP = 500
PRODUCT_ID_MAX = 128


def check_product_id(product_id: str) -> str:
    """Path ids are opaque to us; only length and control characters are refused."""
    if not product_id.strip() or len(product_id) > PRODUCT_ID_MAX or CONTROL.search(product_id):
        raise InvalidRequest(
            "The product id is not valid.",
            [{"field": "product_id", "message": f"Use 1 to {PRODUCT_ID_MAX} visible characters."}],
        )
    return product_id


def _web_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError("url", "Use an http:// or https:// address.")
    return value


def _currency(value: str | None) -> str | None:
    if value is not None and value not in CURRENCIES:
        raise PydanticCustomError("currency", "Use an ISO 4217 code such as EUR.")
    return value


Url = Annotated[
    Annotated[str, StringConstraints(max_length=2048)] | None,
    BeforeValidator(_clean),
    AfterValidator(_web_url),
]


class Snapshot(BaseModel):
    """What the shop showed when the product was saved (all optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[
        Annotated[str, StringConstraints(max_length=300)] | None, BeforeValidator(_clean)
    ] = None
    url: Url = None
    image_url: Url = None
    price: str | None = Field(
        default=None, max_length=40, description='a decimal string such as "59.90"'
    )
    currency: Annotated[str | None, AfterValidator(_currency)] = Field(
        default=None, description="ISO 4217, needed with a price"
    )

    @model_validator(mode="after")
    def _price_needs_currency(self) -> Snapshot:
        if self.price is None:
            return self
        if self.currency is None:
            raise PydanticCustomError("currency", "A price needs its currency.")
        try:
            if parse_amount(self.price, self.currency) < 0:
                raise ValueError("cannot be negative")
        except ValueError as exc:
            raise PydanticCustomError(
                "price", "The price {reason}.", {"reason": str(exc)}
            ) from None
        return self

    def values(self) -> dict[str, Any]:
        data = self.model_dump()
        if self.price is not None:
            data["price"] = parse_amount(self.price, self.currency or "")
        return data


def item_out(item: WishlistItem) -> dict[str, Any]:
    from loginsvc.customers.schemas import iso

    return {
        "product_id": item.product_id,
        "name": item.name,
        "url": item.url,
        "image_url": item.image_url,
        "price": None
        if item.price is None or not item.currency
        else format_amount(item.price, item.currency),
        "currency": item.currency,
        "added_at": iso(item.added_at),
    }


def list_items(*, customer_id: int) -> list[WishlistItem]:
    """All items, newest first (the cap keeps this bounded)."""
    return list(
        db.session.scalars(
            select(WishlistItem)
            .where(WishlistItem.customer_id == customer_id)
            .order_by(WishlistItem.added_at.desc(), WishlistItem.id.desc())
            .limit(CAP)
        )
    )


def add_item(
    *, customer_id: int, product_id: str, snapshot: Snapshot | None
) -> tuple[WishlistItem, bool]:
    """Add once; (item, created). Again with a snapshot refreshes the snapshot."""
    check_product_id(product_id)
    sess = db.session
    dialect = sess.get_bind().dialect.name
    if dialect == "postgresql":
        # Serialise adds per shopper so the cap holds under concurrency (SQLite
        # gets the same from BEGIN IMMEDIATE).
        sess.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    values = snapshot.values() if snapshot is not None else {}
    count = (
        sess.scalar(
            select(func.count())
            .select_from(WishlistItem)
            .where(WishlistItem.customer_id == customer_id)
        )
        or 0
    )
    new_id = None
    if count < CAP:
        ins = pg_insert(WishlistItem) if dialect == "postgresql" else sqlite_insert(WishlistItem)
        # The unique (customer_id, product_id) decides between concurrent adds.
        stmt = (
            ins.values(customer_id=customer_id, product_id=product_id, added_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=["customer_id", "product_id"])
            .returning(WishlistItem.id)
        )
        new_id = sess.execute(stmt).scalar()
    item = sess.scalars(
        select(WishlistItem).where(
            WishlistItem.customer_id == customer_id, WishlistItem.product_id == product_id
        )
    ).first()
    if item is None:
        sess.rollback()
        raise ProblemError(
            409, "wishlist_full", f"The wishlist holds {CAP} items already; remove one first."
        )
    if new_id is None and snapshot is not None and snapshot.model_fields_set:
        for key in snapshot.model_fields_set | (
            {"currency"} if "price" in snapshot.model_fields_set else set()
        ):
            setattr(item, key, values[key])
    sess.commit()
    return item, new_id is not None


def remove_item(*, customer_id: int, product_id: str) -> None:
    """Idempotent: removing what is not there is fine."""
    check_product_id(product_id)
    db.session.execute(
        delete(WishlistItem).where(
            WishlistItem.customer_id == customer_id, WishlistItem.product_id == product_id
        )
    )
    db.session.commit()
