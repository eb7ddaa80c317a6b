"""A source that cannot be read stops only itself; `fail_fast` stops the build; `--force` swaps the index in whole.

Issue 15: one unreadable file used to abort a multi-source build (17 of 22 sources written,
no miner ran), and `--force` deleted the index before rebuilding it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.build_bundles import build_bundles_flow
from flows.build_index import build_index_flow
from pipeline import io
from pipeline.schemas import EXAMPLES, INDEX, NEAR_MISS
from pipeline.sources import SourceError
from pipeline.sources.spec import SourcesFailed

pytestmark = pytest.mark.slow


def _sources(samples: Path) -> list[str]:
    return [
        f"squad11={samples / 'squad11_sample.json'}",
        f"bad={samples / 'unreadable_sample.json'}",
        f"hotpot={samples / 'hotpot_sample.json'}",
    ]


def test_an_unreadable_source_is_left_out_and_named_the_others_are_built(
    prefect_harness, samples: Path, tmp_path: Path
) -> None:
    with pytest.raises(SourcesFailed) as caught:
        build_bundles_flow(config=None, root=str(tmp_path), sources=_sources(samples), overrides=["miners=[near_miss]"])
    e = caught.value
    assert [name for name, _ in e.failures] == ["bad"]
    assert "unreadable_sample.json: not valid JSON at line 6" in str(e) and "report:" in str(e)
    assert {p["dataset"] for p in io.partitions(tmp_path, EXAMPLES)} == {"squad11", "hotpot"}
    mined = io.read(tmp_path, NEAR_MISS)
    assert set(mined["dataset"]) == {"squad11", "hotpot"}  # the miners ran on every readable source
    stages = e.result["stages"]
    assert [r["dataset"] for r in stages if r.get("failed")] == ["bad"]
    report = Path(e.result["report"]).read_text(encoding="utf-8")
    assert "## Sources that could not be read" in report and "unreadable_sample.json" in report


def test_fail_fast_stops_the_build_at_the_unreadable_source(prefect_harness, samples: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unreadable_sample.json.*fail_fast") as caught:
        build_bundles_flow(
            config=None,
            root=str(tmp_path),
            sources=_sources(samples),
            overrides=["miners=[near_miss]", "fail_fast=true"],
        )
    assert not isinstance(caught.value, SourcesFailed)
    assert not (tmp_path / INDEX.name).exists() and not (tmp_path / NEAR_MISS.name).exists()  # no index, no miner


def test_force_rebuilds_the_index_beside_the_live_one(prefect_harness, samples: Path, tmp_path: Path) -> None:
    src = [f"squad11={samples / 'squad11_sample.json'}"]
    build_index_flow(config=None, root=str(tmp_path), sources=src)
    before = io.read(tmp_path, INDEX).drop("nlp").sort("context_id")
    build_index_flow(config=None, root=str(tmp_path), sources=src, force=True)
    after = io.read(tmp_path, INDEX).drop("nlp").sort("context_id")
    assert after.equals(before)  # the same complete index, rebuilt
    assert before.height == io.read(tmp_path, EXAMPLES).select(pl.col("context_id").n_unique()).item()
    assert not list((tmp_path / ".staging").iterdir())


def test_cli_shows_the_built_stages_then_one_error_line_and_exits_1(
    prefect_harness, samples: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    args = ["build-index", "--root", str(tmp_path), *[a for s in _sources(samples)[:2] for a in ("--source", s)]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "stages" in text and "squad11" in text  # the table of what was built
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad" in errors[0]
    assert "unreadable_sample.json" in text
    assert io.partitions(tmp_path, EXAMPLES) == [{"dataset": "squad11", "split": "dev"}]
