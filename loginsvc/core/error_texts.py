"""What a page says for an error code: one mapping, translated through the catalogs."""

from __future__ import annotations

from loginsvc.core.i18n import lazy_gettext

GENERIC = lazy_gettext("Something went wrong.")

ERROR_TEXTS = {
    "invalid_token": lazy_gettext(
        "This link is not valid. It may have been cut off by your e-mail program."
    ),
    "token_expired": lazy_gettext("This link has expired."),
    "token_used": lazy_gettext("This link was already used. Each link works only once."),
    "token_revoked": lazy_gettext("This link no longer works."),
    "account_blocked": lazy_gettext("This account cannot sign in. Please contact the shop."),
    "account_pending": lazy_gettext(
        "Your account is waiting for the shop's approval. We will e-mail you when it is ready."
    ),
    "accounts_disabled": lazy_gettext("This shop does not offer customer accounts."),
    "rate_limited": lazy_gettext("Too many attempts. Please wait a moment and try again."),
    "invalid_ticket": lazy_gettext(
        "This sign-in link from the website has expired or was already used. "
        "Please sign in on the website again."
    ),
    "invalid_request": lazy_gettext("Please enter a valid e-mail address."),
    "csrf_failed": lazy_gettext("This form came from another site and was not accepted."),
    "not_found": lazy_gettext("This page does not exist."),
}


def error_text(code: str) -> str:
    """The shopper-facing sentence for `code` in the page's language."""
    return str(ERROR_TEXTS.get(code, GENERIC))
