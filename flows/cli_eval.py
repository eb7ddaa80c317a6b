"""Evaluation commands of `cqa`: `cqa sample-topk` and `cqa evaluate`.

    cqa sample-topk runs/baseline --dataset squad11 --split train --k 20 --mode plain
    cqa evaluate runs/mle runs/ce_question --set squad11-eval --set neg-squad11-eval
    cqa evaluate minilm --set squad11-eval --limit 200 --data-dir ../shared/data
    cqa evaluate runs/mle runs/robust --set squad20-eval --run-null-rule runs/mle=cls_threshold

Both run their Prefect flow (ephemeral, no server needed) and print the path they wrote
last: the `topk` partition folder, or the report's `report.md`. Bad arguments (unknown
evaluation set, missing checkpoint, bad k / mode / null rule, a `--run-null-rule` naming no
checkpoint) exit with code 2 and a
message naming the argument, before any model is loaded.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli_errors import VerboseOpt, failing_cleanly
from flows.progress import reporting

RootOpt = Annotated[str, typer.Option("--root", help="artifact root")]
DeviceOpt = Annotated[str, typer.Option("--device", help="`cpu`, `cuda`, `cuda:1`, ...")]
BatchOpt = Annotated[int, typer.Option("--batch-windows", help="windows per forward pass")]


def _prepare(device: str, verbose: bool):
    """Checks shared by both commands, then the supervised child (no orphan server after a kill); the quiet console."""
    from flows.cli_process import quiet_prefect_console, supervise
    from training.config import check_device

    check_device(device, "--device")
    supervise()
    return quiet_prefect_console(verbose)


def sample_topk_command(
    checkpoint: Annotated[str, typer.Argument(help="run folder, model folder, or `tiny` / `minilm`")],
    root: RootOpt = "data/artifacts",
    dataset: Annotated[str, typer.Option(help="examples partition: dataset")] = "squad11",
    split: Annotated[str, typer.Option(help="examples partition: split")] = "train",
    k: Annotated[int, typer.Option(help="spans per question (hard learning: 20; top-k bundles: 2)")] = 20,
    mode: Annotated[
        str, typer.Option(help="`plain` (top-k spans) or `diverse` (k distinct starts, best end each)")
    ] = "plain",
    force_gold: Annotated[
        bool, typer.Option(help="store the gold at the last rank when missing (hard-learning view)")
    ] = False,
    batch_windows: BatchOpt = 16,
    device: DeviceOpt = "cpu",
    force: Annotated[bool, typer.Option(help="rewrite even when inputs and settings are unchanged")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """A checkpoint's k best distinct spans per question → the `topk` artifact."""
    from flows.sample_topk import check_arguments, sample_topk_flow

    with failing_cleanly(verbose, expected=(ValueError, FileNotFoundError), code=2):
        check_arguments(checkpoint, root, k, mode)
        # progress bars on a terminal, Prefect progress artifacts in the run
        with _prepare(device, verbose), reporting():
            path = sample_topk_flow(checkpoint, root, dataset, split, k, mode, batch_windows, force_gold, device, force)
    print(path)


def evaluate_command(
    checkpoints: Annotated[list[str], typer.Argument(help="run folders, model folders, or `tiny` / `minilm`")],
    eval_sets: Annotated[
        list[str],
        typer.Option(
            "--set", help="preset (squad11-eval, addsent, xquad-de, ...), NAME=PATH[:FORMAT], or neg-<set>; repeatable"
        ),
    ],
    root: RootOpt = "data/artifacts",
    data_dir: Annotated[str, typer.Option("--data-dir", help="shared data folder for the presets")] = "../shared/data",
    limit: Annotated[int | None, typer.Option(help="first N questions of each set (smoke runs)")] = None,
    null_rule: Annotated[
        str,
        typer.Option(
            help="default null rule, for runs whose training config sets no `decoding.null_rule`: "
            "`none`, `cls_threshold` (SQuAD 2.0) or `negative_score`"
        ),
    ] = "none",
    null_threshold: Annotated[float, typer.Option(help="threshold of the default null rule")] = 0.0,
    run_null_rule: Annotated[
        list[str] | None,
        typer.Option(
            "--run-null-rule",
            help="RUN=RULE[:THRESHOLD] for one checkpoint (its argument or run id); beats its training config; "
            "repeatable",
        ),
    ] = None,
    n_resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    bundles: Annotated[
        str | None,
        typer.Option(help="DATASET/SPLIT of a `bundles` partition (e.g. ropes/dev): consistency + joint inference"),
    ] = None,
    near_miss_baseline: Annotated[
        str | None,
        typer.Option(
            help="one of the checkpoints: its predictions define the near-miss slice (METHODS §1); "
            "every run is scored on it"
        ),
    ] = None,
    batch_windows: BatchOpt = 16,
    device: DeviceOpt = "cpu",
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate checkpoints on evaluation sets: predictions, metrics and a report with plots."""
    from flows.evaluate import check_arguments, evaluate_flow

    with failing_cleanly(verbose, expected=(ValueError, FileNotFoundError), code=2):
        overrides = parse_run_null_rules(run_null_rule or [])
        check_arguments(checkpoints, eval_sets, data_dir, null_rule, root, bundles, overrides)
        with _prepare(device, verbose), reporting():
            path = evaluate_flow(
                checkpoints,
                eval_sets,
                root,
                data_dir,
                limit,
                batch_windows,
                null_rule,
                null_threshold,
                n_resamples,
                device,
                bundles,
                near_miss_baseline,
                overrides,
            )
    print(path)


def parse_run_null_rules(items: list[str]) -> dict[str, str]:
    """`["runs/mle=cls_threshold:0.5", "robust=negative_score"]` → {checkpoint or run id: rule[:threshold]}."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key or not value:
            raise ValueError(f"--run-null-rule {item!r}: expected RUN=RULE[:THRESHOLD] (e.g. runs/mle=cls_threshold)")
        out[key] = value
    return out
