"""gunicorn, embedded: `loginsvc serve` runs the app in N pre-forked workers."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from loginsvc.config import Settings


class _Server(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from loginsvc import create_app

        return create_app(self.settings)


def _post_fork(server: Any, worker: Any) -> None:
    # Connections must not be shared across fork; each worker opens its own.
    app = worker.app.callable if hasattr(worker.app, "callable") else None
    if app is not None:
        db = app.extensions.get("loginsvc.db")
        if db is not None:
            db.engine.dispose(close=False)


def _child_exit(server: Any, worker: Any) -> None:
    from loginsvc.ops.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def run_gunicorn(settings: Settings, *, host: str, port: int, workers: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "preload_app": True,
        "post_fork": _post_fork,
        "child_exit": _child_exit,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1",
    }
    _Server(settings, options).run()
