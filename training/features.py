"""Sliding-window featurization: char spans → token positions in every window holding them.

Works with any Hugging Face *fast* tokenizer (question first, context second, truncation
`only_second`, `return_overflowing_tokens`, `stride`, `return_offsets_mapping`). Offsets
of non-context tokens are -1. `map_char_span` maps one char span into one window;
`map_spans` does the same for (windows × spans) at once with numpy. A span counts in a
window only when the window FULLY contains it; elsewhere it is masked (position 0, mask
False), as the training contract (`/tmp/cqa_training_contract.md`) states.

Applied to: all gold answers (multi-hot), the first gold (start/end positions, BIO tags),
near-miss negatives (only in windows that also hold the first gold), bundle answers and
top-k candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.progress import track
from training.config import FeatureConfig
from training.data import Span, TrainExample

O_TAG, B_TAG, I_TAG = 0, 1, 2
_CHUNK = 512  # examples tokenized per call (bounds the (W, N, L) temporaries)
# Compact storage between featurization and collate (~19 bytes per token instead of ~60).
_STORAGE = {
    "input_ids": np.int32, "attention_mask": np.int8, "token_type_ids": np.int8, "offsets": np.int32,
    "gold_start_multi": np.bool_, "gold_end_multi": np.bool_, "bio_tags": np.int8,
    "neg_spans": np.int16, "bundle_spans": np.int16, "topk_spans": np.int16,
    "start_positions": np.int16, "end_positions": np.int16,
}


@dataclass
class Features:
    """Every window of a list of examples; arrays are indexed by global window id."""

    examples: list[TrainExample]  # examples in input order
    example_windows: np.ndarray  # (E + 1,) windows of example i are [example_windows[i], example_windows[i+1])
    window_example: np.ndarray  # (W,) global example index of each window
    arrays: dict[str, np.ndarray]  # contract keys (input_ids, context_mask, neg_spans, ...) + `offsets`

    @property
    def n_windows(self) -> int:
        return int(self.window_example.shape[0])

    def windows_of(self, example: int) -> np.ndarray:
        return np.arange(self.example_windows[example], self.example_windows[example + 1])


def map_char_span(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """Token (start, end) of char span [start, end) in one window, or None unless fully inside.

    `offsets` is the window's (L, 2) char offsets with -1 for non-context tokens.
    """
    pos, mask = map_spans(offsets[None], np.array([[[start, end]]]), np.array([[True]]))
    return (int(pos[0, 0, 0]), int(pos[0, 0, 1])) if mask[0, 0] else None


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


def _chunk_features(tokenizer, examples: list[TrainExample], cfg: FeatureConfig, n_bundle: int) -> dict[str, np.ndarray]:
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


def featurize(tokenizer, examples: list[TrainExample], cfg: FeatureConfig) -> Features:
    """Every window of every example, with all spans mapped; arrays stay on the CPU as numpy."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"featurize needs a fast tokenizer (offsets); got {type(tokenizer).__name__}")
    if not examples:
        raise ValueError("featurize: no examples to featurize")
    tokenizer.padding_side = "right"
    n_bundle = max(1, max(len(e.bundle_answers) for e in examples))
    parts, counts = [], np.zeros(len(examples), dtype=np.int64)
    for lo in track(range(0, len(examples), _CHUNK), f"featurize ({_CHUNK}-example chunks)", -(-len(examples) // _CHUNK)):
        chunk = examples[lo : lo + _CHUNK]
        f = _chunk_features(tokenizer, chunk, cfg, n_bundle)
        counts[lo : lo + len(chunk)] = np.bincount(f["window_example"], minlength=len(chunk))
        f["window_example"] = f["window_example"] + lo
        parts.append(f)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    window_example = arrays.pop("window_example")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return Features(examples, bounds, window_example, arrays)


# Collate ---------------------------------------------------------------------------------

_SEQ_KEYS = (
    "input_ids", "attention_mask", "token_type_ids", "context_mask", "question_mask",
    "gold_start_multi", "gold_end_multi", "bio_tags",
)
_FLOAT_KEYS = ("gold_start_multi", "gold_end_multi")
_BOOL_KEYS = ("context_mask", "question_mask", "has_answer", "neg_mask", "bundle_mask", "topk_mask", "topk_is_gold")


@dataclass
class Batch:
    """One model batch: contract tensors + what decoding needs beside them."""

    tensors: dict  # contract key → torch.Tensor (CPU; the loop moves them)
    offsets: np.ndarray  # (W, L, 2) char offsets, -1 outside the context
    example_index: list[int]  # global example index of batch example 0..E-1

    @property
    def n_windows(self) -> int:
        return int(self.offsets.shape[0])


def collate(features: Features, example_index: list[int], pad_multiple: int = 8) -> Batch:
    """Gather the windows of these examples (in order) into one batch, trimmed to the longest window."""
    import torch

    wins = np.concatenate([features.windows_of(i) for i in example_index])
    counts = [features.example_windows[i + 1] - features.example_windows[i] for i in example_index]
    a = features.arrays
    full = a["input_ids"].shape[1]
    longest = int(a["attention_mask"][wins].sum(1).max())
    length = min(full, -(-longest // pad_multiple) * pad_multiple)
    out = {}
    for key, arr in a.items():
        if key == "offsets":
            continue
        part = arr[wins]
        if key in _SEQ_KEYS:
            part = part[:, :length]
        tensor = torch.from_numpy(np.ascontiguousarray(part))
        if key in _BOOL_KEYS:
            out[key] = tensor.bool()
        elif key in _FLOAT_KEYS:
            out[key] = tensor.float()
        else:
            out[key] = tensor.long()
    exs = [features.examples[i] for i in example_index]
    bundle_ids = {b: j for j, b in enumerate(dict.fromkeys(e.bundle_id for e in exs if e.bundle_id is not None))}
    per_example = {
        "window_example": list(range(len(exs))),
        "window_bundle": [bundle_ids.get(e.bundle_id, -1) if e.bundle_id is not None else -1 for e in exs],
        "window_question": [e.bundle_question if e.bundle_id is not None else -1 for e in exs],
        "bundle_gold": [e.bundle_gold if e.bundle_id is not None else -1 for e in exs],
    }
    for key, values in per_example.items():
        out[key] = torch.from_numpy(np.repeat(np.asarray(values, dtype=np.int64), counts))
    return Batch(out, a["offsets"][wins][:, :length], list(example_index))
