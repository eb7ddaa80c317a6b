"""One mining run per artifact root at a time: an exclusive `fcntl` lock on `<root>/.build.lock`.

    python -c "from pipeline.run_lock import run_lock; help(run_lock)"

    with run_lock("data/artifacts", timeout_s=600):    # waits up to 10 minutes, then RunLocked
        ...build...

`pipeline.io` already makes every single write atomic; this lock makes a whole re-mining
run exclusive, so two runs started at once (two processes, or a schedule firing while a
manual run is going) never interleave their stages over one root. The second run waits
for the first (polling) up to `timeout_s`; `timeout_s=0` gives up at once. Giving up
raises `RunLocked`, whose message names the lock file and the holder (pid, host, start
time, what it runs), so the caller can exit cleanly with that message.

The lock is an `flock` on an open file: the kernel releases it when its holder exits in
any way, SIGKILL included, so a killed run never leaves a stale lock behind. The holder
line written into the file is information only; it is never used to decide anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = ".build.lock"
POLL_S = 0.2  # seconds between two tries while waiting


class RunLocked(RuntimeError):
    """Another run holds the lock and it was not released within the timeout."""


@dataclass(frozen=True)
class LockHolder:
    pid: int  # process id of the holder
    host: str  # host name of the holder
    started: str  # UTC time (ISO 8601) the holder took the lock
    what: str  # what the holder runs (e.g. "build-bundles")

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, running {self.what or '?'} since {self.started}"


def read_holder(path: str | Path) -> LockHolder | None:
    """The holder recorded in a lock file (None when empty, unreadable or never held)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8") or "null")
        return LockHolder(int(raw["pid"]), str(raw["host"]), str(raw["started"]), str(raw.get("what", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _record_holder(fd: int, what: str) -> LockHolder:
    holder = LockHolder(
        os.getpid(), socket.gethostname(), dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), what
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder.__dict__).encode("utf-8"), 0)
    return holder


@contextlib.contextmanager
def run_lock(
    root: str | Path,
    *,
    timeout_s: float | None = 600.0,
    what: str = "build-bundles",
    name: str = LOCK_FILE,
    on_wait=None,
) -> Iterator[LockHolder]:
    """Hold the exclusive run lock of `root` for the `with` block; yields this run's `LockHolder`.

    `timeout_s`: seconds to wait for another holder (0 = do not wait, None = wait forever).
    `on_wait(holder)`: called once when the lock is busy, before waiting (e.g. to log who holds it).
    Raises `RunLocked` naming the lock file and the holder when the wait times out.
    """
    if timeout_s is not None and timeout_s < 0:
        raise ValueError(f"run_lock: timeout_s={timeout_s}, expected >= 0 seconds or None (wait forever)")
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            if on_wait is not None:
                on_wait(read_holder(path))
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while not _try_lock(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    holder = read_holder(path)
                    raise RunLocked(
                        f"{path}: another run holds the lock ({holder.describe() if holder else 'holder unknown'}); "
                        f"gave up after {timeout_s:g} s. Wait for it to finish, or raise the timeout."
                    )
                time.sleep(POLL_S)
        holder = _record_holder(fd, what)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
