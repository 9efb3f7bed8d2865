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
    """Upgrade with a file lock, so workers starting together migrate once.

    The lock lives in the instance folder when there is one; a command run
    elsewhere against an explicit DATABASE_URL locks in the temporary folder
    instead of creating an instance folder where it was run.
    """
    import fcntl
    import hashlib
    import tempfile

    if instance_path.is_dir() or database_url.startswith(f"sqlite:///{instance_path}/"):
        instance_path.mkdir(parents=True, exist_ok=True)
        lock_path = instance_path / "migrate.lock"
    else:
        digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        lock_path = Path(tempfile.gettempdir()) / f"loginsvc-migrate-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        upgrade(database_url)


def main(argv: list[str]) -> int:
    """`python -P -m loginsvc.core.migrate DATABASE_URL INSTANCE_PATH` (used by `serve`)."""
    upgrade_locked(argv[0], Path(argv[1]))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
