"""Training command of `cqa`: `cqa train`.

    cqa train --config training/configs/mle.yaml
    cqa train --config training/configs/ce_question.yaml --set model.name=tiny --set optim.max_steps=20
    cqa train --config training/configs/mle.yaml --resume          # continue a killed run
    torchrun --nproc_per_node 4 -m flows.cli_training --config training/configs/mle.yaml   # several GPUs

The config is parsed and validated before anything is loaded (unknown loss, missing
artifact partition or bad model path fail with the field named and exit code 2). The
run folder is printed on the last line of stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="training config YAML (training/configs/*.yaml)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override KEY=VALUE, dotted keys (optim.lr=3e-5, losses.1.weight=0); repeatable")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="continue from the run folder's latest checkpoint")]


def train_command(config: ConfigOpt, overrides: SetOpt = None, resume: ResumeOpt = False) -> None:
    """Train a QA model as the config says; prints the run folder."""
    from training.config import ConfigError, load_config

    try:
        cfg = load_config(config, overrides or [])
    except ConfigError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None
    from training.loop import train

    run_dir = train(cfg, resume=resume)
    print(run_dir)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def main() -> None:
    """`python -m flows.cli_training --config ...` (what torchrun and the Prefect flow launch)."""
    typer.run(train_command)


if __name__ == "__main__":
    main()
