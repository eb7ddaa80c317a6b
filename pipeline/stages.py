"""Stage runners of a mining build: load a source, index its contexts, run each miner.

Pure Python (no prefect): `flows/` wraps each call in a task. Every runner reads and writes
through `pipeline.io`, returns a `StageReport`, and is skipped when its inputs and config
are unchanged (`force=True` rebuilds). The miners themselves are pure functions registered
in `pipeline.miners.MINERS`; `run_miner` reads, skips, reuses and writes for every one.

Skipping (miners): a partition is up to date when the fingerprints of its inputs and the
miner's config equal those it recorded last time. Input fingerprints: for
`examples`/`contexts`, the content hash `run_load` stores in their manifest entry (so a
forced reload that gives the same rows re-mines nothing); for `index`/`nlp`, the index key
of the spaCy set-up, since the index of a given context under a given key never changes.

Shared partitions: several stages write into one `rejects` partition (dataset/split), and
two miners into one `bundles` partition. Each writer owns one part file in it,
`part-<writer>.parquet`, replaced atomically by `io.write_partition` (the other writers' parts
stay untouched; readers read all parts), and the partition's manifest entry keeps each
writer's record (fingerprint, config, rows, stats, reuse groups) under `writers.<writer>`.
No read-modify-write, so parallel writers of one partition cannot lose each other's rows.
A stage with no rejects now and none before writes no rejects part.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from pipeline import io
from pipeline.build_config import BuildConfig
from pipeline.miners import MINERS, Previous
from pipeline.nlp import IndexConfig, load_nlp
from pipeline.schemas import CONTEXTS, EXAMPLES, INDEX, REJECTS, ArtifactSpec
from pipeline.sources import SourceSpec, load_source, source_fingerprint
from pipeline.spacy_index import (
    IndexChunk,
    IndexPlan,
    build_index,
    index_chunks,
    index_key,
    indexed_ids,
    plan_index,
    read_index,
)
from pipeline.stage_report import StageReport

# Parts owned by one writer ----------------------------------------------------------------


def part_path(root: str | Path, spec: ArtifactSpec, part: Mapping[str, str], writer: str) -> Path:
    """The part file a writer owns in a shared partition: `part-<writer>.parquet`."""
    return io.partition_dir(root, spec, part) / f"part-{writer}.parquet"


def writer_entry(root: str | Path, spec: ArtifactSpec, part: Mapping[str, str], writer: str) -> dict[str, Any] | None:
    """What `write_owned_part` recorded for this writer (None if never written or the part is gone)."""
    entry = io.partition_entry(root, spec, part)
    if not entry or entry.get("schema_version") != spec.version or not part_path(root, spec, part, writer).exists():
        return None
    return (entry.get("writers") or {}).get(writer)


def write_owned_part(
    root: str | Path,
    spec: ArtifactSpec,
    df: pl.DataFrame,
    part: Mapping[str, str],
    writer: str,
    record: Mapping[str, Any],
) -> None:
    """Atomically replace `writer`'s part file in a partition; other writers' parts stay.

    `record` (fingerprint, rows, stats, ...) is kept in the manifest entry under
    `writers.<writer>`; the entry's `rows` counts every part. While one writer owns the
    partition, its record's `config` and `stats` are also the entry's own (readers such as
    `training.data.synthetic_placement` read `config.placement`). A part file no writer owns
    (the single `part-0.parquet` of a partition written before it was shared) is removed.
    """
    # a lock of its own: io.write_partition below takes the artifact's `.lock`
    with io.locked(root, spec, ".writers-lock"):
        old = (io.partition_entry(root, spec, part) or {}) if io.partition_dir(root, spec, part).exists() else {}
        writers = {**(old.get("writers") or {}), writer: dict(record)}
        for orphan in io.partition_files(root, spec, part):
            if orphan.stem.removeprefix("part-") not in writers:
                orphan.unlink()
        only = dict(record) if len(writers) == 1 else {}
        io.write_partition(
            root,
            spec,
            df,
            part,
            part_name=writer,
            config={**only.get("config", {}), "writers": sorted(writers)},
            extra={"writers": writers, **({"stats": only["stats"]} if "stats" in only else {})},
        )


def write_stage_rejects(root: str | Path, stage: str, dataset: str, split: str, rows: pl.DataFrame) -> int:
    """Replace `stage`'s rejects of dataset/split (its own part file); returns the row count.

    A stage with no rejects now and none before does not touch the partition.
    """
    part = {"dataset": dataset, "split": split}
    rows = rows.select(REJECTS.column_names).with_columns(pl.lit(stage).alias("stage"))
    if rows.height or part_path(root, REJECTS, part, stage).exists():
        write_owned_part(root, REJECTS, rows, part, stage, {"rows": rows.height})
    return rows.height


# Load --------------------------------------------------------------------------------------


def content_fingerprint(df: pl.DataFrame) -> str:
    """sha256 (16 hex) of a frame's Arrow IPC bytes: equal data, equal fingerprint."""
    sink = pa.BufferOutputStream()
    table = df.to_arrow()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def _split_values(*frames: pl.DataFrame) -> list[str]:
    out: set[str] = set()
    for f in frames:
        if "split" in f.columns:
            out.update(f["split"].unique().to_list())
    return sorted(out)


