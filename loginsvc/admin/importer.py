"""Applying an import: validate every row first, then write it all in one transaction.

Every row is checked before the first write (a row that fails is reported as
skipped, with its reason). The writes then go in batches of 1,000 inside ONE
transaction, committed once at the end: the import applies completely (every
row the report calls created or updated) or not at all — a database outage
half-way leaves nothing behind (503), never the first batches. Should the
database still refuse a row (a concurrent change of the same customer
number), the transaction is rolled back and the whole import is written again
row by row, each in a savepoint, so that row alone is skipped.

A dry run takes exactly the same path and rolls back instead of committing,
so its report is the report the real run would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from loginsvc.admin import groups
from loginsvc.admin.customers import Applied, CustomerFields, apply_fields, record_consent
from loginsvc.admin.import_export import BATCH, csv_rows, json_rows
from loginsvc.admin.shop_settings import AccountMode, account_mode
from loginsvc.auth import admission as account_modes
from loginsvc.core.emails import parse_email
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db, is_backend_outage
from loginsvc.core.models import Customer, Group, utcnow
from loginsvc.core.spec import validation_errors


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False


@dataclass
class Row:
    row: int
    email: str | None
    norm: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    has_account: bool | None = None
    status: str = "skipped"
    reason: str | None = None
    valid: bool = False

    def out(self) -> dict[str, Any]:
        return {"row": self.row, "email": self.email, "status": self.status, "reason": self.reason}


def prepare(i: int, values: dict[str, Any] | str, seen: set[str]) -> Row:
    """Validate one row without the database: a Row to apply, or one already skipped."""
    if isinstance(values, str):
        return Row(row=i, email=None, reason=values)
    email = values.pop("email", None)
    row = Row(row=i, email=email.strip()[:320] if isinstance(email, str) else None)
    try:
        address = parse_email(email)
    except ValueError as exc:
        row.reason = f"email: {exc}"
        return row
    if address.norm in seen:
        row.reason = "email: the same address is in an earlier row"
        return row
    has_account = values.pop("has_account", None)
    if has_account is not None and not isinstance(has_account, bool):
        row.reason = "has_account: expected true or false"
        return row
    try:
        fields = CustomerFields.model_validate(values)
        for name in fields.groups or []:
            groups.check_group_name(name)
    except ValidationError as exc:
        first = validation_errors(exc)[0]
        row.reason = f"{first['field']}: {first['message']}"
        return row
    except ValueError as exc:
        row.reason = f"groups: {exc}"
        return row
    seen.add(address.norm)
    row.email, row.norm, row.has_account = address.display, address.norm, has_account
    row.data = fields.model_dump(exclude_unset=True)
    row.valid = True
    return row


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class _Batch:
    """One transaction's worth of rows."""

    def __init__(self, rows: list[Row], claimed: dict[str, str]) -> None:
        self.rows = rows
        self.claimed = claimed  # customer numbers given earlier in this file → e-mail

    def apply(self, *, careful: bool) -> list[account_modes.AfterCommit]:
        todo = [r for r in self.rows if r.valid]
        for r in todo:
            r.status, r.reason = "skipped", None
        norms = [r.norm for r in todo]
        existing = (
            {
                c.email_norm: c
                for c in db.session.scalars(select(Customer).where(Customer.email_norm.in_(norms)))
            }
            if norms
            else {}
        )
        numbers = {r.data["customer_number"] for r in todo if r.data.get("customer_number")}
        owners: dict[str, str] = (
            dict(
                db.session.execute(  # type: ignore[arg-type]
                    select(Customer.customer_number, Customer.email_norm).where(
                        Customer.customer_number.in_(numbers)
                    )
                ).all()
            )
            if numbers
            else {}
        )
        # In file order: of "New" and "NEW" the first spelling names the new group.
        names = list(dict.fromkeys(n for r in todo for n in (r.data.get("groups") or [])))
        lookup = groups.resolve_names(names, create_missing=True)
        mode = account_mode()
        actions: list[account_modes.AfterCommit] = []
        consents: list[Customer] = []
        for r in todo:
            number = r.data.get("customer_number")
            owner = (self.claimed.get(number) or owners.get(number)) if number else None
            if owner is not None and owner != r.norm:
                r.status, r.reason = "skipped", "customer_number: taken by another customer"
                continue
            if careful:
                try:
                    with db.session.begin_nested():
                        applied = self._one(r, existing.get(r.norm), mode, lookup)
                        db.session.flush()
                except DBAPIError as exc:
                    if is_backend_outage(exc):
                        raise
                    r.status, r.reason = "skipped", _refused(exc)
                    continue
            else:
                applied = self._one(r, existing.get(r.norm), mode, lookup)
            if number:
                self.claimed[number] = r.norm
            actions += applied.actions
            if applied.consent_changed:
                consents.append(applied.customer)
        db.session.flush()
        for c in consents:
            record_consent(c, source="import")
        db.session.flush()
        return actions

    @staticmethod
    def _one(r: Row, c: Customer | None, mode: AccountMode, lookup: dict[str, Group]) -> Applied:
        now = utcnow()
        # The owner vouches for whom they import: the one admission policy decides.
        decision = account_modes.admit(way="admin", mode=mode, customer=c)
        admitted = isinstance(decision, account_modes.Admitted) and decision.open_account
        if c is None:
            opens = admitted and r.has_account is not False
            c = Customer(
                email=r.email,
                email_norm=r.norm,
                status="active",
                has_account=opens,
                account_created_at=now if opens else None,
                newsletter=False,
                order_count=0,
                total_spent=Decimal(0),
                totals={},
                created_at=now,
                updated_at=now,
            )
            db.session.add(c)
            r.status = "created"
        else:
            if r.has_account and admitted:
                c.has_account, c.account_created_at = True, now
            c.updated_at = now
            r.status = "updated"
        return apply_fields(c, r.data, group_lookup=lookup)


def _refused(exc: DBAPIError) -> str:
    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
    return f"the database refused this row: {first}"[:300]


def _write(rows: list[Row]) -> list[account_modes.AfterCommit]:
    """All rows in the current transaction (no commit); row by row after a refusal."""
    for careful in (False, True):
        claimed: dict[str, str] = {}
        actions: list[account_modes.AfterCommit] = []
        try:
            for chunk in _chunks(rows, BATCH):
                actions += _Batch(chunk, claimed).apply(careful=careful)
                db.session.expunge_all()  # flushed: memory stays flat on any size
            return actions
        except DBAPIError as exc:
            db.session.rollback()
            if careful or is_backend_outage(exc):
                raise
    raise AssertionError("unreachable")


def run_import(raw: bytes, *, mimetype: str, dry_run: bool) -> dict[str, Any]:
    if mimetype == "text/csv":
        _, values = csv_rows(raw)
    elif mimetype == "application/json":
        _, values = json_rows(raw)
    else:
        raise ProblemError(
            415,
            "unsupported_media_type",
            "Send text/csv (with a header row) or application/json (an array).",
        )
    seen: set[str] = set()
    report = [prepare(i, v, seen) for i, v in values]  # every row checked before any write
    db.session.rollback()
    try:
        actions = _write(report)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        db.session.expunge_all()
        if is_backend_outage(exc):
            raise
        raise ProblemError(
            409, "conflict", "The data changed during the import; nothing was imported. Retry."
        ) from None
    if not dry_run:
        account_modes.run_after_commit(actions)
    db.session.expunge_all()
    counts = {k: sum(1 for r in report if r.status == k) for k in ("created", "updated", "skipped")}
    return {"dry_run": dry_run, **counts, "rows": [r.out() for r in report]}
