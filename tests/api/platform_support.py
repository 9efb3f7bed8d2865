"""Shared by the platform webhook tests: fixtures on disk, signing, concurrent delivery."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "platforms"


def fixture(name: str) -> Any:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def together(app: Any, path: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[Any]:
    """POST every (body, headers) to `path` at once, each from its own thread and client."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)
    errors: list[BaseException] = []

    def run(n: int, body: bytes, headers: dict[str, str]) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.post(path, data=body, headers=headers)
            answers[n] = (r.status_code, r.get_json())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, b, h)) for n, (b, h) in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(a is not None for a in answers)
    return answers


def rows(app: Any, model_name: str) -> list[Any]:
    with app.app_context():
        from sqlalchemy import select

        from loginsvc.core import models
        from loginsvc.core.extensions import db

        model = getattr(models, model_name)
        return list(db.session.scalars(select(model).order_by(model.id)))