def _load_up_to_date(root: str | Path, spec: SourceSpec, fp: str) -> list[str] | None:
    """The splits of the last load of this source when it is still current, else None."""
    for part in io.partitions(root, EXAMPLES):
        if part["dataset"] != spec.dataset or part["split"] not in spec.output_splits():
            continue  # another source of the same dataset (e.g. ROPES train vs dev)
        entry = io.partition_entry(root, EXAMPLES, part) or {}
        splits = entry.get("load_splits") or []
        if not splits:
            return None
        for s in splits:
            p = {"dataset": spec.dataset, "split": s}
            if not (io.is_up_to_date(root, EXAMPLES, p, fp) and io.is_up_to_date(root, CONTEXTS, p, fp)):
                return None
        return list(splits)
    return None


def run_load(root: str | Path, spec: SourceSpec, force: bool = False) -> list[StageReport]:
    """Load one source into `examples`/`contexts` partitions per split, its rejects into `rejects`.

    Skipped (one report per split, `skipped=True`) when the source file and the source
    spec are unchanged since the last load. Raises the loader's `SourceError` when the
    whole input is unreadable.
    """
    t0 = time.perf_counter()
    config = dataclasses.asdict(spec)
    inputs = {"source": source_fingerprint(spec)}
    fp = io.inputs_fingerprint(inputs, config)
    if not force and (splits := _load_up_to_date(root, spec, fp)):
        parts = [{"dataset": spec.dataset, "split": s} for s in splits]
        entries = [(p, io.partition_entry(root, EXAMPLES, p) or {}) for p in parts]
        return [_skipped_report("load", p, e, io.partition_dir(root, EXAMPLES, p), t0) for p, e in entries]
    result = load_source(spec)
    examples, contexts, rejects = result.examples, result.contexts, result.rejects
    split_col = pl.col("split").fill_null(spec.split) if "split" in rejects.columns else pl.lit(spec.split)
    rejects = rejects.with_columns(split_col.cast(pl.String).alias("split"))
    splits = _split_values(examples, contexts) or [spec.split]
    seconds = time.perf_counter() - t0
    reports = []
    for split in splits:
        part = {"dataset": spec.dataset, "split": split}
        ex = _of_split(examples, split, EXAMPLES)
        ctx = _of_split(contexts, split, CONTEXTS)
        io.check_spans(EXAMPLES, ex, ctx, f"{spec.dataset}/{split} (source {spec.path})")  # before anything is written
        n_rej = write_stage_rejects(root, "load", spec.dataset, split, _of_split(rejects, split, REJECTS))
        stats = {"contexts": ctx.height}
        extra = {"load_splits": splits, "source_file": spec.path, "rejects": n_rej, "stats": stats}
        for artifact, frame in ((CONTEXTS, ctx), (EXAMPLES, ex)):  # examples last: `path` is theirs
            path = io.write_partition(
                root,
                artifact,
                frame,
                part,
                config=config,
                inputs=inputs,
                timings={"load": seconds},
                extra={**extra, "content": content_fingerprint(frame)},
            )
        reports.append(
            StageReport("load", spec.dataset, split, rows=ex.height, rejects=n_rej, path=str(path), stats=stats)
        )
    for split in sorted(set(_split_values(rejects)) - set(splits)):  # rejects of splits with no kept example
        write_stage_rejects(root, "load", spec.dataset, split, _of_split(rejects, split, REJECTS))
    total = time.perf_counter() - t0
    for r in reports:
        r.seconds = total / len(reports)
    return reports


def _of_split(df: pl.DataFrame, split: str, spec: ArtifactSpec) -> pl.DataFrame:
    """Rows of one split (frames from the loader carry a `split` column), in the artifact's columns."""
    if "split" in df.columns:
        df = df.filter(pl.col("split") == split)
    return df.select(spec.column_names)


def _skipped_report(
    stage: str, part: Mapping[str, str], entry: Mapping[str, Any], path: Path, t0: float
) -> StageReport:
    """The report of a stage skipped as up to date: the rows, rejects and stats it recorded last time."""
    return StageReport(
        stage,
        part["dataset"],
        part["split"],
        rows=int(entry.get("rows", 0)),
        rejects=int(entry.get("rejects", 0)),
        seconds=time.perf_counter() - t0,
        skipped=True,
        path=str(path),
        stats=dict(entry.get("stats", {})),
    )


