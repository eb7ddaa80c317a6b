"""Batched inference: a QA model + examples → per-window logits → decoded predictions.

    python -c "from training.inference import predict; help(predict)"

`predict(model, tokenizer, examples, cfg)` featurizes the examples into sliding windows
(`training.features.featurize`), runs the windows through the model in batches of
`cfg.batch_windows` under `torch.no_grad()` in eval mode on whatever device the model sits
on, and decodes every example once over all its windows with `training.decoding.decode_nbest`
(or `decode_crf` for a model with the CRF head). Examples are batched in order of their
token length so a batch pads to similar lengths (`collate` trims to the longest window).

`examples_from_frames(examples, contexts)` turns the `examples` + `contexts` frames of an
evaluation set (artifacts or `pipeline.sources.load_source`) into `TrainExample`s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from pipeline.progress import track
from training.config import FeatureConfig
from training.data import TrainExample
from training.decoding import NULL_RULES, NullRule, Prediction, decode_crf, decode_nbest
from training.features import Features, collate, featurize

if TYPE_CHECKING:
    import polars as pl

_log = logging.getLogger(__name__)

_PAD_LOGIT = -1e4  # logits of padding positions past a batch's trimmed length (never context tokens)


@dataclass(frozen=True)
class InferenceConfig:
    batch_windows: int = 16  # windows per forward pass (16 is fastest on CPU; raise it on a GPU)
    max_length: int = 384  # tokens per window (question + context + specials)
    stride: int = 128  # overlapping context tokens between consecutive windows
    n_best: int = 20  # distinct spans kept per example (top-n starts x top-n ends per window)
    max_answer_len: int = 30  # longest span in tokens (METHODS §3 robust method: 128)
    null_rule: NullRule = "none"  # `none`, `cls_threshold` (SQuAD 2.0) or `negative_score` (METHODS §3)
    null_threshold: float = 0.0  # threshold of the null rule

    def __post_init__(self) -> None:
        if self.batch_windows < 1:
            raise ValueError(f"InferenceConfig.batch_windows: expected >= 1, got {self.batch_windows}")
        if self.null_rule not in NULL_RULES:
            raise ValueError(f"InferenceConfig.null_rule: expected one of {NULL_RULES}, got {self.null_rule!r}")
        if not 0 <= self.stride < self.max_length // 2:
            raise ValueError(
                f"InferenceConfig.stride: {self.stride} must be in [0, max_length // 2 = {self.max_length // 2})"
            )

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(max_length=self.max_length, stride=self.stride, max_answer_len=self.max_answer_len)


def examples_from_frames(examples: pl.DataFrame, contexts: pl.DataFrame) -> list[TrainExample]:
    """`examples` rows joined with their context text, in the examples' order.

    Raises ValueError naming the first example whose `context_id` has no row in `contexts`.
    """
    text = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list(), strict=True))
    out = []
    for r in examples.select("example_id", "context_id", "question", "answers").iter_rows(named=True):
        context = text.get(r["context_id"])
        if context is None:
            raise ValueError(
                f"example {r['example_id']!r}: field context_id={r['context_id']!r} has no row in contexts"
            )
        spans = tuple((int(a["start"]), int(a["end"])) for a in r["answers"] or [])
        out.append(TrainExample(r["example_id"], context, r["question"], spans))
    return out


def _batches(features: Features, batch_windows: int) -> list[list[int]]:
    """Example indices grouped into batches of about `batch_windows` windows, shortest examples first."""
    tokens = features.arrays["attention_mask"].sum(1)  # (W,)
    longest = np.maximum.reduceat(tokens, features.example_windows[:-1]) if features.n_windows else tokens
    order = np.argsort(longest, kind="stable")
    counts = np.diff(features.example_windows)
    out: list[list[int]] = [[]]
    filled = 0
    for i in order.tolist():
        if out[-1] and filled + counts[i] > batch_windows:
            out.append([])
            filled = 0
        out[-1].append(i)
        filled += int(counts[i])
    return [b for b in out if b]


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def window_logits(model: torch.nn.Module, features: Features, batch_windows: int = 16) -> dict[str, np.ndarray]:
    """`start_logits`, `end_logits` (W, L) and, with a CRF head, `crf_emissions` (W, L, 3), by global window id."""
    device = model_device(model)
    w, length = features.arrays["input_ids"].shape
    out = {
        "start_logits": np.full((w, length), _PAD_LOGIT, dtype=np.float32),
        "end_logits": np.full((w, length), _PAD_LOGIT, dtype=np.float32),
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            batches = _batches(features, batch_windows)
            for idx in track(batches, f"model forward ({batch_windows}-window batches)", len(batches)):
                batch = collate(features, idx)
                wins = np.concatenate([features.windows_of(i) for i in idx])
                t = batch.tensors
                inputs = {k: t[k].to(device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in t}
                result = model(**inputs)
                trimmed = t["input_ids"].shape[1]
                for key in ("start_logits", "end_logits"):
                    out[key][wins, :trimmed] = result[key].float().cpu().numpy()
                if "crf_emissions" in result:
                    em = out.setdefault("crf_emissions", np.zeros((w, length, 3), dtype=np.float32))
                    em[wins, :trimmed] = result["crf_emissions"].float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def decode_features(
    features: Features, logits: dict[str, np.ndarray], cfg: InferenceConfig, crf: torch.nn.Module | None = None
) -> list[Prediction]:
    """One `Prediction` per example of `features` (n-best decoding, or CRF decoding when `crf` is given)."""
    a = features.arrays
    contexts = [e.context for e in features.examples]
    if crf is not None and "crf_emissions" in logits:
        return decode_crf(
            crf,
            torch.from_numpy(logits["crf_emissions"]),
            torch.from_numpy(a["attention_mask"]).bool(),
            a["context_mask"],
            a["offsets"],
            features.window_example,
            contexts,
        )
    return decode_nbest(
        logits["start_logits"],
        logits["end_logits"],
        a["context_mask"],
        a["offsets"],
        features.window_example,
        contexts,
        n_best=cfg.n_best,
        max_answer_len=cfg.max_answer_len,
        null_rule=cfg.null_rule,
        null_threshold=cfg.null_threshold,
    )


def predict(
    model: torch.nn.Module,
    tokenizer,
    examples: list[TrainExample],
    cfg: InferenceConfig = InferenceConfig(),
    *,
    feature_cache: str | Path | None = None,
) -> list[Prediction]:
    """Decoded predictions for `examples`, in their order (empty list for no examples).

    `feature_cache`: an artifact root whose window cache (`<root>/features/`, the one training
    uses) is read and filled, so evaluating several runs on one set tokenizes it once."""
    if not examples:
        return []
    if feature_cache is None:
        features = featurize(tokenizer, examples, cfg.features)
    else:
        from training.features import featurize_cached

        features, _ = featurize_cached(tokenizer, examples, cfg.features, feature_cache, label="predict")
    logits = window_logits(model, features, cfg.batch_windows)
    return decode_features(features, logits, cfg, crf=getattr(model, "crf", None))


# Checkpoints -------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    run_id: str  # run id (run folder name, model folder name, or the `tiny` / `minilm` alias)
    model: torch.nn.Module  # QaModel in eval mode
    tokenizer: object  # its fast tokenizer
    source: str  # the folder the weights came from (or the alias)
    features: FeatureConfig  # the run's featurization (max_length, stride, max_answer_len); defaults otherwise


def checkpoint_folder(ref: str | Path) -> Path:
    """Weights folder of a run folder (`<run>/model`, else its latest checkpoint) or a model folder.

    Raises FileNotFoundError naming the reference and what was expected.
    """
    from training.checkpoint import latest_checkpoint
    from training.model import ENCODER_FILE

    path = Path(ref)
    if (path / ENCODER_FILE).exists() and (path / "config.json").exists():
        return path
    if (path / "model" / ENCODER_FILE).exists():
        return path / "model"
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is not None:
        return latest
    raise FileNotFoundError(
        f"checkpoint {str(ref)!r}: expected a run folder (with model/ or checkpoints/), a model folder "
        f"(config.json + {ENCODER_FILE}), or an alias 'tiny' / 'minilm'"
    )


def _trains_crf(loss_name: str) -> bool:
    """Whether a registered loss trains the model's CRF (it takes `model.crf`: its class's `from_model`)."""
    from training.losses import LOSSES

    return "crf" in getattr(LOSSES.get(loss_name), "from_model", {}).values()


def run_id_of(ref: str | Path, folder: Path) -> str:
    """`runs/mle` → `mle`; `runs/mle/model` → `mle`; `runs/mle/checkpoints/step-000040` → `mle@step-000040`."""
    if folder.name == "model":
        return folder.parent.name
    if folder.parent.name == "checkpoints":
        return f"{folder.parent.parent.name}@{folder.name}"
    return Path(ref).name or str(ref)


def load_checkpoint(ref: str, *, device: str | torch.device = "cpu", seed: int = 0) -> LoadedModel:
    """A model ready for `predict`: an alias (`tiny`, `minilm`: untrained QA head, seeded) or saved weights."""
    from training.config import MINILM_ALIAS, TINY_ALIAS, ModelConfig, load_config
    from training.model import load_model

    if ref in (TINY_ALIAS, MINILM_ALIAS):
        model, tok = load_model(ModelConfig(name=ref), device=device, seed=seed)
        return LoadedModel(ref, model.eval(), tok, ref, FeatureConfig())
    folder = checkpoint_folder(ref)
    features, crf = FeatureConfig(), False
    for cfg_path in (folder / "config.yaml", folder.parent / "config.yaml"):
        if cfg_path.exists():
            cfg = load_config(cfg_path, validate=False)
            features, crf = cfg.features, cfg.model.crf_head
            if crf and not any(_trains_crf(loss.name) and loss.weight > 0 for loss in cfg.losses):
                # A CRF head whose loss had weight 0 (the CRF paper's equal-budget control) was
                # never trained: decoding through it would score a random CRF. Decode with the
                # span head, which the control's span loss did train.
                _log.warning(
                    "%s: the CRF head was not trained (no loss reading the model's CRF with weight > 0 in %s); "
                    "decoding with the span head",
                    folder,
                    cfg_path,
                )
                crf = False
            break
    model, tok = load_model(ModelConfig(name=str(folder), crf_head=crf), device=device, seed=seed)
    model.load_weights(folder)
    return LoadedModel(run_id_of(ref, folder), model.eval(), tok, str(folder), features)


# One run on one evaluation set -----------------------------------------------------------

_SUMMARY_ONLY = ("has_ans_em", "has_ans_f1", "no_ans_em", "no_ans_f1", "best_em", "best_f1")


def _extra_metric_rows(run: str, summary: dict, examples: pl.DataFrame) -> list[dict]:
    """SQuAD 2.0 breakdown values (no interval) with the number of questions each is over."""
    n_has = int(examples["answers"].list.len().gt(0).sum())
    n_for = {"has_ans": n_has, "no_ans": examples.height - n_has}
    return [
        {
            "run": run,
            "metric": m,
            "slice": "all",
            "value": float(summary[m]),
            "ci_low": None,
            "ci_high": None,
            "n": n_for.get(m.rsplit("_", 1)[0], examples.height),
        }
        for m in _SUMMARY_ONLY
        if m in summary
    ]


def adversarial_rows(run: str, predictions: pl.DataFrame, base_id, n_resamples: int = 1000) -> list[dict]:
    """Jia & Liang's adversarial score: per original question, the worst EM/F1 over it and its variants."""
    import polars as pl

    from training.metrics.bootstrap import bootstrap_ci

    base = predictions.with_columns(base=pl.col("example_id").map_elements(base_id, return_dtype=pl.String))
    if base.filter(pl.col("base") != pl.col("example_id")).height == 0:
        return []
    worst = base.group_by("base").agg(pl.col("em").min(), pl.col("f1").min())
    rows = []
    for metric in ("em", "f1"):
        ci = bootstrap_ci(worst[metric].to_numpy() * 100.0, n_resamples=n_resamples)
        rows.append(
            {
                "run": run,
                "metric": f"adv_{metric}",
                "slice": "all",
                "value": ci.estimate,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": ci.n,
            }
        )
    return rows


