"""/api/v1 endpoints: me (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("me", __name__)
