"""`build-bundles` flow: load sources, index them, then run every selected miner per partition.

    python -m flows.build_bundles                        # the demo config, embedded Prefect
    cqa build-bundles --config data/samples/build.yaml   # the same through the CLI
    prefect deployment run build-bundles/default         # against a server (flows/deployments.py)

Runs on one artifact root are exclusive (`pipeline.run_lock`): a scheduled run that fires
while another is going waits for it. Each (miner, dataset, split) is an independent task
submitted to the flow's task runner, a setting: threads by default; Dask through prefect-dask
with `cqa build-bundles --runner dask`, `with_task_runner(flow, "dask")`, or the environment
of a served/worker process (`CQA_TASK_RUNNER=dask`, `CQA_DASK_ADDRESS=tcp://host:8786`).
Tasks take paths and small config objects and return `StageReport` rows; a stage whose
inputs and config are unchanged is skipped, so a re-run over unchanged inputs rewrites
no Parquet file. The run ends with a table + markdown Prefect artifact and a markdown
file under `<root>/reports/`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prefect import Flow, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.build_index import (
    DEFAULT_CONFIG,
    LOCK_TIMEOUT_S,
    WORKERS,
    exclusive,
    load_and_index,
    loaded_partitions,
    raise_if_failed,
    resolve_config,
)
from flows.progress import ensure_reporting
from flows.report import publish
from pipeline.build_config import BuildConfig
from pipeline.stages import miner_applies, run_miner

RUNNERS = ("threads", "dask")


def task_runner(runner: str | None = None, workers: int = WORKERS, address: str | None = None) -> TaskRunner:
    """The mining task runner: `threads` (default) or `dask` (prefect-dask).

    `runner` / `address` default to the settings `CQA_TASK_RUNNER` (threads | dask) and
    `CQA_DASK_ADDRESS` (a running Dask scheduler, e.g. tcp://scheduler:8786; unset = a new
    local cluster of `workers` processes), so a deployment's worker picks its runner by environment.
    """
    runner = runner or os.environ.get("CQA_TASK_RUNNER", "threads").strip() or "threads"
    address = address or os.environ.get("CQA_DASK_ADDRESS", "").strip() or None
    if runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})
    raise ValueError(f"task runner: got {runner!r}, expected one of {list(RUNNERS)} (setting CQA_TASK_RUNNER)")


@task(name="mine-partition", cache_policy=NO_CACHE)
def mine_task(root: str, miner: str, dataset: str, split: str, cfg: BuildConfig, force: bool = False) -> dict[str, Any]:
    """Run one registered miner on one dataset/split partition."""
    r = run_miner(root, miner, dataset, split, cfg, force=force)
    get_run_logger().info(
        "%s %s/%s: %d rows, %d rejects%s", miner, dataset, split, r.rows, r.rejects, " (skipped)" if r.skipped else ""
    )
    return r.as_row()


@flow(name="build-bundles", task_runner=task_runner())
def build_bundles_flow(
    config: str | None = DEFAULT_CONFIG,
    root: str | None = None,
    sources: list[str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    lock_timeout_s: float | None = LOCK_TIMEOUT_S,
) -> dict[str, Any]:
    """Load + index (the datasets a selected miner reads the index of), then every miner on every
    partition; returns root, report path, stage rows.

    One run per artifact root at a time: a second run waits up to `lock_timeout_s` seconds.
    """
    t0 = time.perf_counter()
    ensure_reporting()  # progress of the index and miners as Prefect progress artifacts (and bars on a terminal)
    cfg = resolve_config(config, root, sources, overrides)
    with exclusive(cfg.root, "build-bundles", lock_timeout_s):
        reports = load_and_index(cfg, force, only_read=True)
        futures = [
            mine_task.submit(cfg.root, name, part["dataset"], part["split"], cfg, force)
            for name in cfg.miners
            for part in loaded_partitions(reports)
            if miner_applies(cfg, name, part["dataset"])
        ]
        reports += [f.result() for f in futures]
        audit = write_audit(cfg) if cfg.audit else None
        path = publish("build-bundles", reports, cfg.root, cfg.resolved(), time.perf_counter() - t0, audit=audit)
    return raise_if_failed({"root": cfg.root, "report": str(path), "stages": reports})


@task(name="audit-site", cache_policy=NO_CACHE)
def write_audit(cfg: BuildConfig) -> str:
    """The audit site of the root (`pipeline.audit`, config key `audit`); returns its index page."""
    from pipeline.audit import build_site

    site = build_site(cfg.root, n=cfg.audit.n, seed=cfg.audit.seed)
    get_run_logger().info("audit site: %d pages in %.1f s: %s", len(site.pages), site.seconds, site.index)
    return str(site.index)


def with_task_runner(f: Flow, runner: str = "threads", workers: int = WORKERS, address: str | None = None) -> Flow:
    """The flow with another task runner: `threads` or `dask` (a local cluster, or the one at `address`)."""
    return f.with_options(task_runner=task_runner(runner, workers, address))


if __name__ == "__main__":
    out = build_bundles_flow()
    print(f"report: {out['report']}")
