"""Evaluation report: markdown + PNG plots (matplotlib, Agg backend) from `metrics` and `predictions`.

    python -c "from training.report import write_report; help(write_report)"

`write_report(out_dir, metrics, predictions, meta)` writes into `out_dir`:
- `report.md`: the meta lines (each run's null rule among them) and a Warnings section
  (`meta["warnings"]`, e.g. the null rule `none` on a set with unanswerable questions); per
  evaluation set and run EM/F1 with 95% bootstrap intervals, top-k EM; for a negation set,
  its score unattacked beside the attacked one and the drop; SQuAD 2.0 breakdown and
  adversarial scores; bundle scores per bundle kind / mining mode; slice results
  (languages, near-miss, ...), and, when a set was evaluated with two or more runs, the
  PAIRED bootstrap interval of each run's difference to the first run (same questions
  resampled for both);
- `em_f1.png` (EM and F1 per set and run, interval whiskers), `topk.png` (top-k EM curves),
  `slices.png` (F1 per slice and run; only when there are slices).
Frames are the artifacts' columns plus their partition columns (`eval_set`, and `run` for predictions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from training.metrics.bootstrap import paired_bootstrap  # noqa: E402

MAIN_METRICS = ("em", "f1")
BREAKDOWN = ("has_ans_em", "has_ans_f1", "no_ans_em", "no_ans_f1", "best_em", "best_f1", "adv_em", "adv_f1")
# one row per bundle kind/mode (slice `bundles:<kind>/<mode>`)
BUNDLE = ("consistency", "joint_consistency", "joint_em")


def _fmt(value: float | None, low: float | None = None, high: float | None = None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _value(metrics: pl.DataFrame, eval_set: str, run: str, metric: str, slice_: str = "all") -> dict | None:
    hit = metrics.filter(
        (pl.col("eval_set") == eval_set)
        & (pl.col("run") == run)
        & (pl.col("metric") == metric)
        & (pl.col("slice") == slice_)
    )
    return hit.row(0, named=True) if hit.height else None


def _pairs(metrics: pl.DataFrame) -> list[tuple[str, str]]:
    """(eval_set, run) in first-seen order."""
    return list(dict.fromkeys(zip(metrics["eval_set"].to_list(), metrics["run"].to_list(), strict=True)))


def topk_ks(metrics: pl.DataFrame) -> list[int]:
    names = metrics.filter(pl.col("metric").str.contains(r"^top\d+_em$"))["metric"].unique().to_list()
    return sorted(int(n[3:-3]) for n in names)


def summary_rows(metrics: pl.DataFrame) -> list[list[str]]:
    """eval set | run | n | EM [CI] | F1 [CI] | top-k EM ... per (set, run)."""
    rows = []
    for es, run in _pairs(metrics):
        em, f1 = _value(metrics, es, run, "em"), _value(metrics, es, run, "f1")
        if em is None or f1 is None:
            continue
        topk = [_value(metrics, es, run, f"top{k}_em") for k in topk_ks(metrics)]
        rows.append(
            [
                es,
                run,
                em["n"],
                _fmt(em["value"], em["ci_low"], em["ci_high"]),
                _fmt(f1["value"], f1["ci_low"], f1["ci_high"]),
            ]
            + [_fmt(t["value"]) if t else "–" for t in topk]
        )
    return rows


def attack_rows(metrics: pl.DataFrame) -> list[list[str]]:
    """eval set | run | n | EM unattacked | EM attacked | EM drop [CI] | F1 ... for sets with `drop_em` rows."""
    rows = []
    for es, run in _pairs(metrics):
        cells = {
            m: _value(metrics, es, run, m) for m in ("em", "f1", "unattacked_em", "unattacked_f1", "drop_em", "drop_f1")
        }
        if cells["drop_em"] is None or cells["em"] is None or cells["f1"] is None:
            continue
        row = [es, run, cells["drop_em"]["n"]]
        for m in ("em", "f1"):
            u, a, d = cells[f"unattacked_{m}"], cells[m], cells[f"drop_{m}"]
            row += [
                _fmt(u["value"], u["ci_low"], u["ci_high"]) if u else "–",
                _fmt(a["value"], a["ci_low"], a["ci_high"]),
                _fmt(d["value"], d["ci_low"], d["ci_high"]),
            ]
        rows.append(row)
    return rows


def paired_differences(predictions: pl.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pl.DataFrame:
    """Per eval set, each run minus the set's first run on EM and F1 (paired by example id)."""
    rows = []
    for (es,), frame in predictions.group_by("eval_set", maintain_order=True):
        runs = list(dict.fromkeys(frame["run"].to_list()))
        ref = frame.filter(pl.col("run") == runs[0]).select("example_id", "em", "f1")
        for other in runs[1:]:
            joined = ref.join(
                frame.filter(pl.col("run") == other).select("example_id", "em", "f1"), on="example_id", suffix="_other"
            )
            if not joined.height:
                continue
            for m in MAIN_METRICS:
                ci = paired_bootstrap(
                    joined[f"{m}_other"].to_numpy() * 100.0,
                    joined[m].to_numpy() * 100.0,
                    n_resamples=n_resamples,
                    seed=seed,
                )
                rows.append(
                    {
                        "eval_set": es,
                        "run": other,
                        "baseline": runs[0],
                        "metric": m,
                        "difference": ci.estimate,
                        "ci_low": ci.low,
                        "ci_high": ci.high,
                        "p_not_better": ci.p_not_better,
                        "n": ci.n,
                    }
                )
    schema = {
        "eval_set": pl.String,
        "run": pl.String,
        "baseline": pl.String,
        "metric": pl.String,
        "difference": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "p_not_better": pl.Float64,
        "n": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def plot_em_f1(metrics: pl.DataFrame, path: Path) -> Path:
    """Grouped bars: one group per eval set, one bar per run, 95% interval whiskers; EM and F1 side by side."""
    sets = list(dict.fromkeys(metrics["eval_set"].to_list()))
    runs = list(dict.fromkeys(metrics["run"].to_list()))
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(sets) * max(1, len(runs)) / 2 + 4), 4), squeeze=False)
    width = 0.8 / max(1, len(runs))
    for ax, metric in zip(axes[0], MAIN_METRICS, strict=True):
        for j, run in enumerate(runs):
            vals = [_value(metrics, es, run, metric) for es in sets]
            y = np.array([v["value"] if v else np.nan for v in vals])
            lo = np.array([v["ci_low"] if v and v["ci_low"] is not None else np.nan for v in vals])
            hi = np.array([v["ci_high"] if v and v["ci_high"] is not None else np.nan for v in vals])
            x = np.arange(len(sets)) + (j - (len(runs) - 1) / 2) * width
            err = np.nan_to_num(np.stack([y - lo, hi - y]), nan=0.0).clip(min=0)
            ax.bar(x, np.nan_to_num(y), width, yerr=err, capsize=3, label=run)
        ax.set_xticks(np.arange(len(sets)), sets, rotation=20, ha="right")
        ax.set_ylabel(f"{metric.upper()} (%)")
        ax.set_title(f"{metric.upper()} (95% bootstrap CI)")
    axes[0][0].legend(fontsize="small")
    return _save(fig, path)


