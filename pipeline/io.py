"""All artifact reads and writes: hive-partitioned zstd Parquet + one `_manifest.json`.

Layout: `<root>/<artifact>/<p1>=<v1>/<p2>=<v2>/part-*.parquet`. Every write goes through
an `ArtifactSpec` from `pipeline.schemas`:

- `write_partition` replaces one partition atomically: a partition is one file,
  `part-0.parquet`, written first as a hidden `.part-0.parquet.<id>.tmp` sibling (no
  temporary file ends in `.parquet`, so `**/*.parquet` globs of Polars or pyarrow never
  read one), fsynced, then moved over the old file with one `os.replace`. A run killed at
  any point leaves either the old or the new file; leftovers are removed by `_recover`.
- `write_partition(..., part_name=...)` adds one part file to a partition instead (used by
  the incremental spaCy index), written the same way, so readers never see half a file.
- `swap_partition` puts a partition built elsewhere (a staging root on the same file
  system) in place of the live one with one atomic directory exchange (Linux
  `renameat2(RENAME_EXCHANGE)`), so a reader sees the old or the new partition, whole; it
  is how `--force` rebuilds the multi-part spaCy index without a "no data" moment.
- The manifest records, per partition: schema version, config, input fingerprints,
  library versions, row counts, timings and created-at. It is replaced atomically under
  a file lock, so concurrent writers of different partitions do not lose entries.

Readers (`scan`, `read`) check the manifest's schema version against the declaration and
fail with a message naming the artifact, the found and the expected versions.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schemas import ArtifactSpec

T = TypeVar("T")
MANIFEST = "_manifest.json"
COMPRESSION = "zstd"


class ArtifactError(RuntimeError):
    """An artifact is missing, has another schema version, or a frame does not fit its schema."""


# Fingerprints ----------------------------------------------------------------------


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint(obj: Any) -> str:
    """Stable 16-hex fingerprint of any JSON-serialisable value (dict keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:16]


def text_id(text: str) -> str:
    """Content hash used as `context_id`: first 16 hex digits of sha1(text).

    A lone surrogate (not valid text; the loader rejects such a record) is hashed as its
    surrogatepass bytes instead of raising; valid text hashes exactly as plain UTF-8.
    """
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# Paths -----------------------------------------------------------------------------


def artifact_dir(root: str | Path, spec: ArtifactSpec) -> Path:
    return Path(root) / spec.name


def partition_key(spec: ArtifactSpec, partition: Mapping[str, str]) -> str:
    """`dataset=squad/split=dev` for the spec's partition columns, in declared order."""
    missing = [p for p in spec.partition_by if p not in partition]
    extra = [p for p in partition if p not in spec.partition_by]
    if missing or extra:
        raise ArtifactError(
            f"artifact '{spec.name}' is partitioned by {list(spec.partition_by)}; "
            f"got {sorted(partition)} (missing {missing}, unexpected {extra})"
        )
    for p in spec.partition_by:
        v = str(partition[p])
        if not v or "/" in v or "=" in v or v.startswith("."):
            raise ArtifactError(f"artifact '{spec.name}': bad value {v!r} for partition column '{p}'")
    return "/".join(f"{p}={partition[p]}" for p in spec.partition_by)


def partition_dir(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str]) -> Path:
    return artifact_dir(root, spec) / partition_key(spec, partition)


# Validation ------------------------------------------------------------------------


def to_table(df: pl.DataFrame | pa.Table, spec: ArtifactSpec) -> pa.Table:
    """Check a frame against the declaration and return an Arrow table in schema order.

    Raises `ArtifactError` naming the artifact and column when a column is missing,
    unexpected, of an incompatible type, or null where the schema forbids it.
    """
    table = df.to_arrow() if isinstance(df, pl.DataFrame) else df
    names = set(table.column_names) - set(spec.partition_by)
    expected = spec.column_names
    missing = [c for c in expected if c not in names]
    extra = sorted(names - set(expected))
    if missing or extra:
        raise ArtifactError(f"artifact '{spec.name}': missing columns {missing}, unexpected columns {extra}")
    arrays = []
    for col in spec.columns:
        arr = table.column(col.name)
        try:
            arr = arr.cast(col.type) if arr.type != col.type else arr
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ArtifactError(
                f"artifact '{spec.name}', column '{col.name}': cannot store {arr.type} as {col.type}: {e}"
            ) from e
        if not col.nullable and arr.null_count:
            raise ArtifactError(
                f"artifact '{spec.name}', column '{col.name}': {arr.null_count} null value(s) in a non-null column"
            )
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def span_columns(spec: ArtifactSpec) -> list[str]:
    """Columns of `spec` holding text spans (a struct with text, start, end, or a list of them)."""
    out = []
    for col in spec.columns:
        t = col.type.value_type if pa.types.is_list(col.type) else col.type
        if pa.types.is_struct(t) and all(t.get_field_index(f) != -1 for f in ("text", "start", "end")):
            out.append(col.name)
    return out


