"""`loginsvc serve` keeps its mail worker alive.

The worker (`loginsvc worker`) runs as a child in a process group of its own,
so that RQ's scheduler, its own child, lives and dies with it, and so that a
Ctrl-C in the terminal reaches only `serve`, which then stops the group in
order instead of every process printing its own KeyboardInterrupt.

When the worker dies (crash, OOM, `kill -9`) the whole group is killed and the
worker is started again within a second (growing to 30 s if it keeps dying
right after start). A worker that cannot start at all (missing module, bad
settings, unreachable Redis) makes `serve` stop with the worker's own last
line as the reason, instead of accepting mail that nobody will send.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

log = logging.getLogger("loginsvc.core.supervisor")

START_TIMEOUT = 60.0  # seconds for a worker to report (migrations, first connect)
STOP_TIMEOUT = 2.5  # seconds of warm shutdown before the group is killed
MAX_RESTART_DELAY = 30.0


class WorkerStartError(Exception):
    """The mail worker could not start; the message is a one-line reason."""


def worker_command() -> list[str]:
    # -P: the current directory is not put on sys.path. Run from a source checkout,
    # its `loginsvc/` folder would otherwise shadow the installed package (whose
    # `loginsvc.config` only exists in the installed layout).
    return [sys.executable, "-P", "-m", "loginsvc.cli", "worker"]


def _reason(lines: list[str], code: int | None) -> str:
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("loginsvc:") or (
            ":" in text and text.split(":", 1)[0].strip().endswith(("Error", "Exception"))
        ):
            return text
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
    status = f"exit status {code}" if code is not None else "no report"
    return f"{last} ({status})" if last else status


class MailWorkerSupervisor:
    """Start, watch, restart and stop one `loginsvc worker` process group."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        beat_seen_since: Callable[[float], bool],
        command: list[str] | None = None,
    ) -> None:
        self.env = env
        self.command = command or worker_command()
        self.beat_seen_since = beat_seen_since  # True once a worker beat after this time
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._tail: deque[str] = deque(maxlen=40)

    # -- start -------------------------------------------------------------
    def start(self, *, cancel: threading.Event | None = None) -> None:
        """Start the worker and wait for its first heartbeat, or raise WorkerStartError.

        `cancel` set while waiting (a Ctrl-C during start-up): stop and return.
        """
        started = time.time()
        proc = self._spawn()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.beat_seen_since(started - 1):
            if cancel is not None and cancel.is_set():
                self.stop()
                return
            code = proc.poll()
            if code is not None:
                time.sleep(0.2)  # let the forwarder read the last lines
                self._kill_group(proc, signal.SIGKILL)
                raise WorkerStartError(_reason(list(self._tail), code))
            if time.monotonic() > deadline:
                self.stop()
                raise WorkerStartError(
                    f"the mail worker did not report within {START_TIMEOUT:.0f} s"
                )
            time.sleep(0.1)
        self._watcher = threading.Thread(target=self._watch, name="mail-supervisor", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(  # noqa: S603
            self.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: see the module docstring
        )
        assert proc.stderr is not None
        threading.Thread(
            target=self._forward, args=(proc.stderr,), name="mail-worker-log", daemon=True
        ).start()
        self.proc = proc
        return proc

    def _forward(self, stream: IO[bytes]) -> None:
        """Copy the worker's log lines to ours, keeping the last few for a reason."""
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            self._tail.append(line)
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        stream.close()

    # -- watch ---------------------------------------------------------------
    def _watch(self) -> None:
        delay = 1.0
        while True:
            proc = self.proc
            assert proc is not None
            began = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            self._kill_group(proc, signal.SIGKILL)  # RQ's scheduler goes with it
            if time.monotonic() - began > 60:
                delay = 1.0  # it ran a while: this is not a crash loop
            log.error(
                "mail worker (pid %s) exited with status %s; restarting in %.0f s",
                proc.pid,
                code,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()
                self.restarts += 1
            delay = min(delay * 2, MAX_RESTART_DELAY)

    # -- stop ----------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the group (RQ finishes or abandons the job), SIGKILL after `timeout`."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is None:
            return
        self._kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("mail worker did not stop within %.0f s; killing it", timeout)
        # Whatever is left of the group (the scheduler child, a stuck worker) goes now.
        self._kill_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # the group id is the worker's pid (new session)
