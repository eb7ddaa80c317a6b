"""Typed configuration of one mining build (sources, spaCy index, miners), from YAML + overrides.

    cqa build-bundles --config data/samples/build.yaml --set index.batch_size=32 --set miners=near_miss

The YAML file has these top-level keys (all but `sources` optional):

    root: data/artifacts          # artifact root (relative to the current directory)
    sources:                      # list of `SourceSpec` fields (pipeline/sources)
      - {dataset: squad11, path: squad11_sample.json, format: squad}
    index: {model: en_core_web_sm, batch_size: 64, n_process: 1, sentences: senter}
    miners: [near_miss]           # which registered miners run, in this order (default: all)
    fail_fast: false              # true: a source that cannot be read stops the whole build
                                  # (default: only that source is left out; the build exits != 0)
    audit: false                  # true or {n: 30, seed: 0}: build-bundles also writes the audit
                                  # site (pipeline/audit.py) to <root>/audit and links it
    near_miss: {max_negatives: 4} # one section per registered miner: its config fields, plus
                                  # `datasets: [...]` to run it on these datasets only

Relative source paths are resolved against the YAML file's folder first, then the
current directory. Overrides are `key=value` with dotted keys (`near_miss.max_negatives=2`,
`sources.0.split=train`); values are parsed as YAML scalars/lists (`pipeline.config_model`,
the one parser of every config: training, profiles, builds, sources).

Everything is checked before any work: an unknown key, a value of the wrong type, an
unknown miner or a missing source file raises `BuildConfigError` naming the field and
what was expected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config_model import (
    Checked,
    ConfigModelError,
    apply_overrides,
    check_keys,
    constrained,
    from_mapping,
    read_mapping,
    to_plain,
)
from pipeline.miners import MINERS
from pipeline.nlp import IndexConfig, ModelNotFoundError, resolve_package
from pipeline.sources import SourceSpec

TOP_LEVEL = ("root", "sources", "index", "miners", "fail_fast", "audit")
DEFAULT_ROOT = "data/artifacts"


class BuildConfigError(ConfigModelError):
    """A build config key or value is wrong; the message names the field and what was expected."""


@dataclass(frozen=True, kw_only=True)
class AuditConfig(Checked):
    n: int = constrained(30, ge=1)  # random samples per page of the audit site
    seed: int = 0  # seed of those samples


@dataclass(frozen=True)
class BuildConfig:
    root: str  # artifact root folder (absolute after loading)
    sources: tuple[SourceSpec, ...]  # inputs to load, one `dataset` partition each
    index: IndexConfig  # spaCy model and pipe settings of the index
    miners: tuple[str, ...]  # registered miners to run, in order
    miner_configs: dict[str, Any]  # miner name -> its parsed config object
    miner_sections: dict[str, dict[str, Any]]  # miner name -> its resolved settings as a plain mapping
    miner_datasets: dict[str, tuple[str, ...] | None]  # miner name -> datasets it runs on (None: all)
    fail_fast: bool = False  # stop the whole build at the first source that cannot be read
    audit: AuditConfig | None = None  # write the audit site after build-bundles (None: do not)

    def miner_config(self, name: str) -> Any:
        """Parsed config of one miner (an instance of its registered config class)."""
        return self.miner_configs[name]

    def resolved(self) -> dict[str, Any]:
        """Plain, JSON-friendly form of the whole build config (saved in reports)."""
        return {
            "root": self.root,
            "sources": [to_plain(s) for s in self.sources],
            "index": to_plain(self.index),
            "miners": list(self.miners),
            **({"fail_fast": True} if self.fail_fast else {}),  # only when set: default fingerprints stay as they were
            **({"audit": to_plain(self.audit)} if self.audit else {}),
            **{
                name: {
                    **to_plain(cfg),
                    **({"datasets": list(self.miner_datasets[name])} if self.miner_datasets.get(name) else {}),
                }
                for name, cfg in self.miner_configs.items()
            },
        }


# Typed construction of dataclasses from mappings -------------------------------------------


def config_from_mapping(cls: type, values: Mapping[str, Any] | None, where: str) -> Any:
    """Build the frozen dataclass `cls` from a mapping (`pipeline.config_model`).

    Every error names `where.<field>`."""
    return from_mapping(cls, values, where=where, error=BuildConfigError)


# Loading -----------------------------------------------------------------------------------


def _resolve_source(spec: SourceSpec, base: Path | None, where: str) -> SourceSpec:
    if spec.format == "hub":
        return spec
    path = Path(spec.path).expanduser()
    candidates = [path] if path.is_absolute() else [*([base / path] if base else []), Path.cwd() / path]
    for c in candidates:
        if c.exists():
            return dataclasses.replace(spec, path=str(c.resolve()))
    tried = ", ".join(str(c) for c in candidates)
    raise BuildConfigError(f"{where}.path: file not found: {spec.path!r} (looked at {tried})")


def _check_model(cfg: IndexConfig) -> None:
    """Fail now (not after loading every source) when the spaCy model is not installed."""
    try:
        resolve_package(cfg.model)
    except ModelNotFoundError as e:
        raise BuildConfigError(str(e).replace("IndexConfig.model", "index.model")) from e


def _cli_source(arg: str) -> dict[str, Any]:
    """A `--source NAME=PATH[:FORMAT]` argument; its path is relative to the current directory."""
    try:
        spec = SourceSpec.from_arg(arg)
    except ValueError as e:
        raise BuildConfigError(f"--source {arg!r}: {e}") from e
    out = dataclasses.asdict(spec)
    if Path(spec.path).expanduser().exists():
        out["path"] = str(Path(spec.path).expanduser().resolve())
    return out


def build_config_from_dict(raw: Mapping[str, Any], base: Path | None = None) -> BuildConfig:
    """Validate a raw mapping (YAML already parsed, overrides applied) into a `BuildConfig`."""
    raw = dict(raw)  # the registry (pipeline.miners) decides which miner sections exist
    allowed = (*TOP_LEVEL, *MINERS)
    check_keys(raw, allowed, error=BuildConfigError)
    sources_raw = raw.get("sources") or []
    if not isinstance(sources_raw, list):
        raise BuildConfigError(f"sources: expected a list of source mappings, got {sources_raw!r}")
    sources = []
    for i, s in enumerate(sources_raw):
        if isinstance(s, str):
            s = dataclasses.asdict(SourceSpec.from_arg(s))
        spec = config_from_mapping(SourceSpec, s, f"sources.{i}")
        sources.append(_resolve_source(spec, base, f"sources.{i}"))
    # Partitions are (dataset, split): two sources may share a dataset name (ROPES train + dev
    # files) as long as they write different splits.
    written = [(s.dataset, split) for s in sources for split in s.output_splits()]
    dupes = sorted({f"{d}/{sp}" for d, sp in written if written.count((d, sp)) > 1})
    if dupes:
        raise BuildConfigError(
            f"sources: partition(s) {dupes} written by two sources; give each source its own `dataset` or `split`"
        )
    index = config_from_mapping(IndexConfig, raw.get("index"), "index")
    _check_model(index)
    miners = raw.get("miners", list(MINERS))
    if isinstance(miners, str):
        miners = [m.strip() for m in miners.split(",") if m.strip()]
    if not isinstance(miners, list) or any(m not in MINERS for m in miners):
        raise BuildConfigError(f"miners: got {miners!r}, expected a list drawn from {list(MINERS)}")
    configs, sections, only = {}, {}, {}
    for name, miner in MINERS.items():
        section = raw.get(name) or {}
        if not isinstance(section, dict):
            raise BuildConfigError(f"{name}: expected a mapping of settings, got {section!r}")
        section = dict(section)
        datasets = section.pop("datasets", None)
        if datasets is not None and (not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets)):
            raise BuildConfigError(f"{name}.datasets: got {datasets!r}, expected a list of dataset names")
        only[name] = tuple(datasets) if datasets is not None else None
        configs[name] = config_from_mapping(miner.config_type, section, name)
        sections[name] = to_plain(configs[name])
    fail_fast = raw.get("fail_fast", False)
    if not isinstance(fail_fast, bool):
        raise BuildConfigError(f"fail_fast: expected true or false, got {fail_fast!r}")
    audit = _audit_config(raw.get("audit", False))
    root = Path(str(raw.get("root") or DEFAULT_ROOT)).expanduser()
    return BuildConfig(
        root=str(root if root.is_absolute() else (Path.cwd() / root).resolve()),
        sources=tuple(sources),
        index=index,
        miners=tuple(miners),
        miner_configs=configs,
        miner_sections=sections,
        miner_datasets=only,
        fail_fast=fail_fast,
        audit=audit,
    )


def _audit_config(value: Any) -> AuditConfig | None:
    """`audit: false` (default), `true`, or a mapping of AuditConfig fields."""
    if value is False or value is None:
        return None
    if value is True:
        return AuditConfig()
    if isinstance(value, dict):
        return config_from_mapping(AuditConfig, value, "audit")
    raise BuildConfigError(f"audit: expected true, false or a mapping with n/seed, got {value!r}")


def load_build_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    root: str | Path | None = None,
    sources: Sequence[str] = (),
) -> BuildConfig:
    """Read a YAML build config (or start empty), apply overrides and CLI sources, validate.

    `sources` are `NAME=PATH[:FORMAT]` arguments (`SourceSpec.from_arg`); when given they
    replace the file's `sources` list. `root` replaces the file's `root`.
    """
    raw: dict[str, Any] = {}
    base = None
    if path is not None:
        raw = read_mapping(path, what="build config", error=BuildConfigError)
        base = Path(path).resolve().parent
    if sources:
        raw["sources"] = [_cli_source(s) for s in sources]
    if root is not None:
        raw["root"] = str(root)
    cfg = build_config_from_dict(apply_overrides(raw, overrides, error=BuildConfigError), base)
    if not cfg.sources:
        raise BuildConfigError("sources: empty; give at least one in the config or with --source NAME=PATH")
    return cfg
