"""The `experiment` flow's comparison report: every run against the α = 0 control, paired.

    python -c "from flows.experiment_report import write_experiment_report; help(write_experiment_report)"

Writes `<workdir>/report/report.md` (+ `em_f1.png` copied from the evaluation report):
the runs with their role, start weights, losses and budget; EM/F1 with 95% bootstrap
intervals per evaluation set; the PAIRED bootstrap interval of every run minus the control
on the same questions (`training.report.paired_differences`, control first); the stage table
of the last run of each stage; a link to the full evaluation report.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from flows.experiment_profile import ExperimentPlan, RunPlan
from pipeline import io, schemas


def _losses(run: RunPlan) -> str:
    return ", ".join(f"{s.name}×{s.weight:g}" for s in run.train.losses)


def _budget(run: RunPlan) -> str:
    o = run.train.optim
    steps = f"{o.max_steps} steps" if o.max_steps else f"{o.epochs:g} epochs"
    return f"{steps}, {o.batch_windows}×{o.grad_accum} windows, lr {o.lr:g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows), ""]


def eval_set_names(plan: ExperimentPlan) -> list[str]:
    from pipeline.attacks import parse_eval_set

    e = plan.profile.evaluate
    return [parse_eval_set(text, e.data_dir).name for text in e.sets]


def run_table(plan: ExperimentPlan, state: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for run in (plan.baseline, plan.control, *plan.methods):
        start = Path(run.train.init_from).parent.name if run.train.init_from else f"{run.train.model.name} (fresh)"
        seconds = state.get(f"train:{run.name}", {}).get("seconds", "–")
        rows.append([f"`{run.name}`", run.role, start, _losses(run), _budget(run), seconds])
    return rows


def comparison_rows(plan: ExperimentPlan, order: list[str], n_resamples: int) -> tuple[list[int], list[list[Any]], list[list[Any]], list[list[Any]]]:
    """(top-k ks, EM/F1 rows, paired differences vs the control, slice rows) from the `metrics` and `predictions` artifacts."""
    from training.report import paired_differences, slice_frame, summary_rows, topk_ks

    sets = eval_set_names(plan)
    metrics = io.read(plan.root, schemas.METRICS).filter(pl.col("eval_set").is_in(sets) & pl.col("run").is_in(order))
    metrics = metrics.sort(pl.col("eval_set").replace_strict({s: i for i, s in enumerate(sets)}, return_dtype=pl.Int32),
                           pl.col("run").replace_strict({r: i for i, r in enumerate(order)}, return_dtype=pl.Int32),
                           maintain_order=True)
    preds = pl.concat([io.read(plan.root, schemas.PREDICTIONS, {"eval_set": s, "run": r})
                       for s in sets for r in order if io.partition_files(plan.root, schemas.PREDICTIONS, {"eval_set": s, "run": r})],
                      how="vertical_relaxed")
    diffs = paired_differences(preds, n_resamples=n_resamples)
    diff_rows = [[d["eval_set"], f"`{d['run']}` − `{d['baseline']}`", d["metric"].upper(),
                  f"{d['difference']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]", f"{d['p_not_better']:.3f}", d["n"]]
                 for d in diffs.iter_rows(named=True)]
    slices = [[r["eval_set"], r["slice"], f"`{r['run']}`", r["metric"].upper(), _interval(r), r["n"]]
              for r in slice_frame(metrics).iter_rows(named=True)]
    return topk_ks(metrics), summary_rows(metrics), diff_rows, slices


def _interval(r: dict[str, Any]) -> str:
    if r["ci_low"] is None or r["ci_high"] is None:
        return f"{r['value']:.2f}"
    return f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def write_experiment_report(plan: ExperimentPlan, order: list[str], eval_report: str, state: dict[str, Any]) -> Path:
    """Write the comparison report; `order` starts with the control. Returns the markdown path."""
    p = plan.profile
    out = plan.workdir / "report"
    out.mkdir(parents=True, exist_ok=True)
    ks, metric_rows, diff_rows, slice_rows = comparison_rows(plan, order, p.evaluate.n_resamples)
    lines = [f"# Experiment `{p.name}`", "", p.description.strip(), "",
             f"- finished: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
             f"- experiment folder: `{plan.workdir}`; artifact root: `{plan.root}`",
             f"- training partition: `{p.dataset}/{p.split}`; evaluation sets: {', '.join(eval_set_names(plan))}",
             f"- equal budget: every method and the control start from `{plan.baseline.name}` with the same "
             f"{', '.join(f'`{o}`' for o in p.continuation) or 'config budget'}; the control `{plan.control.name}` is "
             f"`{p.control.of}` with every loss except {', '.join(p.control.keep)} at weight 0 (α = 0)", "",
             "## Runs", ""]
    lines += _table(["run", "role", "starts from", "losses (name × weight)", "budget", "train s"], run_table(plan, state))
    lines += ["## EM / F1 (95% bootstrap intervals)", ""]
    lines += _table(["eval set", "run", "n", "EM", "F1"] + [f"top-{k} EM" for k in ks], metric_rows)
    lines += [f"## Each run minus the control `{plan.control.name}` (paired bootstrap, 95%)", "",
              "Same questions resampled for both runs; `p_not_better`: share of resamples with difference ≤ 0.", ""]
    lines += _table(["eval set", "runs", "metric", "difference [95% CI]", "p_not_better", "n"], diff_rows)
    if slice_rows:
        lines += ["## Slices (near-miss: the baseline's prediction is in the gold's sentence, same coarse type, other text)", ""]
        lines += _table(["eval set", "slice", "run", "metric", "value [95% CI]", "n"], slice_rows)
    stages = [[name, s["seconds"], s["finished"]] for name, s in state.items() if name != "report" and s.get("status") == "done"]
    lines += ["## Stages (last completed run of each; a re-run skips unchanged ones)", ""]
    lines += _table(["stage", "seconds", "finished"], stages)
    png = Path(eval_report).parent / "em_f1.png"
    if png.exists():
        shutil.copyfile(png, out / "em_f1.png")
        lines += ["![EM and F1 per run](em_f1.png)", ""]
    lines += [f"Full evaluation report (top-k curves, slices, breakdowns): `{eval_report}`", ""]
    path = out / "report.md"
    tmp = out / ".report.md.tmp"
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path

