"""Settings the test-suite starts from: real services on loopback, fast limits."""

from __future__ import annotations

import os
from pathlib import Path

from .default import Settings, with_rq_key_prefix


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
        # RQ has one key prefix per process (read at import); the suite sets it once
        # (tests/conftest.py) and every app of the run shares it.
        rq_key_prefix=os.environ.get("RQ_KEY_PREFIX", ""),
    )
    return with_rq_key_prefix(base.replace(**overrides))
