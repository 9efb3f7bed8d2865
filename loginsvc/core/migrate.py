"""Apply Alembic migrations from the migrations shipped inside the package."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from alembic import command
from alembic.config import Config

from loginsvc.core.extensions import normalise_database_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    script_dir = Path(str(importlib.resources.files("loginsvc.migrations")))
    cfg.set_main_option("script_location", str(script_dir))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Idempotent: a database at head is left as it is."""
    if database_url.startswith("sqlite:///"):
        Path(database_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def upgrade_locked(database_url: str, instance_path: Path) -> None:
    """Upgrade with a file lock, so workers starting together migrate once."""
    import fcntl

    instance_path.mkdir(parents=True, exist_ok=True)
    with open(instance_path / "migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        upgrade(database_url)
