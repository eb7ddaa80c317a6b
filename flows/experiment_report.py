"""The `experiment` flow's comparison report: every run against the α = 0 control, paired.

    python -c "from flows.experiment_report import write_experiment_report; help(write_experiment_report)"

Writes `<workdir>/report/report.md` (+ `em_f1.png` copied from the evaluation report). It
leads with the result: per method and evaluation set, each seed's difference to the control
of the same seed, the mean difference, its spread over seeds, and a paired bootstrap over
questions pooled across seeds (`training.metrics.seeds`), with a verdict that says "helps"
only when that interval excludes 0; a one-seed profile is labelled "single seed" there. Then
the baseline's and the control's spread over seeds; the runs with their role, seed, start
weights, losses and budget; EM/F1 with 95% bootstrap intervals per run; the paired interval
of every run minus its seed's control; slices; the stage table; a link to the full
evaluation report.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from flows.experiment_profile import ExperimentPlan, RunPlan
from flows.report import md_table
from pipeline import io, schemas
from training.metrics.seeds import ABSTAIN_ALL, VERDICT_WORDS  # numpy only, shared with training.portable_experiment


def _losses(run: RunPlan) -> str:
    return ", ".join(f"{s.name}×{s.weight:g}" for s in run.train.losses)


def _budget(run: RunPlan) -> str:
    o = run.train.optim
    steps = f"{o.max_steps} steps" if o.max_steps else f"{o.epochs:g} epochs"
    return f"{steps}, {o.batch_windows}×{o.grad_accum} windows, lr {o.lr:g}"


def eval_set_names(plan: ExperimentPlan) -> list[str]:
    from pipeline.eval_sets import parse_eval_set

    e = plan.profile.evaluate
    return [parse_eval_set(text, e.data_dir).name for text in e.sets]


def run_table(plan: ExperimentPlan, state: dict[str, Any]) -> list[list[Any]]:
    rules = null_rules(plan)
    rows = []
    for run in (*plan.baselines, *plan.controls, *plan.methods):
        start = Path(run.train.init_from).parent.name if run.train.init_from else f"{run.train.model.name} (fresh)"
        seconds = state.get(f"train:{run.name}", {}).get("seconds", "–")
        rows.append(
            [f"`{run.name}`", run.role, run.seed, start, _losses(run), _budget(run), rules.get(run.name, "–"), seconds]
        )
    return rows


def _scores(preds: pl.DataFrame, eval_set: str, run: str, metric: str) -> dict[str, float]:
    frame = preds.filter((pl.col("eval_set") == eval_set) & (pl.col("run") == run))
    return dict(zip(frame["example_id"].to_list(), (frame[metric].cast(pl.Float64) * 100.0).to_list(), strict=True))


def abstain_shares(preds: pl.DataFrame) -> dict[tuple[str, str], float]:
    """(eval set, run) -> share of questions answered with the empty string (the null answer)."""
    if "prediction" not in preds.columns:  # the predictions schema has it: a frame without it is a bug
        raise ValueError(f"predictions frame without a 'prediction' column (columns: {preds.columns})")
    empty = pl.col("prediction").fill_null("").str.strip_chars() == ""
    frame = preds.group_by("eval_set", "run").agg(empty.mean().alias("share"))
    return {(r["eval_set"], r["run"]): float(r["share"]) for r in frame.iter_rows(named=True)}


def abstain_note(shares: dict[tuple[str, str], float], eval_set: str, runs: dict[str, str]) -> str | None:
    """`not comparable: ...` when a run of the comparison (label -> run name) abstains on ≥ 99%."""
    hits = [
        f"{label} abstains on {shares[(eval_set, run)]:.0%}"
        for label, run in runs.items()
        if shares.get((eval_set, run), 0.0) >= ABSTAIN_ALL
    ]
    return "not comparable: " + "; ".join(hits) + " (the score is the unanswerable share)" if hits else None


# Metrics compared per seed only (one value per run, no per-question pairing): bundle consistency
# and joint inference (per bundle slice), the drop under an attack (lower is better).
PER_SEED_METRICS = ("consistency", "joint_em", "joint_consistency", "drop_em", "drop_f1")
# The lead table (`seed_rows` + `per_seed_rows`), and its cells after "per seed" for a pair without values.
LEAD_COLUMNS = (
    "eval set",
    "runs",
    "metric",
    "per seed",
    "mean ± sd",
    "pooled [95% CI]",
    "p_not_better",
    "verdict",
    "paper claims",
    "n",
)
NOT_COMPARED = ("–", "–", "–", "not compared", "", 0)


def control_description(plan: ExperimentPlan) -> str:
    c = plan.profile.control
    if c.describe:
        return c.describe
    extra = f", then {', '.join(f'`{o}`' for o in c.overrides)}" if c.overrides else ""
    if c.of is not None:
        return f"`{c.of}` with every loss except {', '.join(c.keep) or 'none'} at weight 0 (α = 0){extra}"
    return f"`{c.config}`{extra} (an explicit control run, same budget)"


def null_rules(plan: ExperimentPlan) -> dict[str, str]:
    """Run name → the null rule its evaluation uses (`` `RULE` THRESHOLD (from where) ``), in flows.evaluate's order
    (`flows.experiment.plan_null_rules`)."""
    from flows.experiment import plan_null_rules

    return {
        name: f"`{c.rule}`" + (f" {c.threshold:g}" if c.rule != "none" else "") + f" ({c.source})"
        for name, c in plan_null_rules(plan).items()
    }


def _value(metrics: pl.DataFrame, eval_set: str, run: str, metric: str, slice_name: str = "all") -> float | None:
    """The run's value of `metric` on the slice of `eval_set`; None when there is none or it is NaN (no bundle)."""
    hit = metrics.filter(
        (pl.col("eval_set") == eval_set)
        & (pl.col("run") == run)
        & (pl.col("metric") == metric)
        & (pl.col("slice") == slice_name)
    )
    v = float(hit["value"][0]) if hit.height else None
    return None if v is None or v != v else v