def evaluate_run(
    loaded: LoadedModel,
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    cfg: InferenceConfig,
    *,
    base_id=None,
    bundles: pl.DataFrame | None = None,
    n_resamples: int = 1000,
    feature_cache: str | Path | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`predictions` rows, `metrics` rows) of one run on one evaluation set (frames without `eval_set`).

    `base_id` maps an example id to its original question id (AddSent/AddOneSent) and adds
    the adversarial `adv_em` / `adv_f1` rows. `bundles` (rows of the `bundles` artifact) adds
    consistency and joint-inference rows for the bundles whose questions are in the set.
    """
    import polars as pl  # here, not at the top: predict() runs where there is no polars (training.portable)

    from training.evaluation import evaluate_predictions

    exs = examples_from_frames(examples, contexts)
    preds = predict(loaded.model, loaded.tokenizer, exs, cfg, feature_cache=feature_cache)
    by_id = dict(zip(examples["example_id"].to_list(), preds, strict=True))
    if bundles is not None:
        bundles = bundles.filter(pl.col("example_id").is_in(list(by_id)))
        bundles = bundles if bundles.height else None
    out = evaluate_predictions(examples, by_id, run=loaded.run_id, bundles=bundles, n_resamples=n_resamples)
    extra = _extra_metric_rows(loaded.run_id, out["summary"], examples)
    if base_id is not None:
        extra += adversarial_rows(loaded.run_id, out["predictions"], base_id, n_resamples)
    metrics = (
        pl.concat([out["metrics"], pl.DataFrame(extra, schema=out["metrics"].schema)]) if extra else out["metrics"]
    )
    return out["predictions"], metrics
