"""Operations endpoints: liveness, readiness, the OpenAPI document and its docs page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from loginsvc.core.extensions import db
from loginsvc.core.runtime import settings, store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        store().ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    resp = jsonify(status="ok" if ok else "unavailable", checks=checks)
    resp.status_code = 200 if ok else 503
    if not ok:
        resp.headers["Retry-After"] = "5"
    return resp


@bp.get("/openapi.json")
def openapi() -> Any:
    from loginsvc.core.spec import openapi_document

    doc = current_app.extensions.get("loginsvc.openapi")
    if doc is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("loginsvc")
        except PackageNotFoundError:
            ver = "0"
        doc = openapi_document(title="loginsvc", version=ver, server=settings().public_url)
        current_app.extensions["loginsvc.openapi"] = doc
    return jsonify(doc)