def _in_order(column: str, order: Sequence[str]) -> pl.Expr:
    """Sort key: the position of the column's value in `order`."""
    return pl.col(column).replace_strict({v: i for i, v in enumerate(order)}, return_dtype=pl.Int32)


def _pm(mean: float, sd: float | None, signed: bool = False) -> str:
    m = f"{mean:+.2f}" if signed else f"{mean:.2f}"
    return f"{m} (single seed)" if sd is None else f"{m} ± {sd:.2f}"


def seed_rows(
    plan: ExperimentPlan,
    preds: pl.DataFrame,
    n_resamples: int,
    forest: list[dict[str, Any]] | None = None,
    shares: dict[tuple[str, str], float] | None = None,
) -> list[list[Any]]:
    """The lead table: per eval set, method and metric, method − control per seed, mean ± sd, pooled bootstrap."""
    from training.metrics.seeds import seed_comparison

    claims = {m.name: m.claim for m in plan.profile.methods if m.claim}
    shares = abstain_shares(preds) if shares is None else shares
    rows = []
    for es in eval_set_names(plan):
        for group in plan.method_groups:
            runs = {f"`{plan.run(group, s).name}`": plan.run(group, s).name for s in plan.seeds}
            runs |= {f"`{plan.control_for(s).name}`": plan.control_for(s).name for s in plan.seeds}
            for metric in ("em", "f1"):
                head = [es, f"`{group}` − `{plan.control_group}`", metric.upper()]
                method = {s: _scores(preds, es, plan.run(group, s).name, metric) for s in plan.seeds}
                control = {s: _scores(preds, es, plan.control_for(s).name, metric) for s in plan.seeds}
                lacking = [s for s in plan.seeds if not method[s] or not control[s]]
                if lacking:  # say so in the table: a silently missing row would read as "no result"
                    rows.append([*head, f"no predictions for seed(s) {lacking}", *NOT_COMPARED])
                    continue
                c = seed_comparison(method, control, n_resamples=n_resamples)
                if forest is not None and metric == "em":  # seeds as points (no per-seed interval), pooled with its CI
                    points = [(s, d, d, d) for s, d in zip(c.seeds, c.per_seed, strict=True)]
                    points.append(("pooled", c.pooled.estimate, c.pooled.low, c.pooled.high))
                    label = f"{group} ({es})"
                    forest += [{"method": label, "seed": s, "delta": d, "lo": lo, "hi": hi} for s, d, lo, hi in points]
                verdict = VERDICT_WORDS.get(c.verdict, c.verdict) + (" (single seed)" if c.single_seed else "")
                rows.append(
                    [
                        *head,
                        " ".join(f"s{s}: {d:+.2f}" for s, d in zip(c.seeds, c.per_seed, strict=True)),
                        _pm(c.mean, c.sd, signed=True),
                        f"{c.pooled.estimate:+.2f} [{c.pooled.low:+.2f}, {c.pooled.high:+.2f}]",
                        f"{c.pooled.p_not_better:.3f}",
                        abstain_note(shares, es, runs) or verdict,
                        claims.get(group, "–") if metric == "em" else "",
                        c.n,
                    ]
                )
    return rows


