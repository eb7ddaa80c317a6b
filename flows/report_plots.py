"""Plots and links appended to a build report: histogram PNGs beside the markdown, the audit site.

    python -c "from flows.report_plots import report_plots; help(report_plots)"

`report_plots` writes `<report stem>-negatives.png` (near-miss negatives per example, from the
near-miss stage reports) and `<report stem>-bundle-sizes.png` (members per bundle per kind and
mode, from the run's `bundles` partitions); `plots_markdown` is the section that shows them
(relative links, so the report and its PNGs move together) and links the audit site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.audit_plots import histogram_png
from pipeline.schemas import BUNDLES

BUNDLE_STAGES = ("ropes_bundles", "flips")


def negatives_histograms(reports: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, int]]]:
    """partition -> (negatives, examples) from the near-miss stage reports' `stats.histogram`."""
    out = {}
    for r in reports:
        hist = (r.get("stats") or {}).get("histogram") if r["stage"] == "near_miss" else None
        if hist:
            out[f"{r['dataset']}/{r['split']}"] = sorted((int(k), int(v)) for k, v in hist.items())
    return out


def bundle_size_histograms(reports: Sequence[Mapping[str, Any]], root: str | Path) -> dict[str, list[tuple[int, int]]]:
    """kind/mode -> (members, bundles) over the `bundles` partitions the run's bundle stages cover."""
    parts = sorted({(r["dataset"], r["split"]) for r in reports if r["stage"] in BUNDLE_STAGES})
    frames = [
        io.read(root, BUNDLES, p)
        for p in ({"dataset": d, "split": s} for d, s in parts)
        if io.partition_entry(root, BUNDLES, p)
    ]
    frames = [f for f in frames if f.height]
    if not frames:
        return {}
    per = pl.concat(frames).group_by("dataset", "split", "kind", "mode", "bundle_id").len("size")
    out = {}
    for (kind, mode), g in sorted(per.group_by(["kind", "mode"]), key=lambda t: t[0]):
        vc = g["size"].value_counts().sort("size")
        out[f"{kind}/{mode}"] = [(int(a), int(b)) for a, b in vc.iter_rows()]
    return out


def report_plots(reports: Sequence[Mapping[str, Any]], root: str | Path, stem: Path) -> list[tuple[str, str]]:
    """Write the histogram PNGs beside the report whose path without `.md` is `stem`; (title, file name) each."""
    out = []
    for title, groups, suffix, xlabel in (
        ("near-miss negatives per example", negatives_histograms(reports), "negatives", "negatives"),
        ("bundle size per kind and mode", bundle_size_histograms(reports, root), "bundle-sizes", "members per bundle"),
    ):
        if groups:
            file = f"{stem.name}-{suffix}.png"
            histogram_png(groups, stem.parent / file, title, xlabel)
            out.append((title, file))
    return out


def plots_markdown(plots: Sequence[tuple[str, str]], audit: str | Path | None = None) -> str:
    """The `## Plots` section (and `## Audit site` when one was written)."""
    lines = []
    if plots:
        lines += ["## Plots", ""] + [f"![{title}]({file})\n" for title, file in plots]
    if audit is not None:
        lines += [
            "## Audit site",
            "",
            f"[{audit}]({Path(audit).resolve().as_uri()}): open it in a browser (`cqa audit` rewrites it)",
            "",
        ]
    return "\n".join(lines)
