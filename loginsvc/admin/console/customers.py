"""/admin/customers: the list, a new customer, the card and its actions, print and export.

Thin: the admin services (admin/customers.py, search, import_export, groups)
do the work, with the same rules as the admin API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, request, stream_with_context
from pydantic import ValidationError
from sqlalchemy import func, select

from loginsvc.admin import audit, groups, timeline
from loginsvc.admin import customers as svc
from loginsvc.admin import import_export as io_svc
from loginsvc.admin import xlsx_export as xlsx
from loginsvc.admin.console.base import actor, bp, done, page, stage
from loginsvc.admin.last_orders import last_orders
from loginsvc.admin.search import FilterQuery, ListQuery, filtered, list_customers
from loginsvc.core import notifications
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import Group
from loginsvc.customers.schemas import totals_out
from loginsvc.orders.service import list_orders_for, order_out

FILTER_KEYS = ("q", "group", "country", "newsletter", "has_account", "status", "sort")
SORTS = (
    "-created_at",
    "created_at",
    "-total_spent",
    "total_spent",
    "-order_count",
    "order_count",
    "name",
)


def _filter_args() -> dict[str, str]:
    return {k: request.args[k].strip() for k in FILTER_KEYS if request.args.get(k, "").strip()}


def _query(args: dict[str, str], *, cursor: str | None) -> tuple[ListQuery, bool]:
    try:
        return ListQuery.model_validate({**args, "limit": 50, "cursor": cursor}), True
    except ValidationError:
        return ListQuery(limit=50), False


def _all_groups() -> list[Group]:
    return list(db.session.scalars(select(Group).order_by(Group.name)))


@bp.get("/customers")
def customers() -> Any:
    args = _filter_args()
    query, valid = _query(args, cursor=request.args.get("cursor") or None)
    try:
        rows, next_cursor = list_customers(query)
    except InvalidRequest:  # a cursor from another sort or list: start at the top
        query.cursor = None
        rows, next_cursor = list_customers(query)
    count_query = FilterQuery.model_validate(query.model_dump(exclude={"limit", "cursor"}))
    total = db.session.scalar(
        select(func.count()).select_from(filtered(count_query).order_by(None).subquery())
    )
    out = [svc.admin_customer_out(c) for c in rows]
    latest = last_orders([c.id for c in rows])
    kept = query.model_dump(exclude={"limit", "cursor"}, exclude_none=True)
    kept = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in kept.items()}
    return page(
        "pages/admin/customers.html",
        customers=out,
        latest=latest,
        total=total,
        args=args,
        valid=valid,
        kept=kept,
        next_url=("/admin/customers?" + urlencode({**kept, "cursor": next_cursor}))
        if next_cursor
        else None,
        first_url="/admin/customers?" + urlencode(kept) if request.args.get("cursor") else None,
        export_query=urlencode(kept),
        sorts=SORTS,
        groups=_all_groups(),
    )


@bp.get("/customers/export")
def export() -> Any:
    args = _filter_args()
    fmt = request.args.get("format", "csv")
    try:
        query = io_svc.ExportQuery.model_validate({**args, "format": fmt})
    except ValidationError:
        raise InvalidRequest("The export's filters are not valid.") from None
    stage_fmt = query.format
    chunks: Any
    if stage_fmt == "xlsx":
        chunks = xlsx.export_xlsx(query)
        mimetype = xlsx.MIMETYPE
    elif stage_fmt == "json":
        chunks, mimetype = io_svc.export_json(query), "application/json"
    else:
        chunks, mimetype = io_svc.export_csv(query), "text/csv"
    resp = Response(stream_with_context(chunks), mimetype=mimetype)
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{io_svc.export_filename(stage_fmt)}"'
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- a new customer ------------------------------------------------------------------


@bp.get("/customers/new")
def new_customer() -> Any:
    return page("pages/admin/new_customer.html", values={}, errors=[])


@bp.post("/customers/new")
def create_customer() -> Any:
    f = request.form
    values = {
        k: f.get(k, "").strip()
        for k in ("email", "name", "company", "phone", "customer_number", "notes")
        if f.get(k, "").strip()
    }
    try:
        body = svc.CustomerCreate.model_validate(
            {
                **values,
                "newsletter": f.get("newsletter") == "on",
                "send_invite": f.get("send_invite") == "on",
            }
        )
        stage("customer.create", None, email=values.get("email"), send_invite=body.send_invite)
        c = svc.create_customer(body)
    except ValidationError as exc:
        audit.discard()
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return page("pages/admin/new_customer.html", status=422, values=values, errors=errors)
    except ProblemError as err:
        audit.discard()
        errors = err.errors or [{"field": "email", "message": err.detail}]
        return page(
            "pages/admin/new_customer.html", status=err.status, values=values, errors=errors
        )
    return done(f"/admin/customers/{c.id}", "invited" if body.send_invite else "created")


# -- the card --------------------------------------------------------------------------


def _card_context(customer_id: int) -> dict[str, Any]:
    c = svc.get_customer(customer_id)
    orders, _ = list_orders_for(customer_id=c.id, limit=100, cursor=None)
    entries, _ = audit.list_entries(db.session, customer_id=c.id, limit=50, cursor=None)
    events, _ = timeline.list_events(
        db.session, customer_id=c.id, email_norm=c.email_norm, limit=100, cursor=None
    )
    return {
        "c": svc.admin_customer_out(c),
        "totals": totals_out(c.totals),
        "orders": [order_out(o) for o in orders],
        "entries": [audit.entry_out(e) for e in entries],
        "events": [timeline.event_out(e) for e in events],
        "groups": _all_groups(),
    }


@bp.get("/customers/<id:customer_id>")
def card(customer_id: int) -> Any:
    return page("pages/admin/card.html", **_card_context(customer_id))


@bp.get("/customers/<id:customer_id>/print")
def print_card(customer_id: int) -> Any:
    return page("pages/admin/print.html", **_card_context(customer_id))


def _patch(customer_id: int, data: dict[str, Any], action: str) -> Any:
    try:
        body = svc.CustomerPatch.model_validate(data)
    except ValidationError as exc:
        messages = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(messages) from None
    stage(action, customer_id, **data)
    return svc.update_customer(customer_id, body)


@bp.post("/customers/<id:customer_id>")
def save_customer(customer_id: int) -> Any:
    f = request.form
    data: dict[str, Any] = {
        k: f.get(k, "").strip() or None for k in ("name", "company", "phone", "customer_number")
    }
    data["notes"] = f.get("notes", "").strip() or None
    data["newsletter"] = f.get("newsletter") == "on"
    _patch(customer_id, data, "customer.update")
    return done(f"/admin/customers/{customer_id}", "saved")


STATUS_DONE = {"blocked": "blocked", "active": "approved"}


@bp.post("/customers/<id:customer_id>/status")
def set_status(customer_id: int) -> Any:
    status = request.form.get("status", "")
    before = svc.get_customer(customer_id).status
    _patch(customer_id, {"status": status}, "customer.status")
    what = (
        "unblocked"
        if before == "blocked" and status == "active"
        else STATUS_DONE.get(status, "saved")
    )
    return done(f"/admin/customers/{customer_id}", what)


@bp.post("/customers/<id:customer_id>/groups")
def change_groups(customer_id: int) -> Any:
    c = svc.get_customer(customer_id)
    names = [g.name for g in c.groups]
    add, remove = request.form.get("add", "").strip(), request.form.get("remove", "").strip()
    if add and add not in names:
        names.append(add)
    if remove:
        names = [n for n in names if n != remove]
    _patch(customer_id, {"groups": names}, "customer.groups")
    return done(f"/admin/customers/{customer_id}", "saved")


@bp.post("/customers/<id:customer_id>/invite")
def invite(customer_id: int) -> Any:
    c = svc.get_customer(customer_id)
    if c.status == "blocked":
        raise ProblemError(409, "conflict", "A blocked customer cannot be invited.")
    stage("customer.invite", c.id)
    notifications.send_invite(c)
    db.session.commit()  # the audit entry
    return done(f"/admin/customers/{customer_id}", "invited")


@bp.get("/customers/<id:customer_id>/delete")
def confirm_delete(customer_id: int) -> Any:
    return page("pages/admin/delete.html", **_card_context(customer_id))


@bp.post("/customers/<id:customer_id>/delete")
def delete(customer_id: int) -> Any:
    stage("customer.delete", customer_id)
    svc.delete_customer(customer_id, owner=actor())
    return done("/admin/customers", "deleted")


@bp.post("/customers/bulk-group")
def bulk_group() -> Any:
    ids = [int(v) for v in request.form.getlist("customer_id") if v.isdigit()][: groups.MAX_BULK]
    group_id = request.form.get("group_id", "")
    if not ids or not group_id.isdigit():
        raise InvalidRequest("Choose a group and at least one customer.")
    stage("group.add_members", None, group_id=int(group_id), customer_ids=ids)
    groups.add_members(group_id=int(group_id), customer_ids=ids)
    back = request.form.get("back", "")
    return done(
        back if back.startswith("/admin/customers") else "/admin/customers", "members_added"
    )
