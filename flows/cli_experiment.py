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

from flows.cli_errors import VerboseOpt


def experiment_command(
    profile: Annotated[
        str,
        typer.Option("--profile", "-p", help="flows/profiles/<name>.yaml (cpu-smoke, squad-protocol) or a YAML path"),
    ] = "cpu-smoke",
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="profile override KEY=VALUE, dotted keys (workdir=/tmp/x, evaluate.limit=200); repeatable"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="run every stage even if its inputs are unchanged")] = False,
    lock_timeout: Annotated[
        float, typer.Option("--lock-timeout", help="seconds to wait for another experiment on the same folder")
    ] = 3600.0,
    verbose: VerboseOpt = False,
) -> None:
    """Mine → baseline → sample-topk → methods + α=0 control (equal budget) → evaluate → comparison report."""
    from flows.cli_errors import error_line, fail, failing_cleanly
    from flows.cli_process import quiet_prefect_console, supervise
    from flows.experiment_profile import ProfileError, load_profile, plan_experiment
    from pipeline.run_lock import RunLocked

    if lock_timeout < 0:
        fail(f"--lock-timeout: got {lock_timeout:g}, expected seconds >= 0")
    with failing_cleanly(verbose, expected=(ProfileError,), code=2):
        plan_experiment(load_profile(profile, overrides or []))
    supervise()  # a killed experiment leaves no process behind (Prefect's temporary server, training children)
    from flows.experiment import experiment_flow

    try:
        with quiet_prefect_console(verbose):
            report = experiment_flow(profile, overrides or [], force, lock_timeout)
    except RunLocked as e:
        error_line(str(e), "not started:", "bold yellow")
        raise typer.Exit(3) from None
    print(report)


if __name__ == "__main__":
    typer.run(experiment_command)
