"""Stage runners of the three bundle miners: ROPES question mining, flips, synthetic spans.

    python -c "from pipeline.bundle_stages import run_ropes_bundles; print(run_ropes_bundles('data/artifacts', 'ropes', 'train', {}))"

Each runner has the signature `(root, dataset, split, cfg: Mapping) -> StageReport`, reads
`examples`/`contexts` (and `index`) through `pipeline.io`, writes its artifact, and returns
its rejects in `StageReport.stats["rejects"]` (REJECTS rows; the caller routes them to the
`rejects` artifact) with their number in `StageReport.rejects`.

Incremental work:
- every runner skips when the fingerprints of the partitions it reads and its config are
  unchanged (nothing is written);
- `run_ropes_bundles` keeps one fingerprint per situation (`ropes_bundles.situations`: the
  ROPES paragraph, else the context) and mode in the manifest
  (`extra.kinds["ropes-mined"].groups`) and re-mines only the situations whose questions,
  answers or config changed, reusing the previous rows of the others;
- `run_flips` does the same per context: only changed contexts are tagged and flipped
  (the cheap option/answer checks, which give the rejects, run for all);
- `run_synthetic` is all-or-nothing per partition: the exact share and the corpus pool of
  substitutes are partition-wide, so a change anywhere can change any row.

`bundles` holds two kinds written by two runners (`ropes-mined`, `flip`); each runner
replaces only its own kind's rows, under a lock, and keeps the other kind's manifest record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.flips import FlipConfig, flips
from pipeline.ropes_bundles import MODES, BundleConfig, group_fingerprints, ropes_bundles, rows_by_situation
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, INDEX, SYNTHETIC, ArtifactSpec
from pipeline.stage_report import StageReport
from pipeline.synthetic import SyntheticConfig, spacy_labeller, synthetic, synthetic_stats



@dataclass(frozen=True)
class RopesBundlesConfig:
    """The `ropes_bundles` section of a build config: BundleConfig fields shared by the modes."""

    modes: tuple[str, ...] = MODES   # mining modes to run, each written with its `mode` value
    jaccard: float = 0.8             # paper mode: minimum bag-of-words Jaccard
    set_f1: float = 0.6              # reference-code mode: minimum token-set F1
    max_size: int | None = None      # split clusters above this size (None: per mode, see BundleConfig)
    pairs: bool | None = None        # write clusters as 2×2 bundles (None: per mode)

    def __post_init__(self) -> None:
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"ropes_bundles.modes: got {list(self.modes)}, expected a non-empty subset of {list(MODES)}")


def _config(cls: type, cfg: Mapping[str, Any], where: str, ignore: tuple[str, ...] = ()) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(cfg) - names - set(ignore))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(names | set(ignore))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items() if k in names}
    return cls(**values)


def ropes_configs(cfg: Mapping[str, Any]) -> list[BundleConfig]:
    """One BundleConfig per mode of the `ropes_bundles` section (default: both modes)."""
    rc = _config(RopesBundlesConfig, cfg, "ropes_bundles")
    shared = {k: v for k, v in dataclasses.asdict(rc).items() if k != "modes"}
    try:
        return [BundleConfig(mode=m, **shared) for m in rc.modes]
    except ValueError as e:
        raise ValueError(f"ropes_bundles: {e}") from e


def partition_input(root: str | Path, spec: ArtifactSpec, part: Mapping[str, str]) -> str:
    """Fingerprint of one input partition's data (`io.data_fingerprint`, as `stages.miner_inputs` uses)."""
    entry = io.partition_entry(root, spec, part)
    if entry is None:
        raise io.ArtifactError(f"needs '{spec.name}' for {io.partition_key(spec, part)}: run the load stage first")
    return io.data_fingerprint(entry)


@contextlib.contextmanager
def _bundles_lock(root: str | Path) -> Iterator[None]:
    d = io.artifact_dir(root, BUNDLES)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".kinds-lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def kind_record(root: str | Path, part: Mapping[str, str], kind: str) -> dict[str, Any]:
    entry = io.partition_entry(root, BUNDLES, part) or {}
    if entry.get("schema_version") != BUNDLES.version:
        return {}
    return dict((entry.get("kinds") or {}).get(kind) or {})


def previous_rows(root: str | Path, spec: ArtifactSpec, part: Mapping[str, str]) -> pl.DataFrame | None:
    entry = io.partition_entry(root, spec, part)
    if entry is None or entry.get("schema_version") != spec.version:
        return None
    return io.read(root, spec, part).select(spec.column_names)


