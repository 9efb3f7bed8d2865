"""Shopify's mandatory privacy webhooks, done with the §5 functions.

- customers/redact: the customer's data is deleted exactly as DELETE /api/v1/me does.
- customers/data_request: the §5 export is mailed to ADMIN_EMAIL, who answers
  the shopper (Shopify asks the shop, not the app, to hand the data over).
- shop/redact: acknowledged, nothing deleted. The register is the shop owner's
  own (it outlives any one sales channel); the owner deletes it on purpose.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from loginsvc.core import mailer
from loginsvc.core.emails import normalise
from loginsvc.core.extensions import db
from loginsvc.core.runtime import settings, store
from loginsvc.customers import account_data
from loginsvc.customers import service as customers_svc

log = logging.getLogger("loginsvc.platforms.privacy")


def _customer_email(payload: dict[str, Any]) -> str | None:
    c = payload.get("customer") or {}
    email = c.get("email") if isinstance(c, dict) else None
    return email.strip() if isinstance(email, str) and email.strip() else None


def redact_customer(payload: dict[str, Any]) -> dict[str, Any]:
    email = _customer_email(payload)
    customer = customers_svc.find_by_email(db.session, normalise(email)) if email else None
    if customer is None:
        db.session.rollback()
        return {"deleted": False, "reason": "no customer with this address"}
    account_data.delete_customer_data(customer.id, by="Shopify customers/redact")
    return {"deleted": True}


def mail_data_request(payload: dict[str, Any]) -> dict[str, Any]:
    email = _customer_email(payload)
    to = settings().admin_email
    customer = customers_svc.find_by_email(db.session, normalise(email)) if email else None
    if customer is None:
        return {"mailed": False, "reason": "no customer with this address"}
    if not to:
        log.error("Shopify data request for customer %s: ADMIN_EMAIL is not set", customer.id)
        return {"mailed": False, "reason": "ADMIN_EMAIL is not set"}
    doc = account_data.export_for(customer, session_records=store().list_sessions(customer.id))
    request_id = (payload.get("data_request") or {}).get("id")
    mailer.enqueue(
        "loginsvc.core.jobs.send_template",
        to=to,
        template="admin_data_request",
        locale="en",
        context={
            "email": customer.email,
            "customer_id": customer.id,
            "shop_domain": str(payload.get("shop_domain") or ""),
            "request_id": str(request_id or ""),
            "export": json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True),
        },
    )
    return {"mailed": True}
