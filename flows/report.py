"""Run summary of a build flow: a Prefect table artifact, a markdown artifact and a file.

The report lists, per stage and partition: rows, rejects, negatives per example (for
near-miss), seconds and whether the stage was skipped; then the rejects by reason.
The markdown is also written to `<root>/reports/<flow>-<UTC timestamp>.md`.

    python -c "from flows.report import report_markdown; help(report_markdown)"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.schemas import REJECTS


def table_rows(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per stage report (dicts from `StageReport.as_row`): stage, partition, counts, seconds, skipped."""
    rows = []
    for r in reports:
        stats = r.get("stats") or {}
        rows.append(
            {
                "stage": r["stage"],
                "dataset": r["dataset"],
                "split": r["split"],
                "rows": int(r.get("rows", 0)),
                "rejects": int(r.get("rejects", 0)),
                "negatives_per_example": stats.get("negatives_per_example", ""),
                "with_negative": stats.get("with_negative", ""),
                "seconds": round(float(r.get("seconds", 0.0)), 2),
                "skipped": bool(r.get("skipped", False)),
            }
        )
    return rows


def stage_totals(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Time, rows and rejects per stage, summed over partitions."""
    totals: dict[str, dict[str, Any]] = {}
    for r in reports:
        t = totals.setdefault(
            r["stage"], {"stage": r["stage"], "partitions": 0, "skipped": 0, "rows": 0, "rejects": 0, "seconds": 0.0}
        )
        t["partitions"] += 1
        t["skipped"] += int(bool(r.get("skipped")))
        t["rows"] += int(r.get("rows", 0))
        t["rejects"] += int(r.get("rejects", 0))
        t["seconds"] = round(t["seconds"] + float(r.get("seconds", 0.0)), 2)
    return list(totals.values())


def rejects_by_reason(root: str | Path, partitions: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Counts of rejects per dataset, split, stage and reason over the given partitions."""
    frames = [io.read(root, REJECTS, part) for part in partitions if io.partition_entry(root, REJECTS, part)]
    if not frames:
        return []
    df = pl.concat(frames).group_by("dataset", "split", "stage", "reason").len("count")
    return df.sort("dataset", "split", "stage", pl.col("count"), descending=[False, False, False, True]).to_dicts()


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table as lines (header, rule, one line per row), then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""]


def _md_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Dict rows (columns of the first) as a markdown table; `_none_` without rows."""
    if not rows:
        return "_none_\n"
    return "\n".join(md_table(list(rows[0]), [[r.get(c, "") for c in rows[0]] for r in rows]))


def report_markdown(
    flow_name: str, reports: Sequence[Mapping[str, Any]], root: str | Path, config: Mapping[str, Any], seconds: float
) -> str:
    """The markdown report of one flow run."""
    parts = sorted({(r["dataset"], r["split"]) for r in reports if r["stage"] != "index"})
    rej = rejects_by_reason(root, [{"dataset": d, "split": s} for d, s in parts])
    skipped = sum(bool(r.get("skipped")) for r in reports)
    lines = [
        f"# {flow_name} run report",
        "",
        f"- artifact root: `{root}`",
        f"- finished: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- wall time: {seconds:.1f} s; {len(reports)} stage runs, {skipped} skipped (inputs unchanged)",
        f"- miners: {', '.join(config.get('miners', [])) or 'none'}; "
        f"spaCy: `{config.get('index', {}).get('model', '')}`",
        "",
        "## Time per stage",
        "",
        _md_table(stage_totals(reports)),
        "## Stages by partition",
        "",
        _md_table(table_rows(reports)),
        "## Rejects by reason",
        "",
        _md_table(rej),
    ]
    failed = [
        {"dataset": r["dataset"], "source": r.get("path", ""), "error": r["failed"]} for r in reports if r.get("failed")
    ]
    if failed:  # a source that could not be read was left out of this build
        lines += ["## Sources that could not be read", "", _md_table(failed)]
    return "\n".join(lines)


def write_report(root: str | Path, flow_name: str, markdown: str) -> Path:
    """Write the markdown to `<root>/reports/<flow>-<timestamp>.md` and return the path."""
    d = Path(root) / "reports"
    d.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = d / f"{flow_name}-{stamp}.md"
    path.write_text(markdown, encoding="utf-8")
    return path


def publish(
    flow_name: str,
    reports: Sequence[Mapping[str, Any]],
    root: str | Path,
    config: Mapping[str, Any],
    seconds: float,
    audit: str | Path | None = None,
) -> Path:
    """Create the Prefect table + markdown artifacts of this run and write the report file, with
    histogram PNGs beside it (`flows.report_plots`) and a link to the audit site when one was written."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from flows.report_plots import plots_markdown, report_plots

    markdown = report_markdown(flow_name, reports, root, config, seconds)
    path = write_report(root, flow_name, markdown)
    extra = plots_markdown(report_plots(reports, root, path.with_suffix("")), audit)
    if extra:
        markdown = markdown + "\n" + extra
        path.write_text(markdown, encoding="utf-8")
    create_table_artifact(
        table=table_rows(reports), key=f"{flow_name}-stages", description=f"{flow_name}: stages by partition"
    )
    create_markdown_artifact(
        markdown=markdown, key=f"{flow_name}-report", description=f"{flow_name} run report ({path})"
    )
    return path
