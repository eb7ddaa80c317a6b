"""flows/report_plots.py: the build report's histogram PNGs from stage reports and the bundles artifact."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import polars as pl

from flows.report_plots import bundle_size_histograms, negatives_histograms, plots_markdown, report_plots
from pipeline import io
from pipeline.schemas import BUNDLES

REPORTS = [
    {"stage": "load", "dataset": "sq", "split": "dev", "stats": {}},
    {"stage": "near_miss", "dataset": "sq", "split": "dev", "stats": {"histogram": {"0": 4, "1": 19, "2": 5}}},
    {"stage": "flips", "dataset": "ro", "split": "dev", "stats": {}},
]


def _member(bid: str, i: int, kind: str = "flip", mode: str = "antonym") -> dict:
    return {
        "bundle_id": bid,
        "kind": kind,
        "mode": mode,
        "example_id": f"{bid}-{i}",
        "context_id": "c",
        "question": "q?",
        "answer": {"text": "a", "start": 0, "end": 1},
        "role": "original",
        "rule": None,
        "parent_id": None,
    }


def _write_bundles(root: Path) -> None:
    # flip/antonym: b1 (2 members), b2 (2 members); ropes-mined/paper: b3 (3 members)
    rows = [
        _member("b1", 0),
        _member("b1", 1),
        _member("b2", 0),
        _member("b2", 1),
        *(_member("b3", i, "ropes-mined", "paper") for i in range(3)),
    ]
    io.write_partition(
        root, BUNDLES, pl.DataFrame(rows, schema=io.empty_frame(BUNDLES).schema), {"dataset": "ro", "split": "dev"}
    )


def test_histograms_count_by_hand(root: Path) -> None:
    _write_bundles(root)
    assert negatives_histograms(REPORTS) == {"sq/dev": [(0, 4), (1, 19), (2, 5)]}
    assert bundle_size_histograms(REPORTS, root) == {"flip/antonym": [(2, 2)], "ropes-mined/paper": [(3, 1)]}


def test_pngs_are_written_beside_the_report_and_linked(root: Path) -> None:
    _write_bundles(root)
    stem = root / "reports" / "build-bundles-20261201T000000Z"
    plots = report_plots(REPORTS, root, stem)
    assert plots == [
        ("near-miss negatives per example", "build-bundles-20261201T000000Z-negatives.png"),
        ("bundle size per kind and mode", "build-bundles-20261201T000000Z-bundle-sizes.png"),
    ]
    for _, file in plots:
        image = mpimg.imread(stem.parent / file)
        assert image.shape[0] > 100 and image.std() > 0.05
    md = plots_markdown(plots, audit=root / "audit" / "index.html")
    assert "![near-miss negatives per example](build-bundles-20261201T000000Z-negatives.png)" in md
    assert "## Audit site" in md and "file://" in md


def test_no_near_miss_and_no_bundles_means_no_plot(root: Path) -> None:
    assert report_plots([REPORTS[0]], root, root / "reports" / "x") == []
    assert plots_markdown([]) == ""