# Index -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def shared_nlp(cfg: IndexConfig) -> Any:
    """The spaCy pipeline of `cfg`, loaded once per process (index steps of one run share it)."""
    return load_nlp(cfg)


# One spaCy pass at a time per process: threads of one process (the thread runner, a Dask
# worker with several threads) share `shared_nlp`, which spaCy does not promise to be
# thread-safe, and spaCy holds the GIL, so a second thread would gain nothing (measured: 2
# threads with a pipeline each parsed 256 SQuAD contexts in 2.73 s wall, 2.78 s CPU; 1 thread 3.00 s).
_NLP_LOCK = threading.Lock()


def run_index(
    root: str | Path, dataset: str, split: str, cfg: IndexConfig, out_root: str | Path | None = None
) -> StageReport:
    """Index the contexts of one partition in this process (incremental: only unseen contexts are parsed).

    `out_root`: write the index there instead of under `root` (a forced rebuild's staging
    root, see `begin_index_rebuild`); the contexts are always read from `root`. The flows
    run the chunks of `plan_partition_index` as parallel tasks instead (`run_index_chunk`).
    """
    t0 = time.perf_counter()
    out = root if out_root is None else out_root
    contexts = io.read(root, CONTEXTS, {"dataset": dataset, "split": split})
    unseen = set(contexts["context_id"].to_list()) - indexed_ids(out, index_key(cfg))
    with _NLP_LOCK:
        stats = build_index(out, contexts, cfg, nlp=shared_nlp(cfg) if unseen else None)
    return StageReport(
        "index",
        dataset,
        split,
        rows=stats.n_contexts,
        seconds=time.perf_counter() - t0,
        skipped=stats.n_new == 0,
        path=str(stats.path),
        stats={"partition": stats.partition, "new": stats.n_new, "cached": stats.n_cached, "parts": stats.parts},
    )


def plan_partition_index(
    root: str | Path,
    dataset: str,
    split: str,
    cfg: IndexConfig,
    out_root: str | Path | None = None,
    claimed: Iterable[str] = (),
) -> IndexPlan:
    """The chunks of new contexts of one partition (`spacy_index.plan_index`); loads no model.

    `claimed`: ids planned for an earlier partition of the same run (parsed once, there)."""
    contexts = io.read(root, CONTEXTS, {"dataset": dataset, "split": split})
    return plan_index(root if out_root is None else out_root, contexts, cfg, claimed)


def run_index_chunk(out_root: str | Path, chunk: IndexChunk, cfg: IndexConfig) -> dict[str, Any]:
    """Parse one chunk with this process's pipeline (loaded on its first chunk) and write its part file.

    Returns `{"part", "contexts", "parse_s", "parse_cpu_s", "worker"}`; `worker` (host:pid) names the process."""
    with _NLP_LOCK:
        result = index_chunks(out_root, [chunk], cfg, nlp=shared_nlp(cfg), progress=False)[0]
    return {**result, "worker": f"{socket.gethostname()}:{os.getpid()}"}


STAGING = ".staging"  # under the artifact root: same file system, so the swap is a rename


def begin_index_rebuild(root: str | Path, cfg: IndexConfig) -> Path:
    """A fresh staging root for a forced rebuild of the index of `cfg` (`run_index(..., out_root=)`).

    The live index stays readable, whole, until `finish_index_rebuild` swaps the rebuilt
    one in. Staging folders of this index left by a killed build are removed first.
    """
    key = index_key(cfg)
    base = Path(root) / STAGING
    for old in base.glob(f"index-{key}-*"):
        shutil.rmtree(old, ignore_errors=True)
    staging = base / f"index-{key}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging


def finish_index_rebuild(root: str | Path, staging: str | Path, cfg: IndexConfig) -> None:
    """Swap the index rebuilt under `staging` in for the live one, atomically (`io.swap_partition`).

    When nothing was indexed (a build whose miners read no index) the live index stays as it
    is: index rows are keyed by context hash and never go stale, and other builds read them.
    """
    part = {"nlp": index_key(cfg)}
    if io.partition_dir(staging, INDEX, part).exists():
        io.swap_partition(staging, root, INDEX, part)
    shutil.rmtree(staging, ignore_errors=True)


# Miners ------------------------------------------------------------------------------------

INPUT_ARTIFACTS = {"examples": EXAMPLES, "contexts": CONTEXTS}


