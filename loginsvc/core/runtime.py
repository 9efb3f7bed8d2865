"""Access to the per-app services: settings, Redis store, token signer, clock."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import current_app

from loginsvc.config import Settings
from loginsvc.core.store import Store

if TYPE_CHECKING:  # core names no domain at run time (import-linter contract)
    from loginsvc.auth.tokens import LoginTokens


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def store() -> Store:
    return current_app.extensions["loginsvc.core.store"]


def login_tokens() -> LoginTokens:
    return current_app.extensions["loginsvc.auth.tokens"]


def now() -> float:
    """The one clock of the service (freezegun-friendly)."""
    return time.time()
