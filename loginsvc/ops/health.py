"""Operations endpoints: liveness, readiness, the OpenAPI document and its docs page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from loginsvc.core.extensions import db
from loginsvc.core.runtime import now, settings, store

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
    extra: dict[str, Any] = {}
    try:
        store().ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unavailable"
    s = settings()
    if s.mail_queue_async and checks["redis"] == "ok":
        # Mail leaves through a worker: a 202 for a login link is only honest while
        # one is alive. (Inline delivery, the test setting, needs none.)
        try:
            last = store().last_worker_heartbeat()
        except Exception:
            last = None
            checks["redis"] = "unavailable"
        else:
            age = None if last is None else max(0.0, now() - last)
            alive = age is not None and age <= s.mail_worker_stale_after
            checks["mail_worker"] = "ok" if alive else "unavailable"
            extra["mail_worker_last_seen_seconds"] = None if age is None else round(age, 1)
    ok = all(v == "ok" for v in checks.values())
    resp = jsonify(status="ok" if ok else "unavailable", checks=checks, **extra)
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
