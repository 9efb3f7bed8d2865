"""gunicorn, embedded: `loginsvc serve` runs the app in N pre-forked workers.

`serve` starts this module as a child process (`python -P -m loginsvc.core.server`)
beside the mail worker, with the settings it resolved in the environment, and
stops it with SIGTERM. The gunicorn master is thus nobody's supervisor: it forks
only its own workers, and none of them inherits another child of `serve`.
"""

from __future__ import annotations

import argparse
import sys
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
        import gc

        from loginsvc import create_app

        app = create_app(self.settings)
        # The loaded app lives as long as the process: keep it out of every garbage
        # collection (workers share its pages copy-on-write, and exits stay quick).
        gc.freeze()
        return app


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
        # A stop (SIGTERM, Ctrl-C) is over in seconds: requests are short, and a
        # supervisor waiting longer would SIGKILL us anyway.
        "graceful_timeout": 2,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "limit_request_line": 8190,
        "forwarded_allow_ips": "127.0.0.1",
    }
    _Server(settings, options).run()


def command(*, host: str, port: int, workers: int) -> list[str]:
    # -P: the current directory is not put on sys.path (see core/supervisor.py).
    return [
        sys.executable,
        "-P",
        "-m",
        "loginsvc.core.server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def main(argv: list[str] | None = None) -> int:
    from loginsvc.config import load_settings

    p = argparse.ArgumentParser(prog="loginsvc.core.server")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, required=True)
    args = p.parse_args(argv)
    run_gunicorn(load_settings(), host=args.host, port=args.port, workers=args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