def per_seed_rows(plan: ExperimentPlan, metrics: pl.DataFrame) -> list[list[Any]]:
    """Method − control per seed for the run-level metrics (`PER_SEED_METRICS`): consistency and joint
    inference per bundle slice, the drop under an attack. No per-question pairing exists for them, so
    no interval: the row says so, and a verdict is given only when every seed agrees in sign."""
    claims = {m.name: m.claim for m in plan.profile.methods if m.claim}
    rows = []
    for es in eval_set_names(plan):
        here = metrics.filter((pl.col("eval_set") == es) & pl.col("metric").is_in(PER_SEED_METRICS))
        for (metric, slice_name), _ in here.group_by(["metric", "slice"], maintain_order=True):
            label = metric + ("" if slice_name == "all" else f" [{slice_name}]")
            better = (lambda d: d < 0) if metric.startswith("drop_") else (lambda d: d > 0)
            for group in plan.method_groups:
                head = [es, f"`{group}` − `{plan.control_group}`", label]
                diffs = {}
                for seed in plan.seeds:
                    m = _value(here, es, plan.run(group, seed).name, metric, slice_name)
                    c = _value(here, es, plan.control_for(seed).name, metric, slice_name)
                    if m is not None and c is not None:
                        diffs[seed] = m - c
                gaps = [s for s in plan.seeds if s not in diffs]
                if not diffs:  # the metric exists for this set but not for this pair: say so, never drop the row
                    rows.append([*head, f"no value for seed(s) {gaps}", *NOT_COMPARED])
                    continue
                vals = list(diffs.values())
                if len(vals) == 1:
                    verdict = "single seed, no interval"
                elif all(d == 0 for d in vals):  # equal in every seed is not a disagreement
                    verdict = "no difference in any seed"
                elif all(better(d) for d in vals):
                    verdict = "every seed better (no interval)"
                elif all(not better(d) and d != 0 for d in vals):
                    verdict = "every seed worse (no interval)"
                else:
                    verdict = "seeds disagree (no interval)"
                sd = statistics.stdev(vals) if len(vals) > 1 else None
                per = " ".join(f"s{s}: {d:+.2f}" for s, d in diffs.items()) + (
                    f" (no value for seed(s) {gaps})" if gaps else ""
                )
                claim = claims.get(group, "–") if metric in ("consistency", "drop_em") else ""
                mean = _pm(statistics.fmean(vals), sd, signed=True)
                rows.append([*head, per, mean, "per seed only", "–", verdict, claim, len(vals)])
    return rows


