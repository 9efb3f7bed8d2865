"""What the account mode and a customer's status allow: checkout, approval, blocking.

The sign-in half of the modes lives in services/login.py; this module is the
shop owner's half.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loginsvc.admin.shop_settings import account_mode, all_settings, put_settings
from loginsvc.auth import sessions
from loginsvc.core import notifications
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import InvalidRequest
from loginsvc.core.extensions import db
from loginsvc.core.models import Customer
from loginsvc.customers.service import find_by_email

Status = Literal["active", "pending", "blocked"]
AfterCommit = Callable[[], Any]


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
    if account_mode() == "required":
        if customer is None or not customer.has_account:
            return {"allowed": False, "reason": "account_required"}
        if customer.status == "pending":
            return {"allowed": False, "reason": "pending"}
    return {"allowed": True, "reason": None}


def change_status(customer: Customer, new: str) -> list[AfterCommit]:
    """Set the status; returns what must happen once the change is committed.

    Approval (pending → active) e-mails the customer; blocking ends every
    session at once (the sign-in checks refuse blocked customers from then on).
    """
    old = customer.status
    if old == new:
        return []
    customer.status = new
    actions: list[AfterCommit] = []
    if new == "blocked":
        cid = customer.id
        actions.append(lambda: sessions.end_all(cid))
    elif new == "active" and old == "pending" and customer.has_account:
        actions.append(lambda: notifications.send_approved(customer))
    return actions


def run_after_commit(actions: list[AfterCommit]) -> None:
    for action in actions:
        action()
