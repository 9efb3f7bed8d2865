"""The shopper's /account pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .render import render_page
from .views import require_page_session

bp = Blueprint("account_pages", __name__)


@bp.get("/account")
def dashboard() -> Any:
    auth, redirect_resp = require_page_session()
    if redirect_resp is not None:
        return redirect_resp
    return render_page("pages/account_placeholder.html", customer=auth.customer)
