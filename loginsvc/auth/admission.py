"""Who may come in: the one admission policy, and the shop owner's side of it.

`admit()` alone decides whether an address may sign in or get an account, from
the account mode and what is known of the customer; every way in (e-mailed
link, WordPress SSO, order ingest, admin create, and the ways to come) asks it
and acts on its typed answer. The owner's side — settings, checkout
eligibility, approving and blocking — lives below it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loginsvc.admin.shop_settings import AccountMode, account_mode, all_settings, put_settings
from loginsvc.auth import sessions
from loginsvc.core import notifications
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer
from loginsvc.core.runtime import now
from loginsvc.customers.service import find_by_email

Status = Literal["active", "pending", "blocked"]
AfterCommit = Callable[[], Any]

# -- the policy ------------------------------------------------------------------

# How someone comes in. "link", "sso", "passkey" and "oidc" sign a person in
# (the address is proven, vouched for by WordPress or by the OpenID provider, or
# the passkey is the account's own); "order" and "admin" only give an address an
# account (the shop's backend or its owner vouches).
Way = Literal["link", "sso", "passkey", "oidc", "order", "admin"]
SIGN_IN_WAYS: frozenset[str] = frozenset({"link", "sso", "passkey", "oidc"})


class KnownCustomer(Protocol):
    """What the policy reads of a customer (a Customer row satisfies it)."""

    @property
    def status(self) -> str: ...

    @property
    def has_account(self) -> bool: ...


@dataclass(frozen=True)
class Refused:
    """No: the address may not sign in (or get an account) this way, and why."""

    code: Literal["accounts_disabled", "account_blocked", "account_pending"]
    detail: str

    def error(self) -> ProblemError:
        return ProblemError(403, self.code, self.detail)


@dataclass(frozen=True)
class Admitted:
    """Yes. `open_account`: the address has no account yet and the caller opens
    one now with `status`; a `pending` account waits for the owner's approval
    and signs nobody in until then."""

    open_account: bool
    status: Literal["active", "pending"]

    @property
    def signs_in(self) -> bool:
        return self.status == "active"


Admission = Admitted | Refused

DISABLED = Refused("accounts_disabled", "Customer accounts are turned off.")
BLOCKED = Refused("account_blocked", "This account is blocked.")
PENDING = Refused("account_pending", "This account is waiting for the shop's approval.")


def admit(*, way: Way, mode: AccountMode, customer: KnownCustomer | None) -> Admission:
    """The one decision: may this address come in this way? Pure; no I/O.

    - A blocked customer never comes in, whatever the mode or the way.
    - `disabled` means no customer accounts: nobody signs in and none opens
      (an order is kept as a guest order, the owner's create keeps a record).
    - An account waiting for approval does not sign in; it still takes orders.
    - An address without an account gets one: `pending` in `required` mode
      (or when the owner marked the record pending), else `active`; the owner
      vouches for whom they create, so theirs opens active in every mode.
    """
    if customer is not None and customer.status == "blocked":
        return BLOCKED
    if mode == "disabled":
        return DISABLED
    if customer is not None and customer.has_account:
        if customer.status == "pending":
            return PENDING if way in SIGN_IN_WAYS else Admitted(False, "pending")
        return Admitted(False, "active")
    if way == "admin":
        return Admitted(True, "active")
    marked_pending = customer is not None and customer.status == "pending"
    return Admitted(True, "pending" if mode == "required" or marked_pending else "active")


def _without_null(schema: dict[str, Any]) -> None:
    options = [o for o in schema.pop("anyOf", []) if o.get("type") != "null"]
    if options:
        schema.update(options[0])
    schema.pop("default", None)


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Absent is allowed, null is not (below): the document must not offer null either.
    account_mode: Literal["disabled", "optional", "required"] | None = Field(
        default=None, json_schema_extra=_without_null
    )

    @field_validator("account_mode")
    @classmethod
    def _given_means_a_mode(cls, value: str | None) -> str | None:
        # Absent leaves the mode alone; an explicit null is not a mode (CONTRACT §7).
        if value is None:
            raise ValueError("must be disabled, optional or required")
        return value


class EligibilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, json_schema_extra={"format": "email"})


def get_settings() -> dict[str, Any]:
    return all_settings()


def update_settings(body: SettingsIn) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    return put_settings(values) if values else all_settings()


def checkout_eligibility(email: str) -> dict[str, Any]:
    """May this address check out? Blocked never; in `required` mode only active accounts."""
    try:
        address = parse_email(email)
    except ValueError as exc:
        raise InvalidRequest(
            "The e-mail address is not valid.", [{"field": "email", "message": str(exc)}]
        ) from None
    customer = find_by_email(db.session, address.norm)
    db.session.rollback()
    if customer is not None and customer.status == "blocked":
        return {"allowed": False, "reason": "blocked"}
    # Pending means not yet approved by the shop, in every mode.
    if customer is not None and customer.status == "pending":
        return {"allowed": False, "reason": "pending"}
    if account_mode() == "required" and (customer is None or not customer.has_account):
        return {"allowed": False, "reason": "account_required"}
    return {"allowed": True, "reason": None}


def change_status(customer: Customer, new: str) -> list[AfterCommit]:
    """Set the status; returns what must happen once the change is committed.

    Approval (pending → active) e-mails the customer; blocking ends every
    session at once (the sign-in checks refuse blocked customers from then on)
    and voids every login link issued before it, so lifting the block later
    does not bring those links back: the customer asks for a new one.
    """
    old = customer.status
    if old == new:
        return []
    customer.status = new
    actions: list[AfterCommit] = []
    if new == "blocked":
        void_links_issued_before_now(customer)
        cid = customer.id
        actions.append(lambda: sessions.end_all(cid))
    elif new == "active" and old == "pending" and customer.has_account:
        actions.append(lambda: notifications.send_approved(customer))
    return actions


def run_after_commit(actions: list[AfterCommit]) -> None:
    for action in actions:
        action()


def void_links_issued_before_now(customer: Customer) -> None:
    """Login links signed up to this instant stop working (block, logout-all)."""
    customer.links_valid_after = dt.datetime.fromtimestamp(now(), dt.UTC)
