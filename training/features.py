"""Sliding-window featurization: char spans → token positions in every window holding them.

Works with any Hugging Face *fast* tokenizer (question first, context second, truncation
`only_second`, `return_overflowing_tokens`, `stride`, `return_offsets_mapping`). Offsets
of non-context tokens are -1. `map_char_span` maps one char span into one window;
`map_spans` does the same for (windows × spans) at once with numpy. A span counts in a
window only when the window FULLY contains it; elsewhere it is masked (position 0, mask
False), as the batch contract (`training/batch.py`) states.

Applied to: all gold answers (multi-hot), the first gold (start/end positions, BIO tags),
near-miss negatives (only in windows that also hold the first gold), bundle answers and
top-k candidates.

Vectorised (issue 14): one batch tokenizer call per 512 examples; which segment a token
belongs to comes from the special-tokens mask and the pair template (`pair_template`, read
once), with numpy, not from `sequence_ids` per window; span mapping searches only the valid
(window, span) pairs. The output is identical, array by array, to the per-window
implementation it replaced (tests/training/test_features_vectorised.py, on the samples and
on SQuAD 1.1 dev). `featurize_cached` keeps the windows under `<data.root>/features/<key>/`
(safetensors + meta.json) keyed by tokenizer, `features.*` config and the examples' content;
benchmarks/bench_features.py measures both (docs/training-scale.md).

Which arrays a window has, their storage dtype (~19 bytes per token instead of ~60), dims
and padding, and how `collate` turns them into tensors, come from the batch table
(`training.batch.BATCH`); featurization's output and every cache load are checked against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from pipeline.config_model import to_plain
from pipeline.progress import track
from training.batch import check_arrays, keys
from training.config import FeatureConfig
from training.data import Span, TrainExample

O_TAG, B_TAG, I_TAG = 0, 1, 2
_CHUNK = 512  # examples tokenized per call (bounds the (W, N, L) temporaries)


def storage_dtypes() -> dict[str, np.dtype]:
    """Compact storage between featurization and collate (~19 bytes per token instead of ~60): the batch table's
    `storage` of each window key, which is the feature cache's layout."""
    return {k.name: np.dtype(k.storage) for k in keys("window")}


