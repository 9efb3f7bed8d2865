"""Access to the per-app services: settings, Redis store, token signer, clock."""

from __future__ import annotations

import time

from flask import current_app

from .config import Settings
from .store import Store
from .tokens import LoginTokens


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def store() -> Store:
    return current_app.extensions["loginsvc.store"]


def login_tokens() -> LoginTokens:
    return current_app.extensions["loginsvc.tokens"]


def now() -> float:
    """The one clock of the service (freezegun-friendly)."""
    return time.time()
