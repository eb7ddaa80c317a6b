"""The featurization as it was before issue 14 (per-window `sequence_ids` in Python, (W, N, L) span
temporaries): the reference that tests/training/test_features_vectorised.py compares
`training.features.featurize` against, array by array and window by window. Test code only.
Copied from training/features.py at commit adec1d8; not to be imported by the product.
"""

from __future__ import annotations

import numpy as np

from training.config import FeatureConfig
from training.data import Span, TrainExample
from training.features import _CHUNK, B_TAG, I_TAG, O_TAG, Features  # noqa: F401

# The storage dtypes the features had before the batch table (issue 11) drove them: the feature
# cache's layout of CACHE_VERSION 1, kept here as the reference (keys not listed keep their dtype).
_STORAGE = {
    "input_ids": np.int32,
    "attention_mask": np.int8,
    "token_type_ids": np.int8,
    "offsets": np.int32,
    "gold_start_multi": np.bool_,
    "gold_end_multi": np.bool_,
    "bio_tags": np.int8,
    "neg_spans": np.int16,
    "bundle_spans": np.int16,
    "topk_spans": np.int16,
    "start_positions": np.int16,
    "end_positions": np.int16,
}


def map_spans(offsets: np.ndarray, spans: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map (W, N, 2) char spans into (W, N, 2) token positions + (W, N) mask.

    The start token is the last context token starting at or before the span start; the
    end token is the first context token ending at or after the span end.
    """
    ctx = offsets[..., 0] >= 0  # (W, L)
    big = np.iinfo(np.int64).max
    lo = np.where(ctx, offsets[..., 0], big).min(-1)  # (W,) first context char of the window
    hi = np.where(ctx, offsets[..., 1], -1).max(-1)  # (W,) last context char (exclusive)
    s, e = spans[..., 0], spans[..., 1]  # (W, N)
    inside = valid & (e > s) & (s >= lo[:, None]) & (e <= hi[:, None])  # (W, N)
    starts_before = ctx[:, None, :] & (offsets[:, None, :, 0] <= s[..., None])  # (W, N, L)
    ends_after = ctx[:, None, :] & (offsets[:, None, :, 1] >= e[..., None])  # (W, N, L)
    length = offsets.shape[1]
    tok_start = length - 1 - np.argmax(starts_before[..., ::-1], axis=-1)  # (W, N)
    tok_end = np.argmax(ends_after, axis=-1)  # (W, N)
    mask = inside & starts_before.any(-1) & ends_after.any(-1) & (tok_end >= tok_start)
    pos = np.where(mask[..., None], np.stack([tok_start, tok_end], -1), 0).astype(np.int64)
    return pos, mask


def _pad_spans(rows: list[tuple[Span, ...]], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged span lists → (E, width, 2) array + (E, width) validity (longer lists are cut)."""
    arr = np.zeros((len(rows), max(width, 1), 2), dtype=np.int64)
    ok = np.zeros((len(rows), max(width, 1)), dtype=bool)
    for i, spans in enumerate(rows):
        spans = spans[:width]
        if spans:
            arr[i, : len(spans)] = spans
            ok[i, : len(spans)] = True
    return arr, ok


def _multi_hot(pos: np.ndarray, mask: np.ndarray, length: int, which: int) -> np.ndarray:
    out = np.zeros((pos.shape[0], length), dtype=np.float32)
    w, n = np.nonzero(mask)
    out[w, pos[w, n, which]] = 1.0
    return out


def _bio(start: np.ndarray, end: np.ndarray, has: np.ndarray, length: int) -> np.ndarray:
    ar = np.arange(length)[None, :]
    tags = np.where((ar > start[:, None]) & (ar <= end[:, None]), I_TAG, O_TAG)
    tags = np.where(ar == start[:, None], B_TAG, tags)
    return np.where(has[:, None], tags, O_TAG).astype(np.int64)


def _tokenize(tokenizer, examples: list[TrainExample], cfg: FeatureConfig) -> dict[str, np.ndarray]:
    enc = tokenizer(
        [e.question for e in examples],
        [e.context for e in examples],
        truncation="only_second",
        max_length=cfg.max_length,
        stride=cfg.stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    n = len(enc["input_ids"])
    seq = np.array([[-1 if s is None else s for s in enc.sequence_ids(i)] for i in range(n)], dtype=np.int64)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64)  # (W, L, 2)
    offsets[seq != 1] = -1
    out = {
        "input_ids": np.asarray(enc["input_ids"], dtype=np.int64),
        "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
        "context_mask": seq == 1,
        "question_mask": seq == 0,
        "offsets": offsets,
        "window_example": np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64),
    }
    if "token_type_ids" in enc:
        out["token_type_ids"] = np.asarray(enc["token_type_ids"], dtype=np.int64)
    return out


