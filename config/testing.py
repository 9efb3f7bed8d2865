"""Settings the test-suite starts from: real services on loopback, fast limits."""

from __future__ import annotations

from pathlib import Path

from .default import Settings


def testing_settings(
    *, instance: Path, database_url: str, redis_url: str, prefix: str, **overrides: object
) -> Settings:
    base = Settings(
        env="testing",
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        secret_keys=("test-secret-key-0123456789-abcdefghijklmnop",),
        public_url="http://localhost",
        mail_queue_async=False,
        log_json=False,
    )
    return base.replace(**overrides)
