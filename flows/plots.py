"""Forest plot of Δ EM with intervals per method and seed, for the experiment report.

    python -c "from flows.plots import forest_plot; forest_plot(
        [{'method': 'hinge', 'seed': 'pooled', 'delta': -0.8, 'lo': -1.4, 'hi': -0.3}], '/tmp/forest.png')"

Each row: `method`, `seed` (an int or `"pooled"`), `delta` (method minus its control, EM
points), `lo`/`hi` (the interval, e.g. a 95% paired bootstrap). One line per row, grouped
by method in the order first seen, each method's seeds sorted and its pooled row last
(a filled diamond); a dashed line marks Δ = 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

POOLED = "pooled"


def forest_layout(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows in plot order (top to bottom) with a label each; checks every row first."""
    if not rows:
        raise ValueError("forest_plot: no rows to plot")
    methods: dict[str, list[Mapping[str, Any]]] = {}
    for i, r in enumerate(rows):
        missing = [k for k in ("method", "seed", "delta", "lo", "hi") if k not in r]
        if missing:
            raise ValueError(f"forest_plot: row {i} ({dict(r)}) lacks {missing}")
        if not float(r["lo"]) <= float(r["delta"]) <= float(r["hi"]):
            raise ValueError(
                f"forest_plot: row {i} ({r['method']}, seed {r['seed']}): delta {r['delta']} "
                f"is not inside its interval [{r['lo']}, {r['hi']}]"
            )
        methods.setdefault(str(r["method"]), []).append(r)
    out = []
    for method, group in methods.items():
        seeds = sorted((r for r in group if r["seed"] != POOLED), key=lambda r: int(r["seed"]))
        pooled = [r for r in group if r["seed"] == POOLED]
        for r in [*seeds, *pooled]:
            label = f"{method} (pooled)" if r["seed"] == POOLED else f"{method} seed {r['seed']}"
            out.append(
                {
                    "label": label,
                    "pooled": r["seed"] == POOLED,
                    "delta": float(r["delta"]),
                    "lo": float(r["lo"]),
                    "hi": float(r["hi"]),
                    "method": method,
                }
            )
    return out


def forest_plot(
    rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "Δ EM vs control (95% interval)"
) -> Path:
    """Write the forest plot PNG to `path` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.audit_plots import save_png

    layout = forest_layout(rows)
    colours = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(r["method"] for r in layout))}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(layout) + 1.4), dpi=100)
    for y, r in enumerate(reversed(layout)):
        c = colours[r["method"]]
        ax.hlines(y, r["lo"], r["hi"], color=c, linewidth=2.5 if r["pooled"] else 1.5)
        ax.plot(r["delta"], y, marker="D" if r["pooled"] else "o", markersize=8 if r["pooled"] else 5, color=c)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(layout)), [r["label"] for r in reversed(layout)])
    ax.set_xlabel("Δ EM (points)")
    ax.set_title(title)
    return save_png(fig, path)