def plot_topk(metrics: pl.DataFrame, path: Path) -> Path:
    """Top-k EM against k: one line per (eval set, run)."""
    ks = topk_ks(metrics)
    fig, ax = plt.subplots(figsize=(6, 4))
    for es, run in _pairs(metrics):
        ys = [_value(metrics, es, run, f"top{k}_em") for k in ks]
        if all(y is not None for y in ys):
            ax.plot(ks, [y["value"] for y in ys], marker="o", label=f"{run} / {es}")
    ax.set_xticks(ks)
    ax.set_xlabel("k")
    ax.set_ylabel("top-k EM (%)")
    ax.set_title("EM when any of the k best distinct spans is right")
    ax.legend(fontsize="small")
    return _save(fig, path)


def slice_frame(metrics: pl.DataFrame) -> pl.DataFrame:
    """F1 and EM rows of every slice other than `all`."""
    return metrics.filter((pl.col("slice") != "all") & pl.col("metric").is_in(MAIN_METRICS))


def plot_slices(metrics: pl.DataFrame, path: Path) -> Path:
    """F1 per slice (x: `<eval set>:<slice>`), one bar per run, interval whiskers."""
    f1 = slice_frame(metrics).filter(pl.col("metric") == "f1")
    groups = list(
        dict.fromkeys(f"{a}:{b}" for a, b in zip(f1["eval_set"].to_list(), f1["slice"].to_list(), strict=True))
    )
    runs = list(dict.fromkeys(f1["run"].to_list()))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(runs)) / 2 + 3), 4))
    width = 0.8 / max(1, len(runs))
    for j, run in enumerate(runs):
        vals = [_value(f1, g.split(":", 1)[0], run, "f1", g.split(":", 1)[1]) for g in groups]
        y = np.array([v["value"] if v else np.nan for v in vals])
        lo = np.array([v["ci_low"] if v and v["ci_low"] is not None else np.nan for v in vals])
        hi = np.array([v["ci_high"] if v and v["ci_high"] is not None else np.nan for v in vals])
        x = np.arange(len(groups)) + (j - (len(runs) - 1) / 2) * width
        ax.bar(
            x, np.nan_to_num(y), width, yerr=np.nan_to_num(np.stack([y - lo, hi - y])).clip(min=0), capsize=3, label=run
        )
    ax.set_xticks(np.arange(len(groups)), groups, rotation=25, ha="right")
    ax.set_ylabel("F1 (%)")
    ax.set_title("F1 per slice")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report_markdown(
    metrics: pl.DataFrame, meta: Mapping[str, Any], images: Mapping[str, str], diffs: pl.DataFrame
) -> str:
    """The report text; `images` maps a title to a file name next to the report."""
    ks = topk_ks(metrics)
    meta = dict(meta)
    warnings = list(meta.pop("warnings", None) or [])
    lines = ["# Evaluation report", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- **warning**: {w}" for w in warnings]
    lines += [
        "",
        "## EM / F1 (95% bootstrap intervals, official SQuAD normalisation)",
        "",
        _md_table(["eval set", "run", "n", "EM", "F1"] + [f"top-{k} EM" for k in ks], summary_rows(metrics)),
    ]
    attack = attack_rows(metrics)
    if attack:
        lines += [
            "## Negation attack: the same questions unattacked and attacked",
            "",
            'Gold answers are kept; a distractor (the question with "not" before its first adjective, '
            "restated with a fake answer of the gold's type) is appended to the context. "
            "drop = unattacked − attacked (paired bootstrap, 95%).",
            "",
            _md_table(
                [
                    "eval set",
                    "run",
                    "n",
                    "EM unattacked",
                    "EM attacked",
                    "EM drop",
                    "F1 unattacked",
                    "F1 attacked",
                    "F1 drop",
                ],
                attack,
            ),
        ]
    extra = metrics.filter(pl.col("metric").is_in(BREAKDOWN) & (pl.col("slice") == "all"))
    if extra.height:
        rows = [
            [r["eval_set"], r["run"], r["metric"], _fmt(r["value"], r["ci_low"], r["ci_high"]), r["n"]]
            for r in extra.iter_rows(named=True)
        ]
        lines += [
            "## SQuAD 2.0 breakdown and adversarial scores",
            "",
            "`adv_*`: worst case over each original question and its AddSent/AddOneSent variants.",
            "",
            _md_table(["eval set", "run", "metric", "value", "n"], rows),
        ]
    bundle = metrics.filter(pl.col("metric").is_in(BUNDLE) & pl.col("slice").str.starts_with("bundles:"))
    if bundle.height:
        rows = [
            [r["eval_set"], r["run"], r["slice"].removeprefix("bundles:"), r["metric"], _fmt(r["value"]), r["n"]]
            for r in bundle.iter_rows(named=True)
        ]
        lines += [
            "## Bundle scores (per bundle kind / mining mode)",
            "",
            "`consistency`: share of bundles (size ≥ 2) with every question right; `joint_*`: after "
            "one-to-one Hungarian assignment of each bundle's answers (n = bundles, or (bundle, question) "
            "pairs for `joint_em`). A question may belong to several bundles.",
            "",
            _md_table(["eval set", "run", "bundles", "metric", "value", "n"], rows),
        ]
    if diffs.height:
        rows = [
            [
                r["eval_set"],
                f"{r['run']} − {r['baseline']}",
                r["metric"].upper(),
                _fmt(r["difference"], r["ci_low"], r["ci_high"]),
                f"{r['p_not_better']:.3f}",
                r["n"],
            ]
            for r in diffs.iter_rows(named=True)
        ]
        lines += [
            "## Paired differences between runs (paired bootstrap, 95%)",
            "",
            "`p_not_better`: share of resamples where the difference is ≤ 0.",
            "",
            _md_table(["eval set", "runs", "metric", "difference", "p_not_better", "n"], rows),
        ]
    sl = slice_frame(metrics)
    if sl.height:
        rows = [
            [
                r["eval_set"],
                r["slice"],
                r["run"],
                r["metric"].upper(),
                _fmt(r["value"], r["ci_low"], r["ci_high"]),
                r["n"],
            ]
            for r in sl.iter_rows(named=True)
        ]
        lines += ["## Slices", "", _md_table(["eval set", "slice", "run", "metric", "value", "n"], rows)]
    lines += ["## Plots", ""] + [f"![{title}]({name})\n" for title, name in images.items()]
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    metrics: pl.DataFrame,
    predictions: pl.DataFrame,
    meta: Mapping[str, Any] | None = None,
    n_resamples: int = 1000,
) -> Path:
    """Write `report.md` and its PNGs into `out_dir`; returns the markdown path."""
    if not metrics.height:
        raise ValueError("write_report: the metrics frame is empty (nothing was evaluated)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {"EM and F1 per run": plot_em_f1(metrics, out / "em_f1.png").name}
    if topk_ks(metrics):
        images["Top-k EM"] = plot_topk(metrics, out / "topk.png").name
    if slice_frame(metrics).height:
        images["F1 per slice"] = plot_slices(metrics, out / "slices.png").name
    diffs = paired_differences(predictions, n_resamples=n_resamples)
    path = out / "report.md"
    path.write_text(report_markdown(metrics, dict(meta or {}), images, diffs), encoding="utf-8")
    return path
