"""The project's Prefect deployments: served by one process, or registered on work pools.

Serve them all on one machine (no workers needed; what the README and the server test use):

    prefect server start --host 127.0.0.1 --port 4200          # terminal 1: a local server
    export PREFECT_API_URL=http://127.0.0.1:4200/api           # terminals 2 and 3
    python -m flows.deployments                                # terminal 2: serve every deployment
    prefect deployment run build-bundles/default --watch       # terminal 3: run one
    prefect deployment run build-bundles/default --param root=/tmp/artifacts --watch
    prefect deployment run experiment/default --param profile=cpu-smoke --watch

Or register each on its work pool (`mining` for CPU mining, `gpu` for training and
evaluation), for workers to pick up (docker-compose.yml):

    prefect work-pool create mining --type process
    prefect work-pool create gpu --type process
    python -m flows.deployments --register                     # every deployment on its own pool
    prefect worker start --pool mining                         # and --pool gpu on the GPU machine

| deployment | flow | pool | schedule / concurrency |
| --- | --- | --- | --- |
| `build-bundles/default` | load + index + every miner | mining | on demand; one run at a time |
| `build-bundles/nightly` | the same (re-mining) | mining | cron `CQA_REMINE_CRON` (below); one run at a time |
| `build-index/default` | load + index | mining | on demand |
| `sample-topk/default` | a checkpoint's top-k spans | gpu | on demand |
| `train/default` | `cqa train` in a child process | gpu | on demand |
| `evaluate/default` | checkpoints × evaluation sets → report | gpu | on demand |
| `experiment/default` | the whole study (flows/experiment.py) | gpu | on demand; one run at a time |

The nightly cron `CQA_REMINE_CRON` defaults to `0 3 * * *`; empty = none (no schedule).
Re-mining runs are serialised twice: the deployments' concurrency limit of one (extra runs
wait in the queue), and the run lock on the artifact root (`pipeline/run_lock.py`) that also
covers runs started outside these deployments (a build waits up to `lock_timeout_s`).
Parameters are the flows' typed signatures (Prefect shows them as a form in the UI);
override any per run with `--param NAME=VALUE` (build-bundles: `config`, `root`, `sources`,
`overrides`, `force`, `lock_timeout_s`; experiment: `profile`, `overrides`, `force`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment

from flows.build_bundles import build_bundles_flow
from flows.build_index import build_index_flow
from flows.evaluate import evaluate_flow
from flows.experiment import experiment_flow
from flows.sample_topk import sample_topk_flow
from flows.train import train_flow

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CRON = "0 3 * * *"
MINING_POOL = os.environ.get("CQA_MINING_POOL", "mining")  # process work pool of the CPU mining worker
GPU_POOL = os.environ.get("CQA_GPU_POOL", "gpu")  # process work pool of the GPU training worker


def remine_cron() -> str | None:
    """Cron of scheduled re-mining (`CQA_REMINE_CRON`; empty string disables the schedule)."""
    cron = os.environ.get("CQA_REMINE_CRON", DEFAULT_CRON).strip()
    return cron or None


def one_at_a_time() -> ConcurrencyLimitConfig:
    """At most one running flow run of the deployment; later ones wait in the queue."""
    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)


@dataclass(frozen=True)
class Deployment:
    flow: Flow  # the flow object (served in this process; registered on a pool by its `entrypoint`)
    name: str  # deployment name: `<flow name>/<name>`
    pool: str  # work pool it is registered on with --register
    description: str  # shown in the UI
    scheduled: bool = False  # on the re-mining cron
    serial: bool = False  # concurrency limit of one
    tags: tuple[str, ...] = ()  # UI tags
    parameters: dict[str, Any] = field(default_factory=dict)  # default parameters of the deployment

    @property
    def entrypoint(self) -> str:
        """`path:function` of the flow relative to the repository, for the worker of a pool to import."""
        return f"{self.flow.fn.__module__.replace('.', '/')}.py:{self.flow.fn.__name__}"

    def options(self) -> dict[str, Any]:
        """What serving and registering both pass: name, schedule, concurrency limit, tags, description, parameters."""
        return {
            "name": self.name,
            "cron": remine_cron() if self.scheduled else None,
            "concurrency_limit": one_at_a_time() if self.serial else None,
            "tags": list(self.tags),
            "description": self.description,
            "parameters": dict(self.parameters),
        }


DEPLOYMENTS: tuple[Deployment, ...] = (
    Deployment(
        build_bundles_flow,
        "default",
        MINING_POOL,
        "Load sources, index with spaCy, run every miner (skips unchanged partitions).",
        serial=True,
        tags=("mining",),
    ),
    Deployment(
        build_bundles_flow,
        "nightly",
        MINING_POOL,
        "Scheduled re-mining of the default build config (CQA_REMINE_CRON).",
        scheduled=True,
        serial=True,
        tags=("mining", "scheduled"),
    ),
    Deployment(
        build_index_flow,
        "default",
        MINING_POOL,
        "Load sources and build the spaCy index.",
        tags=("mining",),
    ),
    Deployment(
        sample_topk_flow,
        "default",
        GPU_POOL,
        "A checkpoint's k best spans per question -> the topk artifact.",
        tags=("gpu",),
    ),
    Deployment(
        train_flow,
        "default",
        GPU_POOL,
        "Train a QA model from a training config (child process; torchrun for several GPUs).",
        tags=("gpu",),
    ),
    Deployment(
        evaluate_flow,
        "default",
        GPU_POOL,
        "Evaluate checkpoints on evaluation sets -> predictions, metrics, report.",
        tags=("gpu",),
    ),
    Deployment(
        experiment_flow,
        "default",
        GPU_POOL,
        "The whole study: mine, baseline, top-k, methods + alpha=0 control, evaluate, report.",
        serial=True,
        tags=("gpu", "experiment"),
    ),
)


def deployments() -> list[RunnerDeployment]:
    """Every deployment of the project, ready for `prefect.serve`."""
    return [d.flow.to_deployment(**d.options()) for d in DEPLOYMENTS]


def deploy_to_pools(pool: str | None = None, source: str | Path = REPO) -> list[UUID]:
    """Register every deployment on its own work pool (or all on `pool`); workers run the code at `source`."""
    ids = []
    for d in DEPLOYMENTS:
        f = Flow.from_source(source=str(source), entrypoint=d.entrypoint)
        ids.append(
            f.deploy(**d.options(), work_pool_name=pool or d.pool, build=False, push=False, print_next_steps=False)
        )
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.deployments", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--register",
        action="store_true",
        help=f"register every deployment on its own pool ({MINING_POOL} / {GPU_POOL}) instead of serving",
    )
    group.add_argument("--pool", help="register every deployment on this one work pool instead of serving")
    args = parser.parse_args(argv)
    if args.register or args.pool:
        for d, uid in zip(DEPLOYMENTS, deploy_to_pools(args.pool), strict=True):
            print(f"registered {d.flow.name}/{d.name} ({uid}) on pool {args.pool or d.pool}")
    else:
        serve(*deployments())


if __name__ == "__main__":
    main()
