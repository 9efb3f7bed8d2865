"""/account/security: the shopper's passkeys and linked provider accounts.

Renaming and removing are plain forms (CSRF-checked, 303 after success);
adding a passkey needs the browser's WebAuthn API, so static/passkeys.js does it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, request

from loginsvc.auth import oidc, passkeys
from loginsvc.auth.pages import require_page_session
from loginsvc.core.errors import ProblemError
from loginsvc.core.i18n import SUPPORTED, _, pick_locale
from loginsvc.core.render import check_csrf_form, render_page
from loginsvc.customers.forms import Formatter

bp = Blueprint("security_pages", __name__)


def _notices() -> dict[str, str]:
    return {
        "passkey_added": _("Passkey added. Next time, sign in with it."),
        "passkey_renamed": _("Passkey renamed."),
        "passkey_removed": _("Passkey removed."),
        "identity_removed": _("Account unlinked."),
    }


@bp.before_request
def _require_session() -> Any:
    auth, redirect_resp = require_page_session()
    if auth is None:
        if request.method == "POST":
            return redirect("/login?next=%2Faccount%2Fsecurity", code=303)
        return redirect_resp
    if request.method == "POST":
        check_csrf_form()
    return None


def _page(status: int = 200, error: str | None = None) -> Response:
    auth = g.auth
    explicit = request.args.get("lang")
    g.page_locale = (
        pick_locale(explicit if explicit in SUPPORTED else None)
        if (explicit or not auth.customer.locale)
        else auth.customer.locale
    )
    cid = auth.customer.id
    return render_page(
        "pages/account/security.html",
        status=status,
        customer=auth.customer,
        fmt=Formatter(g.page_locale),
        section=request.endpoint if request.method == "GET" else "security_pages.security",
        done=None,
        notice=_notices().get(request.args.get("done", "")),
        error=error,
        passkeys=passkeys.list_passkeys(customer_id=cid),
        identities=[
            {**oidc.identity_out(i), "created_at": i.created_at}
            for i in oidc.list_identities(customer_id=cid)
        ],
        providers=[(p.name, p.label) for p in oidc.providers().values()],
    )


@bp.get("/account/security")
def security() -> Any:
    return _page()


def _done(what: str) -> Any:
    return redirect(f"/account/security?done={what}", code=303)


@bp.post("/account/security/passkeys/rename")
def rename_passkey() -> Any:
    name = request.form.get("name", "").strip()
    if not name or len(name) > 100:
        return _page(status=422, error=_("A passkey's name is 1 to 100 characters."))
    try:
        passkeys.rename(
            customer_id=g.auth.customer.id,
            passkey_id=request.form.get("passkey_id", ""),
            name=name,
        )
    except ProblemError as err:
        if err.code != "not_found":
            raise
    return _done("passkey_renamed")


@bp.post("/account/security/passkeys/remove")
def remove_passkey() -> Any:
    try:
        passkeys.remove(
            customer_id=g.auth.customer.id, passkey_id=request.form.get("passkey_id", "")
        )
    except ProblemError as err:
        if err.code != "not_found":  # already gone (a second press): the list shows the truth
            raise
    return _done("passkey_removed")


@bp.post("/account/security/identities/remove")
def remove_identity() -> Any:
    try:
        oidc.remove_identity(
            customer=g.auth.customer, identity_id=request.form.get("identity_id", "")
        )
    except ProblemError as err:
        if err.code == "last_sign_in_method":
            return _page(status=409, error=err.detail)
        if err.code != "not_found":
            raise
    return _done("identity_removed")