def spread_rows(plan: ExperimentPlan, metrics: pl.DataFrame) -> list[list[Any]]:
    """The baseline's and the control's EM/F1 per seed, mean ± sd and range (the ruler's own noise)."""
    from training.metrics.seeds import spread

    groups = [
        (plan.baselines[0].group, {b.seed: b.name for b in plan.baselines}),
        (plan.control_group, {c.seed: c.name for c in plan.controls}),
    ]
    rows = []
    for es in eval_set_names(plan):
        for group, names in groups:
            for metric in ("em", "f1"):
                vals = {seed: v for seed, name in names.items() if (v := _value(metrics, es, name, metric)) is not None}
                if not vals:
                    continue
                mean, sd, lo, hi = spread(vals)
                per = " ".join(f"s{s}: {v:.2f}" for s, v in vals.items())
                rows.append([es, f"`{group}`", metric.upper(), per, _pm(mean, sd), f"{lo:.2f}–{hi:.2f}"])
    return rows


def comparison_rows(
    plan: ExperimentPlan, order: list[str], n_resamples: int, forest: list | None = None
) -> tuple[list[int], list[list[Any]], list[list[Any]], list[list[Any]], list[list[Any]], list[list[Any]]]:
    """(top-k ks, EM/F1 rows, paired differences vs each seed's control, slice rows, seed rows, spread rows)
    from the `metrics` and `predictions` artifacts."""
    from training.report import paired_differences, slice_frame, summary_rows, topk_ks

    sets = eval_set_names(plan)
    metrics = io.read(plan.root, schemas.METRICS).filter(pl.col("eval_set").is_in(sets) & pl.col("run").is_in(order))
    metrics = metrics.sort(_in_order("eval_set", sets), _in_order("run", order), maintain_order=True)
    preds = io.scan(plan.root, schemas.PREDICTIONS).filter(pl.col("eval_set").is_in(sets) & pl.col("run").is_in(order))
    preds = preds.collect().sort(_in_order("eval_set", sets), _in_order("run", order), maintain_order=True)
    per_seed = []
    for seed in plan.seeds:  # each seed's runs against that seed's control (control first)
        names = (
            [plan.control_for(seed).name]
            + [r.name for r in plan.methods if r.seed == seed]
            + [plan.baseline_for(seed).name]
        )
        frame = preds.filter(pl.col("run").is_in(names)).sort(_in_order("run", names), maintain_order=True)
        per_seed.append(paired_differences(frame, n_resamples=n_resamples))
    diffs = pl.concat(per_seed)
    diff_rows = [
        [
            d["eval_set"],
            f"`{d['run']}` − `{d['baseline']}`",
            d["metric"].upper(),
            f"{d['difference']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]",
            f"{d['p_not_better']:.3f}",
            d["n"],
        ]
        for d in diffs.iter_rows(named=True)
    ]
    slices = [
        [r["eval_set"], r["slice"], f"`{r['run']}`", r["metric"].upper(), _interval(r), r["n"]]
        for r in slice_frame(metrics).iter_rows(named=True)
    ]
    shares = abstain_shares(preds)
    summary = [
        [*r[:5], f"{shares[(r[0], r[1])]:.0%}" if (r[0], r[1]) in shares else "–", *r[5:]]
        for r in summary_rows(metrics)
    ]
    return (
        topk_ks(metrics),
        summary,
        diff_rows,
        slices,
        seed_rows(plan, preds, n_resamples, forest, shares) + per_seed_rows(plan, metrics),
        spread_rows(plan, metrics),
    )


