"""`evaluate` flow: checkpoints × evaluation sets → `predictions`, `metrics` and a report.

    cqa evaluate runs/mle runs/ce_question --set squad11-eval --set neg-squad11-eval --set addonesent
    cqa evaluate minilm --set squad11-eval --limit 200 --data-dir ../shared/data
    cqa evaluate tiny --set sample=data/samples/squad11_sample.json --root /tmp/cqa

Checkpoints: run folders (`runs/<id>`: its `model/`, else its latest checkpoint), model
folders, or the untrained aliases `tiny` / `minilm`. Evaluation sets: presets of
`pipeline.eval_sets.PRESETS` resolved under `--data-dir` (`squad11-eval`, `addsent`,
`xquad-de`, `ropes-dev`, ...), `NAME=PATH[:FORMAT]` for any file or hub id, and `neg-<set>`
for the negation attack, which also scores the same questions unattacked (set
`neg-<set>~unattacked`) and reports the drop. Each run is decoded with its own null rule
(`resolve_null_rules`). Everything is checked before the first model loads.

Writes
- `predictions/eval_set=<set>/run=<run>/` (one row per example, with EM/F1),
- `metrics/eval_set=<set>/` (rows of earlier runs on that set are kept, this run's replaced),
- `<root>/reports/evaluate-<UTC time>/report.md` + `em_f1.png`, `topk.png`, `slices.png`,
  also published as a Prefect markdown artifact (images referenced by path),
and returns the report path. Tasks pass paths and names, never frames.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
from prefect import flow, get_run_logger, task

from pipeline import io, schemas
from pipeline.attacks import NEG_SUFFIX, load_eval_set
from pipeline.eval_sets import EvalSet, adversarial_base_id, parse_eval_set

SET_SPLIT = "eval"  # split name of the prepared evaluation sets under the report's `inputs/` root
ALIASES = ("tiny", "minilm")


UNATTACKED = "~unattacked"  # suffix of the set holding the attacked examples unattacked (negation attack)


@task(name="prepare-eval-set")
def prepare_eval_set(
    es: EvalSet, inputs_root: str, limit: int | None, exclude_titles: list[str] | None = None
) -> list[str]:
    """Load (and attack) one evaluation set into `<inputs_root>/examples|contexts|rejects`; returns set names written.

    A negation set `neg-x` also writes `neg-x~unattacked` (the same examples without the
    attack, original ids) and `negation-neg-x.parquet` (one audit row per attacked example).
    `exclude_titles`: questions on these articles (the training partition's) are not scored:
    they go to the set's rejects (`article_in_training_data`) before `limit` applies, so
    an attack built on other articles' paragraphs never scores text the model trained on.
    """
    frames = load_eval_set(es)
    examples, rejects, leak = exclude_training_articles(frames.examples, frames.rejects, exclude_titles)
    if leak:
        get_run_logger().warning(
            "eval set %s: %d question(s) on %d training article(s) not scored (%s)",
            es.name,
            sum(leak.values()),
            len(leak),
            ", ".join(sorted(leak)),
        )
    examples = examples.head(limit) if limit else examples
    config = {
        "source": es.source.as_dict(),
        "negation": es.negation,
        "limit": limit,
        "exclude_titles": sorted(set(exclude_titles or [])),
    }
    _write_set(inputs_root, es.name, examples, frames.contexts, rejects, config)
    names = [es.name]
    if frames.unattacked is not None:
        kept = [i.removesuffix(NEG_SUFFIX) for i in examples["example_id"].to_list()]
        clean = frames.unattacked.examples.filter(pl.col("example_id").is_in(kept))
        _write_set(
            inputs_root, es.name + UNATTACKED, clean, frames.unattacked.contexts, frames.unattacked.rejects, config
        )
        frames.audit.filter(pl.col("example_id").is_in(examples["example_id"].implode())).write_parquet(
            Path(inputs_root) / f"negation-{es.name}.parquet"
        )
        names.append(es.name + UNATTACKED)
    reasons = rejects.group_by("reason").len().sort("len", descending=True).iter_rows()
    get_run_logger().info(
        "eval set %s: %d examples, %d rejected (%s)",
        es.name,
        examples.height,
        rejects.height,
        ", ".join(f"{r}: {n}" for r, n in reasons) or "none",
    )
    return names


def exclude_training_articles(
    examples: pl.DataFrame, rejects: pl.DataFrame, titles: list[str] | None
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Drop the questions on these (non-empty) article titles into `rejects` (`article_in_training_data`).

    Returns the kept examples, the rejects with one row per dropped question, and the count per title."""
    from pipeline.rejects import reject, rejects_frame

    wanted = sorted({t for t in titles or [] if t})
    if not wanted:
        return examples, rejects, {}
    leak = examples.filter(pl.col("title").is_in(wanted))
    if not leak.height:
        return examples, rejects, {}
    rows = [
        reject(
            "evaluate",
            r["source_file"],
            r["example_id"],
            "title",
            "article_in_training_data",
            f"title {r['title']!r} is an article of the training partition",
        )
        for r in leak.select("source_file", "example_id", "title").iter_rows(named=True)
    ]
    rejects = pl.concat([rejects, rejects_frame(rows)], how="vertical_relaxed")
    counts = dict(leak.group_by("title").len().iter_rows())
    return examples.filter(~pl.col("example_id").is_in(leak["example_id"].implode())), rejects, counts


def _write_set(
    inputs_root: str, name: str, examples: pl.DataFrame, contexts: pl.DataFrame, rejects: pl.DataFrame, config: dict
) -> None:
    contexts = contexts.filter(pl.col("context_id").is_in(examples["context_id"].implode()))
    part = {"dataset": name, "split": SET_SPLIT}
    io.write_partition(inputs_root, schemas.EXAMPLES, examples, part, config=config)
    io.write_partition(inputs_root, schemas.CONTEXTS, contexts, part, config=config)
    io.write_partition(inputs_root, schemas.REJECTS, rejects, part, config=config)


def n_unanswerable(inputs_root: str, name: str) -> int:
    """Questions without a gold answer in a prepared set (> 0: a SQuAD 2.0-style set)."""
    part = {"dataset": name, "split": SET_SPLIT}
    return int(io.read(inputs_root, schemas.EXAMPLES, part)["answers"].list.len().eq(0).sum())


@task(name="evaluate-checkpoint")
def evaluate_checkpoint(
    checkpoint: str,
    set_names: list[str],
    inputs_root: str,
    root: str,
    batch_windows: int,
    null: NullChoice,
    n_resamples: int,
    device: str,
    bundles: str | None = None,
    adversarial: list[str] | None = None,
) -> list[str]:
    """Run one checkpoint on every prepared set; writes its predictions, returns the metric files it wrote.

    `adversarial`: the sets whose preset declares them adversarial (`EvalSet.adversarial`), which
    also get the worst-variant scores (`adversarial_base_id`).

    A set `neg-x` evaluated together with `neg-x~unattacked` also gets `unattacked_em/f1`
    and `drop_em/f1` rows (unattacked minus attacked on the same questions, paired bootstrap).
    """
    from training.evaluation import attack_drop_rows
    from training.inference import InferenceConfig, evaluate_run, load_checkpoint

    logger = get_run_logger()
    loaded = load_checkpoint(checkpoint, device=device)
    f = loaded.features
    windows = {"max_length": f.max_length, "stride": f.stride, "max_answer_len": f.max_answer_len}
    cfg = InferenceConfig(batch_windows=batch_windows, null_rule=null.rule, null_threshold=null.threshold, **windows)
    bundle_rows = read_bundles(root, bundles)
    metrics_of: dict[str, pl.DataFrame] = {}
    preds_of: dict[str, pl.DataFrame] = {}
    for name in set_names:
        part = {"dataset": name, "split": SET_SPLIT}
        examples, contexts = io.read(inputs_root, schemas.EXAMPLES, part), io.read(inputs_root, schemas.CONTEXTS, part)
        if not examples.height:
            logger.warning("eval set %s has no examples (see its rejects): skipped", name)
            continue
        t0 = time.perf_counter()
        base_id = adversarial_base_id if name in (adversarial or ()) else None
        preds, metrics = evaluate_run(
            loaded,
            examples.drop("dataset", "split"),
            contexts,
            cfg,
            base_id=base_id,
            bundles=bundle_rows,
            n_resamples=n_resamples,
            feature_cache=root,  # one tokenization per set and tokenizer, shared by every run evaluated
        )
        seconds = time.perf_counter() - t0
        io.write_partition(
            root,
            schemas.PREDICTIONS,
            preds,
            {"eval_set": name, "run": loaded.run_id},
            config={"checkpoint": loaded.source, **cfg.__dict__},
            timings={"evaluate": seconds},
        )
        metrics_of[name], preds_of[name] = metrics, preds
        logger.info(
            "%s on %s (null rule %s): %d questions in %.1f s (%.2f s per 1,000)",
            loaded.run_id,
            name,
            null.rule,
            examples.height,
            seconds,
            1000 * seconds / max(1, examples.height),
        )
    out = []
    for name, metrics in metrics_of.items():
        if name + UNATTACKED in preds_of:
            drop = attack_drop_rows(
                loaded.run_id,
                preds_of[name],
                preds_of[name + UNATTACKED],
                lambda i: i.removesuffix(NEG_SUFFIX),
                n_resamples,
            )
            metrics = pl.concat([metrics, pl.DataFrame(drop, schema=metrics.schema)])
        path = Path(inputs_root) / f"metrics-{name}-{loaded.run_id}.parquet"
        metrics.with_columns(pl.lit(name).alias("eval_set")).write_parquet(path)
        out.append(str(path))
    return out


@task(name="near-miss-slice")
def near_miss_slice_task(
    root: str, inputs_root: str, set_names: list[str], baseline: str, runs: list[str], n_resamples: int
) -> list[str]:
    """EM/F1 of every run on the near-miss slice that `baseline`'s predictions define (docs/methods.md §1).

    The eval contexts are added to the spaCy index under `root` (incremental: contexts
    already indexed are not parsed again). Returns the metric files it wrote.
    """
    from pipeline.nlp import IndexConfig
    from pipeline.spacy_index import build_index, read_index
    from training.metrics.slices import near_miss_slice, near_miss_slice_metrics

    logger, out = get_run_logger(), []
    for name in set_names:
        part = {"dataset": name, "split": SET_SPLIT}
        if not io.partition_files(inputs_root, schemas.EXAMPLES, part):
            continue
        examples = io.read(inputs_root, schemas.EXAMPLES, part).drop("dataset", "split")
        contexts = io.read(inputs_root, schemas.CONTEXTS, part).drop("dataset", "split")
        cfg = IndexConfig()
        build_index(root, contexts, cfg)
        index = read_index(root, cfg, contexts["context_id"].to_list())
        preds = {r: io.read(root, schemas.PREDICTIONS, {"eval_set": name, "run": r}) for r in runs}
        base = {
            p["example_id"]: _Span(p["prediction"], p["start"], p["end"]) for p in preds[baseline].iter_rows(named=True)
        }
        slice_rows = near_miss_slice(examples, contexts, index, base)
        metrics = near_miss_slice_metrics(slice_rows, preds, n_resamples=n_resamples)
        logger.info(
            "near-miss slice of %s (baseline %s): %d of %d questions",
            name,
            baseline,
            int(slice_rows["in_slice"].sum()),
            slice_rows.height,
        )
        path = Path(inputs_root) / f"metrics-{name}-near-miss.parquet"
        metrics.with_columns(pl.lit(name).alias("eval_set")).write_parquet(path)
        # auditable: reason per question
        slice_rows.write_parquet(Path(inputs_root) / f"near-miss-slice-{name}.parquet")
        out.append(str(path))
    return out


class _Span(NamedTuple):
    text: str
    start: int | None
    end: int | None


def read_bundles(root: str, bundles: str | None) -> pl.DataFrame | None:
    """Rows of the `bundles` partition `<dataset>/<split>` under `root` (None when not asked for)."""
    if bundles is None:
        return None
    dataset, _, split = bundles.partition("/")
    part = {"dataset": dataset, "split": split}
    if not split or not io.partition_files(root, schemas.BUNDLES, part):
        raise FileNotFoundError(
            f"evaluate: bundles={bundles!r}: expected DATASET/SPLIT of a `bundles` partition under {root}"
        )
    return io.read(root, schemas.BUNDLES, part)


@task(name="write-metrics")
def write_metrics(root: str, metric_files: list[str]) -> list[str]:
    """Merge this evaluation's metric rows into `metrics/eval_set=<set>/`; returns the partition folders."""
    new = pl.concat([pl.read_parquet(p) for p in metric_files], how="vertical_relaxed")
    done = []
    for (name,), rows in new.group_by("eval_set", maintain_order=True):
        part = {"eval_set": name}
        old = io.read(root, schemas.METRICS, part) if io.partition_entry(root, schemas.METRICS, part) else None
        if old is not None:
            rows = pl.concat(
                [old.filter(~pl.col("run").is_in(rows["run"].unique().implode())), rows], how="vertical_relaxed"
            )
        done.append(str(io.write_partition(root, schemas.METRICS, rows.drop("eval_set"), part)))
    return done


@task(name="evaluation-report")
def evaluation_report(root: str, report_dir: str, pairs: list[tuple[str, str]], meta: dict, n_resamples: int) -> str:
    """Write the report of these (eval set, run) pairs and publish it as a Prefect markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    from training.report import write_report

    sets = list(dict.fromkeys(s for s, _ in pairs))
    wanted = pl.DataFrame(pairs, schema=["eval_set", "run"], orient="row")
    metrics = (
        io.read(root, schemas.METRICS)
        .filter(pl.col("eval_set").is_in(sets))
        .join(wanted, on=["eval_set", "run"], how="semi")
    )
    preds = pl.concat([io.read(root, schemas.PREDICTIONS, {"eval_set": s, "run": r}) for s, r in pairs])
    meta = {**meta, "evaluation time": "; ".join(_timing(root, s, r) for s, r in pairs)}
    path = write_report(report_dir, metrics, preds, meta, n_resamples=n_resamples)
    markdown = re.sub(r"!\[([^\]]*)\]\(", rf"![\1]({Path(report_dir).resolve()}/", path.read_text(encoding="utf-8"))
    create_markdown_artifact(markdown=markdown, key="evaluate-report", description=f"evaluation report ({path})")
    return str(path)


def _timing(root: str, eval_set: str, run: str) -> str:
    """`run on set: 12.3 s (3.4 s per 1,000 questions)` from the predictions manifest."""
    entry = io.partition_entry(root, schemas.PREDICTIONS, {"eval_set": eval_set, "run": run}) or {}
    seconds, rows = entry.get("timings_s", {}).get("evaluate", float("nan")), max(1, entry.get("rows", 0))
    return f"{run} on {eval_set}: {seconds:.1f} s ({1000 * seconds / rows:.1f} s per 1,000 questions)"


def check_checkpoints(checkpoints: list[str]) -> list[str]:
    """Run ids of the checkpoints, checked before any work: FileNotFoundError names a bad one, ValueError a clash."""
    from training.inference import checkpoint_folder, run_id_of

    if not checkpoints:
        raise ValueError("evaluate: give at least one checkpoint (run folder, model folder, 'tiny' or 'minilm')")
    ids = [ref if ref in ALIASES else run_id_of(ref, checkpoint_folder(ref)) for ref in checkpoints]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise ValueError(
            f"evaluate: several checkpoints have the run id {clashes} (the `run` partition): rename a folder"
        )
    return ids


class NullChoice(NamedTuple):
    rule: str  # training.decoding null rule
    threshold: float  # its threshold
    source: str  # where it came from: `--run-null-rule`, `training config`, `--null-rule`


def parse_null_rule(text: str, what: str) -> tuple[str, float]:
    """`cls_threshold` or `cls_threshold:0.5` → (rule, threshold); ValueError names `what`."""
    from training.decoding import NULL_RULES

    rule, _, threshold = str(text).partition(":")
    if rule not in NULL_RULES:
        raise ValueError(f"evaluate: {what}={text!r}: expected RULE[:THRESHOLD] with RULE one of {NULL_RULES}")
    try:
        return rule, float(threshold) if threshold else 0.0
    except ValueError:
        raise ValueError(f"evaluate: {what}={text!r}: the threshold after ':' must be a number") from None


def config_null_rule(decoding: Any, source: str) -> NullChoice | None:
    """The null rule a training config's `decoding` section names (`decoding.null_rule`), or None (not set)."""
    return None if decoding.null_rule is None else NullChoice(decoding.null_rule, decoding.null_threshold, source)


def run_null_rule(ref: str) -> NullChoice | None:
    """The null rule a run's training config names (`decoding.null_rule`), or None (alias, no config, not set)."""
    from training.config import load_config
    from training.inference import checkpoint_folder

    if ref in ALIASES:
        return None
    folder = checkpoint_folder(ref)
    for path in (folder / "config.yaml", folder.parent / "config.yaml", folder.parent.parent / "config.yaml"):
        if path.exists():
            return config_null_rule(load_config(path, validate=False).decoding, f"training config {path}")
    return None


def resolve_null_rules(
    checkpoints: list[str], null_rule: str, null_threshold: float, run_null_rules: dict[str, str] | None = None
) -> dict[str, NullChoice]:
    """Run id → the null rule it is evaluated with, checked before any work.

    Per run, the first that applies: `run_null_rules[<checkpoint or run id>]`
    (`RULE[:THRESHOLD]`), the run's training config (`decoding.null_rule`), the default
    `null_rule` / `null_threshold` (`--null-rule`). A key that names no checkpoint fails.
    """
    from training.decoding import NULL_RULES

    if null_rule not in NULL_RULES:
        raise ValueError(f"evaluate: null_rule={null_rule!r}, expected one of {NULL_RULES}")
    ids = check_checkpoints(checkpoints)
    overrides = dict(run_null_rules or {})
    unknown = [k for k in overrides if k not in checkpoints and k not in ids]
    if unknown:
        raise ValueError(
            f"evaluate: run_null_rules names {unknown}, which are not among the checkpoints {checkpoints} "
            f"(run ids {ids})"
        )
    out = {}
    for ref, run in zip(checkpoints, ids, strict=True):
        text = overrides.get(ref, overrides.get(run))
        if text is not None:
            out[run] = NullChoice(*parse_null_rule(text, f"run_null_rules[{run}]"), "--run-null-rule")
        else:
            out[run] = run_null_rule(ref) or NullChoice(null_rule, null_threshold, "--null-rule (default)")
    return out


def null_rule_warnings(choices: dict[str, NullChoice], unanswerable: dict[str, int]) -> list[str]:
    """One warning per (run, set) where the rule `none` meets a set with unanswerable questions."""
    return [
        f"null rule `none` for run {run} on {name}, which has {n} unanswerable question(s): the run never "
        f"abstains, so its NoAns score is 0 by construction (set `decoding.null_rule` in its training config "
        f"or pass --run-null-rule {run}=cls_threshold / negative_score)"
        for run, c in choices.items()
        if c.rule == "none"
        for name, n in unanswerable.items()
        if n > 0
    ]


def check_arguments(
    checkpoints: list[str],
    eval_sets: list[str],
    data_dir: str,
    null_rule: str,
    root: str = "data/artifacts",
    bundles: str | None = None,
    run_null_rules: dict[str, str] | None = None,
) -> list[EvalSet]:
    """Everything that can fail before work: evaluation sets, null rules and checkpoints, bundles partition."""
    if not eval_sets:
        raise ValueError("evaluate: give at least one evaluation set")
    sets = [parse_eval_set(text, data_dir) for text in eval_sets]
    names = [es.name for es in sets]
    if len(set(names)) < len(names):
        raise ValueError(f"evaluate: evaluation set names repeat: {names}")
    resolve_null_rules(checkpoints, null_rule, 0.0, run_null_rules)
    read_bundles(root, bundles)
    return sets


@flow(name="evaluate")
def evaluate_flow(
    checkpoints: list[str],
    eval_sets: list[str],
    root: str = "data/artifacts",
    data_dir: str = "../shared/data",
    limit: int | None = None,
    batch_windows: int = 16,
    null_rule: str = "none",
    null_threshold: float = 0.0,
    n_resamples: int = 1000,
    device: str = "cpu",
    bundles: str | None = None,
    near_miss_baseline: str | None = None,
    run_null_rules: dict[str, str] | None = None,
    exclude_titles: list[str] | None = None,
) -> str:
    """Evaluate every checkpoint on every set; returns the report path.

    Null rule per run (`resolve_null_rules`): `run_null_rules` (checkpoint or run id →
    `RULE[:THRESHOLD]`), else the run's training config `decoding.null_rule`, else
    `null_rule` / `null_threshold`. The report names each run's rule and where it came
    from; the rule `none` on a set with unanswerable questions is logged and written in
    the report as a warning.

    `near_miss_baseline` (one of the checkpoints) adds EM/F1 of every run on the near-miss
    slice: questions where that baseline's prediction lies in the gold's sentence, has the
    gold's coarse entity type and differs in text (docs/methods.md §1).

    `bundles` (`DATASET/SPLIT` of a `bundles` partition under `root`, e.g. `ropes/dev`) adds
    bundle consistency and Hungarian joint inference, per bundle kind and mining mode, for
    the sets holding its questions.

    `exclude_titles` (the training partition's article titles): questions on those articles
    are not scored, in any set, and are counted in the set's rejects (`prepare_eval_set`).
    """
    sets = check_arguments(checkpoints, eval_sets, data_dir, null_rule, root, bundles, run_null_rules)
    run_ids = check_checkpoints(checkpoints)
    choices = resolve_null_rules(checkpoints, null_rule, null_threshold, run_null_rules)
    if near_miss_baseline is not None and near_miss_baseline not in checkpoints:
        raise ValueError(
            f"evaluate: near_miss_baseline={near_miss_baseline!r} must be one of the checkpoints {checkpoints}"
        )
    logger = get_run_logger()
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    report_dir = Path(root) / "reports" / f"evaluate-{stamp}"
    inputs_root = str(report_dir / "inputs")
    names = [n for es in sets for n in prepare_eval_set(es, inputs_root, limit, exclude_titles)]
    warnings = null_rule_warnings(choices, {n: n_unanswerable(inputs_root, n) for n in names})
    for w in warnings:
        logger.warning(w)
    metric_files = [
        p
        for ref, run in zip(checkpoints, run_ids, strict=True)
        for p in evaluate_checkpoint(
            ref,
            names,
            inputs_root,
            root,
            batch_windows,
            choices[run],
            n_resamples,
            device,
            bundles,
            [es.name for es in sets if es.adversarial],
        )
    ]
    if not metric_files:
        raise ValueError(f"evaluate: nothing to evaluate: every set is empty ({', '.join(names)}; see their rejects)")
    pairs = [(pl.read_parquet(p)["eval_set"][0], pl.read_parquet(p)["run"][0]) for p in metric_files]
    meta = {
        "checkpoints": ", ".join(checkpoints),
        "eval sets": ", ".join(names),
        "limit": limit,
        "null rule": "; ".join(
            f"{run}: `{c.rule}` (threshold {c.threshold}; from {c.source})" for run, c in choices.items()
        ),
        "artifact root": f"`{root}`",
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wall time (s)": round(time.perf_counter() - t0, 1),
        "warnings": warnings,
    }
    if near_miss_baseline is not None:
        baseline_id = run_ids[checkpoints.index(near_miss_baseline)]
        metric_files += near_miss_slice_task(root, inputs_root, names, baseline_id, run_ids, n_resamples)
        meta["near-miss slice baseline"] = baseline_id
    write_metrics(root, metric_files)
    return evaluation_report(root, str(report_dir), pairs, meta, n_resamples)


if __name__ == "__main__":
    import typer

    from flows.cli_eval import evaluate_command

    typer.run(evaluate_command)
