"""A model's k best DISTINCT spans per question (the `topk` artifact; docs/methods.md §2 and §5).

    python -m flows.sample_topk --help        # the flow that writes the artifact

Two modes:
- `diverse` (METHODS §2 top-k answer bundles): k distinct START positions, each with its
  best end. Decoding is asked for a wider pool (`pool_factor * k` spans per example) so
  that k distinct starts survive; "best end" is the best end among the top-n ends of the
  window that gives the start its best score.
- `plain` (METHODS §5 hard learning): the k best distinct (start, end) spans, from a pool of
  max(20, 2k) so that k valid spans are found even when many top start/end pairs are invalid.
A question can still get fewer than k candidates when its context holds fewer valid spans.

Every candidate is flagged against the gold answers (official normalisation):
`is_gold` when its text equals a gold; `overlaps_gold` when its normalised tokens are a
contiguous sub- or super-sequence of a gold's (but not equal), e.g. "Smith" vs "Alice
Smith". Bundle miners drop both; hard learning keeps the gold.

`with_gold_last(rows, gold, z)` is the hard-learning view: Z = 20 candidates, and when none
is the gold, the gold replaces the last one (score NaN: the model did not rank it). The
artifact stores the model's own ranking; `training.data` applies the same rule when it
loads the artifact (`data.topk_force_gold`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline import io, schemas
from training.data import TrainExample
from training.decoding import Candidate, Prediction
from training.inference import InferenceConfig, examples_from_frames, predict
from training.metrics.squad import normalize_answer

Mode = Literal["diverse", "plain"]
MODES: tuple[str, ...] = ("diverse", "plain")
HARD_LEARNING_Z = 20  # METHODS §5: the baseline's top-20 spans


@dataclass(frozen=True)
class TopkCandidate:
    rank: int  # 0-based rank by score
    text: str  # span text
    start: int  # char offset (inclusive)
    end: int  # char offset (exclusive)
    score: float  # span score s_i + e_j (NaN for a gold inserted by `with_gold_last`)
    is_gold: bool  # text equals a gold answer (normalised)
    overlaps_gold: bool  # normalised tokens are a sub/super-sequence of a gold's, not equal


def pool_size(k: int, mode: Mode, pool_factor: int = 4) -> int:
    """n-best size to decode with so that `k` candidates of `mode` survive the filtering."""
    if k < 1:
        raise ValueError(f"topk: k must be >= 1, got {k}")
    if mode not in MODES:
        raise ValueError(f"topk: mode={mode!r}, expected one of {MODES}")
    return max(20, k * pool_factor if mode == "diverse" else 2 * k)


def _contains(outer: list[str], inner: list[str]) -> bool:
    n = len(inner)
    return any(outer[i : i + n] == inner for i in range(len(outer) - n + 1))


def gold_flags(text: str, golds: Sequence[str]) -> tuple[bool, bool]:
    """(is_gold, overlaps_gold) of one span text against the gold texts."""
    norm = normalize_answer(text)
    gold_norms = [normalize_answer(g) for g in golds if normalize_answer(g)]
    if not norm:
        return False, False
    if norm in gold_norms:
        return True, False
    tokens = norm.split()
    overlap = any(_contains(g.split(), tokens) or _contains(tokens, g.split()) for g in gold_norms)
    return False, overlap


def select_candidates(nbest: Sequence[Candidate], k: int, mode: Mode) -> list[Candidate]:
    """The first `k` candidates of `mode` from an n-best list (best first, distinct char spans)."""
    if mode == "plain":
        return list(nbest[:k])
    seen: set[int] = set()
    out: list[Candidate] = []
    for c in nbest:
        if c.start in seen:
            continue
        seen.add(c.start)
        out.append(c)
        if len(out) == k:
            break
    return out


def topk_candidates(prediction: Prediction, golds: Sequence[str], k: int, mode: Mode) -> list[TopkCandidate]:
    """Ranked, flagged candidates of one question."""
    out = []
    for rank, c in enumerate(select_candidates(prediction.nbest, k, mode)):
        is_gold, overlaps = gold_flags(c.text, golds)
        out.append(TopkCandidate(rank, c.text, c.start, c.end, float(c.score), is_gold, overlaps))
    return out


def with_gold_last(
    cands: Sequence[TopkCandidate], gold: tuple[str, int, int] | None, z: int = HARD_LEARNING_Z
) -> list[TopkCandidate]:
    """First `z` candidates; when none is the gold, the gold (text, start, end) takes the last rank."""
    out = list(cands[:z])
    if gold is None or any(c.is_gold for c in out):
        return out
    if len(out) >= z:
        out = out[: z - 1]
    text, start, end = gold
    out.append(TopkCandidate(len(out), text, start, end, math.nan, True, False))
    return out


def topk_frame(
    examples: Sequence[TrainExample],
    predictions: Sequence[Prediction],
    context_ids: Sequence[str],
    k: int,
    mode: Mode,
    force_gold: bool = False,
) -> pl.DataFrame:
    """`topk` artifact rows (without partition columns) for aligned examples / predictions / context ids."""
    if not len(examples) == len(predictions) == len(context_ids):
        raise ValueError(
            f"topk_frame: {len(examples)} examples, {len(predictions)} predictions, {len(context_ids)} context ids"
        )
    rows = []
    for ex, pred, cid in zip(examples, predictions, context_ids, strict=True):
        golds = [ex.context[s:e] for s, e in ex.answers]
        cands = topk_candidates(pred, golds, k, mode)
        if force_gold:
            gold = (golds[0], *ex.answers[0]) if ex.answers else None
            cands = with_gold_last(cands, gold, k)
        for c in cands:
            rows.append(
                {
                    "example_id": ex.example_id,
                    "context_id": cid,
                    "rank": c.rank,
                    "span": {"text": c.text, "start": c.start, "end": c.end},
                    "score": c.score,
                    "is_gold": c.is_gold,
                    "overlaps_gold": c.overlaps_gold,
                }
            )
    if not rows:
        return io.empty_frame(schemas.TOPK)
    return pl.from_arrow(io.to_table(pl.DataFrame(rows), schemas.TOPK))


def sample_topk(
    model,
    tokenizer,
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    k: int,
    mode: Mode,
    cfg: InferenceConfig = InferenceConfig(),
    force_gold: bool = False,
    feature_cache: str | Path | None = None,
) -> pl.DataFrame:
    """`topk` rows of a model over the `examples` + `contexts` frames of one partition
    (`feature_cache`: an artifact root whose window cache is read and filled, as in training)."""
    exs = examples_from_frames(examples, contexts)
    cfg = replace(cfg, n_best=pool_size(k, mode), null_rule="none")
    preds = predict(model, tokenizer, exs, cfg, feature_cache=feature_cache)
    return topk_frame(exs, preds, examples["context_id"].to_list(), k, mode, force_gold)
