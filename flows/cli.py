"""`cqa`: the project's command line (typer + rich). `cqa --help` lists every command.

    cqa build-bundles --config data/samples/build.yaml
    cqa show near_miss
    cqa rejects

Command modules register themselves explicitly in `COMMAND_MODULES` below (one line each);
every module exposes `register(app)`.
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

COMMAND_MODULES = (
    cli_mining,  # build-index, build-bundles, show, rejects
    cli_bundles,  # bundles-show
    cli_audit,  # audit
    cli_training,  # train
    cli_eval,  # sample-topk, evaluate
    cli_experiment,  # experiment
    experiment_pack,  # experiment-pack
)

for module in COMMAND_MODULES:
    module.register(app)


if __name__ == "__main__":
    app()
