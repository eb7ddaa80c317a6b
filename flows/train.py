"""`train` flow: run `cqa train` as a subprocess and record the run folder.

    python -m flows.train training/configs/mle.yaml --set optim.max_steps=50
    prefect deployment run train/default -p config=training/configs/mle.yaml   # on a GPU work pool

The flow launches the same CLI (`python -m flows.cli_training`) in a child process, so a
deployment can target a GPU work pool, a crash or kill of training never takes the flow
runner down, and `nproc_per_node > 1` runs it under `torchrun` for several GPUs. The
config is validated in the flow process first, so a bad config fails before launch. A
failed child's whole stderr (with `-v`: tracebacks) goes to the flow's log; the exception
raised, `TrainingFailed`, carries only its `error:` line (or last line).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger

REPO = Path(__file__).resolve().parents[1]


def train_command_line(config: str, overrides: list[str], resume: bool, nproc_per_node: int) -> list[str]:
    """The child process's argv: plain python, or torchrun for several processes."""
    torchrun = ["-m", "torch.distributed.run", f"--nproc_per_node={nproc_per_node}"] if nproc_per_node > 1 else []
    args = ["--config", config] + [a for o in overrides for a in ("--set", o)]
    return [sys.executable, *torchrun, "-m", "flows.cli_training", *args] + (["--resume"] if resume else [])


class TrainingFailed(RuntimeError):
    """The training child exited with an error; the message is its exit status and its `error:` line."""


def failure_summary(stderr: str) -> str:
    """The child's last `error:` line without the label, else its last non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def launch_training(
    config: str, overrides: list[str], resume: bool = False, nproc_per_node: int = 1, logger=None
) -> str:
    """Validate the config here, run the CLI in a child process, return the absolute run folder."""
    from training.config import load_config

    logger = logger or logging.getLogger(__name__)
    cfg = load_config(config, overrides)
    argv = train_command_line(config, overrides, resume, nproc_per_node) + ["--verbose"]  # tracebacks into this log
    logger.info("launching: %s", " ".join(argv))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(argv, cwd=Path.cwd(), env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        logger.error("training exited with %d; its stderr:\n%s", proc.returncode, proc.stderr[-20000:])
        raise TrainingFailed(f"training exited with {proc.returncode}: {failure_summary(proc.stderr)}")
    run_dir = str(cfg.run_dir.resolve())
    logger.info("run folder: %s", run_dir)
    return run_dir


@flow(name="train")
def train_flow(config: str, overrides: list[str] | None = None, resume: bool = False, nproc_per_node: int = 1) -> str:
    """Prefect flow: `launch_training` with the flow run's logger; the result is the run folder."""
    return launch_training(config, list(overrides or []), resume, nproc_per_node, logger=get_run_logger())


if __name__ == "__main__":
    import typer

    def _main(config: str, overrides: list[str] = typer.Option(None, "--set"), resume: bool = False) -> None:
        print(train_flow(config, overrides or [], resume))

    typer.run(_main)