@dataclass
class Features:
    """Every window of a list of examples; arrays are indexed by global window id."""

    examples: list[TrainExample]  # examples in input order
    example_windows: np.ndarray  # (E + 1,) windows of example i are [example_windows[i], example_windows[i+1])
    window_example: np.ndarray  # (W,) global example index of each window
    # the window keys of training.batch.BATCH (input_ids, context_mask, neg_spans, offsets, ...)
    arrays: dict[str, np.ndarray]

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
    end token is the first context token ending at or after the span end. Only the valid
    (window, span) pairs that lie inside their window's context are searched, each against
    its own window: (P, L) temporaries, not (W, N, L).
    """
    ctx = offsets[..., 0] >= 0  # (W, L)
    big = np.iinfo(np.int64).max
    lo = np.where(ctx, offsets[..., 0], big).min(-1)  # (W,) first context char of the window
    hi = np.where(ctx, offsets[..., 1], -1).max(-1)  # (W,) last context char (exclusive)
    s, e = spans[..., 0], spans[..., 1]  # (W, N)
    inside = valid & (e > s) & (s >= lo[:, None]) & (e <= hi[:, None])  # (W, N)
    w, n = np.nonzero(inside)
    pos = np.zeros(spans.shape[:2] + (2,), dtype=np.int64)
    mask = np.zeros(spans.shape[:2], dtype=bool)
    if w.size:
        o, c, ps, pe = offsets[w], ctx[w], s[w, n], e[w, n]  # (P, L, 2), (P, L), (P,), (P,)
        starts_before = c & (o[..., 0] <= ps[:, None])  # (P, L)
        ends_after = c & (o[..., 1] >= pe[:, None])
        length = offsets.shape[1]
        tok_start = length - 1 - np.argmax(starts_before[:, ::-1], axis=-1)
        tok_end = np.argmax(ends_after, axis=-1)
        ok = starts_before.any(-1) & ends_after.any(-1) & (tok_end >= tok_start)
        mask[w, n] = ok
        pos[w[ok], n[ok]] = np.stack([tok_start[ok], tok_end[ok]], -1)
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


def tokenizer_arguments(cfg: FeatureConfig) -> dict:
    """The keyword arguments of featurize's tokenizer call.

    benchmarks/bench_features.py times the bare call with them."""
    return {
        "truncation": "only_second",
        "max_length": cfg.max_length,
        "stride": cfg.stride,
        "return_overflowing_tokens": True,
        "return_offsets_mapping": True,
        "return_special_tokens_mask": True,
        "padding": "max_length",
    }


def pair_template(tokenizer) -> tuple[int, int]:
    """(special tokens before the question, special tokens between question and context) of the pair template.

    Read once from the tokenizer's own `sequence_ids` of a probe pair: BERT `[CLS] q [SEP] c [SEP]`
    gives (1, 1), RoBERTa `<s> q </s></s> c </s>` gives (1, 2).
    """
    seq = tokenizer("a", "b").sequence_ids(0)
    if 0 not in seq or 1 not in seq:
        raise ValueError(
            f"featurize: {type(tokenizer).__name__} does not encode a (question, context) pair as two sequences"
        )
    first_q, last_q, first_c = seq.index(0), len(seq) - 1 - seq[::-1].index(0), seq.index(1)
    if any(s is not None for s in seq[:first_q] + seq[last_q + 1 : first_c]):
        raise ValueError(f"featurize: unexpected pair template {seq} of {type(tokenizer).__name__}")
    return first_q, first_c - last_q - 1


def _flat(rows, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Nested lists (or lists of tuples) → one array, through one flat iterator.

    3x faster than np.asarray on tuples."""
    it = chain.from_iterable(rows)
    if len(shape) == 3:
        it = chain.from_iterable(it)
    return np.fromiter(it, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


def _tokenize(
    tokenizer, examples: list[TrainExample], cfg: FeatureConfig, template: tuple[int, int]
) -> dict[str, np.ndarray]:
    """One batch tokenizer call; the sequence of every token from the special-tokens mask, with numpy.

    A token is a question token when it is a real (attended, non-template) token after the
    template's `before` special tokens and before the middle ones; a context token after
    `before + middle` of them: the running count of template tokens identifies the segment.
    Text that reads like a special token (a literal "[SEP]") is not a template token
    (special_tokens_mask 0) and stays in its segment, as `sequence_ids` has it.
    """
    enc = tokenizer([e.question for e in examples], [e.context for e in examples], **tokenizer_arguments(cfg))
    n, length = len(enc["input_ids"]), cfg.max_length
    if n and len(enc["input_ids"][0]) != length:
        raise ValueError(
            f"featurize: the tokenizer returned windows of {len(enc['input_ids'][0])} tokens, not max_length={length}"
        )
    attention = _flat(enc["attention_mask"], np.int8, (n, length))
    special = _flat(enc["special_tokens_mask"], np.int8, (n, length)).astype(bool) & (attention > 0)
    before, middle = template
    seen = np.cumsum(special, axis=1, dtype=np.int32)  # template tokens up to and including each position
    real = (attention > 0) & ~special
    context_mask = real & (seen == before + middle)
    offsets = _flat(enc["offset_mapping"], np.int32, (n, length, 2))
    offsets[~context_mask] = -1
    out = {
        "input_ids": _flat(enc["input_ids"], np.int32, (n, length)),
        "attention_mask": attention,
        "context_mask": context_mask,
        "question_mask": real & (seen == before),
        "offsets": offsets,
        "window_example": np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64),
    }
    if "token_type_ids" in enc:
        out["token_type_ids"] = _flat(enc["token_type_ids"], np.int8, (n, length))
    return out


def _chunk_features(
    tokenizer, examples: list[TrainExample], cfg: FeatureConfig, n_bundle: int, template: tuple[int, int]
) -> dict[str, np.ndarray]:
    f = _tokenize(tokenizer, examples, cfg, template)
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
    # an array the table does not declare keeps its dtype and is refused by featurize's check
    storage = storage_dtypes()
    return {k: v.astype(storage.get(k, v.dtype), copy=False) for k, v in f.items()}


def layout_sizes(cfg: FeatureConfig) -> dict[str, int]:
    """The named dims of stored windows that the features config fixes (A depends on the examples)."""
    return {"L": cfg.max_length, "K": cfg.max_negatives, "Z": cfg.max_topk}


