"""The shopper's /account pages: plain HTML forms, no JavaScript, every post CSRF-checked.

Past 300 lines on purpose: one thin view per /account page and form; the rules
are in the customers services.

Each view is thin: the same services as /api/v1/me do the work. After a
successful post the browser is redirected (303) and the result is named in the
query string, so reloading never posts twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, g, redirect, request
from flask_babel import LazyString
from pydantic import ValidationError

from loginsvc.auth import login, sessions
from loginsvc.auth.pages import require_page_session
from loginsvc.core.error_texts import error_text
from loginsvc.core.errors import InvalidRequest, ProblemError
from loginsvc.core.i18n import (
    duration_in_words,
    lazy_gettext,
    ngettext,
    pick_locale,
    supported_locales,
)
from loginsvc.core.render import check_csrf_form, render_error_page, render_page
from loginsvc.core.runtime import now, settings
from loginsvc.customers import account_data, devices, profile, wishlist
from loginsvc.customers.forms import (
    Formatter,
    language_names,
    parse_profile_form,
    profile_form_values,
)
from loginsvc.orders.service import get_order_for, list_orders_for, order_out

bp = Blueprint("account_pages", __name__)

# Messages a redirect may name (?done=…); anything else is ignored.
DONE = {
    "saved": lazy_gettext("Your changes are saved."),
    "added": lazy_gettext("Added to your wishlist."),
    "already": lazy_gettext("That product is already on your wishlist."),
    "removed": lazy_gettext("Removed from your wishlist."),
    "signed_out": lazy_gettext("That device is signed out."),
    "link_sent": lazy_gettext(
        "Check your inbox: we e-mailed you a confirmation link. It brings you back here."
    ),
}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    auth = g.auth
    # A signed-in shopper's chosen language wins over the browser's, unless ?lang= asks.
    explicit = request.args.get("lang")
    g.page_locale = (
        pick_locale(explicit if explicit in supported_locales() else None)
        if (explicit or not auth.customer.locale)
        else auth.customer.locale
    )
    done = request.args.get("done")
    return render_page(
        template,
        status=status,
        customer=auth.customer,
        fmt=Formatter(g.page_locale),
        section=request.endpoint,
        done=done if done in DONE else None,
        done_text=DONE.get(done or ""),
        **context,
    )


def _signed_in() -> Any:
    """The signed-in shopper; None with a redirect to sign-in stored on g."""
    auth, redirect_resp = require_page_session()
    g.login_redirect = redirect_resp
    return auth


@bp.before_request
def _require_session() -> Any:
    if request.endpoint == "account_pages.deleted":
        return None
    try:
        signed_in = _signed_in()
    except ProblemError as err:
        if err.code != "accounts_disabled":
            raise
        return render_error_page(err)  # a page that says so, for browsers and all
    if signed_in is None:
        if request.method == "POST":
            # The form's own URL cannot be opened after signing in; land on the account.
            return redirect("/login?next=%2Faccount", code=303)
        return g.login_redirect
    if request.method == "POST":
        check_csrf_form()
    return None


def _done(path: str, what: str) -> Any:
    return redirect(f"{path}?done={what}", code=303)


# -- overview and orders ---------------------------------------------------------


@bp.get("/account")
def dashboard() -> Any:
    cid = g.auth.customer.id
    orders, _ = list_orders_for(customer_id=cid, limit=3, cursor=None)
    items = wishlist.list_items(customer_id=cid)
    return _page(
        "pages/account/dashboard.html",
        orders=[order_out(o) for o in orders],
        wishlist=[wishlist.item_out(i) for i in items[:4]],
        wishlist_count=len(items),
    )


@bp.get("/account/orders")
def orders() -> Any:
    cursor = request.args.get("cursor") or None
    try:
        rows, next_cursor = list_orders_for(customer_id=g.auth.customer.id, limit=20, cursor=cursor)
    except InvalidRequest:
        return redirect("/account/orders", code=302)
    return _page(
        "pages/account/orders.html",
        orders=[order_out(o) for o in rows],
        next_cursor=next_cursor,
        paged=bool(cursor),
    )


@bp.get("/account/orders/<order_id>")
def order_detail(order_id: str) -> Any:
    order = get_order_for(customer_id=g.auth.customer.id, order_id=order_id[:64])
    return _page(
        "pages/account/order.html",
        order=order_out(order),
        items=[{**i, "line_total": _line_total(i)} for i in order.items or []],
    )


def _line_total(item: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(item["unit_price"])) * int(item["quantity"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None


# -- profile ----------------------------------------------------------------------


@bp.route("/account/profile", methods=["GET", "POST"])
def profile_page() -> Any:
    customer = g.auth.customer
    if request.method == "GET":
        return _page(
            "pages/account/profile.html",
            values=profile_form_values(customer),
            errors={},
            languages=language_names(),
        )
    change, errors, values = parse_profile_form(request.form)
    if change is None:
        return _page(
            "pages/account/profile.html",
            status=422,
            values=values,
            errors=errors,
            languages=language_names(),
        )
    profile.update_profile(customer, change)
    return _done("/account/profile", "saved")


# -- wishlist ---------------------------------------------------------------------


def _wishlist_page(status: int = 200, **context: Any) -> Response:
    items = wishlist.list_items(customer_id=g.auth.customer.id)
    return _page(
        "pages/account/wishlist.html",
        status=status,
        items=[wishlist.item_out(i) for i in items],
        cap=wishlist.CAP,
        **context,
    )


@bp.get("/account/wishlist")
def wishlist_page() -> Any:
    return _wishlist_page(form={})


@bp.post("/account/wishlist/add")
def wishlist_add() -> Any:
    form = {
        "product_id": request.form.get("product_id", "").strip()[:200],
        "name": request.form.get("name", "")[:400],
    }
    try:
        pid = wishlist.check_product_id(form["product_id"])
        snapshot = wishlist.Snapshot.model_validate({"name": form["name"]})
        _, created = wishlist.add_item(
            customer_id=g.auth.customer.id,
            product_id=pid,
            snapshot=snapshot if snapshot.name else None,
        )
    except InvalidRequest:
        return _wishlist_page(
            status=422,
            form=form,
            error=lazy_gettext("Enter a product number of 1 to 128 characters."),
        )
    except ValidationError:
        return _wishlist_page(status=422, form=form, error=lazy_gettext("This is too long."))
    except ProblemError as err:
        if err.code != "wishlist_full":
            raise
        full = ngettext(
            "Your wishlist is full (%(num)d product). Remove one first.",
            "Your wishlist is full (%(num)d products). Remove one first.",
            wishlist.CAP,
        )
        return _wishlist_page(status=409, form=form, error=full)
    return _done("/account/wishlist", "added" if created else "already")


@bp.post("/account/wishlist/remove")
def wishlist_remove() -> Any:
    with contextlib.suppress(InvalidRequest):  # no such id can be on the list
        wishlist.remove_item(
            customer_id=g.auth.customer.id, product_id=request.form.get("product_id", "")
        )
    return _done("/account/wishlist", "removed")


# -- devices ----------------------------------------------------------------------


@bp.get("/account/devices")
def devices_page() -> Any:
    records = devices.list_devices(customer_id=g.auth.customer.id)
    return _page(
        "pages/account/devices.html",
        now=now(),
        devices=[
            {
                "record": r,
                "what": devices.describe_user_agent(r.user_agent),
                "ip_prefix": sessions.ip_prefix(r.ip),
                "current": sessions.is_current(r),
            }
            for r in records
        ],
    )


@bp.post("/account/devices/sign-out")
def device_sign_out() -> Any:
    sid = request.form.get("session_id", "")
    # Already signed out (a second press) is fine: the list shows the truth.
    with contextlib.suppress(ProblemError):
        devices.sign_out_device(customer_id=g.auth.customer.id, session_id=sid)
    if sid == g.auth.record.id:
        resp = redirect("/login", code=303)
        sessions.clear_cookie(resp)
        return resp
    return _done("/account/devices", "signed_out")


@bp.post("/account/devices/sign-out-all")
def device_sign_out_all() -> Any:
    login.logout_all(g.auth.customer)
    resp = redirect("/login", code=303)
    sessions.clear_cookie(resp)
    return resp


# -- your data: export and deletion --------------------------------------------------


@bp.get("/account/export")
def export_page() -> Any:
    return _page("pages/account/export.html")


@bp.get("/account/export/download")
def export_download() -> Any:
    auth = g.auth
    doc = account_data.export_for(
        auth.customer, session_records=devices.list_devices(customer_id=auth.customer.id)
    )
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    resp = Response(json.dumps(doc, indent=2, ensure_ascii=False), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="my-data-{day}.json"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _delete_page(status: int = 200, **context: Any) -> Response:
    # The confirmation link must be opened within REAUTH_SECONDS, said in the page's words.
    within = LazyString(duration_in_words, settings().reauth_seconds)
    return _page("pages/account/delete.html", status=status, reauth_within=within, **context)


@bp.get("/account/delete")
def delete_page() -> Any:
    return _delete_page(fresh=account_data.is_fresh(g.auth.record), error=None)


@bp.post("/account/delete/confirm-link")
def delete_confirm_link() -> Any:
    # Proving the address again, by a link that brings the shopper back here.
    try:
        login.request_login_link(
            email=g.auth.customer.email,
            next_url="/account/delete",
            locale=g.auth.customer.locale,
            ip=sessions.client_ip(),
        )
    except ProblemError as err:
        if err.code != "rate_limited":
            raise
        return _delete_page(status=429, fresh=False, error=error_text("rate_limited"))
    return _done("/account/delete", "link_sent")


@bp.post("/account/delete")
def delete_submit() -> Any:
    auth = g.auth
    if not account_data.is_fresh(auth.record):
        expired = lazy_gettext("Your confirmation has expired. Ask for a new link.")
        return _delete_page(status=403, fresh=False, error=expired)
    if request.form.get("confirm") != "yes":
        unchecked = lazy_gettext("Please tick the box to confirm.")
        return _delete_page(status=422, fresh=True, error=unchecked)
    account_data.delete_customer_data(auth.customer.id, by="customer")
    resp = redirect("/account/deleted", code=303)
    sessions.clear_cookie(resp)
    return resp


@bp.get("/account/deleted")
def deleted() -> Any:
    return render_page("pages/account/deleted.html")
