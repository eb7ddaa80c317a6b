"""Training commands of `cqa`: `cqa train`, `cqa pack` (the training stage for a GPU machine, training/portable.py).

    cqa train --config training/configs/mle.yaml
    cqa train --config training/configs/ce_question.yaml --set model.name=tiny --set optim.max_steps=20
    cqa train --config training/configs/mle.yaml --resume          # continue a killed run
    torchrun --nproc_per_node 4 -m flows.cli_training --config training/configs/mle.yaml   # several GPUs
    cqa pack --config training/configs/mle.yaml --eval-set squad11-eval --out pack/   # then, where only torch & co are:
    python -m training.portable train pack/

The config is parsed and validated before anything is loaded (unknown loss, missing
artifact partition or bad model path fail with the field named and exit code 2). A run
folder that already holds a run, a changed config under `--resume`, or a checkpoint file
that cannot be read ends with one `error:` line naming the file and what to do (exit 1);
`-v` shows the traceback of an unexpected failure. The run folder is printed on the last
line of stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_errors import failing_cleanly

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="training config YAML (training/configs/*.yaml)")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override KEY=VALUE, dotted keys (optim.lr=3e-5, losses.1.weight=0); repeatable"),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue from the run folder's newest complete checkpoint")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="show the traceback of an unexpected failure")]


def train_command(
    config: ConfigOpt, overrides: SetOpt = None, resume: ResumeOpt = False, verbose: VerboseOpt = False
) -> None:
    """Train a QA model as the config says; prints the run folder."""
    from training.config import ConfigError, load_config

    with failing_cleanly(verbose, expected=(ConfigError,), code=2):
        cfg = load_config(config, overrides or [])
    from training.checkpoint import CheckpointError
    from training.loop import train

    with failing_cleanly(verbose, expected=(ConfigError, CheckpointError), code=1):
        run_dir = train(cfg, resume=resume)
    print(run_dir)


OutOpt = Annotated[Path, typer.Option("--out", "-o", help="new folder for the pack")]
EvalSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--eval-set",
        help="evaluation set to pack, as `cqa evaluate --set` names it (squad11-eval, NAME=PATH[:FORMAT]); repeatable",
    ),
]
EvalSplitOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--eval-split",
        help="pack this split of data.dataset's artifacts (examples + contexts) as an evaluation set; repeatable",
    ),
]
DataDirOpt = Annotated[str, typer.Option("--data-dir", help="folder of the evaluation-set presets")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="first N questions of each evaluation set")]
WeightsOpt = Annotated[
    bool, typer.Option("--with-weights", help="pack model.name's weights too (tiny's seeded init always travels)")
]
MaxMibOpt = Annotated[float, typer.Option("--max-mib", help="refuse a pack bigger than this (the travel limit)")]


def pack_command(
    config: ConfigOpt,
    out: OutOpt,
    overrides: SetOpt = None,
    eval_sets: EvalSetOpt = None,
    eval_splits: EvalSplitOpt = None,
    data_dir: DataDirOpt = "../shared/data",
    limit: LimitOpt = None,
    with_weights: WeightsOpt = False,
    max_mib: MaxMibOpt = 64.0,
    verbose: VerboseOpt = False,
) -> None:
    """Pack what `cqa train` and evaluation need (windows, examples, eval sets, config, tokenizer) into a small
    folder, for `python -m training.portable train PACK` on a machine without the mining stack
    (training/portable.py)."""
    from training.config import ConfigError, load_config
    from training.portable import MAX_MIB, PackError, eval_set_from_frames, pack

    with failing_cleanly(verbose, expected=(ConfigError,), code=2):
        # every check but the device's, which is the GPU machine's (training.portable.run_config checks it there)
        load_config(config, [*(overrides or []), "device=cpu"])
        cfg = load_config(config, overrides or [], validate=False)
    with failing_cleanly(verbose, expected=(ConfigError, PackError, ValueError, FileNotFoundError), code=1):
        sets = []  # (name, examples, contexts), then the first `limit` questions of each packed
        if eval_sets:
            from pipeline.attacks import load_eval_set
            from pipeline.eval_sets import parse_eval_set

            for es in (parse_eval_set(text, data_dir) for text in eval_sets):
                frames = load_eval_set(es)
                sets.append((es.name, frames.examples, frames.contexts))
        for split in eval_splits or []:
            from pipeline import io, schemas

            part = {"dataset": cfg.data.dataset, "split": split}
            frames = [io.read(cfg.data.root, spec, part) for spec in (schemas.EXAMPLES, schemas.CONTEXTS)]
            sets.append((f"{cfg.data.dataset}-{split}", *frames))
        sets = [eval_set_from_frames(name, ex.head(limit) if limit else ex, ctx) for name, ex, ctx in sets]
        manifest = pack(cfg, out, sets, with_weights=with_weights, max_mib=max_mib)
    mib = manifest["bytes"] / 2**20
    splits = ", ".join(f"{k} {v['n_examples']}" for k, v in manifest["splits"].items())
    sets_line = ", ".join(f"{k} {v['n_examples']}" for k, v in manifest["eval_sets"].items()) or "none"
    weights = "packed" if manifest["model"]["weights"] else "NOT packed (pass --model on the GPU machine)"
    print(
        f"pack: {mib:.2f} MiB (limit {max_mib:g}; default {MAX_MIB:g}), "
        f"{sum(w['n_windows'] for w in manifest['windows'])} windows, examples: {splits}; eval sets: {sets_line}; "
        f"model weights {weights}"
    )
    print(out)


def main() -> None:
    """`python -m flows.cli_training --config ...` (what torchrun and the Prefect flow launch)."""
    typer.run(train_command)


if __name__ == "__main__":
    main()