def write_bundles_kind(root: str | Path, part: Mapping[str, str], kind: str, rows: pl.DataFrame,
                       record: dict[str, Any]) -> Path:
    """Replace the rows of one bundle kind in the partition, keeping the other kinds."""
    if rows.height:  # every answer must read its text at its offsets in its context
        io.check_spans(BUNDLES, rows, io.read(root, CONTEXTS, part), f"{part['dataset']}/{part['split']} (kind {kind})")
    with _bundles_lock(root):
        old = previous_rows(root, BUNDLES, part)
        kept = old.filter(pl.col("kind") != kind) if old is not None else io.empty_frame(BUNDLES)
        entry = io.partition_entry(root, BUNDLES, part) or {}
        kinds = dict(entry.get("kinds") or {}) if old is not None else {}
        kinds[kind] = record
        merged = pl.concat([kept, rows.select(BUNDLES.column_names).cast(kept.schema)], how="vertical")
        merged = merged.sort("kind", "bundle_id", "example_id")
        inputs = {k: v["inputs_fingerprint"] for k, v in sorted(kinds.items())}
        return io.write_partition(root, BUNDLES, merged, part, config={k: v.get("config") for k, v in kinds.items()},
                                  inputs=inputs, extra={"kinds": kinds})


def _report(stage: str, dataset: str, split: str, t0: float, rows: int, path: Path | str,
            stats: dict[str, Any], skipped: bool = False) -> StageReport:
    rejects = stats.get("rejects", [])
    return StageReport(stage, dataset, split, rows=rows, rejects=len(rejects), seconds=time.perf_counter() - t0,
                       skipped=skipped, path=str(path), stats=stats)


def _skipped(stage: str, dataset: str, split: str, t0: float, path: Path, record: dict[str, Any]) -> StageReport:
    """Nothing rewritten; the previous stats and reject count (the caller must keep its rejects rows)."""
    return StageReport(stage, dataset, split, rows=int(record.get("rows", 0)), rejects=int(record.get("rejects", 0)),
                       seconds=time.perf_counter() - t0, skipped=True, path=str(path), stats=dict(record.get("stats", {})))


def run_ropes_bundles(root: str | Path, dataset: str, split: str, cfg: Mapping[str, Any], force: bool = False) -> StageReport:
    """Mine `ropes-mined` bundles of one partition, re-mining only changed situations."""
    t0 = time.perf_counter()
    configs = ropes_configs(cfg)
    part = {"dataset": dataset, "split": split}
    config = {"miner": "ropes_bundles", **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}
    inputs = {"examples": partition_input(root, EXAMPLES, part)}
    fp = io.inputs_fingerprint(inputs, config)
    prev = kind_record(root, part, "ropes-mined")
    if force:
        prev = {}  # re-mine every group, reuse nothing
    if prev.get("inputs_fingerprint") == fp:
        return _skipped("ropes_bundles", dataset, split, t0, io.partition_dir(root, BUNDLES, part), prev)
    examples = io.read(root, EXAMPLES, part).select(EXAMPLES.column_names)
    old = previous_rows(root, BUNDLES, part)
    frames, stats, groups, rejects = [], {}, {}, {}
    for bc in configs:
        fps = group_fingerprints(examples, bc)
        was = (prev.get("groups") or {}).get(bc.mode, {})
        same = {cid for cid, f in fps.items() if was.get(cid) == f}
        reuse = {}
        if old is not None and same:
            mine = old.filter((pl.col("kind") == "ropes-mined") & (pl.col("mode") == bc.mode))
            reuse = rows_by_situation(examples, mine, same)  # unchanged situations, with or without bundles
        df, st = ropes_bundles(examples, bc, reuse=reuse, source=f"examples/{dataset}/{split}")
        for r in st.pop("rejects"):
            rejects[r["record_id"]] = r  # one row per question, not one per mode
        frames.append(df)
        stats[bc.mode] = st
        groups[bc.mode] = fps
    rows = pl.concat(frames, how="vertical")
    stats_out = {"modes": stats, "rows": rows.height}
    record = {"inputs_fingerprint": fp, "config": config, "groups": groups, "rows": rows.height,
              "rejects": len(rejects), "stats": stats_out}
    path = write_bundles_kind(root, part, "ropes-mined", rows, record)
    return _report("ropes_bundles", dataset, split, t0, rows.height, path, {**stats_out, "rejects": list(rejects.values())})


def _context_fingerprints(examples: pl.DataFrame, config: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, list[Any]] = {}
    for cid, eid, q, ans in examples.select("context_id", "example_id", "question", "answers").sort("example_id").iter_rows():
        out.setdefault(cid, []).append([eid, q, ans])
    return {cid: io.fingerprint({"cfg": dict(config), "rows": rows}) for cid, rows in out.items()}