def check_spans(spec: ArtifactSpec, df: pl.DataFrame, contexts: pl.DataFrame | None = None, where: str = "") -> None:
    """Raise `ArtifactError` unless every span of `df` reads its own text at its offsets.

    The gate before writing any artifact with spans (`span_columns`): for each span,
    `0 <= start`, `end == start + len(text)` and `context[start:end] == text`, where the
    context is the row's `context` column when it has one (synthetic), else the `context`
    of its `context_id` in `contexts`. A row whose context is missing fails too. The message
    names the artifact, `where` (the partition), the record and the column.
    """
    cols = [c for c in span_columns(spec) if c in df.columns]
    if not cols or df.height == 0:
        return
    key = next(k for k in ("example_id", "bundle_id", "context_id") if k in df.columns)
    rows = df.with_row_index("_row")
    if "context" in df.columns:
        ctx = rows.select("_row", "context")
    else:
        if contexts is None:
            raise ArtifactError(f"artifact '{spec.name}' {where}: cannot check its spans without the contexts")
        lookup = contexts.select("context_id", "context").unique("context_id", keep="first")
        ctx = rows.select("_row", "context_id").join(lookup, on="context_id", how="left").select("_row", "context")
    for col in cols:
        spans = rows.select("_row", pl.col(key).alias("_key"), pl.col(col).alias("_span"))
        if isinstance(spans.schema["_span"], pl.List):
            spans = spans.explode("_span")
        spans = spans.drop_nulls("_span").unnest("_span").join(ctx, on="_row", how="left")
        bad = spans.filter(
            pl.col("context").is_null()
            | pl.col("text").is_null()
            | pl.col("start").is_null()
            | pl.col("end").is_null()
            | (pl.col("start") < 0)
            | (pl.col("end") != pl.col("start") + pl.col("text").str.len_chars())
            | (pl.col("context").str.slice(pl.col("start").clip(0), pl.col("text").str.len_chars()) != pl.col("text"))
        )
        if bad.height:
            r = bad.row(0, named=True)
            reads = (
                "no context"
                if r["context"] is None
                else repr(r["context"][max(r["start"] or 0, 0) : r["end"] or 0][:80])
            )
            raise ArtifactError(
                f"artifact '{spec.name}' {where}: {bad.height} span(s) in column '{col}' "
                f"do not read their text at their offsets; first: {key} {r['_key']!r}: "
                f"text {str(r['text'])[:80]!r} at [{r['start']}:{r['end']}], "
                f"the context there reads {reads}; nothing was written"
            )


def empty_frame(spec: ArtifactSpec) -> pl.DataFrame:
    """An empty frame with the artifact's columns and types (handy for tests and no-op stages)."""
    return pl.from_arrow(spec.schema.empty_table())


# Manifest --------------------------------------------------------------------------


