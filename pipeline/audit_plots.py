"""Bar charts (PNG, matplotlib's Agg backend) of count histograms, for the audit site and the build report.

    python -c "from pipeline.audit_plots import histogram_png; histogram_png(
        {'squad11/dev': [(0, 4), (1, 19)]}, '/tmp/h.png', 'negatives per example', 'negatives')"

matplotlib is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def histogram_png(groups: Mapping[str, Sequence[tuple[Any, int]]], path: str | Path, title: str, xlabel: str) -> Path:
    """Grouped bars: one colour per group, x = the values (sorted), y = their counts.

    `groups` maps a legend label (e.g. `squad11/dev`) to (value, count) pairs. An empty
    mapping is an error: a plot of nothing would look like a plot of zeros.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not groups or not any(groups.values()):
        raise ValueError(f"histogram_png: nothing to plot for {title!r}")
    values = sorted(
        {v for pairs in groups.values() for v, _ in pairs}, key=lambda v: (not isinstance(v, (int, float)), v)
    )
    pos = {v: i for i, v in enumerate(values)}
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(values) * max(1, len(groups) / 2) + 2), 3.2), dpi=100)
    for j, (label, pairs) in enumerate(groups.items()):
        xs = [pos[v] - 0.4 + width * (j + 0.5) for v, _ in pairs]
        ax.bar(xs, [c for _, c in pairs], width=width, label=label)
    labels = [str(v) for v in values]
    ax.set_xticks(
        range(len(values)),
        labels,
        rotation=30 if max(map(len, labels)) > 4 else 0,
        ha="right" if max(map(len, labels)) > 4 else "center",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    if len(groups) > 1:
        ax.legend(fontsize="small")
    return save_png(fig, path)


def save_png(fig: Any, path: str | Path) -> Path:
    """Lay out a matplotlib figure, write it to `path` (folders created), close it; returns the path.

    One save tail for any PNG the project writes (the histograms here; `flows.plots` can share it)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
