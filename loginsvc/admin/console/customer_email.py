"""The card's "Change e-mail" (CONTRACT §5a): the admin PATCH's `email`, as a form.

A taken or invalid address shows the card again with the reason and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import ValidationError

from loginsvc.admin import audit
from loginsvc.admin import customers as svc
from loginsvc.admin.console.base import bp, done, page, stage
from loginsvc.admin.console.customers import _card_context
from loginsvc.core.errors import ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.i18n import lazy_gettext

# Lazy: they are rendered in the page's language, which page() picks.
EMPTY = lazy_gettext("Enter the new e-mail address.")
NOT_VALID = lazy_gettext("This is not a valid e-mail address. Nothing was changed.")
TAKEN = lazy_gettext("Another customer already has this e-mail address. Nothing was changed.")


def _refused(customer_id: int, status: int, message: Any, value: str) -> Any:
    audit.discard()
    db.session.rollback()
    return page(
        "pages/admin/card.html",
        status=status,
        email_error=message,
        email_value=value,
        **_card_context(customer_id),
    )


@bp.post("/customers/<id:customer_id>/email")
def change_email(customer_id: int) -> Any:
    new = request.form.get("email", "").strip()
    before = svc.get_customer(customer_id).email
    if not new:
        return _refused(customer_id, 422, EMPTY, new)
    try:
        body = svc.CustomerPatch.model_validate({"email": new})
    except ValidationError:
        return _refused(customer_id, 422, NOT_VALID, new)
    stage("customer.email", customer_id, email=new, previous=before)
    try:
        svc.update_customer(customer_id, body)
    except ProblemError as err:
        if err.status == 409:
            message = TAKEN
        elif err.status == 422:
            message = NOT_VALID
        else:
            raise
        return _refused(customer_id, err.status, message, new)
    return done(f"/admin/customers/{customer_id}", "email_changed")
