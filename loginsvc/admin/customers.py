"""The shop owner's customers: the admin object; create, edit, delete (lists: customer_search)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loginsvc.admin import groups
from loginsvc.admin.shop_settings import account_mode
from loginsvc.auth import admission as account_modes
from loginsvc.core import notifications
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import LocaleCode
from loginsvc.core.models import ConsentEvent, Customer, Group, Order, utcnow
from loginsvc.core.plain_text import MultiLine, SingleLine
from loginsvc.customers.service import country_of, refresh_search_text

# One line of text (no control characters: the rule of loginsvc.core.plain_text).
Str50 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), SingleLine]
Str64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), SingleLine]
Str100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), SingleLine]
Str200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SingleLine]
Str300 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), SingleLine]
Str320 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), SingleLine]
Text = Annotated[str, StringConstraints(max_length=10000), MultiLine]
Locale = LocaleCode  # a language with a catalog (core/i18n.py)
Address = Annotated[dict[Str50, Str300 | None], Field(max_length=30)]


class AddressesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    billing: Address | None = None
    shipping: Address | None = None


class CustomerFields(BaseModel):
    """Fields the shop owner may set (create, patch and import share them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Str200 | None = None
    company: Str200 | None = None
    phone: Str50 | None = None
    customer_number: Str64 | None = None
    locale: Locale | None = None
    newsletter: bool | None = None
    notes: Text | None = None
    groups: list[Str100] | None = Field(default=None, max_length=100)
    addresses: AddressesIn | None = None
    status: Literal["active", "pending", "blocked"] | None = None

    @field_validator("name", "company", "phone", "customer_number", "notes")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None


class CustomerCreate(CustomerFields):
    email: Str320 = Field(json_schema_extra={"format": "email"})
    send_invite: bool = False


class CustomerPatch(CustomerFields):
    email: Str320 | None = None  # the owner may move a customer to another address (§5a)


def admin_customer_out(c: Customer) -> dict[str, Any]:
    from loginsvc.customers.schemas import iso, totals_out

    return {
        "id": c.id,
        "email": c.email,
        "name": c.name,
        "company": c.company,
        "phone": c.phone,
        "customer_number": c.customer_number,
        "newsletter": c.newsletter,
        "has_account": c.has_account,
        "status": c.status,
        "groups": sorted(g.name for g in c.groups),
        "notes": c.notes,
        "order_count": c.order_count,
        "totals": totals_out(c.totals),
        "last_order_at": iso(c.last_order_at),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "locale": c.locale,
        "country": c.country,
        "addresses": {"billing": c.billing_address, "shipping": c.shipping_address},
        "account_created_at": iso(c.account_created_at),
    }


# -- one customer ------------------------------------------------------------------


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise ProblemError(404, "customer_not_found", "No such customer.")
    return customer


def _number_taken(number: str) -> ProblemError:
    return ProblemError(409, "conflict", f"The customer number {number!r} is taken.")


def _check_number(number: str | None, *, own_id: int | None) -> None:
    if number is None:
        return
    other = db.session.scalars(
        select(Customer.id).where(Customer.customer_number == number)
    ).first()
    if other is not None and other != own_id:
        raise _number_taken(number)


@dataclass
class Applied:
    customer: Customer
    actions: list[account_modes.AfterCommit] = field(default_factory=list)
    consent_changed: bool = False


def apply_fields(
    c: Customer, data: dict[str, Any], *, group_lookup: dict[str, Group] | None = None
) -> Applied:
    """Set the given (validated) fields on a customer; no flush, no commit.

    The caller records a ConsentEvent when `consent_changed` (once the row has an id)
    and runs `actions` after its commit.
    """
    out = Applied(customer=c)
    for name in ("name", "company", "phone", "customer_number", "locale", "notes"):
        if name in data:
            setattr(c, name, data[name])
    if "addresses" in data:
        # Only the addresses given change; `"addresses": null` clears both.
        addresses = data["addresses"]
        if addresses is None or "billing" in addresses:
            c.billing_address = (addresses or {}).get("billing")
        if addresses is None or "shipping" in addresses:
            c.shipping_address = (addresses or {}).get("shipping")
        c.country = country_of(c)
    if data.get("newsletter") is not None and data["newsletter"] != bool(c.newsletter):
        c.newsletter = data["newsletter"]
        out.consent_changed = True
    if data.get("groups") is not None:
        names = list(dict.fromkeys(n for n in data["groups"] if n))
        resolved = group_lookup if group_lookup is not None else groups.resolve_names(names)
        # "VIP" and "vip" name one group: it is joined once.
        c.groups = list(dict.fromkeys(resolved[n] for n in names))
    refresh_search_text(c)
    if data.get("status") is not None:
        if c.id is None:
            c.status = data["status"]
            if c.status == "blocked":
                # Links sent to the address before it had a row are void too.
                account_modes.void_links_issued_before_now(c)
        else:
            out.actions = account_modes.change_status(c, data["status"])
    return out


def record_consent(c: Customer, *, source: str) -> None:
    db.session.add(ConsentEvent(customer_id=c.id, newsletter=c.newsletter, source=source))


def _conflict_after_race(exc: IntegrityError, number: str | None) -> ProblemError:
    db.session.rollback()
    if number and "customer_number" in str(exc.orig):
        return _number_taken(number)
    return ProblemError(409, "conflict", "A customer with this e-mail or number exists already.")


def create_customer(body: CustomerCreate) -> Customer:
    try:
        address = parse_email(body.email)
    except ValueError as exc:
        raise InvalidRequest(
            "The e-mail address is not valid.", [{"field": "email", "message": str(exc)}]
        ) from None
    # The owner vouches for the person, so the account opens active; when the
    # policy refuses (accounts are off) only a guest record is kept.
    decision = account_modes.admit(way="admin", mode=account_mode(), customer=None)
    opens = isinstance(decision, account_modes.Admitted) and decision.open_account
    if body.send_invite and not opens:
        raise ProblemError(
            403, "accounts_disabled", "Customer accounts are turned off; no invitation can be sent."
        )
    existing = db.session.scalars(
        select(Customer.id).where(Customer.email_norm == address.norm)
    ).first()
    if existing is not None:
        raise ProblemError(
            409,
            "conflict",
            "A customer with this e-mail address exists.",
            extra={"customer_id": existing},
        )
    _check_number(body.customer_number, own_id=None)
    now = utcnow()
    c = Customer(
        email=address.display,
        email_norm=address.norm,
        status="active",
        has_account=opens,
        account_created_at=None,
        newsletter=False,
        order_count=0,
        total_spent=Decimal(0),
        totals={},
        created_at=now,
        updated_at=now,
    )
    if c.has_account:
        c.account_created_at = now
    db.session.add(c)
    data = body.model_dump(exclude_unset=True, exclude={"email", "send_invite"})
    try:
        applied = apply_fields(c, data)
        db.session.flush()
        if applied.consent_changed:
            record_consent(c, source="admin")
        db.session.commit()
    except IntegrityError as exc:
        raise _conflict_after_race(exc, body.customer_number) from None
    if body.send_invite:
        notifications.send_invite(c)
    return c


def update_customer(customer_id: int, body: CustomerPatch) -> Customer:
    c = get_customer(customer_id)
    data = body.model_dump(exclude_unset=True)
    if "customer_number" in data:
        _check_number(data["customer_number"], own_id=c.id)
    old_email = None
    if data.get("email") is not None:
        from loginsvc.customers import email_change

        old_email = email_change.set_email(c, data.pop("email"))
    applied = apply_fields(c, data)
    if applied.consent_changed:
        record_consent(c, source="admin")
    c.updated_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError as exc:
        raise _conflict_after_race(exc, data.get("customer_number")) from None
    account_modes.run_after_commit(applied.actions)
    if old_email is not None and c.has_account:
        from loginsvc.customers.email_change import notify_old_address

        notify_old_address(c, old_email=old_email)
    return c


def delete_customer(
    customer_id: int, *, key_name: str | None = None, owner: str | None = None
) -> None:
    """Irreversible; the same rules as a shopper deleting their own account.

    `key_name` is the admin API key that asked, `owner` the console user who did;
    the owner's notice says which.
    """
    from loginsvc.customers.account_data import delete_customer_data

    by, actor = ("console", owner) if owner else ("admin", key_name)
    if delete_customer_data(customer_id, by=by, actor=actor) is None:
        raise ProblemError(404, "customer_not_found", "No such customer.")


def customer_orders(
    customer_id: int, *, limit: int, cursor: str | None
) -> tuple[list[Order], str | None]:
    from loginsvc.orders.service import list_orders_for

    get_customer(customer_id)
    return list_orders_for(customer_id=customer_id, limit=limit, cursor=cursor)
