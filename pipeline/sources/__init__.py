"""Input sources -> canonical `examples`, `contexts` and `rejects` frames (each with a `split` column).

    python -m pipeline.sources squad11=../shared/data/squad/v1.1/dev-v1.1.json ropes=../shared/data/ropes/dev-v1.0.json

prints one summary line per source (nothing is written; the build-index flow writes the
frames with `pipeline.io.write_partition`). From code:

    from pipeline.sources import SourceSpec, load_source
    result = load_source(SourceSpec("squad11", "../shared/data/squad/v1.1/dev-v1.1.json", article_split="protocol"))
    result.examples   # EXAMPLES columns + split ("train"/"eval" here)

Formats (`spec.SOURCE_FORMATS`, one table; one parser module each): SQuAD 1.1/2.0 and SQuAD-format
XQuAD / MLQA / adversarial SQuAD (`squad.py`), Hugging Face datasets by hub id or local folder
(`hub.py`), ROPES (`ropes.py`), HotpotQA distractor (`hotpot.py`). `format="auto"` sniffs the
JSON (`input_file.py`).

A whole input that cannot be read raises `SourceError` naming the file and the JSON line
and column. A readable input with bad records loads the good ones; every dropped record
gets a `rejects` row (file, record id, field, reason, detail), and the kept + rejected
questions add up to the questions in the file (plus `n_filtered` with `restrict_titles`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline.config_model import ConfigModelError, from_mapping, read_mapping
from pipeline.io import file_sha256, fingerprint
from pipeline.sources.canonical import CanonicalFrames, LoadResult
from pipeline.sources.input_file import check_file, check_format, read_json
from pipeline.sources.protocol import protocol_eval_titles, protocol_split
from pipeline.sources.spec import FORMATS, SOURCE_FORMATS, SourceError, SourceSpec

__all__ = [
    "FORMATS",
    "LoadResult",
    "SourceError",
    "SourceSpec",
    "load_source",
    "load_sources_config",
    "protocol_eval_titles",
    "protocol_split",
    "source_fingerprint",
]

LOADER_VERSION = 2  # bump when a loading rule changes, so fingerprints (and artifacts) change too


def load_source(spec: SourceSpec) -> LoadResult:
    """Read one source into canonical frames. Raises `SourceError` when the input is unreadable."""
    import importlib

    frames = CanonicalFrames(spec, source_file=spec.path)
    if spec.format == "hub":
        from pipeline.sources.hub import load_hub, open_hub_dataset

        load_hub(open_hub_dataset(spec), frames)
        return frames.result()
    obj = read_json(spec.path)
    fmt = check_format(obj, spec.path, spec.format)  # the parser the file's shape (and the requested format) calls for
    if not SOURCE_FORMATS[fmt].titles and spec.article_split is not None:
        raise SourceError(f"{spec.path}: article_split={spec.article_split!r} needs article titles; {fmt} has none")
    getattr(importlib.import_module(f"pipeline.sources.{fmt}"), f"load_{fmt}")(obj, frames)
    return frames.result()


def source_fingerprint(spec: SourceSpec) -> str:
    """Fingerprint of what `load_source(spec)` reads: input bytes (hub: id, config, split) + spec fields."""
    from pipeline.sources.hub import hub_fingerprint_inputs

    if spec.format == "hub":
        data: dict[str, Any] = hub_fingerprint_inputs(spec)
    else:
        path = Path(spec.path)
        check_file(path)  # a folder is named as a folder, not as a missing file
        try:
            data = {"sha256": file_sha256(path)}
        except OSError as e:
            raise SourceError(f"{path}: cannot be read: {e.strerror or e}") from e
    return fingerprint({"input": data, "spec": spec.as_dict(), "loader_version": LOADER_VERSION})


def load_sources_config(path: str | Path) -> list[SourceSpec]:
    """SourceSpecs from a YAML file holding a list of SourceSpec mappings under `sources:`.

    A relative `path` of a local source is taken relative to the YAML file's folder when a
    file exists there, else as given (relative to the working directory). Unknown keys,
    missing `dataset`/`path` and bad values fail here, naming the entry and the field.
    """
    config_path = Path(path)
    entries = read_mapping(config_path, what="sources config").get("sources")
    if not isinstance(entries, list):
        raise ValueError(f"{config_path}: expected a mapping with a 'sources:' list of source entries")
    return [_spec_from_mapping(entry, i, config_path) for i, entry in enumerate(entries)]


def _spec_from_mapping(entry: Any, i: int, config_path: Path) -> SourceSpec:
    """One `sources:` entry as a `SourceSpec` (`pipeline.config_model`: types, unknown and missing
    keys named `sources.<i>.<field>`); a relative local path is tried against the YAML's folder first."""
    values = dict(entry) if isinstance(entry, dict) else entry
    if isinstance(values, dict) and "path" in values and values.get("format", "auto") != "hub":
        local = Path(str(values["path"]))
        if not local.is_absolute() and (config_path.parent / local).exists():
            values["path"] = str(config_path.parent / local)
    try:
        return from_mapping(SourceSpec, values, where=f"sources.{i}")
    except ConfigModelError as e:
        lines = [f"{config_path}: {p}" for p in e.problems]
        raise ConfigModelError("\n".join(lines), lines) from None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m pipeline.sources NAME=PATH[:FORMAT] ...", file=sys.stderr)
        return 2
    for arg in argv:
        try:
            print(load_source(SourceSpec.from_arg(arg)).summary())
        except (SourceError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0
