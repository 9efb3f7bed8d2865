"""/api/v1 endpoints: sso (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sso", __name__)
