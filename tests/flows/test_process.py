"""A killed `cqa build-bundles` leaves no process behind: Prefect's temporary API server
(uvicorn) dies with it, whichever of the two `cqa` processes is killed (flows/cli_process.py).

    python -m pytest -q tests/flows/test_process.py

The builds here start their own temporary Prefect server (no PREFECT_API_URL), with a
PREFECT_HOME under the test's folder.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli_process import SUPERVISOR_ENV, HideFailures

REPO = Path(__file__).resolve().parents[2]
SOURCE = "squad11=data/samples/squad11_sample.json:squad"


def _record(level: int, message: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("prefect.flow_runs", level, __file__, 1, message, None, exc_info)


def test_the_console_filter_hides_failures_and_keeps_progress() -> None:
    hide = HideFailures()
    assert hide.filter(_record(logging.INFO, "load squad11/dev: 30 examples, 0 rejects"))
    assert hide.filter(_record(logging.WARNING, "waiting for the run lock of data/artifacts"))
    assert not hide.filter(_record(logging.ERROR, "Task run failed with exception: SourceError(...)"))
    assert not hide.filter(_record(logging.INFO, "Encountered exception during execution", exc=True))
    assert not hide.filter(_record(logging.INFO, "Finished in state Failed('Flow run encountered an exception')"))
    assert hide.filter(_record(logging.INFO, "Finished in state Completed()"))


def _build(tmp_path: Path, **env: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", SUPERVISOR_ENV)}
    base.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
            **env,
        }
    )
    cmd = [sys.executable, "-m", "flows.cli", "build-bundles", "--root", str(tmp_path / "root"), "--source", SOURCE]
    return subprocess.Popen(cmd, cwd=REPO, env=base, stdout=(tmp_path / "log").open("w"), stderr=subprocess.STDOUT)


def _wait_for_server(psutil, proc: subprocess.Popen, log: Path, timeout: float = 180):
    """The build's descendants once its uvicorn server is among them."""
    me = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the build ended before its server was seen:\n{log.read_text()[-3000:]}"
        family = []
        for p in me.children(recursive=True):
            try:
                family.append((p, " ".join(p.cmdline())))
            except psutil.Error:
                continue
        if any("uvicorn" in cmd and "prefect.server.api.server" in cmd for _, cmd in family):
            return [p for p, _ in family]
        time.sleep(0.1)
    raise AssertionError(f"no Prefect server started within {timeout} s:\n{log.read_text()[-3000:]}")


def _survivors(psutil, family, wait_s: float = 5.0):
    deadline = time.monotonic() + wait_s
    while True:
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("victim", ["cqa", "its child"])
def test_a_sigkilled_build_leaves_no_process_behind(tmp_path: Path, victim: str) -> None:
    psutil = pytest.importorskip("psutil")
    proc = _build(tmp_path)
    family = []
    try:
        family = _wait_for_server(psutil, proc, tmp_path / "log")
        target = proc.pid if victim == "cqa" else psutil.Process(proc.pid).children()[0].pid
        os.kill(target, signal.SIGKILL)
        code = proc.wait(30)
        assert code in (-signal.SIGKILL, 128 + signal.SIGKILL), code
        alive = _survivors(psutil, family)
        assert not alive, f"left running after the kill: {[(p.pid, ' '.join(p.cmdline())[:100]) for p in alive]}"
    finally:
        for p in _survivors(psutil, family, 0):
            p.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.server
@pytest.mark.slow
def test_a_sigterm_stops_the_whole_build_within_the_grace_period(tmp_path: Path) -> None:
    """`kill <pid>` (SIGTERM) of `cqa`: forwarded to the group, and whatever still runs STOP_GRACE_S
    later is killed — a flow child retrying its (already stopped) Prefect server must not linger."""
    from flows.cli_process import STOP_GRACE_S

    psutil = pytest.importorskip("psutil")
    proc = _build(tmp_path)
    family = []
    try:
        family = _wait_for_server(psutil, proc, tmp_path / "log")
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(STOP_GRACE_S + 20)
        alive = _survivors(psutil, family, STOP_GRACE_S + 5)
        assert not alive, f"left running after SIGTERM: {[(p.pid, ' '.join(p.cmdline())[:100]) for p in alive]}"
    finally:
        for p in _survivors(psutil, family, 0):
            p.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