@contextlib.contextmanager
def locked(root: str | Path, spec: ArtifactSpec, name: str = ".lock") -> Iterator[None]:
    """An exclusive file lock `<artifact>/<name>` (flock) held for the block."""
    d = artifact_dir(root, spec)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / name, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` into a hidden temporary sibling (never `*.parquet`), fsync it, rename it over `path` in one step."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_manifest(root: str | Path, spec: ArtifactSpec) -> dict[str, Any]:
    """The artifact's manifest, or an empty one when the artifact does not exist yet."""
    path = artifact_dir(root, spec) / MANIFEST
    if not path.exists():
        return {"artifact": spec.name, "schema_version": spec.version, "partitions": {}}
    try:
        with open(path, encoding="utf-8") as f:
            man = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(
            f"{path}: the manifest of artifact '{spec.name}' is not valid JSON ({e}); its data files are "
            f"kept, but nothing can tell which are current: move the folder {path.parent} aside and "
            "rebuild that artifact (e.g. `cqa build-bundles --force`)"
        ) from None
    if not isinstance(man, dict) or not isinstance(man.get("partitions", {}), dict):
        raise ArtifactError(
            f"{path}: the manifest of artifact '{spec.name}' is not an object with `partitions`; "
            f"move the folder {path.parent} aside and rebuild that artifact"
        )
    return man


def _update_manifest(root: str | Path, spec: ArtifactSpec, key: str, entry: dict[str, Any] | None) -> None:
    man = read_manifest(root, spec)
    man["artifact"] = spec.name
    man["schema_version"] = spec.version
    man["columns"] = spec.column_names
    man["partition_by"] = list(spec.partition_by)
    if entry is None:
        man["partitions"].pop(key, None)
    else:
        man["partitions"][key] = entry
    text = json.dumps(man, indent=2, sort_keys=True, default=str)
    _replace_atomically(artifact_dir(root, spec) / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def partition_entry(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str]) -> dict[str, Any] | None:
    """Manifest entry of one partition (config, inputs, rows, ...), or None if never written."""
    entry = read_manifest(root, spec)["partitions"].get(partition_key(spec, partition))
    if entry is None or not partition_dir(root, spec, partition).exists():
        return None
    return entry


def is_up_to_date(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str], inputs_fingerprint: str) -> bool:
    """True when the partition exists, has the current schema version and was built from these inputs."""
    entry = partition_entry(root, spec, partition)
    return bool(
        entry and entry.get("schema_version") == spec.version and entry.get("inputs_fingerprint") == inputs_fingerprint
    )


def data_fingerprint(entry: Mapping[str, Any]) -> str:
    """What identifies a partition's data for the stages that read it.

    Its content hash when the writer recorded one (`extra={"content": ...}`, as the load
    stage does), so rewriting identical rows does not make downstream stages re-run; else
    the manifest entry itself (timings and library versions left out).
    """
    if entry.get("content"):
        return f"{entry.get('schema_version')}:{entry['content']}"
    return fingerprint({k: v for k, v in entry.items() if k not in ("timings_s", "libraries")})


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pyarrow", "polars", "spacy", "rapidfuzz", "lemminflect"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# Writes ----------------------------------------------------------------------------


def _recover(target: Path) -> None:
    """Remove leftovers of a killed write: hidden `*.tmp` files (never `*.parquet`)."""
    if target.exists():
        for tmp in target.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` via a hidden temporary sibling and an atomic rename."""
    _replace_atomically(path, lambda tmp: pq.write_table(table, tmp, compression=COMPRESSION))


def write_partition(
    root: str | Path,
    spec: ArtifactSpec,
    df: pl.DataFrame | pa.Table,
    partition: Mapping[str, str],
    *,
    part_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    timings: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Validate `df` against `spec` and write it atomically as a part file of one partition.

    `part_name` None: the partition is replaced (`part-0.parquet`, every other part removed);
    else `part-<part_name>.parquet` is added or replaced and the other parts stay (the entry's
    `rows` counts them all).
    `inputs` maps input names to fingerprints; their combined fingerprint, together with
    `config`, is what `is_up_to_date` compares on the next run.
    Returns the partition folder.
    """
    table = to_table(df, spec)
    target = partition_dir(root, spec, partition)
    with locked(root, spec):
        target.mkdir(parents=True, exist_ok=True)
        _recover(target)
        final = target / f"part-{0 if part_name is None else part_name}.parquet"
        _write_parquet(table, final)  # one atomic rename: readers see the old or the new file
        for stale in target.glob("part-*.parquet"):
            if part_name is None and stale != final:
                stale.unlink()
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in target.glob("part-*.parquet"))
        _update_manifest(root, spec, partition_key(spec, partition), _entry(spec, rows, config, inputs, timings, extra))
    return target