def run_flips(root: str | Path, dataset: str, split: str, cfg: Mapping[str, Any], force: bool = False) -> StageReport:
    """Flip the "A or B" questions of one partition: `flips` rows + `flip` bundles."""
    t0 = time.perf_counter()
    fcfg = _config(FlipConfig, cfg, "flips")
    part = {"dataset": dataset, "split": split}
    config = {"miner": "flips", **dataclasses.asdict(fcfg)}
    inputs = {"examples": partition_input(root, EXAMPLES, part), "contexts": partition_input(root, CONTEXTS, part)}
    fp = io.inputs_fingerprint(inputs, config)
    prev_entry = io.partition_entry(root, FLIPS, part) or {}
    if force:
        prev_entry = {}  # re-flip every group, reuse nothing
    elif io.is_up_to_date(root, FLIPS, part, fp) and kind_record(root, part, "flip").get("inputs_fingerprint") == fp:
        return _skipped("flips", dataset, split, t0, io.partition_dir(root, FLIPS, part), prev_entry)
    examples = io.read(root, EXAMPLES, part).select(EXAMPLES.column_names)
    contexts = io.read(root, CONTEXTS, part).select(CONTEXTS.column_names)
    fps = _context_fingerprints(examples, config)
    old_fps = prev_entry.get("groups") or {}
    same = {cid for cid, f in fps.items() if old_fps.get(cid) == f}
    old_flips, old_bundles = previous_rows(root, FLIPS, part), previous_rows(root, BUNDLES, part)
    reuse = same if old_flips is not None and old_bundles is not None else set()
    res = flips(examples, contexts, fcfg, source=f"examples/{dataset}/{split}", skip_groups=reuse)
    new_rows = pl.DataFrame(res.rows, schema=io.empty_frame(FLIPS).schema) if res.rows else io.empty_frame(FLIPS)
    new_bundles = pl.DataFrame(res.bundles, schema=io.empty_frame(BUNDLES).schema) if res.bundles else io.empty_frame(BUNDLES)
    if reuse:
        keep = pl.col("context_id").is_in(list(reuse))
        new_rows = pl.concat([new_rows, old_flips.filter(keep)], how="vertical")
        new_bundles = pl.concat([new_bundles, old_bundles.filter(keep & (pl.col("kind") == "flip"))], how="vertical")
    new_rows = new_rows.sort("example_id")
    per_rule = Counter(new_rows["rule"].to_list())
    skips = {k: v for k, v in sorted(res.counts.items()) if not k.startswith("flip:")}
    stats = {"flips": new_rows.height, "per_rule": dict(sorted(per_rule.items())), "skips": skips,
             "groups_reused": len(reuse), "groups_flipped": len(fps) - len(reuse)}
    record = {"inputs_fingerprint": fp, "config": config, "rows": new_bundles.height, "rejects": len(res.rejects), "stats": stats}
    io.check_spans(FLIPS, new_rows, contexts, f"{dataset}/{split}")
    write_bundles_kind(root, part, "flip", new_bundles, record)
    path = io.write_partition(root, FLIPS, new_rows, part, config=config, inputs=inputs,
                              timings={"flips": time.perf_counter() - t0},
                              extra={"groups": fps, "rejects": len(res.rejects), "stats": stats})
    return _report("flips", dataset, split, t0, new_rows.height, path, {**stats, "rejects": res.rejects})


def run_synthetic(root: str | Path, dataset: str, split: str, cfg: Mapping[str, Any], force: bool = False) -> StageReport:
    """Synthetic answer spans for one partition (needs the spaCy index of its contexts).

    `cfg` holds the SyntheticConfig fields and optionally `index` (IndexConfig fields).
    """
    from pipeline.nlp import IndexConfig
    from pipeline.spacy_index import index_key, read_index

    t0 = time.perf_counter()
    scfg = _config(SyntheticConfig, cfg, "synthetic", ignore=("index",))
    icfg = _config(IndexConfig, cfg.get("index") or {}, "synthetic.index")
    part = {"dataset": dataset, "split": split}
    config = {"miner": "synthetic", **dataclasses.asdict(scfg)}
    inputs = {"examples": partition_input(root, EXAMPLES, part), "contexts": partition_input(root, CONTEXTS, part),
              "index": index_key(icfg)}
    fp = io.inputs_fingerprint(inputs, config)
    if not force and io.is_up_to_date(root, SYNTHETIC, part, fp):
        return _skipped("synthetic", dataset, split, t0, io.partition_dir(root, SYNTHETIC, part),
                        io.partition_entry(root, SYNTHETIC, part) or {})
    examples = io.read(root, EXAMPLES, part).select(EXAMPLES.column_names)
    contexts = io.read(root, CONTEXTS, part).select(CONTEXTS.column_names)
    index = read_index(root, icfg, contexts["context_id"].to_list()).select(INDEX.column_names)
    res = synthetic(examples, contexts, index, scfg, source=f"examples/{dataset}/{split}",
                    labeller=spacy_labeller(icfg.model))  # the label check uses the index's model
    rows = pl.DataFrame(res.rows, schema=io.empty_frame(SYNTHETIC).schema) if res.rows else io.empty_frame(SYNTHETIC)
    stats = synthetic_stats(res, scfg)
    io.check_spans(SYNTHETIC, rows, None, f"{dataset}/{split}")
    path = io.write_partition(root, SYNTHETIC, rows, part, config=config, inputs=inputs,
                              timings={"synthetic": time.perf_counter() - t0},
                              extra={"rejects": len(res.rejects), "stats": stats})
    return _report("synthetic", dataset, split, t0, rows.height, path, {**stats, "rejects": res.rejects})
