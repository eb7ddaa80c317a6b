"""`evaluate` flow: checkpoints × evaluation sets → `predictions`, `metrics` and a report.

    cqa evaluate runs/mle runs/ce_question --set squad11-eval --set neg-squad11-eval --set addonesent
    cqa evaluate minilm --set squad11-eval --limit 200 --data-dir ../shared/data
    cqa evaluate tiny --set sample=data/samples/squad11_sample.json --root /tmp/cqa

Checkpoints: run folders (`runs/<id>`: its `model/`, else its latest checkpoint), model
folders, or the untrained aliases `tiny` / `minilm`. Evaluation sets: presets of
`pipeline.attacks.PRESETS` resolved under `--data-dir` (`squad11-eval`, `addsent`,
`xquad-de`, `ropes-dev`, ...), `NAME=PATH[:FORMAT]` for any file or hub id, and `neg-<set>`
for the negation attack. Everything is checked before the first model loads.

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
from typing import NamedTuple

import polars as pl
from prefect import flow, get_run_logger, task

from pipeline import io, schemas
from pipeline.attacks import EvalSet, adversarial_base_id, load_eval_set, parse_eval_set

SET_SPLIT = "eval"  # split name of the prepared evaluation sets under the report's `inputs/` root
ALIASES = ("tiny", "minilm")


@task(name="prepare-eval-set")
def prepare_eval_set(es: EvalSet, inputs_root: str, limit: int | None) -> str:
    """Load (and attack) one evaluation set into `<inputs_root>/examples|contexts|rejects`; returns its name."""
    frames = load_eval_set(es)
    examples = frames.examples.head(limit) if limit else frames.examples
    contexts = frames.contexts.filter(pl.col("context_id").is_in(examples["context_id"].implode()))
    part = {"dataset": es.name, "split": SET_SPLIT}
    config = {"source": es.source.as_dict(), "negation": es.negation, "limit": limit}
    io.write_partition(inputs_root, schemas.EXAMPLES, examples, part, config=config)
    io.write_partition(inputs_root, schemas.CONTEXTS, contexts, part, config=config)
    io.write_partition(inputs_root, schemas.REJECTS, frames.rejects, part, config=config)
    get_run_logger().info("eval set %s: %d examples, %d rejected", es.name, examples.height, frames.rejects.height)
    return es.name


@task(name="evaluate-checkpoint")
def evaluate_checkpoint(checkpoint: str, set_names: list[str], inputs_root: str, root: str, batch_windows: int,
                        null_rule: str, null_threshold: float, n_resamples: int, device: str,
                        bundles: str | None = None) -> list[str]:
    """Run one checkpoint on every prepared set; writes its predictions, returns the metric files it wrote."""
    from training.inference import InferenceConfig, evaluate_run, load_checkpoint

    logger = get_run_logger()
    loaded = load_checkpoint(checkpoint, device=device)
    f = loaded.features
    cfg = InferenceConfig(batch_windows=batch_windows, max_length=f.max_length, stride=f.stride,
                          max_answer_len=f.max_answer_len, null_rule=null_rule, null_threshold=null_threshold)
    bundle_rows = read_bundles(root, bundles)
    out = []
    for name in set_names:
        part = {"dataset": name, "split": SET_SPLIT}
        examples, contexts = io.read(inputs_root, schemas.EXAMPLES, part), io.read(inputs_root, schemas.CONTEXTS, part)
        if not examples.height:
            logger.warning("eval set %s has no examples (see its rejects): skipped", name)
            continue
        t0 = time.perf_counter()
        base_id = adversarial_base_id if name.startswith(("addsent", "addonesent")) else None
        preds, metrics = evaluate_run(loaded, examples.drop("dataset", "split"), contexts, cfg, base_id=base_id,
                                      bundles=bundle_rows, n_resamples=n_resamples)
        seconds = time.perf_counter() - t0
        io.write_partition(root, schemas.PREDICTIONS, preds, {"eval_set": name, "run": loaded.run_id},
                           config={"checkpoint": loaded.source, **cfg.__dict__}, timings={"evaluate": seconds})
        path = Path(inputs_root) / f"metrics-{name}-{loaded.run_id}.parquet"
        metrics.with_columns(pl.lit(name).alias("eval_set")).write_parquet(path)
        logger.info("%s on %s: %d questions in %.1f s (%.2f s per 1,000)", loaded.run_id, name, examples.height,
                    seconds, 1000 * seconds / max(1, examples.height))
        out.append(str(path))
    return out


@task(name="near-miss-slice")
def near_miss_slice_task(root: str, inputs_root: str, set_names: list[str], baseline: str, runs: list[str],
                         n_resamples: int) -> list[str]:
    """EM/F1 of every run on the near-miss slice that `baseline`'s predictions define (METHODS.md §1).

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
        base = {p["example_id"]: _Span(p["prediction"], p["start"], p["end"]) for p in preds[baseline].iter_rows(named=True)}
        slice_rows = near_miss_slice(examples, contexts, index, base)
        metrics = near_miss_slice_metrics(slice_rows, preds, n_resamples=n_resamples)
        logger.info("near-miss slice of %s (baseline %s): %d of %d questions", name, baseline,
                    int(slice_rows["in_slice"].sum()), slice_rows.height)
        path = Path(inputs_root) / f"metrics-{name}-near-miss.parquet"
        metrics.with_columns(pl.lit(name).alias("eval_set")).write_parquet(path)
        slice_rows.write_parquet(Path(inputs_root) / f"near-miss-slice-{name}.parquet")  # auditable: reason per question
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
        raise FileNotFoundError(f"evaluate: bundles={bundles!r}: expected DATASET/SPLIT of a `bundles` partition under {root}")
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
            rows = pl.concat([old.filter(~pl.col("run").is_in(rows["run"].unique().implode())), rows], how="vertical_relaxed")
        done.append(str(io.write_partition(root, schemas.METRICS, rows.drop("eval_set"), part)))
    return done


