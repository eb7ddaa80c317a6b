"""The project's Prefect deployments: served by one process, or registered on a work pool.

Serve them (no workers needed; what the README and the server test use):

    prefect server start --host 127.0.0.1 --port 4200          # terminal 1: a local server
    export PREFECT_API_URL=http://127.0.0.1:4200/api           # terminals 2 and 3
    python -m flows.deployments                                # terminal 2: serve the deployments
    prefect deployment run build-bundles/default --watch       # terminal 3: run one
    prefect deployment run build-bundles/default --param root=/tmp/artifacts --watch

Or register them on a process work pool, for workers to pick up (docker-compose.yml):

    prefect work-pool create mining --type process
    python -m flows.deployments --pool mining
    prefect worker start --pool mining

Deployments (all named `default`; parameters can be changed per run with `--param`:
`config`, `root`, `sources`, `overrides`, `force`, `lock_timeout_s`):

| deployment | flow | schedule |
| --- | --- | --- |
| `build-bundles/default` | load + index + every miner | cron `CQA_REMINE_CRON` (default `0 3 * * *`, nightly re-mining; empty = none) |
| `build-index/default`   | load + index | none (on demand) |
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from uuid import UUID

from prefect import Flow, serve
from prefect.deployments.runner import RunnerDeployment

from flows.build_bundles import build_bundles_flow
from flows.build_index import build_index_flow

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CRON = "0 3 * * *"


def remine_cron() -> str | None:
    """Cron of scheduled re-mining (`CQA_REMINE_CRON`; empty string disables the schedule)."""
    cron = os.environ.get("CQA_REMINE_CRON", DEFAULT_CRON).strip()
    return cron or None


# (flow, entrypoint relative to the repository, schedule, description)
DEPLOYMENTS: tuple[tuple[Flow, str, bool, str], ...] = (
    (build_bundles_flow, "flows/build_bundles.py:build_bundles_flow", True,
     "Load sources, index with spaCy, run every miner (skips unchanged partitions)."),
    (build_index_flow, "flows/build_index.py:build_index_flow", False, "Load sources and build the spaCy index."),
)


def deployments() -> list[RunnerDeployment]:
    """Every deployment of the project, ready for `prefect.serve`."""
    return [
        f.to_deployment(name="default", cron=remine_cron() if scheduled else None, tags=["mining"], description=doc)
        for f, _, scheduled, doc in DEPLOYMENTS
    ]


def deploy_to_pool(pool: str, source: str | Path = REPO) -> list[UUID]:
    """Register every deployment on the work pool `pool`; its workers run the code at `source`."""
    ids = []
    for _, entrypoint, scheduled, doc in DEPLOYMENTS:
        f = Flow.from_source(source=str(source), entrypoint=entrypoint)
        ids.append(f.deploy(name="default", work_pool_name=pool, cron=remine_cron() if scheduled else None,
                            tags=["mining"], description=doc, build=False, push=False, print_next_steps=False))
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.deployments", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", help="register on this work pool instead of serving (e.g. mining)")
    args = parser.parse_args(argv)
    if args.pool:
        for uid in deploy_to_pool(args.pool):
            print(f"registered deployment {uid} on pool {args.pool}")
    else:
        serve(*deployments())


if __name__ == "__main__":
    main()
