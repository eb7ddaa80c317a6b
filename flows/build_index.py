"""`build-index` flow: load every source of a build config, then index its contexts with spaCy.

    python -m flows.build_index                       # the demo config, embedded Prefect
    cqa build-index --config data/samples/build.yaml  # the same through the CLI

Thin: each task calls one function of `pipeline.stages` and returns a small dict (a
`StageReport` row); frames never travel between tasks. Sources are loaded as parallel
tasks. The index step plans, in this process, the new contexts of every partition to
index (a context shared by two datasets is planned once) and cuts them into chunks of
`index.chunk_size` contexts; each chunk is one `index-chunk` task on the flow's task
runner that parses it and writes its own part file atomically. On a Dask runner (`--runner
dask`: a local cluster of `--workers` processes, or the scheduler at `CQA_DASK_ADDRESS`)
the chunks are parsed in parallel, each worker process loading the spaCy model once; on
the thread runner they take turns on one model (spaCy holds the GIL). The rows are those
of a one-process build whatever the runner. One progress stage counts the parsed
contexts per finished chunk.

A source that cannot be read (`SourceError`: missing, unreadable, not JSON, wrong shape)
stops only itself: the other sources are loaded, indexed and mined, the report names it
under "Sources that could not be read", and the flow then raises `SourcesFailed` (a
`SourceError`: the CLI prints one `error:` line naming each such source and the report,
exit status 1). With `fail_fast: true` in the build config (`cqa build-bundles --fail-fast`) the
first such source stops the build before any index or miner runs.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.progress import ensure_reporting
from flows.report import publish
from pipeline.build_config import BuildConfig, load_build_config
from pipeline.nlp import IndexConfig
from pipeline.progress import reporter_factory
from pipeline.run_lock import run_lock
from pipeline.sources import SourceError, SourceSpec
from pipeline.sources.spec import SourcesFailed
from pipeline.spacy_index import IndexChunk
from pipeline.stage_report import StageReport
from pipeline.stages import begin_index_rebuild, finish_index_rebuild, plan_partition_index, run_index_chunk, run_load

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = str(REPO / "data" / "samples" / "build.yaml")
WORKERS = 4  # threads of the default task runner
MAX_IN_FLIGHT = 64  # index chunks submitted and not finished yet (bounds what the task runner holds)
LOCK_TIMEOUT_S = 600.0  # how long a run waits for another run on the same root (a schedule firing mid-run)


@task(name="load-source", cache_policy=NO_CACHE)
def load_task(root: str, spec: SourceSpec, force: bool = False) -> list[dict[str, Any]]:
    """Load one source into examples/contexts/rejects; one report row per split.

    A source that cannot be read (`SourceError`) gives one row with `failed` = the message
    instead: it stops only this source (`load_and_index` decides about the rest).
    """
    t0 = time.perf_counter()
    try:
        reports = run_load(root, spec, force=force)
    except SourceError as e:
        get_run_logger().error("load %s: source could not be read, left out of this build: %s", spec.dataset, e)
        failed = StageReport("load", spec.dataset, spec.split, seconds=time.perf_counter() - t0, path=spec.path)
        return [{**failed.as_row(), "failed": str(e)}]
    for r in reports:
        get_run_logger().info(
            "load %s/%s: %d examples, %d rejects%s",
            r.dataset,
            r.split,
            r.rows,
            r.rejects,
            " (skipped)" if r.skipped else "",
        )
    return [r.as_row() for r in reports]


@task(name="index-chunk", cache_policy=NO_CACHE)
def index_chunk_task(out_root: str, chunk: IndexChunk, cfg: IndexConfig) -> dict[str, Any]:
    """Parse one chunk of new contexts and write it as one part file of the index under `out_root`."""
    return run_index_chunk(out_root, chunk, cfg)


def index_partitions(
    root: str, parts: list[dict[str, str]], cfg: IndexConfig, out_root: str | None = None
) -> list[dict[str, Any]]:
    """Index the new contexts of `parts` (dataset/split dicts) as chunk tasks; one report row per partition.

    Must run inside a flow (the chunks go to its task runner). Every chunk is waited for:
    when one fails, the others still write their part files (complete ones only, each
    atomic), so a re-run parses only what is missing; then the first failure is raised.
    """
    logger = get_run_logger()
    t0 = time.perf_counter()
    out = out_root or root
    claimed: set[str] = set()
    plans = []
    for part in parts:
        plan = plan_partition_index(root, part["dataset"], part["split"], cfg, out_root=out, claimed=claimed)
        claimed.update(i for c in plan.chunks for i in c.ids)
        plans.append((part, plan, time.perf_counter() - t0))
    queue = deque((n, chunk) for n, (_, plan, _) in enumerate(plans) for chunk in plan.chunks)
    done_at: dict[int, float] = {}  # partition -> when its last chunk was written
    workers: dict[int, set[str]] = {n: set() for n in range(len(plans))}  # partition -> processes that parsed it
    parse_s = {n: [0.0, 0.0] for n in range(len(plans))}  # partition -> spaCy wall, CPU seconds summed over chunks
    failures: list[BaseException] = []
    total = sum(plan.n_new for _, plan, _ in plans)
    factory = reporter_factory()
    reporter = factory(f"index ({cfg.model})", total) if factory is not None and total else None
    in_flight: dict[Any, int] = {}  # future -> partition; at most MAX_IN_FLIGHT chunks' texts travel at once
    try:
        while queue or in_flight:
            while queue and len(in_flight) < MAX_IN_FLIGHT:
                n, chunk = queue.popleft()
                in_flight[index_chunk_task.submit(out, chunk, cfg)] = n
            f = next(as_completed(list(in_flight)))
            n = in_flight.pop(f)
            try:
                result = f.result()
            except Exception as e:  # noqa: BLE001 - raised below, after the other chunks are written
                failures.append(e)
                continue
            done_at[n] = time.perf_counter()
            workers[n].add(result["worker"])
            parse_s[n][0] += result["parse_s"]
            parse_s[n][1] += result["parse_cpu_s"]
            if reporter is not None:
                reporter.advance(result["contexts"])
    finally:
        if reporter is not None:
            reporter.close()
    if failures:
        raise failures[0]
    rows = []
    for n, (part, plan, planned_s) in enumerate(plans):
        logger.info(
            "index %s/%s: %d contexts, %d new in %d part(s)",
            part["dataset"],
            part["split"],
            plan.n_contexts,
            plan.n_new,
            len(plan.chunks),
        )
        seconds = done_at.get(n, t0 + planned_s) - t0
        rows.append(
            StageReport(
                "index",
                part["dataset"],
                part["split"],
                rows=plan.n_contexts,
                seconds=seconds,
                skipped=plan.n_new == 0,
                path=plan.path,
                stats={
                    "partition": plan.partition,
                    "new": plan.n_new,
                    "cached": plan.n_cached,
                    "parts": len(plan.chunks),
                    "workers": len(workers[n]),
                    "parse_s": round(parse_s[n][0], 2),
                    "parse_cpu_s": round(parse_s[n][1], 2),
                },
            ).as_row()
        )
    return rows


def load_and_index(cfg: BuildConfig, force: bool = False, only_read: bool = False) -> list[dict[str, Any]]:
    """Submit one load task per source, then index the loaded partitions (in order).

    `only_read`: index only the datasets that a selected miner reads the index of (build-bundles:
    a ROPES build mining bundles and flips needs no spaCy pass); otherwise every partition
    (build-index)."""
    futures = [load_task.submit(cfg.root, spec, force) for spec in cfg.sources]
    reports = []
    for f in futures:
        rows = f.result()
        if cfg.fail_fast and (failed := failed_sources(rows)):
            raise SourceError(f"{failed[0][1]} (fail_fast: the build stopped at this source)")
        reports += rows
    # --force rebuilds the index beside the live one and swaps it in whole at the end, so a
    # reader during the rebuild sees the old complete index, then the new one (never none or part)
    staging = str(begin_index_rebuild(cfg.root, cfg.index)) if force else None
    to_index = []
    for part in loaded_partitions(reports):
        if only_read and not index_read(cfg, part["dataset"]):
            get_run_logger().info(
                "index %s/%s: not indexed, no selected miner reads the index of %s",
                part["dataset"],
                part["split"],
                part["dataset"],
            )
            continue
        to_index.append(part)
    reports += index_partitions(cfg.root, to_index, cfg.index, staging)
    if staging is not None:
        finish_index_rebuild(cfg.root, staging, cfg.index)
    return reports


def index_read(cfg: BuildConfig, dataset: str) -> bool:
    """Whether a selected miner that reads the spaCy index runs on `dataset`."""
    from pipeline.miners import MINERS
    from pipeline.stages import miner_applies

    return any("index" in MINERS[name].inputs and miner_applies(cfg, name, dataset) for name in cfg.miners)


def failed_sources(reports: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(dataset, message) of every source whose load failed, in order."""
    return [(r["dataset"], r["failed"]) for r in reports if r.get("failed")]