@task(name="evaluation-report")
def evaluation_report(root: str, report_dir: str, pairs: list[tuple[str, str]], meta: dict, n_resamples: int) -> str:
    """Write the report of these (eval set, run) pairs and publish it as a Prefect markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    from training.report import write_report

    sets = list(dict.fromkeys(s for s, _ in pairs))
    wanted = pl.DataFrame(pairs, schema=["eval_set", "run"], orient="row")
    metrics = io.read(root, schemas.METRICS).filter(pl.col("eval_set").is_in(sets)).join(wanted, on=["eval_set", "run"], how="semi")
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
        raise ValueError(f"evaluate: several checkpoints have the run id {clashes} (the `run` partition): rename a folder")
    return ids


def check_arguments(checkpoints: list[str], eval_sets: list[str], data_dir: str, null_rule: str,
                    root: str = "data/artifacts", bundles: str | None = None) -> list[EvalSet]:
    """Everything that can fail before work: null rule, evaluation sets, checkpoints, bundles partition."""
    from training.decoding import NULL_RULES

    if null_rule not in NULL_RULES:
        raise ValueError(f"evaluate: null_rule={null_rule!r}, expected one of {NULL_RULES}")
    if not eval_sets:
        raise ValueError("evaluate: give at least one evaluation set")
    sets = [parse_eval_set(text, data_dir) for text in eval_sets]
    names = [es.name for es in sets]
    if len(set(names)) < len(names):
        raise ValueError(f"evaluate: evaluation set names repeat: {names}")
    check_checkpoints(checkpoints)
    read_bundles(root, bundles)
    return sets


@flow(name="evaluate")
def evaluate_flow(checkpoints: list[str], eval_sets: list[str], root: str = "data/artifacts",
                  data_dir: str = "../shared/data", limit: int | None = None, batch_windows: int = 16,
                  null_rule: str = "none", null_threshold: float = 0.0, n_resamples: int = 1000,
                  device: str = "cpu", bundles: str | None = None, near_miss_baseline: str | None = None) -> str:
    """Evaluate every checkpoint on every set; returns the report path.

    `near_miss_baseline` (one of the checkpoints) adds EM/F1 of every run on the near-miss
    slice: questions where that baseline's prediction lies in the gold's sentence, has the
    gold's coarse entity type and differs in text (METHODS.md §1).

    `bundles` (`DATASET/SPLIT` of a `bundles` partition under `root`, e.g. `ropes/dev`) adds
    bundle consistency and Hungarian joint inference for the sets holding its questions.
    """
    sets = check_arguments(checkpoints, eval_sets, data_dir, null_rule, root, bundles)
    run_ids = check_checkpoints(checkpoints)
    if near_miss_baseline is not None and near_miss_baseline not in checkpoints:
        raise ValueError(f"evaluate: near_miss_baseline={near_miss_baseline!r} must be one of the checkpoints {checkpoints}")
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    report_dir = Path(root) / "reports" / f"evaluate-{stamp}"
    inputs_root = str(report_dir / "inputs")
    names = [prepare_eval_set(es, inputs_root, limit) for es in sets]
    metric_files = [p for ref in checkpoints for p in evaluate_checkpoint(
        ref, names, inputs_root, root, batch_windows, null_rule, null_threshold, n_resamples, device, bundles)]
    if not metric_files:
        raise ValueError(f"evaluate: nothing to evaluate: every set is empty ({', '.join(names)}; see their rejects)")
    pairs = [(pl.read_parquet(p)["eval_set"][0], pl.read_parquet(p)["run"][0]) for p in metric_files]
    meta = {"checkpoints": ", ".join(checkpoints), "eval sets": ", ".join(names), "limit": limit,
            "null rule": f"{null_rule} (threshold {null_threshold})", "artifact root": f"`{root}`",
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wall time (s)": round(time.perf_counter() - t0, 1)}
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
