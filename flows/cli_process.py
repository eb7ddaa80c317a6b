"""The process side of `cqa` commands that run Prefect flows: no orphan after a kill, no
Prefect tracebacks on the console unless asked.

    supervise()                      # first thing in a flow command: re-run it as a supervised child
    with quiet_prefect_console(verbose):
        flow(**params)

`supervise()`: a command started as `cqa …` (the console script or `python -m flows.cli`)
re-executes itself as a child in its own process group and waits for it. The child
watches its parent: when the parent dies, even by SIGKILL, the child kills its whole
process group, which holds Prefect's temporary API server (uvicorn, started by
`prefect.server.api.server.SubprocessASGIServer` as a plain `Popen` that inherits the
group), Dask workers and training subprocesses. When the child dies first (killed itself),
the parent kills what is left of the group. SIGINT, SIGTERM and SIGHUP reach the parent and
are passed to the group. POSIX only; `CQA_NO_SUPERVISOR=1` turns it off (one process,
as before: a SIGKILL then leaves the temporary server running).

`quiet_prefect_console(verbose)`: while a flow runs, Prefect's console handler drops
failure records (tracebacks, `Finished in state Failed`); they still reach the Prefect
log (API), and `-v` shows them. The command prints its own one-line `error:`.
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
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUPERVISOR_ENV = "CQA_SUPERVISOR_PID"  # set for the child: the pid of the parent that waits for it
OFF_ENV = "CQA_NO_SUPERVISOR"
WATCH_INTERVAL_S = 0.1
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 10.0  # after a forwarded stop signal, the group gets this long before a SIGKILL
_decided = False  # supervise() acts once per process


def started_as_cqa() -> bool:
    """Whether this process is the `cqa` command itself (not a test runner calling the typer app)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return (spec is not None and spec.name == "flows.cli") or Path(sys.argv[0]).name == "cqa"


def supervise() -> None:
    """Run the rest of this command in a supervised child (see the module docstring); returns in the child.

    In the parent it never returns: it exits with the child's status (128 + N for signal N).
    """
    global _decided
    if _decided:
        return
    _decided = True
    parent = os.environ.pop(SUPERVISOR_ENV, None)  # popped: the child's own children do not inherit it
    if parent is not None:
        if int(parent) == os.getppid():
            _watch_parent(int(parent))
        return
    if os.name != "posix" or os.environ.get(OFF_ENV) or not started_as_cqa():
        return
    env = {
        **os.environ,
        SUPERVISOR_ENV: str(os.getpid()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen([sys.executable, "-m", "flows.cli", *sys.argv[1:]], env=env, process_group=0)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _frame: _forward(child.pid, s))
    code = child.wait()
    _signal_group(child.pid, signal.SIGKILL)  # whatever the child left behind (it was killed: its server)
    raise SystemExit(code if code >= 0 else 128 - code)


def _forward(pgid: int, sig: int) -> None:
    """Pass a stop signal to the child's group; SIGKILL the group if it is still there `STOP_GRACE_S` later.

    A forwarded SIGTERM also stops the child's Prefect server first, after which the flow process
    can keep retrying an API that is gone (seen: a `cqa experiment` alive 13 s after SIGTERM)."""
    _signal_group(pgid, sig)

    def finish() -> None:
        time.sleep(STOP_GRACE_S)
        _signal_group(pgid, signal.SIGKILL)

    threading.Thread(target=finish, name="cqa-stop-grace", daemon=True).start()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _watch_parent(parent: int) -> None:
    """A daemon thread that kills this process group (self included) once `parent` is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL_S)
        _signal_group(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="cqa-parent-watch", daemon=True).start()


# Prefect's console ----------------------------------------------------------------------------


class HideFailures(logging.Filter):
    """Drop the records that carry a failure (tracebacks, failed/crashed state lines) from a console handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or record.exc_info:
            return False
        message = record.getMessage()
        return not message.startswith(("Finished in state Failed", "Finished in state Crashed"))


@contextlib.contextmanager
def quiet_prefect_console(verbose: bool = False) -> Iterator[None]:
    """Without `verbose`, Prefect's console handlers hide failure records while the block runs."""
    if verbose:
        yield
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    hide = HideFailures()
    for h in handlers:
        h.addFilter(hide)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(hide)