def miner_inputs(root: str | Path, name: str, dataset: str, split: str, cfg: BuildConfig) -> dict[str, str]:
    """Fingerprint of every input a miner reads for one partition (see module docstring)."""
    part = {"dataset": dataset, "split": split}
    out = {}
    for inp in MINERS[name].inputs:
        if inp in ("index", "nlp"):
            out[inp] = index_key(cfg.index)
        elif inp in INPUT_ARTIFACTS:
            entry = io.partition_entry(root, INPUT_ARTIFACTS[inp], part)
            if entry is None:
                raise io.ArtifactError(
                    f"miner '{name}' needs '{inp}' for {io.partition_key(INPUT_ARTIFACTS[inp], part)}: "
                    "run the load stage first"
                )
            out[inp] = io.data_fingerprint(entry)
    if "index" in out and "contexts" not in out:  # the index rows read depend on the contexts
        out["contexts"] = io.data_fingerprint(io.partition_entry(root, CONTEXTS, part) or {})
    return out


def read_inputs(root: str | Path, names: tuple[str, ...], dataset: str, split: str, cfg: BuildConfig) -> list[Any]:
    """What a miner takes, in its declared order (frames without their partition columns)."""
    part = {"dataset": dataset, "split": split}
    given: dict[str, Any] = {"nlp": cfg.index, "partition": f"examples/{dataset}/{split}"}
    for inp, spec in INPUT_ARTIFACTS.items():
        if inp in names or (inp == "contexts" and "index" in names):
            given[inp] = io.read(root, spec, part).drop("dataset", "split")
    if "index" in names:
        given["index"] = read_index(root, cfg.index, context_ids=given["contexts"]["context_id"].to_list())
    return [given[n] for n in names]


def miner_applies(cfg: BuildConfig, name: str, dataset: str) -> bool:
    """A miner runs on every dataset unless its YAML section lists `datasets: [...]`."""
    only = cfg.miner_datasets.get(name)
    return only is None or dataset in only


def run_miner(
    root: str | Path, name: str, dataset: str, split: str, cfg: BuildConfig, force: bool = False
) -> StageReport:
    """Run one registered miner on one partition; skip when inputs and config are unchanged."""
    miner = MINERS[name]
    t0 = time.perf_counter()
    part = {"dataset": dataset, "split": split}
    config = {"miner": name, **cfg.miner_sections.get(name, {})}
    inputs = miner_inputs(root, name, dataset, split, cfg)
    fp = io.inputs_fingerprint(inputs, config)
    done = [writer_entry(root, spec, part, name) for spec in miner.outputs]
    if not force and all(d and d.get("inputs_fingerprint") == fp for d in done):
        return _skipped_report(name, part, done[0], part_path(root, miner.outputs[0], part, name), t0)
    args, mcfg = read_inputs(root, miner.inputs, dataset, split, cfg), cfg.miner_config(name)
    kwargs, groups = {}, None
    if miner.groups is not None:  # reuse the rows of unchanged groups (none when forced or a part is missing)
        groups = miner.groups(*args, mcfg)
        was = {} if force or not all(done) else (done[0].get("groups") or {})
        unchanged = frozenset(k for k, f in groups.items() if was.get(k) == f)
        kwargs["previous"] = Previous(
            {spec.name: _own_rows(root, spec, part, name) for spec in miner.outputs} if unchanged else {}, unchanged
        )
    rows, rejects, stats = miner.mine(*args, mcfg, **kwargs)
    frames = rows if isinstance(rows, Mapping) else {miner.outputs[0].name: rows}
    first = frames[miner.outputs[0].name]
    contexts = None
    for spec in miner.outputs:  # every span must read its text at its offsets before anything is written
        if io.span_columns(spec) and frames[spec.name].height:
            contexts = contexts if contexts is not None else io.read(root, CONTEXTS, part)
            io.check_spans(spec, frames[spec.name], contexts, f"{dataset}/{split} (miner {name})")
    n_rej = write_stage_rejects(root, name, dataset, split, rejects)
    seconds = time.perf_counter() - t0
    for spec in miner.outputs:
        df = frames[spec.name]
        record = {
            "inputs_fingerprint": fp,
            "inputs": inputs,
            "config": config,
            "rows": df.height,
            "rejects": n_rej,
            "stats": stats,
            "seconds": round(seconds, 3),
            **({"groups": groups} if groups is not None else {}),
        }
        write_owned_part(root, spec, df, part, name, record)
    return StageReport(
        name,
        dataset,
        split,
        rows=first.height,
        rejects=n_rej,
        seconds=time.perf_counter() - t0,
        path=str(part_path(root, miner.outputs[0], part, name)),
        stats=stats,
    )


def _own_rows(root: str | Path, spec: ArtifactSpec, part: Mapping[str, str], writer: str) -> pl.DataFrame:
    """The rows of `writer`'s own part file of a partition (what it wrote last time)."""
    return pl.from_arrow(io.to_table(pl.read_parquet(part_path(root, spec, part, writer)), spec))