def _chunk_features(
    tokenizer, examples: list[TrainExample], cfg: FeatureConfig, n_bundle: int
) -> dict[str, np.ndarray]:
    f = _tokenize(tokenizer, examples, cfg)
    we, offsets, length = f["window_example"], f["offsets"], cfg.max_length

    def spans_per_window(rows: list[tuple[Span, ...]], width: int) -> tuple[np.ndarray, np.ndarray]:
        arr, ok = _pad_spans(rows, width)
        return map_spans(offsets, arr[we], ok[we])

    gold_pos, gold_mask = spans_per_window([e.answers for e in examples], max(len(e.answers) for e in examples))
    first_ok = gold_mask[:, 0]
    f["start_positions"] = gold_pos[:, 0, 0]
    f["end_positions"] = gold_pos[:, 0, 1]
    f["gold_start_multi"] = _multi_hot(gold_pos, gold_mask, length, 0)
    f["gold_end_multi"] = _multi_hot(gold_pos, gold_mask, length, 1)
    f["has_answer"] = gold_mask.any(-1)
    f["bio_tags"] = _bio(f["start_positions"], f["end_positions"], first_ok, length)

    neg_pos, neg_mask = spans_per_window([e.negatives for e in examples], cfg.max_negatives)
    neg_mask &= first_ok[:, None]
    f["neg_spans"], f["neg_mask"] = np.where(neg_mask[..., None], neg_pos, 0), neg_mask

    f["bundle_spans"], f["bundle_mask"] = spans_per_window([e.bundle_answers for e in examples], n_bundle)
    topk_pos, topk_mask = spans_per_window([e.topk for e in examples], cfg.max_topk)
    gold_flags = np.zeros((len(examples), cfg.max_topk), dtype=bool)
    for i, e in enumerate(examples):
        flags = e.topk_is_gold[: cfg.max_topk]
        gold_flags[i, : len(flags)] = flags
    f["topk_spans"], f["topk_mask"], f["topk_is_gold"] = topk_pos, topk_mask, gold_flags[we] & topk_mask
    return {k: v.astype(_STORAGE.get(k, v.dtype), copy=False) for k, v in f.items()}


def reference_featurize(tokenizer, examples: list[TrainExample], cfg: FeatureConfig) -> Features:
    """Every window of every example, with all spans mapped; arrays stay on the CPU as numpy."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"featurize needs a fast tokenizer (offsets); got {type(tokenizer).__name__}")
    if not examples:
        raise ValueError("featurize: no examples to featurize")
    tokenizer.padding_side = "right"
    n_bundle = max(1, max(len(e.bundle_answers) for e in examples))
    parts, counts = [], np.zeros(len(examples), dtype=np.int64)
    for lo in range(0, len(examples), _CHUNK):
        chunk = examples[lo : lo + _CHUNK]
        f = _chunk_features(tokenizer, chunk, cfg, n_bundle)
        counts[lo : lo + len(chunk)] = np.bincount(f["window_example"], minlength=len(chunk))
        f["window_example"] = f["window_example"] + lo
        parts.append(f)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    window_example = arrays.pop("window_example")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return Features(examples, bounds, window_example, arrays)
