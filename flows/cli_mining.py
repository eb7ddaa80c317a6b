"""Mining commands of `cqa`: build-index, build-bundles, show, rejects.

    cqa build-bundles --config data/samples/build.yaml
    cqa build-bundles --source squad11=../shared/data/squad/v1.1/dev-v1.1.json:squad --root data/artifacts
    cqa show near_miss --head 3
    cqa rejects --dataset squad_broken

The build commands validate the config before starting the flow (a bad key or path fails
with the field named and nothing written), then run the Prefect flow in-process
(ephemeral Prefect, no server needed) and print the per-stage table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from flows.cli_errors import VerboseOpt, fail, failing_cleanly
from pipeline import io
from pipeline.schemas import ARTIFACTS, REJECTS

# Flows, spaCy and the miners are imported inside the build commands, so `cqa --help`,
# `cqa show` and `cqa rejects` start fast.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "data" / "samples" / "build.yaml"
DEFAULT_ROOT = Path("data/artifacts")  # = pipeline.build_config.DEFAULT_ROOT

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="build config YAML (sources, index, miners)")]
RootOpt = Annotated[str | None, typer.Option("--root", help="artifact root (default: the config's `root`)")]
SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="NAME=PATH[:FORMAT]; repeatable; replaces the config's sources"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="config override KEY=VALUE, dotted keys (index.batch_size=32); repeatable"),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="rebuild every stage even if its inputs are unchanged")]
RunnerOpt = Annotated[str, typer.Option("--runner", help="task runner: threads or dask")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="parallel tasks (threads or Dask workers)")]
LockOpt = Annotated[
    float, typer.Option("--lock-timeout", help="seconds to wait for another build on the same root (0 = fail at once)")
]
FailFastOpt = Annotated[
    bool,
    typer.Option(
        "--fail-fast",
        help="stop the build at the first source that cannot be read (default: leave it out, build the rest, exit 1)",
    ),
]
ShowRootOpt = Annotated[Path, typer.Option("--root", help="artifact root")]


_SHORT = {
    "rejects": "rej",
    "negatives_per_example": "neg/ex",
    "with_negative": "≥1 neg",
    "seconds": "s",
    "skipped": "skip",
}


def _stage_table(rows: list[dict[str, Any]]) -> Table:
    from flows.report import table_rows

    table = Table(title="stages")
    flat = table_rows(rows)
    for col in flat[0] if flat else []:
        numeric = col in ("rows", "rejects", "seconds", "negatives_per_example", "with_negative")
        width = max([len(str(r[col])) for r in flat] + [3]) if col in ("stage", "dataset") else None
        table.add_column(_SHORT.get(col, col), justify="right" if numeric else "left", overflow="fold", min_width=width)
    for r in flat:
        table.add_row(*("yes" if v is True else "" if v is False else str(v) for v in r.values()))
    return table


def _build_command(flow_name: str, doc: str) -> Callable[..., None]:
    """`cqa build-index` or `cqa build-bundles`: the same options and checks, only the flow differs."""

    def command(
        config: ConfigOpt = DEFAULT_CONFIG,
        root: RootOpt = None,
        source: SourceOpt = None,
        overrides: SetOpt = None,
        force: ForceOpt = False,
        runner: RunnerOpt = "threads",
        workers: WorkersOpt = 4,
        lock_timeout: LockOpt = 600.0,
        fail_fast: FailFastOpt = False,
        verbose: VerboseOpt = False,
    ) -> None:
        if lock_timeout < 0:
            fail(f"--lock-timeout: got {lock_timeout:g}, expected seconds >= 0 (0 = do not wait for another build)")
        if workers < 1:
            fail(f"--workers: got {workers}, expected at least 1 parallel task")
        from flows.cli_process import quiet_prefect_console, supervise

        supervise()  # a killed build leaves no process behind (Prefect's temporary server included)
        from flows.build_bundles import build_bundles_flow, with_task_runner
        from flows.build_index import build_index_flow, resolve_config
        from flows.progress import reporting
        from pipeline.build_config import BuildConfigError
        from pipeline.run_lock import RunLocked
        from pipeline.sources import SourceError
        from pipeline.sources.spec import SourcesFailed

        params = {
            "config": str(config),
            "root": root,
            "sources": source or [],
            "overrides": [*(overrides or []), *(["fail_fast=true"] if fail_fast else [])],
            "force": force,
            "lock_timeout_s": lock_timeout,
        }
        with failing_cleanly(verbose, expected=(BuildConfigError, ValueError), code=2):
            cfg = resolve_config(params["config"], root, params["sources"], params["overrides"])
            flow = build_bundles_flow if flow_name == "build-bundles" else build_index_flow
            f = with_task_runner(flow, runner, workers)
        err.print(f"{flow_name}: {len(cfg.sources)} source(s) -> {cfg.root}", highlight=False)
        # one line for the user; -v (and the Prefect log) has the traceback of an unexpected failure
        with failing_cleanly(verbose, expected=(SourceError, BuildConfigError, io.ArtifactError, RunLocked), code=1):
            try:
                with reporting(), quiet_prefect_console(verbose):  # progress bars on a terminal (stderr)
                    out = f(**params)
            except SourcesFailed as e:  # the readable sources were built: show them, then name the others
                if e.result.get("stages"):
                    console.print(_stage_table(e.result["stages"]))
                raise
        console.print(_stage_table(out["stages"]))
        console.print(f"report: {out['report']}", highlight=False, soft_wrap=True)

    command.__doc__ = doc
    return command


build_index = _build_command("build-index", "Load the sources and build the spaCy index (incremental).")
build_bundles = _build_command(
    "build-bundles", "Load, index, and run every selected miner (near_miss, ...); skips unchanged partitions."
)


def show(
    artifact: Annotated[str, typer.Argument(help=f"artifact name: {', '.join(ARTIFACTS)}")],
    root: ShowRootOpt = DEFAULT_ROOT,
    dataset: Annotated[str | None, typer.Option(help="only this dataset")] = None,
    head: Annotated[int, typer.Option(help="print the first N rows")] = 0,
) -> None:
    """Summary of an artifact: partitions, rows, schema version, manifest config."""
    spec = ARTIFACTS.get(artifact)
    if spec is None:
        fail(f"unknown artifact {artifact!r}; expected one of {list(ARTIFACTS)}")
    man = io.read_manifest(root, spec)
    parts = [p for p in io.partitions(root, spec) if dataset is None or p.get("dataset") == dataset]
    if not parts:
        fail(
            f"artifact '{artifact}' has no partitions under {root}" + (f" for dataset {dataset!r}" if dataset else ""),
            1,
        )
    table = Table(title=f"{artifact} (schema v{man.get('schema_version')}) at {io.artifact_dir(root, spec)}")
    for col in ("partition", "rows", "created_at", "writers"):
        table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold", min_width=5)
    for key in (io.partition_key(spec, p) for p in parts):
        e = man["partitions"][key]
        table.add_row(key, str(e.get("rows")), str(e.get("created_at")), ", ".join(e.get("writers", {})) or "-")
    console.print(table)
    first_key = io.partition_key(spec, parts[0])
    first = man["partitions"][first_key]
    console.print(f"manifest entry of {first_key}:", highlight=False)
    for key in ("config", "inputs", "inputs_fingerprint", "timings_s", "writers", "stats"):
        if first.get(key):
            console.print(f"  {key}: {first[key]}", highlight=False, soft_wrap=True)
    if head:
        df = io.scan(root, spec).filter(pl.col("dataset") == dataset) if dataset else io.scan(root, spec)
        for row in df.head(head).collect().iter_rows(named=True):
            console.print(row)


def rejects(
    root: ShowRootOpt = DEFAULT_ROOT,
    dataset: Annotated[str | None, typer.Option(help="only this dataset")] = None,
    stage: Annotated[str | None, typer.Option(help="only this stage (load, near_miss, ...)")] = None,
    examples: Annotated[int, typer.Option(help="also print N rejected records")] = 0,
) -> None:
    """Table of rejected records by dataset, split, stage and reason."""
    if not io.partitions(root, REJECTS):
        console.print(f"no rejects under {root}")
        return
    df = io.read(root, REJECTS)
    if dataset:
        df = df.filter(pl.col("dataset") == dataset)
    if stage:
        df = df.filter(pl.col("stage") == stage)
    counts = df.group_by("dataset", "split", "stage", "reason").len("count").sort("dataset", "split", "stage", "reason")
    table = Table(title=f"rejects ({df.height} records)")
    for col in counts.columns:
        table.add_column(col, justify="right" if col == "count" else "left")
    for row in counts.iter_rows():
        table.add_row(*(str(v) for v in row))
    console.print(table)
    for row in df.head(examples).iter_rows(named=True):
        console.print(row)