def _entry(spec, rows, config, inputs, timings, extra) -> dict[str, Any]:
    inputs = dict(inputs or {})
    return {
        "schema_version": spec.version,
        "rows": int(rows),
        "config": dict(config or {}),
        "inputs": inputs,
        "inputs_fingerprint": inputs_fingerprint(inputs, config or {}),
        "timings_s": {k: round(float(v), 4) for k, v in (timings or {}).items()},
        "libraries": library_versions(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **dict(extra or {}),
    }


def inputs_fingerprint(inputs: Mapping[str, str], config: Mapping[str, Any]) -> str:
    """The fingerprint `write_partition` records for these inputs and config."""
    return fingerprint({"inputs": dict(inputs), "config": dict(config)})


def _exchange_dirs(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # kernel or file system without exchange
        return False
    raise OSError(err, f"renameat2(RENAME_EXCHANGE) {a} <-> {b}: {os.strerror(err)}")


def swap_partition(
    staging_root: str | Path, root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str]
) -> Path:
    """Replace the partition under `root` with the one built under `staging_root`, atomically.

    `staging_root` must be on the same file system (e.g. `<root>/.staging/...`). The live
    folder and the staged one are exchanged in one step where the platform can
    (`renameat2(RENAME_EXCHANGE)`, Linux): readers listing the partition see every old part
    file or every new one, never a mix or nothing. Elsewhere the old folder is renamed
    aside first, leaving a moment with no partition. The staged manifest entry replaces
    the live one; the old files are then removed. Nothing staged: the live partition is
    deleted (a rebuild of no contexts). Returns the live partition folder.
    """
    src = partition_dir(staging_root, spec, partition)
    dst = partition_dir(root, spec, partition)
    key = partition_key(spec, partition)
    if not src.exists():
        delete_partition(root, spec, partition)
        return dst
    entry = read_manifest(staging_root, spec)["partitions"].get(key)
    with locked(root, spec):
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.rename(src, dst)
        elif not _exchange_dirs(src, dst):
            aside = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.old")
            os.rename(dst, aside)
            os.rename(src, dst)
            os.rename(aside, src)
        _update_manifest(root, spec, key, entry)
    shutil.rmtree(src, ignore_errors=True)  # the old files, now at the staged path
    return dst


def delete_partition(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str]) -> None:
    target = partition_dir(root, spec, partition)
    with locked(root, spec):
        _update_manifest(root, spec, partition_key(spec, partition), None)
        if target.exists():
            shutil.rmtree(target)


# Reads -----------------------------------------------------------------------------


def check_version(root: str | Path, spec: ArtifactSpec) -> None:
    man = read_manifest(root, spec)
    found = man.get("schema_version")
    if found != spec.version:
        raise ArtifactError(
            f"artifact '{spec.name}' at {artifact_dir(root, spec)} has schema version {found}, "
            f"this code reads version {spec.version}: rebuild it (e.g. `cqa build-bundles --force`)"
        )


def partition_files(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str] | None = None) -> list[Path]:
    """Parquet files of the artifact (optionally of one partition), sorted."""
    base = partition_dir(root, spec, partition) if partition else artifact_dir(root, spec)
    return sorted(
        p for p in base.glob("**/part-*.parquet") if not any(s.startswith(".") for s in p.relative_to(base).parts)
    )


def scan(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """Lazy frame over the artifact (or one partition), partition columns included as strings.

    Raises `ArtifactError` when nothing was written yet or the schema version differs.
    """
    files = partition_files(root, spec, partition)
    if not files:
        where = partition_key(spec, partition) if partition else "any partition"
        raise ArtifactError(f"artifact '{spec.name}' has no data for {where} under {artifact_dir(root, spec)}")
    check_version(root, spec)
    frames = []
    for f in files:
        lf = pl.scan_parquet(f, schema=pl.Schema(pl.from_arrow(spec.schema.empty_table()).schema))
        rel = f.parent.relative_to(artifact_dir(root, spec)).parts
        values = dict(p.split("=", 1) for p in rel)
        lf = lf.with_columns([pl.lit(values[p], dtype=pl.String).alias(p) for p in spec.partition_by])
        frames.append(lf)
    return pl.concat(frames, how="vertical")


def retry_vanished(read_fn: Callable[[], T], attempts: int = 5, wait_s: float = 0.02) -> T:
    """`read_fn()`, called again when a file it listed vanished before it was opened.

    That happens to a reader of a partition that `swap_partition` replaced between the
    listing and the open; the next listing sees the new partition, whole.
    """
    for attempt in range(attempts):
        try:
            return read_fn()
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
            time.sleep(wait_s * (attempt + 1))
    raise AssertionError("unreachable")


def read(root: str | Path, spec: ArtifactSpec, partition: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Eager version of `scan`."""
    return scan(root, spec, partition).collect()


def partitions(root: str | Path, spec: ArtifactSpec) -> list[dict[str, str]]:
    """Partitions recorded in the manifest that exist on disk."""
    out = []
    for key in sorted(read_manifest(root, spec)["partitions"]):
        values = dict(p.split("=", 1) for p in key.split("/"))
        if partition_dir(root, spec, values).exists():
            out.append(values)
    return out
