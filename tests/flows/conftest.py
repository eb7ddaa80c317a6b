"""Fixtures for flow tests: one Prefect test harness (a temporary local API) per session.

Only tests that request `prefect_harness` start it; `--help` and config-error tests do not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run every flow of the session against one temporary Prefect API (SQLite in a temp dir)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def parquet_state(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every Parquet file under `root`: any rewrite changes it."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(root.rglob("*.parquet"))}
