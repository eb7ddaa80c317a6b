"""`cqa`: the project's command line (typer + rich). `cqa --help` lists every command.

    cqa build-bundles --config data/samples/build.yaml
    cqa show near_miss
    cqa rejects

Every command is one line of `COMMANDS` below (name → function, in `cqa --help` order); the command
modules only define the functions.
"""

from __future__ import annotations

import os

# No usage telemetry from the embedded Prefect server (it also races the first SQLite migration),
# and time for that temporary server to start on a busy machine (Prefect's default is 20 s).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import typer  # noqa: E402

from flows import cli_audit, cli_bundles, cli_eval, cli_experiment, cli_mining, cli_training, experiment_pack  # noqa: E402

app = typer.Typer(
    name="cqa",
    help="contrastive-qa: mine hard negatives and instance bundles for extractive QA, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

COMMANDS = {
    "build-index": cli_mining.build_index,
    "build-bundles": cli_mining.build_bundles,
    "show": cli_mining.show,
    "rejects": cli_mining.rejects,
    "bundles-show": cli_bundles.bundles_show,
    "audit": cli_audit.audit,
    "train": cli_training.train_command,
    "pack": cli_training.pack_command,
    "sample-topk": cli_eval.sample_topk_command,
    "evaluate": cli_eval.evaluate_command,
    "experiment": cli_experiment.experiment_command,
    "experiment-pack": experiment_pack.experiment_pack_command,
}

for name, command in COMMANDS.items():
    app.command(name)(command)


if __name__ == "__main__":
    app()
