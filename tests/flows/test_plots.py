"""flows/plots.py: the forest plot's order, its checks, and a real PNG with the points where they belong."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.plots import forest_layout, forest_plot

ROWS = [
    {"method": "hinge", "seed": 14, "delta": -0.5, "lo": -1.2, "hi": 0.1},
    {"method": "hinge", "seed": "pooled", "delta": -0.83, "lo": -1.44, "hi": -0.33},
    {"method": "hinge", "seed": 13, "delta": -1.0, "lo": -2.0, "hi": 0.0},
    {"method": "crf", "seed": 13, "delta": 0.4, "lo": -0.2, "hi": 1.0},
    {"method": "crf", "seed": "pooled", "delta": 0.3, "lo": -0.1, "hi": 0.7},
]


def test_layout_groups_methods_in_order_seeds_sorted_pooled_last() -> None:
    labels = [r["label"] for r in forest_layout(ROWS)]
    assert labels == ["hinge seed 13", "hinge seed 14", "hinge (pooled)", "crf seed 13", "crf (pooled)"]


def test_a_delta_outside_its_interval_or_no_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"row 0 \(hinge, seed 13\): delta 2.0 is not inside its interval \[-1, 1\]"):
        forest_layout([{"method": "hinge", "seed": 13, "delta": 2.0, "lo": -1, "hi": 1}])
    with pytest.raises(ValueError, match="lacks \\['hi'\\]"):
        forest_layout([{"method": "hinge", "seed": 13, "delta": 0.0, "lo": -1}])
    with pytest.raises(ValueError, match="no rows"):
        forest_layout([])


def test_png_is_written_and_not_blank(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    path = forest_plot(ROWS, tmp_path / "forest.png")
    image = mpimg.imread(path)[..., :3]
    assert image.shape[0] == int(100 * (0.35 * 5 + 1.4)) and image.shape[1] == 700
    assert image.std() > 0.05
    # C0 (matplotlib's first colour, #1f77b4) is hinge's: its diamond and lines are drawn
    blue = (
        (abs(image[..., 0] - 0x1F / 255) < 0.08)
        & (abs(image[..., 1] - 0x77 / 255) < 0.08)
        & (abs(image[..., 2] - 0xB4 / 255) < 0.08)
    )
    assert blue.sum() > 50
