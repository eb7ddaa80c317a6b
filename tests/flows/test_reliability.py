"""Re-mining reliability: the run lock, two runs at once, and runs killed mid-build (after their n-th Parquet write).

    python -m pytest tests/flows/test_reliability.py -q

Builds run as real `python -m flows.cli build-bundles` processes against the session's
Prefect test API, on two sample sources (squad11, ropes) so every miner has work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.run_lock import RunLocked, read_holder, run_lock
from pipeline.schemas import ARTIFACTS

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["squad11=data/samples/squad11_sample.json:squad", "ropes=data/samples/ropes_sample.json:ropes"]
KILLS = 5


# The lock itself (seconds) ------------------------------------------------------------------


def test_second_holder_gives_up_with_the_holder_named(tmp_path: Path) -> None:
    with run_lock(tmp_path, what="build-bundles") as me:
        assert read_holder(tmp_path / ".build.lock") == me
        t0 = time.monotonic()
        with pytest.raises(
            RunLocked,
            match=rf"\.build\.lock: another run holds the lock \(pid {os.getpid()} "
            r".*build-bundles.*gave up after 0\.3 s",
        ):
            with run_lock(tmp_path, timeout_s=0.3):
                pass
        assert 0.3 <= time.monotonic() - t0 < 3
    with run_lock(tmp_path, timeout_s=0):  # released on exit: free at once
        pass


def test_waiter_gets_the_lock_when_the_holder_leaves(tmp_path: Path) -> None:
    order: list[str] = []
    held = threading.Event()

    def holder() -> None:
        with run_lock(tmp_path):
            held.set()
            time.sleep(0.5)
            order.append("first done")

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    waited: list[object] = []
    with run_lock(tmp_path, timeout_s=10, on_wait=waited.append):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"] and len(waited) == 1


def test_a_killed_holder_never_leaves_a_stale_lock(tmp_path: Path) -> None:
    code = (
        "from pipeline.run_lock import run_lock\nimport time\n"
        f"with run_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked):
            with run_lock(tmp_path, timeout_s=0):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with run_lock(tmp_path, timeout_s=5):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_negative_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout_s=-1"):
        with run_lock(tmp_path, timeout_s=-1):
            pass


# Whole builds in subprocesses ----------------------------------------------------------------


@pytest.fixture(scope="module")
def api_env(prefect_harness) -> dict[str, str]:
    """Environment of child builds: the session's Prefect test API, no ephemeral server each."""
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "OMP_NUM_THREADS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(REPO),
    }