def _interval(r: dict[str, Any]) -> str:
    if r["ci_low"] is None or r["ci_high"] is None:
        return f"{r['value']:.2f}"
    return f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def write_experiment_report(plan: ExperimentPlan, order: list[str], eval_report: str, state: dict[str, Any]) -> Path:
    """Write the comparison report; `order` starts with the control. Returns the markdown path."""
    p = plan.profile
    out = plan.workdir / "report"
    out.mkdir(parents=True, exist_ok=True)
    forest: list[dict[str, Any]] = []
    ks, metric_rows, diff_rows, slice_rows, seed_table, spread_table = comparison_rows(
        plan, order, p.evaluate.n_resamples, forest
    )
    base = (
        "one baseline per seed" if p.baseline_per_seed else f"one baseline (`{plan.baselines[0].name}`) for every seed"
    )
    seeds_line = (
        f"- seeds: {', '.join(str(s) for s in plan.seeds)} ({base}); every continuation starts from its seed's baseline"
        if not plan.single_seed
        else f"- **single seed ({plan.seeds[0]})**: the seed's share of every difference is not measured; "
        "use `seeds: [13, 14, 15]` (the default) before drawing a conclusion"
    )
    lines = [
        f"# Experiment `{p.name}`",
        "",
        p.description.strip(),
        "",
        f"- finished: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- experiment folder: `{plan.workdir}`; artifact root: `{plan.root}`",
        f"- training partition: `{p.dataset}/{p.split}`; evaluation sets: {', '.join(eval_set_names(plan))}",
        seeds_line,
        f"- equal budget: every method and the control start from their seed's baseline "
        f"`{plan.baselines[0].group}` with the same {', '.join(f'`{o}`' for o in p.continuation) or 'config budget'}; "
        f"the control `{plan.control_group}` is {control_description(plan)}",
        "",
        f"## Result: each method minus the control `{plan.control_group}`, over {len(plan.seeds)} seed(s)",
        "",
        "Per seed: the method and the control of that seed (same baseline, data, steps and seed; only the loss "
        "differs). Pooled: paired bootstrap over questions of the seed-averaged scores (95%); a method gains only "
        "when that interval excludes 0. `sd`: standard deviation of the per-seed differences. Consistency, joint "
        "inference and attack drops (lower is better) are one number per run: compared per seed only, without an "
        "interval. `paper claims`: the gain the paper reports at its own scale, a claim to test, not a target.",
        "",
    ]
    lines += md_table(LEAD_COLUMNS, seed_table)
    if forest:
        from flows.plots import forest_plot

        forest_plot(forest, out / "forest_em.png")
        lines += ["![Δ EM per method: each seed (a point), and the pooled 95% interval](forest_em.png)", ""]
    lines += ["## The ruler's noise: baseline and control over seeds", ""]
    lines += md_table(["eval set", "run", "metric", "per seed", "mean ± sd", "range"], spread_table)
    lines += ["## Runs", ""]
    lines += md_table(
        ["run", "role", "seed", "starts from", "losses (name × weight)", "budget", "null rule (evaluation)", "train s"],
        run_table(plan, state),
    )
    lines += ["## EM / F1 (95% bootstrap intervals)", ""]
    lines += ["`abstains`: share of questions the run answered with the null answer (its own null rule).", ""]
    lines += md_table(["eval set", "run", "n", "EM", "F1", "abstains"] + [f"top-{k} EM" for k in ks], metric_rows)
    lines += [
        "## Each run minus its seed's control (paired bootstrap, 95%)",
        "",
        "Same questions resampled for both runs; `p_not_better`: share of resamples with difference ≤ 0.",
        "",
    ]
    lines += md_table(["eval set", "runs", "metric", "difference [95% CI]", "p_not_better", "n"], diff_rows)
    if slice_rows:
        lines += [
            "## Slices (near-miss: the baseline's prediction is in the gold's sentence, same coarse type, other text)",
            "",
        ]
        lines += md_table(["eval set", "slice", "run", "metric", "value [95% CI]", "n"], slice_rows)
    stages = [
        [name, s["seconds"], s["finished"]]
        for name, s in state.items()
        if name != "report" and s.get("status") == "done"
    ]
    lines += ["## Stages (last completed run of each; a re-run skips unchanged ones)", ""]
    lines += md_table(["stage", "seconds", "finished"], stages)
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
