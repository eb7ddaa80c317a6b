"""Shared test fixtures. Area-specific fixtures live next to the tests that use them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CQA_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with a message saying where it was looked for."""
    if not (SHARED_DATA / "PROTOCOL.md").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (set CQA_SHARED_DATA to its folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty artifact root."""
    d = tmp_path / "artifacts"
    d.mkdir()
    return d