def start_build(root: Path, env: dict[str, str], log: Path, **extra_env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "flows.cli", "build-bundles", "--root", str(root)]
    cmd += [a for s in SOURCES for a in ("--source", s)]
    return subprocess.Popen(
        cmd, cwd=REPO, env={**env, **extra_env}, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def finish(proc: subprocess.Popen, log: Path, timeout: float = 300) -> str:
    code = proc.wait(timeout)
    text = log.read_text()
    assert code == 0, f"build exited with {code}:\n{text[-4000:]}"
    return text


def artifact_rows(root: Path) -> dict[str, list[str]]:
    """Every Parquet file under `root` (reports excluded) → its rows as JSON lines: content, not bytes or timestamps."""
    return {
        str(p.relative_to(root)): [json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(p).to_pylist()]
        for p in sorted(root.rglob("*.parquet"))
        if p.relative_to(root).parts[0] != "reports"
    }


def assert_all_readable(root: Path) -> None:
    """`pipeline.io.read` works on every recorded partition, and every Parquet file on disk opens."""
    for spec in ARTIFACTS.values():
        if (io.artifact_dir(root, spec) / io.MANIFEST).exists():
            for part in io.partitions(root, spec):
                if io.partition_files(root, spec, part):
                    io.read(root, spec, part)
    for p in root.rglob("*.parquet"):
        pq.read_table(p)


@pytest.fixture(scope="module")
def reference(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """A clean, uninterrupted build: its artifact rows."""
    tmp = tmp_path_factory.mktemp("reference")
    finish(start_build(tmp / "root", api_env, tmp / "log"), tmp / "log")
    return artifact_rows(tmp / "root")


@pytest.mark.slow
def test_two_builds_at_once_wait_in_turn_and_match_a_clean_build(api_env, reference, tmp_path: Path) -> None:
    root = tmp_path / "root"
    with run_lock(root, what="the test"):  # both builds start while the lock is busy: both must wait
        procs = [start_build(root, api_env, tmp_path / f"log{i}") for i in (0, 1)]
        deadline = time.monotonic() + 120
        while not all("waiting" in (tmp_path / f"log{i}").read_text() for i in (0, 1)):
            assert time.monotonic() < deadline, [(tmp_path / f"log{i}").read_text()[-2000:] for i in (0, 1)]
            assert all(p.poll() is None for p in procs), "a build exited while the lock was held"
            time.sleep(0.5)
        assert not list(root.glob("examples"))  # nothing written while the lock was held
    logs = [finish(p, tmp_path / f"log{i}") for i, p in enumerate(procs)]
    assert all("report:" in text for text in logs)
    assert_all_readable(root)
    assert artifact_rows(root) == reference


@pytest.mark.slow
def test_a_build_that_cannot_wait_stops_before_writing_and_names_the_holder(api_env, tmp_path: Path) -> None:
    root = tmp_path / "root"
    code = (
        "from flows.build_bundles import build_bundles_flow\n"
        f"build_bundles_flow(root={str(root)!r}, sources={SOURCES!r}, lock_timeout_s=0)\n"
    )
    with run_lock(root, what="the test"):
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=api_env, capture_output=True, text=True, timeout=180
        )
    text = run.stdout + run.stderr
    assert run.returncode != 0, text[-3000:]
    assert f"RunLocked: {root / '.build.lock'}: another run holds the lock (pid {os.getpid()}" in text, text[-3000:]
    assert "running the test" in text and "gave up after 0 s" in text
    assert sorted(p.name for p in root.iterdir()) == [".build.lock"]  # nothing written


def parquet_mtimes(root: Path) -> dict[Path, int]:
    """Every Parquet file under `root` (staging included) → its mtime; files vanishing mid-scan are skipped."""
    out = {}
    for p in root.rglob("*.parquet") if root.exists() else ():
        try:
            out[p] = p.stat().st_mtime_ns
        except FileNotFoundError:  # replaced or removed by the running build
            pass
    return out


def kill_after_writes(proc: subprocess.Popen, root: Path, n: int, timeout: float = 300) -> bool:
    """SIGKILL the build's process group as soon as `n` Parquet files under `root` are new or rewritten.

    Progress, not wall time, decides where the kill lands: a clock-based kill on a loaded (or an
    idle) machine can land before the first write or after the last one. True if it was killed,
    False if it finished by itself first.
    """
    before = parquet_mtimes(root)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline or sum(before.get(p) != t for p, t in parquet_mtimes(root).items()) >= n:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
            assert time.monotonic() <= deadline, f"build still running after {timeout} s"
            return True
        time.sleep(0.005)
    assert proc.returncode == 0, f"a build finished by itself before its kill, with exit code {proc.returncode}"
    return False


@pytest.mark.slow
def test_killed_builds_leave_readable_artifacts_and_the_next_run_completes(api_env, reference, tmp_path: Path) -> None:
    rows = reference
    root = tmp_path / "root"
    rng = random.Random(7)
    interrupted = 0  # kills that left some, but not all, of the artifacts
    # Each build resumes from what the killed ones left; each is killed after 1..4 more writes.
    # The first, on an empty root, always lands mid-build (the full build writes many files).
    for i, n in enumerate([1] + [rng.randint(1, 4) for _ in range(KILLS - 1)]):
        if kill_after_writes(start_build(root, api_env, tmp_path / f"killed{i}"), root, n):
            assert_all_readable(root)
            interrupted += 0 < len(artifact_rows(root)) and artifact_rows(root) != rows
    assert interrupted >= 1, "no kill landed in the middle of a build: the test proved nothing"
    finish(start_build(root, api_env, tmp_path / "final"), tmp_path / "final")
    assert_all_readable(root)
    assert artifact_rows(root) == rows
