"""/admin/groups, /admin/import, /admin/settings, /admin/keys and /admin/audit."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app, request
from pydantic import ValidationError
from sqlalchemy import select

from loginsvc.admin import api_keys, audit, groups
from loginsvc.admin import importer as customer_import
from loginsvc.admin.branding import BrandingIn, branding
from loginsvc.admin.console.base import bp, console, done, page, stage
from loginsvc.admin.shop_settings import account_mode, put_settings
from loginsvc.auth import admission as account_modes
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.extensions import db
from loginsvc.core.models import ApiKey
from loginsvc.core.runtime import settings

IMPORT_MAX = 16 * 1024 * 1024
UPLOAD_TTL = 3600


def _redis() -> Any:
    return current_app.extensions["loginsvc.redis"]


def _key(kind: str, ident: str) -> str:
    return f"{settings().redis_prefix}adm:{kind}:{ident}"


# -- groups ------------------------------------------------------------------------------


def _group_name(raw: str) -> str:
    try:
        return groups.GroupIn.model_validate({"name": raw}).name
    except ValidationError:
        raise InvalidRequest(
            "A group name of 1 to 100 characters, without ';', is needed."
        ) from None


@bp.get("/groups")
def groups_page() -> Any:
    rows, next_cursor = groups.list_groups(limit=100, cursor=request.args.get("cursor") or None)
    return page("pages/admin/groups.html", groups=rows, next_cursor=next_cursor)


@bp.post("/groups")
def create_group() -> Any:
    name = _group_name(request.form.get("name", ""))
    stage("group.create", None, name=name)
    groups.create_group(name=name)
    return done("/admin/groups", "group_created")


@bp.post("/groups/<id:group_id>/rename")
def rename_group(group_id: int) -> Any:
    name = _group_name(request.form.get("name", ""))
    stage("group.rename", None, group_id=group_id, name=name)
    groups.rename_group(group_id=group_id, name=name)
    return done("/admin/groups", "group_renamed")


@bp.get("/groups/<id:group_id>/delete")
def confirm_delete_group(group_id: int) -> Any:
    group = groups.get_group(group_id)
    counts = groups.list_groups(limit=100, cursor=None)[0]
    members = next((g["member_count"] for g in counts if g["id"] == group.id), None)
    if members is None:
        members = len(group.customers)
    return page("pages/admin/group_delete.html", group=group, members=members)


@bp.post("/groups/<id:group_id>/delete")
def delete_group(group_id: int) -> Any:
    stage("group.delete", None, group_id=group_id)
    groups.delete_group(group_id=group_id)
    return done("/admin/groups", "group_deleted")


# -- import ---------------------------------------------------------------------------------


@bp.get("/import")
def import_page() -> Any:
    return page("pages/admin/import.html", report=None, upload_id=None)


@bp.post("/import")
def import_upload() -> Any:
    """Step one: the dry run. The file waits in Redis for the apply button; nothing is written."""
    request.max_content_length = IMPORT_MAX
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidRequest("Choose a CSV or JSON file.")
    raw = upload.read(IMPORT_MAX + 1)
    if len(raw) > IMPORT_MAX:
        raise ProblemError(413, "payload_too_large", "An upload here may be at most 16 MiB.")
    mimetype = "application/json" if upload.filename.lower().endswith(".json") else "text/csv"
    report = customer_import.run_import(raw, mimetype=mimetype, dry_run=True)
    upload_id = secrets.token_urlsafe(16)
    _redis().set(
        _key("import", f"{console().session.id}:{upload_id}"),
        mimetype.encode() + b"\n" + raw,
        ex=UPLOAD_TTL,
    )
    return page(
        "pages/admin/import.html", report=report, upload_id=upload_id, filename=upload.filename
    )


@bp.post("/import/apply")
def import_apply() -> Any:
    upload_id = request.form.get("upload_id", "")[:64]
    stored = _redis().getdel(_key("import", f"{console().session.id}:{upload_id}"))
    if not stored:
        raise ProblemError(410, "not_found", "That upload is gone; upload the file again.")
    mimetype, _, raw = stored.partition(b"\n")
    stage("customer.import", None, upload=upload_id)
    report = customer_import.run_import(raw, mimetype=mimetype.decode(), dry_run=False)
    audit.discard()
    return page("pages/admin/import.html", report=report, upload_id=None, applied=True)


# -- settings ----------------------------------------------------------------------------


@bp.get("/settings")
def settings_page() -> Any:
    return page(
        "pages/admin/settings.html",
        mode=account_mode(),
        brand=branding(settings().shop_name),
        errors=[],
    )


@bp.post("/settings")
def save_settings() -> Any:
    f = request.form
    try:
        mode = account_modes.SettingsIn.model_validate({"account_mode": f.get("account_mode", "")})
        brand = BrandingIn.model_validate(
            {k: f.get(k, "") for k in ("shop_name", "shop_url", "logo_url", "accent_color")}
        )
    except ValidationError as exc:
        errors = [
            {"field": str(e["loc"][0]) if e["loc"] else "", "message": e["msg"]}
            for e in exc.errors()
        ]
        return page(
            "pages/admin/settings.html",
            status=422,
            mode=account_mode(),
            brand={k: f.get(k, "") for k in ("shop_name", "shop_url", "logo_url", "accent_color")},
            errors=errors,
        )
    values = {**mode.model_dump(exclude_none=True), **brand.model_dump()}
    stage("settings.update", None, **values)
    put_settings(values)
    return done("/admin/settings", "saved")


# -- API keys -------------------------------------------------------------------------------


@bp.get("/keys")
def keys_page() -> Any:
    shown = _redis().getdel(_key("newkey", console().session.id))
    rows = list(db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))
    return page("pages/admin/keys.html", keys=rows, new_key=shown.decode() if shown else None)


@bp.post("/keys")
def create_key() -> Any:
    name = request.form.get("name", "")
    scope = request.form.get("scope", "admin")
    stage("api_key.create", None, name=name.strip()[:100], scope=scope)
    try:
        key = api_keys.create_api_key(name=name, scope=scope)
    except ValueError as exc:
        audit.discard()
        raise InvalidRequest(str(exc)) from None
    # Shown once, on the page the redirect leads to, then gone (stored only hashed).
    _redis().set(_key("newkey", console().session.id), key.encode(), ex=120)
    return done("/admin/keys", "saved")


@bp.post("/keys/<id:key_id>/revoke")
def revoke_key(key_id: int) -> Any:
    row = db.session.get(ApiKey, key_id)
    if row is None:
        raise ProblemError(404, "not_found", "No such API key.")
    stage("api_key.revoke", None, name=row.name)
    api_keys.revoke_api_key(name=row.name)
    return done("/admin/keys", "key_revoked")


# -- audit ---------------------------------------------------------------------------------


@bp.get("/audit")
def audit_page() -> Any:
    try:
        rows, next_cursor = audit.list_entries(
            db.session, customer_id=None, limit=50, cursor=request.args.get("cursor") or None
        )
    except InvalidRequest:
        rows, next_cursor = audit.list_entries(db.session, customer_id=None, limit=50, cursor=None)
    return page(
        "pages/admin/audit.html",
        entries=[audit.entry_out(e) for e in rows],
        next_cursor=next_cursor,
    )