def featurize(tokenizer, examples: list[TrainExample], cfg: FeatureConfig) -> Features:
    """Every window of every example, with all spans mapped; arrays stay on the CPU as numpy."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"featurize needs a fast tokenizer (offsets); got {type(tokenizer).__name__}")
    if not examples:
        raise ValueError("featurize: no examples to featurize")
    tokenizer.padding_side = "right"
    n_bundle = max(1, max(len(e.bundle_answers) for e in examples))
    template = pair_template(tokenizer)
    parts, counts = [], np.zeros(len(examples), dtype=np.int64)
    for lo in track(
        range(0, len(examples), _CHUNK), f"featurize ({_CHUNK}-example chunks)", -(-len(examples) // _CHUNK)
    ):
        chunk = examples[lo : lo + _CHUNK]
        f = _chunk_features(tokenizer, chunk, cfg, n_bundle, template)
        counts[lo : lo + len(chunk)] = np.bincount(f["window_example"], minlength=len(chunk))
        f["window_example"] = f["window_example"] + lo
        parts.append(f)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    window_example = arrays.pop("window_example")
    errors = check_arrays(arrays, layout_sizes(cfg))
    if errors:
        raise AssertionError(f"featurize: output breaks the batch contract (training/batch.py): {'; '.join(errors)}")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return Features(examples, bounds, window_example, arrays)


# Cache -----------------------------------------------------------------------------------

FEATURES_DIR = "features"  # `<data.root>/features/<key>/`: one folder per (tokenizer, features config, examples)
WINDOWS_FILE = "windows.safetensors"
META_FILE = "meta.json"
CACHE_VERSION = 1  # bump when featurize's output for the same inputs changes


def tokenizer_fingerprint(tokenizer) -> str:
    """What fixes the tokenizer's output: its class, its whole backend (vocab, normaliser, template) and padding ids.

    The backend's truncation and padding settings are left out: each call sets them from its
    arguments (which the features config fixes), so they hold whatever the last call used.
    """
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    backend.pop("truncation", None)
    backend.pop("padding", None)
    h = hashlib.sha256()
    for part in (
        type(tokenizer).__name__,
        json.dumps(backend, sort_keys=True),
        str(tokenizer.pad_token_id),
        str(getattr(tokenizer, "pad_token_type_id", 0)),
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def examples_fingerprint(examples: list[TrainExample]) -> str:
    """Content hash of every field featurize reads (ids, texts, spans, bundle and top-k fields), in order."""
    h = hashlib.sha256()
    for e in examples:
        row = [
            e.example_id,
            e.context,
            e.question,
            e.answers,
            e.negatives,
            e.bundle_id,
            e.bundle_answers,
            e.bundle_gold,
            e.bundle_question,
            e.topk,
            e.topk_is_gold,
        ]
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def cache_key(tokenizer, examples: list[TrainExample], cfg: FeatureConfig) -> dict:
    """The inputs a cached featurization is valid for; its folder name is their fingerprint."""
    return {
        "version": CACHE_VERSION,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "features": to_plain(cfg),
        "examples": examples_fingerprint(examples),
        "n_examples": len(examples),
    }


def _save_windows(folder: Path, features: Features, key: dict, label: str) -> None:
    """Write the windows into a hidden sibling and rename it into place (a reader sees all or nothing)."""
    from safetensors.numpy import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        arrays = {
            **{f"arrays.{k}": np.ascontiguousarray(v) for k, v in features.arrays.items()},
            "example_windows": features.example_windows.astype(np.int64),
            "window_example": features.window_example.astype(np.int64),
        }
        save_file(arrays, str(tmp / WINDOWS_FILE))
        meta = {
            **key,
            "label": label,
            "n_windows": features.n_windows,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        for name in (WINDOWS_FILE, META_FILE):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        if folder.exists():  # a corrupt folder being replaced
            shutil.rmtree(folder)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process (a DDP rank) renamed the same windows into place first
            if not (folder / WINDOWS_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_windows(folder: Path, examples: list[TrainExample], key: dict, sizes: dict[str, int]) -> Features:
    from safetensors.numpy import load_file

    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    if {k: meta.get(k) for k in key} != key:
        raise ValueError(f"{folder / META_FILE} was written for other inputs")
    loaded = load_file(str(folder / WINDOWS_FILE))
    arrays = {k.split(".", 1)[1]: v for k, v in loaded.items() if k.startswith("arrays.")}
    errors = check_arrays(arrays, sizes)
    if errors:  # written under another layout with the same CACHE_VERSION: never read it as this one
        raise ValueError(f"{folder / WINDOWS_FILE}: stored layout is not the batch table's ({'; '.join(errors[:3])})")
    bounds, window_example = loaded["example_windows"], loaded["window_example"]
    if bounds.shape != (len(examples) + 1,) or int(bounds[-1]) != window_example.shape[0]:
        raise ValueError(
            f"{folder / WINDOWS_FILE}: {bounds.shape[0] - 1} examples / {window_example.shape[0]} windows "
            f"do not fit the {len(examples)} examples"
        )
    return Features(examples, bounds, window_example, arrays)


def featurize_cached(
    tokenizer, examples: list[TrainExample], cfg: FeatureConfig, root: str | Path, *, label: str = ""
) -> tuple[Features, bool]:
    """`featurize`, through the window cache under `<root>/features/`; returns (features, cache hit).

    The key is the tokenizer's fingerprint, the whole `features.*` config and a content hash
    of the examples (every field featurize reads), so any change to the input partitions or
    to the `data.*` selection that changes what is featurized misses the cache; unchanged
    inputs load the arrays (safetensors, no pickle) instead of tokenizing again. A cache
    folder that cannot be read is reported on stderr and rebuilt; a root that cannot be
    written is reported and the features are returned uncached.
    """
    key = cache_key(tokenizer, examples, cfg)
    folder = Path(root) / FEATURES_DIR / io_fingerprint(key)
    if (folder / WINDOWS_FILE).is_file():
        try:
            return _load_windows(folder, examples, key, layout_sizes(cfg)), True
        except Exception as e:  # noqa: BLE001 - a truncated or foreign file: rebuilt, said loudly
            print(
                f"warning: feature cache {folder} cannot be used ({type(e).__name__}: {e}); featurizing again",
                file=sys.stderr,
            )
    features = featurize(tokenizer, examples, cfg)
    try:
        _save_windows(folder, features, key, label)
    except OSError as e:
        print(f"warning: cannot write the feature cache {folder} ({e}); continuing without it", file=sys.stderr)
    return features, False


def io_fingerprint(obj) -> str:
    """16-hex fingerprint of a JSON value.

    The same as `pipeline.io.fingerprint`, without importing the mining stack."""
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:16]


# Collate ---------------------------------------------------------------------------------


@dataclass
class Batch:
    """One model batch: the batch table's tensors + its host arrays (decoding reads them beside the tensors)."""

    tensors: dict  # batch key → torch.Tensor (CPU; the loop moves them)
    offsets: np.ndarray  # (W, L, 2) char offsets, -1 outside the context
    example_index: list[int]  # global example index of batch example 0..E-1
    host: dict = field(default_factory=dict)  # every host key of the table (offsets among them), numpy

    @property
    def n_windows(self) -> int:
        return int(self.offsets.shape[0])


