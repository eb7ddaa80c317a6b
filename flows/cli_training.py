"""Training command of `cqa`: `cqa train`.

    cqa train --config training/configs/mle.yaml
    cqa train --config training/configs/ce_question.yaml --set model.name=tiny --set optim.max_steps=20
    cqa train --config training/configs/mle.yaml --resume          # continue a killed run
    torchrun --nproc_per_node 4 -m flows.cli_training --config training/configs/mle.yaml   # several GPUs

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
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override KEY=VALUE, dotted keys (optim.lr=3e-5, losses.1.weight=0); repeatable")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue from the run folder's newest complete checkpoint")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="show the traceback of an unexpected failure")]


def train_command(config: ConfigOpt, overrides: SetOpt = None, resume: ResumeOpt = False, verbose: VerboseOpt = False) -> None:
    """Train a QA model as the config says; prints the run folder."""
    from training.config import ConfigError, load_config

    with failing_cleanly(verbose, expected=(ConfigError,), code=2):
        cfg = load_config(config, overrides or [])
    from training.checkpoint import CheckpointError
    from training.loop import train

    with failing_cleanly(verbose, expected=(ConfigError, CheckpointError), code=1):
        run_dir = train(cfg, resume=resume)
    print(run_dir)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def main() -> None:
    """`python -m flows.cli_training --config ...` (what torchrun and the Prefect flow launch)."""
    typer.run(train_command)


if __name__ == "__main__":
    main()
