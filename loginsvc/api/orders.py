"""/api/v1 endpoints: orders (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("orders", __name__)
