"""/api/v1/admin: the shop owner's side (CONTRACT §7), behind an admin API key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, make_response, request, stream_with_context

from loginsvc.admin import audit, groups, xlsx_export
from loginsvc.admin import customers as admin_customers
from loginsvc.admin import import_export as io_svc
from loginsvc.admin import importer as customer_import
from loginsvc.admin import search as customer_search
from loginsvc.auth import admission as account_modes
from loginsvc.core.admin_auth import require_admin_key
from loginsvc.core.errors import ProblemError
from loginsvc.core.input_guard import BODY_LIMITS
from loginsvc.core.pagination import PageQuery
from loginsvc.core.spec import endpoint
from loginsvc.orders.service import order_out

bp = Blueprint("admin", __name__)
bp.before_request(require_admin_key)


@bp.before_request
def _stage_audit_entry() -> None:
    # Every write is recorded in the transaction of the change itself (admin/audit.py).
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        is_json = request.is_json and request.endpoint != "admin.import_customers"
        audit.stage_api_write(
            endpoint=request.endpoint,
            view_args=request.view_args or {},
            body=request.get_json(silent=True) if is_json else None,
        )


P = "/api/v1/admin"
# Imports of up to 100,000 rows are larger than the 1 MiB every other route takes.
IMPORT_MAX_BODY = BODY_LIMITS["admin.import_customers"]


def _created(payload: dict[str, Any]) -> Response:
    return make_response(jsonify(payload), 201)


# -- customers -------------------------------------------------------------------


@endpoint(
    bp,
    f"{P}/customers",
    "GET",
    summary="List, search and filter customers",
    query=customer_search.ListQuery,
    auth="admin",
)
def list_customers(query: customer_search.ListQuery) -> Any:
    rows, next_cursor = customer_search.list_customers(query)
    return {
        "customers": [admin_customers.admin_customer_out(c) for c in rows],
        "next_cursor": next_cursor,
    }


@endpoint(
    bp,
    f"{P}/customers",
    "POST",
    summary="Create a customer (opens an account)",
    body=admin_customers.CustomerCreate,
    status=201,
    errors=["conflict", "accounts_disabled"],
    auth="admin",
)
def create_customer(body: admin_customers.CustomerCreate) -> Any:
    return _created(admin_customers.admin_customer_out(admin_customers.create_customer(body)))


@endpoint(
    bp,
    f"{P}/customers/<id:customer_id>",
    "GET",
    summary="One customer",
    errors=["customer_not_found"],
    auth="admin",
)
def get_customer(customer_id: int) -> Any:
    return admin_customers.admin_customer_out(admin_customers.get_customer(customer_id))


@endpoint(
    bp,
    f"{P}/customers/<id:customer_id>",
    "PATCH",
    summary="Edit notes, number, groups, newsletter, status (approve, block)",
    body=admin_customers.CustomerPatch,
    errors=["customer_not_found", "conflict"],
    auth="admin",
)
def patch_customer(customer_id: int, body: admin_customers.CustomerPatch) -> Any:
    customer = admin_customers.update_customer(customer_id, body)
    return admin_customers.admin_customer_out(customer)


@endpoint(
    bp,
    f"{P}/customers/<id:customer_id>",
    "DELETE",
    summary="Delete a customer and their personal data (irreversible)",
    status=204,
    errors=["customer_not_found"],
    auth="admin",
)
def delete_customer(customer_id: int) -> Any:
    # The owner's notice names the key, so a deletion nobody expected can be traced.
    admin_customers.delete_customer(customer_id, key_name=g.get("admin_key_name"))
    return Response(status=204)


@endpoint(
    bp,
    f"{P}/customers/<id:customer_id>/orders",
    "GET",
    summary="A customer's orders, newest first",
    query=PageQuery,
    errors=["customer_not_found"],
    auth="admin",
)
def customer_orders(customer_id: int, query: PageQuery) -> Any:
    rows, next_cursor = admin_customers.customer_orders(
        customer_id, limit=query.limit, cursor=query.cursor
    )
    return {"orders": [order_out(o) for o in rows], "next_cursor": next_cursor}


@endpoint(
    bp,
    f"{P}/customers/export",
    "GET",
    summary="Export the filtered list as CSV, JSON or XLSX (streamed)",
    query=io_svc.ExportQuery,
    response_media=["text/csv", "application/json", xlsx_export.MIMETYPE],
    auth="admin",
)
def export_customers(query: io_svc.ExportQuery) -> Any:
    chunks: Any
    if query.format == "xlsx":
        chunks, mimetype = xlsx_export.export_xlsx(query), xlsx_export.MIMETYPE
    elif query.format == "json":
        chunks, mimetype = io_svc.export_json(query), "application/json"
    else:
        chunks, mimetype = io_svc.export_csv(query), "text/csv"
    resp = Response(stream_with_context(chunks), mimetype=mimetype)
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{io_svc.export_filename(query.format)}"'
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@endpoint(
    bp,
    f"{P}/customers/import",
    "POST",
    summary="Import customers from CSV or JSON (up to 100,000 rows, 64 MiB)",
    query=customer_import.ImportQuery,
    content_types=["text/csv", "application/json"],
    errors=["payload_too_large", "unsupported_media_type"],
    auth="admin",
)
def import_customers(query: customer_import.ImportQuery) -> Any:
    request.max_content_length = IMPORT_MAX_BODY
    if (request.content_length or 0) > IMPORT_MAX_BODY:
        raise ProblemError(413, "payload_too_large", "An import may be at most 64 MiB.")
    raw = request.get_data(cache=False)
    return customer_import.run_import(raw, mimetype=request.mimetype, dry_run=query.dry_run)


# -- groups ----------------------------------------------------------------------


@endpoint(
    bp, f"{P}/groups", "GET", summary="Customer groups, by name", query=PageQuery, auth="admin"
)
def list_groups(query: PageQuery) -> Any:
    rows, next_cursor = groups.list_groups(limit=query.limit, cursor=query.cursor)
    return {"groups": rows, "next_cursor": next_cursor}


@endpoint(
    bp,
    f"{P}/groups",
    "POST",
    summary="Create a group",
    body=groups.GroupIn,
    status=201,
    errors=["conflict"],
    auth="admin",
)
def create_group(body: groups.GroupIn) -> Any:
    return _created(groups.create_group(name=body.name))


@endpoint(
    bp,
    f"{P}/groups/<id:group_id>",
    "PATCH",
    summary="Rename a group",
    body=groups.GroupIn,
    errors=["group_not_found", "conflict"],
    auth="admin",
)
def rename_group(group_id: int, body: groups.GroupIn) -> Any:
    return groups.rename_group(group_id=group_id, name=body.name)


@endpoint(
    bp,
    f"{P}/groups/<id:group_id>",
    "DELETE",
    summary="Delete a group (members keep their other groups)",
    status=204,
    errors=["group_not_found"],
    auth="admin",
)
def delete_group(group_id: int) -> Any:
    groups.delete_group(group_id=group_id)
    return Response(status=204)


@endpoint(
    bp,
    f"{P}/groups/<id:group_id>/members",
    "POST",
    summary="Add customers to a group (bulk, idempotent)",
    body=groups.MembersIn,
    errors=["group_not_found", "conflict"],
    auth="admin",
)
def add_members(group_id: int, body: groups.MembersIn) -> Any:
    return groups.add_members(group_id=group_id, customer_ids=body.customer_ids)


@endpoint(
    bp,
    f"{P}/groups/<id:group_id>/members",
    "DELETE",
    summary="Remove customers from a group (bulk)",
    body=groups.MembersIn,
    errors=["group_not_found"],
    auth="admin",
)
def remove_members(group_id: int, body: groups.MembersIn) -> Any:
    return groups.remove_members(group_id=group_id, customer_ids=body.customer_ids)


# -- settings and the checkout gate ----------------------------------------------


@endpoint(bp, f"{P}/settings", "GET", summary="Shop settings (account_mode)", auth="admin")
def get_settings() -> Any:
    return account_modes.get_settings()


@endpoint(
    bp,
    f"{P}/settings",
    "PATCH",
    summary="Change shop settings (account_mode: disabled|optional|required)",
    body=account_modes.SettingsIn,
    auth="admin",
)
def patch_settings(body: account_modes.SettingsIn) -> Any:
    return account_modes.update_settings(body)


@endpoint(
    bp,
    f"{P}/checkout-eligibility",
    "GET",
    summary="May this address check out? {allowed, reason}",
    query=account_modes.EligibilityQuery,
    auth="admin",
)
def checkout_eligibility(query: account_modes.EligibilityQuery) -> Any:
    return account_modes.checkout_eligibility(query.email)