def raise_if_failed(result: dict[str, Any]) -> dict[str, Any]:
    """`result`, or `SourcesFailed` (with `result` attached) when a source could not be read."""
    failed = failed_sources(result["stages"])
    if failed:
        raise SourcesFailed(failed, result)
    return result


def loaded_partitions(reports: list[dict[str, Any]]) -> list[dict[str, str]]:
    """dataset/split partitions written (or reused) by the load stage, in order."""
    seen = {(r["dataset"], r["split"]): None for r in reports if r["stage"] == "load" and not r.get("failed")}
    return [{"dataset": d, "split": s} for d, s in seen]


def exclusive(root: str, what: str, timeout_s: float | None):
    """The run lock of an artifact root (`pipeline.run_lock`), logging who holds it while waiting."""
    logger = get_run_logger()
    return run_lock(
        root,
        timeout_s=timeout_s,
        what=what,
        on_wait=lambda h: logger.warning(
            "waiting for the run lock of %s: %s", root, h.describe() if h else "holder unknown"
        ),
    )


def resolve_config(
    config: str | None, root: str | None, sources: list[str] | None, overrides: list[str] | None
) -> BuildConfig:
    """Flow parameters -> validated `BuildConfig` (fails before any work)."""
    return load_build_config(config, overrides or [], root=root, sources=sources or [])


@flow(name="build-index", task_runner=ThreadPoolTaskRunner(max_workers=WORKERS))
def build_index_flow(
    config: str | None = DEFAULT_CONFIG,
    root: str | None = None,
    sources: list[str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    lock_timeout_s: float | None = LOCK_TIMEOUT_S,
) -> dict[str, Any]:
    """Load sources and build the spaCy index; returns the root, report path and stage rows."""
    t0 = time.perf_counter()
    ensure_reporting()  # progress of the index as Prefect progress artifacts (and bars on a terminal)
    cfg = resolve_config(config, root, sources, overrides)
    with exclusive(cfg.root, "build-index", lock_timeout_s):
        reports = load_and_index(cfg, force)
        path = publish("build-index", reports, cfg.root, cfg.resolved(), time.perf_counter() - t0)
    return raise_if_failed({"root": cfg.root, "report": str(path), "stages": reports})


if __name__ == "__main__":
    out = build_index_flow()
    print(f"report: {out['report']}")
