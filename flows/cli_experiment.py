"""Experiment command of `cqa`: `cqa experiment --profile NAME`.

    cqa experiment --profile cpu-smoke
    cqa experiment --profile squad-protocol --set evaluate.limit=500
    cqa experiment --profile my-study.yaml --force        # redo every stage

Runs the `experiment` flow (ephemeral Prefect, no server needed) and prints the report
path on the last line. A bad profile (unknown field, missing config, unequal budget) exits
with code 2 and a message naming the field, before any work.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)


def experiment_command(
    profile: Annotated[str, typer.Option("--profile", "-p", help="flows/profiles/<name>.yaml (cpu-smoke, squad-protocol) or a YAML path")] = "cpu-smoke",
    overrides: Annotated[list[str] | None, typer.Option("--set", help="profile override KEY=VALUE, dotted keys (workdir=/tmp/x, evaluate.limit=200); repeatable")] = None,
    force: Annotated[bool, typer.Option("--force", help="run every stage even if its inputs are unchanged")] = False,
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", help="seconds to wait for another experiment on the same folder")] = 3600.0,
) -> None:
    """Mine → baseline → sample-topk → methods + α=0 control (equal budget) → evaluate → comparison report."""
    from flows.experiment_profile import ProfileError, load_profile, plan_experiment
    from pipeline.run_lock import RunLocked

    try:
        plan_experiment(load_profile(profile, overrides or []))
    except ProfileError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None
    from flows.experiment import experiment_flow

    try:
        report = experiment_flow(profile, overrides or [], force, lock_timeout)
    except RunLocked as e:
        err.print(f"[bold yellow]not started:[/] {e}", highlight=False)
        raise typer.Exit(3) from None
    print(report)


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment_command)


if __name__ == "__main__":
    typer.run(experiment_command)
