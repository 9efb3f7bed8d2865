"""Who may use the owner console: ADMIN_EMAIL, and the owners and staff added by command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from loginsvc.admin.models import Owner
from loginsvc.core.emails import legacy_norm, normalise, parse_email

Role = Literal["owner", "staff"]
ROLES: tuple[str, ...] = ("owner", "staff")


@dataclass(frozen=True)
class Member:
    email: str
    email_norm: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role == "owner"


def _norm(raw: str) -> tuple[str, str]:
    """(display, normalised) of an address added as owner (ValueError when unusable)."""
    address = parse_email(raw)
    return address.display, normalise(address.display)


def admin_email_norm(admin_email: str) -> str:
    """ADMIN_EMAIL compared as every address is; an operator's address the validator
    refuses (a test domain such as .test) is still theirs, compared lower-cased."""
    try:
        return normalise(admin_email)
    except ValueError:
        return legacy_norm(admin_email)


def find_member(session: Session, *, email: str, admin_email: str) -> Member | None:
    """The console member with this address, or None. ADMIN_EMAIL is always an owner."""
    if not isinstance(email, str) or not email.strip() or len(email) > 320:
        return None
    try:
        norm = normalise(email)
    except ValueError:
        norm = legacy_norm(email)  # only ADMIN_EMAIL can match such an address
    if admin_email and admin_email_norm(admin_email) == norm:
        return Member(email=admin_email.strip(), email_norm=norm, role="owner")
    row = session.scalars(select(Owner).where(Owner.email_norm == norm)).first()
    if row is None:
        return None
    return Member(email=row.email, email_norm=row.email_norm, role=row.role)


def add_owner(session: Session, *, email: str, role: str = "owner") -> Owner:
    """Add (or change the role of) an owner; ValueError for a bad address or role."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    display, norm = _norm(email)
    row = session.scalars(select(Owner).where(Owner.email_norm == norm)).first()
    if row is None:
        row = Owner(email=display, email_norm=norm, role=role)
        session.add(row)
    else:
        row.role = role
    session.commit()
    return row


def remove_owner(session: Session, *, email: str) -> bool:
    try:
        norm = normalise(email)
    except ValueError:
        return False
    row = session.scalars(select(Owner).where(Owner.email_norm == norm)).first()
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True


def list_owners(session: Session, *, admin_email: str) -> list[Member]:
    rows = session.scalars(select(Owner).order_by(Owner.email_norm)).all()
    out = [Member(email=r.email, email_norm=r.email_norm, role=r.role) for r in rows]
    if admin_email:
        norm = admin_email_norm(admin_email)
        out = [m for m in out if m.email_norm != norm]
        out.insert(0, Member(email=admin_email.strip(), email_norm=norm, role="owner"))
    return out