def batch_length(features: Features, wins: np.ndarray, pad_multiple: int = 8) -> int:
    """Tokens per window of a batch: its longest window rounded up to `pad_multiple`, at most the stored length."""
    full = features.arrays["input_ids"].shape[1]
    longest = int(features.arrays["attention_mask"][wins].sum(1).max())
    return min(full, -(-longest // pad_multiple) * pad_multiple)


def collate(features: Features, example_index: list[int], pad_multiple: int = 8) -> Batch:
    """Gather the windows of these examples (in order) into one batch, as the batch table declares each key.

    Window keys are stacked and their L dim cut to the batch length (`batch_length`): stored
    windows are padded to features.max_length with each key's pad, so the cut keeps every
    window's tokens and the common padding up to that length. Example keys are computed from
    the batch's examples and repeated over their windows. Tensors get the declared dtype;
    host keys stay numpy.
    """
    import torch

    wins = np.concatenate([features.windows_of(i) for i in example_index])
    counts = [features.example_windows[i + 1] - features.example_windows[i] for i in example_index]
    a = features.arrays
    declared = keys("window")
    undeclared = sorted(set(a) - {k.name for k in declared})
    if undeclared:
        raise KeyError(f"collate: the features hold {undeclared}, which training/batch.py BATCH does not declare")
    length = batch_length(features, wins, pad_multiple)
    torch_dtype = {"long": torch.long, "bool": torch.bool, "float": torch.float32}
    out, host = {}, {}
    for key in declared:
        if key.name not in a:
            if key.optional:
                continue
            raise KeyError(f"collate: the features hold no {key.name!r} (a window key of training/batch.py BATCH)")
        part = a[key.name][wins]
        if "L" in key.dims:
            part = part[(slice(None),) * key.dims.index("L") + (slice(0, length),)]
        if key.host:
            host[key.name] = part
        else:
            out[key.name] = torch.from_numpy(np.ascontiguousarray(part)).to(torch_dtype[key.dtype])
    exs = [features.examples[i] for i in example_index]
    for key in keys("example"):
        values = np.asarray(key.per_example(exs), dtype=np.int64)
        out[key.name] = torch.from_numpy(np.repeat(values, counts)).to(torch_dtype[key.dtype])
    return Batch(out, host["offsets"], list(example_index), host)
