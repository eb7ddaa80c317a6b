"""`experiment` flow: the whole study as one DAG, every stage skipped when nothing it reads changed.

    cqa experiment --profile cpu-smoke                     # samples + tiny model, a few minutes on CPU
    cqa experiment --profile squad-protocol                # PROTOCOL.md reproduction (GPU advised)
    cqa experiment --profile cpu-smoke --set workdir=/tmp/smoke --set evaluate.n_resamples=200
    python -m flows.experiment --profile cpu-smoke         # the same without the CLI

Stages (each a subflow: `build-bundles`, `train`, `sample-topk`, `evaluate`):
mine → for every seed of the profile's `seeds` (default 13, 14, 15): train the MLE baseline
→ sample-topk with it → train every method FROM that baseline with one shared budget
(`continuation` overrides), plus the equal-budget control (by default the α = 0 control: the
`control.of` method's config with every loss but `control.keep` at weight 0; or an explicit
`control.config`, e.g. MLE; same data, subset, steps, schedule and seed either way) →
evaluate every run on the profile's sets → one comparison report: per method,
each seed's difference to the control of the same seed, the mean difference and its spread
over seeds, and a paired bootstrap over questions pooled across seeds.

A stage is skipped when the fingerprint of its config and of the outputs it reads equals the
one recorded in `<workdir>/experiment_state.json` and its own outputs are still there
unchanged; changing one method's config retrains that method, re-evaluates, re-reports, and
nothing else. Profiles: `flows/profiles/<name>.yaml` (fields: `flows/experiment_profile.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.evaluate import NullChoice, config_null_rule, parse_null_rule
from flows.experiment_profile import ExperimentPlan, RunPlan, load_profile, plan_experiment
from pipeline import io, schemas
from pipeline.config_model import to_plain
from pipeline.run_lock import run_lock

STATE_FILE = "experiment_state.json"


# Stage state ---------------------------------------------------------------------------------


class StageBook:
    """The JSON state file: per stage, the input fingerprint, result, output fingerprint and timing."""

    def __init__(self, workdir: Path, force: bool = False) -> None:
        self.path = workdir / STATE_FILE
        self.force = force
        self.state: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        self.log: list[dict[str, Any]] = []  # this run's stages, in order: name, status, seconds

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.state, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def run(
        self, name: str, inputs: dict[str, Any], action: Callable[[], Any], output_fp: Callable[[Any], str]
    ) -> tuple[Any, str]:
        """Run `action` unless stage `name` already ran on the same inputs and its outputs are intact."""
        fp = io.fingerprint(inputs)
        prior = self.state.get(name)
        if not self.force and prior and prior.get("status") == "done" and prior["fingerprint"] == fp:
            try:
                current = output_fp(prior["result"])
            except (FileNotFoundError, OSError, KeyError, TypeError, ValueError):
                current = None
            if current == prior["output_fingerprint"]:
                _logger().info("stage %s: inputs unchanged, skipped", name)
                self.log.append({"stage": name, "status": "skipped", "seconds": 0.0})
                return prior["result"], current
        self.state[name] = {"fingerprint": fp, "status": "running", "started": _now()}
        self._save()
        t0 = time.perf_counter()
        result = action()
        seconds = round(time.perf_counter() - t0, 2)
        out_fp = output_fp(result)
        self.state[name] = {
            "fingerprint": fp,
            "status": "done",
            "result": result,
            "output_fingerprint": out_fp,
            "seconds": seconds,
            "finished": _now(),
        }
        self._save()
        self.log.append({"stage": name, "status": "ran", "seconds": seconds})
        return result, out_fp


def _logger():
    """The flow run's logger inside a flow, the module's logger outside one."""
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# Output fingerprints ---------------------------------------------------------------------------


def mined_fingerprint(root: str, part: dict[str, str]) -> str:
    """Fingerprint of what training reads from the partition's mined artifacts: per artifact, its rows
    (order-independent row hashes) and its recorded config (e.g. synthetic's `placement`).

    A re-mine that writes the same rows under the same config (a scheduled re-mining, a new part-file
    layout) keeps it, so no run retrains; changed rows or config change it. Which artifacts: the load
    stage's and every registered miner's outputs (`pipeline.miners.mined_artifacts`), so a new miner's
    artifact retrains what reads it without a list to keep here. Row hashes are Polars' `hash_rows`:
    stable on one install; a Polars upgrade may retrain once (never skip a change)."""
    import hashlib

    from pipeline.miners import mined_artifacts

    out: dict[str, dict] = {}
    for spec in mined_artifacts():
        entry = io.partition_entry(root, spec, part)
        if entry is None:
            continue
        frame = io.read(root, spec, part)
        rows = hashlib.sha256(frame.hash_rows().sort().to_numpy().tobytes()).hexdigest()[:16]
        config = {k: v for k, v in (entry.get("config") or {}).items() if k != "writers"}
        out[spec.name] = {"rows": rows, "n": frame.height, "config": config}
    if "examples" not in out:
        raise FileNotFoundError(f"{root}: no examples partition {part} (the build did not load the training data)")
    return io.fingerprint(out)


def eval_sets_fingerprint(plan: ExperimentPlan) -> list[str]:
    """What the evaluation sets read: the input fingerprint of every file-based set, the name of hub sets."""
    from pipeline.eval_sets import parse_eval_set
    from pipeline.sources import source_fingerprint

    sets = [parse_eval_set(text, plan.profile.evaluate.data_dir) for text in plan.profile.evaluate.sets]
    return [es.name if es.source.format == "hub" else source_fingerprint(es.source) for es in sets]


def train_titles(plan: ExperimentPlan) -> list[str]:
    """Article titles of the training partition (non-empty): the SQuAD 2.0 half's train articles
    include five SQuAD 1.1 eval titles, so AddSent/AddOneSent/negation sets would otherwise score
    paragraphs a paper-3 model trained on."""
    ex = io.read(plan.root, schemas.EXAMPLES, {"dataset": plan.profile.dataset, "split": plan.profile.split})
    return sorted(t for t in ex["title"].unique().to_list() if t)


def eval_bundles_fingerprint(plan: ExperimentPlan) -> str | None:
    """The evaluation bundles partition (`evaluate.bundles`): re-mined bundles re-evaluate."""
    if plan.profile.evaluate.bundles is None:
        return None
    dataset, _, split = plan.profile.evaluate.bundles.partition("/")
    entry = io.partition_entry(plan.root, schemas.BUNDLES, {"dataset": dataset, "split": split})
    if entry is None:
        raise FileNotFoundError(
            f"evaluate.bundles={plan.profile.evaluate.bundles!r}: no bundles partition under {plan.root} "
            "(does the build mine that split?)"
        )
    return io.fingerprint(entry)


def weights_fingerprint(run_dir: str) -> str:
    from training.model import ENCODER_FILE

    return io.file_sha256(Path(run_dir) / "model" / ENCODER_FILE)


def topk_fingerprint(root: str, partition: dict[str, str]) -> str:
    entry = io.partition_entry(root, schemas.TOPK, partition)
    if entry is None:
        raise FileNotFoundError(f"{root}: no topk partition {partition}")
    return io.fingerprint(entry)


# Stage actions ---------------------------------------------------------------------------------


def mine(plan: ExperimentPlan) -> dict[str, Any]:
    """The profile's build (`build-bundles`, unchanged stages skipped): the `mine` stage, and the first step of
    `cqa experiment-pack`."""
    from flows.build_bundles import build_bundles_flow

    b = plan.profile.build
    return build_bundles_flow(plan.build_config_path, plan.root, list(b.sources) or None, list(b.overrides))


def _train(run: RunPlan, resume_fp: str, prior: dict[str, Any] | None) -> str:
    """Train one run as a subprocess (the `train` subflow).

    A run of the same fingerprint that was interrupted (`prior` still `running`) resumes from
    its latest checkpoint; any other folder in the way is stale and removed first.
    """
    from flows.train import train_flow
    from training.checkpoint import latest_checkpoint

    run_dir = Path(run.train.run_dir)
    resume = bool(
        prior
        and prior.get("status") == "running"
        and prior["fingerprint"] == resume_fp
        and latest_checkpoint(run_dir) is not None
    )
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)  # a run of another config (or a finished one being redone): start clean
    get_run_logger().info("train %s (%s)%s", run.name, run.role, " resuming its latest checkpoint" if resume else "")
    return train_flow(run.config, list(run.overrides), resume=resume)


def _train_stage(book: StageBook, run: RunPlan, upstream: dict[str, str]) -> tuple[str, str]:
    inputs = {"config": to_plain(run.train), **upstream}
    fp = io.fingerprint(inputs)
    prior = book.state.get(f"train:{run.name}")  # read before `run` marks the stage as running
    return book.run(f"train:{run.name}", inputs, lambda: _train(run, fp, prior), weights_fingerprint)


def _run_null_rules(plan: ExperimentPlan) -> dict[str, str] | None:
    """`evaluate.null_rules` keyed by a run's folder name (`hinge-s13`) or by its profile name (`hinge`: every seed)."""
    rules = plan.profile.evaluate.null_rules
    out = {r.name: rules.get(r.name, rules.get(r.group)) for r in (*plan.baselines, *plan.continuations)}
    return {k: v for k, v in out.items() if v is not None} or None


def plan_null_rules(plan: ExperimentPlan) -> dict[str, NullChoice]:
    """Run name -> the null rule its evaluation uses, in `flows.evaluate.resolve_null_rules`' order (the profile's
    `evaluate.null_rules`, the run's training config, the profile's default), read from the plan's resolved
    training configs (what each run folder's `config.yaml` will hold), so before any run exists."""
    per_run, e = _run_null_rules(plan) or {}, plan.profile.evaluate
    default = NullChoice(e.null_rule, e.null_threshold, "default evaluate.null_rule")
    return {
        r.name: NullChoice(*parse_null_rule(per_run[r.name], f"evaluate.null_rules[{r.name}]"), "evaluate.null_rules")
        if r.name in per_run
        else config_null_rule(r.train.decoding, "training config") or default
        for r in (*plan.baselines, *plan.continuations)
    }


def _topk_stage(
    book: StageBook, plan: ExperimentPlan, baseline: RunPlan, baseline_dir: str, upstream: dict[str, str]
) -> str:
    """sample-topk with one baseline into `topk/<dataset>/<split>/model=<baseline>` (stage `sample-topk:<baseline>`)."""
    from flows.sample_topk import sample_topk_flow

    p, t, part = plan.profile, plan.profile.topk, plan.topk_partition(baseline)
    assert t is not None
    _, fp = book.run(
        f"sample-topk:{baseline.name}",
        {"topk": to_plain(t), "partition": part, **upstream},
        lambda: sample_topk_flow(
            baseline_dir,
            plan.root,
            p.dataset,
            p.split,
            k=t.k,
            mode=t.mode,
            batch_windows=t.batch_windows,
            force_gold=t.force_gold,
            device=p.device,
        ),
        lambda _: topk_fingerprint(plan.root, part),
    )
    return fp


@flow(name="experiment")
def experiment_flow(
    profile: str = "cpu-smoke", overrides: list[str] | None = None, force: bool = False, lock_timeout_s: float = 3600.0
) -> str:
    """Mine → baseline → sample-topk → methods + α=0 control (equal budget) → evaluate → report.

    Returns the report path."""
    from flows.evaluate import evaluate_flow
    from flows.experiment_report import write_experiment_report

    logger = get_run_logger()
    plan = plan_experiment(load_profile(profile, overrides or []))  # every config checked before any work
    workdir, root, p = plan.workdir, plan.root, plan.profile
    workdir.mkdir(parents=True, exist_ok=True)
    with run_lock(
        workdir,
        timeout_s=lock_timeout_s,
        what=f"experiment {p.name}",
        name=".experiment.lock",
        on_wait=lambda h: logger.info("another experiment holds %s (%s): waiting", workdir, h and h.describe()),
    ):
        book = StageBook(workdir, force)
        _, mined = book.run(
            "mine",
            {"build": plan.build.resolved(), "sources": plan.source_fingerprints},
            lambda: mine(plan)["report"],
            lambda _: mined_fingerprint(root, {"dataset": p.dataset, "split": p.split}),
        )
        runs: dict[str, tuple[str, str]] = {}
        upstreams: dict[str, dict[str, str]] = {}
        for baseline in plan.baselines:
            runs[baseline.name] = _train_stage(book, baseline, {"mined": mined})
            upstream = {"mined": mined, "baseline": runs[baseline.name][1]}
            if p.topk is not None:
                upstream["topk"] = _topk_stage(book, plan, baseline, runs[baseline.name][0], upstream)
            upstreams[baseline.name] = upstream
        for run in plan.continuations:
            runs[run.name] = _train_stage(book, run, upstreams[plan.baseline_for(run.seed).name])
        order = [r.name for r in plan.controls] + [m.name for m in plan.methods] + [b.name for b in plan.baselines]
        baseline_dir = runs[plan.baselines[0].name][0]  # the near-miss slice is defined by the first seed's baseline
        e = p.evaluate
        eval_report, eval_fp = book.run(
            "evaluate",
            {
                "evaluate": to_plain(e),
                "inputs": eval_sets_fingerprint(plan),
                "bundles": eval_bundles_fingerprint(plan),
                "runs": {n: runs[n][1] for n in order},
            },
            lambda: evaluate_flow(
                [runs[n][0] for n in order],
                list(e.sets),
                root=root,
                data_dir=e.data_dir,
                limit=e.limit,
                batch_windows=e.batch_windows,
                null_rule=e.null_rule,
                null_threshold=e.null_threshold,
                n_resamples=e.n_resamples,
                device=p.device,
                run_null_rules=_run_null_rules(plan),
                bundles=e.bundles,
                exclude_titles=train_titles(plan) if e.exclude_train_titles else None,
                near_miss_baseline=baseline_dir if e.near_miss_slice else None,
            ),
            lambda path: io.file_sha256(path),
        )
        report, _ = book.run(
            "report",
            {"evaluate": eval_fp, "runs": {n: runs[n][1] for n in order}, "profile": to_plain(p)},
            lambda: str(write_experiment_report(plan, order, eval_report, book.state)),
            lambda path: io.file_sha256(path),
        )
        _publish(report, book.log)
        logger.info("experiment %s: report %s", p.name, report)
        return report


def _publish(report: str, log: list[dict[str, Any]]) -> None:
    """The report (and this run's stage table) as Prefect artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_table_artifact(table=log, key="experiment-stages", description="experiment: stages run or skipped")
    create_markdown_artifact(
        markdown=Path(report).read_text(encoding="utf-8"),
        key="experiment-report",
        description=f"experiment comparison report ({report})",
    )


if __name__ == "__main__":
    import typer

    from flows.cli_experiment import experiment_command

    typer.run(experiment_command)
