"""Span decoding: one vectorised n-best implementation for training, sampling and evaluation.

`decode_nbest` turns the start/end logits of every window of a set of examples into one
`Prediction` per example (best span, its score, the SQuAD 2.0 null score and the n-best
list). It follows Hugging Face's `postprocess_qa_predictions` (docs/methods.md "Shared inference
and metrics"): per window, the top-n start and top-n end positions of the raw logits; a
pair (i, j) is kept when both tokens are context tokens, i <= j and j - i + 1 <=
max_answer_len; its score is s_i + e_j; the answer is the best pair over all windows of the
example. The null score is the minimum CLS score s_0 + e_0 over the example's windows.
The n-best list holds distinct char spans (a span seen in two overlapping windows keeps its
best score), best first; `distinct_starts` keeps the best end per start (sample-topk's
diverse mode). `decode_crf` maps a BIO CRF's per-window spans to char spans.

| input | shape | meaning |
| --- | --- | --- |
| start_logits, end_logits | (W, L) float | model outputs per window |
| context_mask | (W, L) bool | token belongs to the context |
| offsets | (W, L, 2) long | char offsets into the example's context, -1 for non-context tokens |
| window_example | (W,) long | example index (0..E-1) of each window; all windows of an example in one call |
| contexts | list of E str | context text per example |

Null rules (`null_rule`): `none` always answers when some span is valid; `cls_threshold`
answers "" when null_score - best_score > null_threshold (SQuAD 2.0); `negative_score`
answers "" when the best score s_i + e_j < null_threshold (0 in docs/methods.md §3). Where no
span is valid at all the answer is "" (HF would answer the placeholder "empty").

Everything up to the final assembly is batched tensor work (topk, a broadcast start x end
grid, masks, one scatter to group windows by example, one sort, a `np.unique` for
de-duplication); Python only loops over examples to cut their n-best views. Benchmark:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_decoding
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

import numpy as np
import torch

NullRule = Literal["none", "cls_threshold", "negative_score"]
NULL_RULES: tuple[str, ...] = ("none", "cls_threshold", "negative_score")
_NEG_INF = float("-inf")


class Candidate(NamedTuple):
    """One span of the n-best list (char offsets into the example's context)."""

    text: str
    start: int
    end: int
    score: float


class NBest(Sequence[Candidate]):
    """An example's n-best spans, best first; each `Candidate` (with its text) is built on access.

    Decoding keeps only the offsets and scores, so a caller that needs the best answer alone
    (evaluation) never pays for slicing 20 texts per example.
    """

    __slots__ = ("_context", "_starts", "_ends", "_scores")

    def __init__(self, context: str, starts: Sequence[int], ends: Sequence[int], scores: Sequence[float]):
        self._context, self._starts, self._ends, self._scores = context, starts, ends, scores

    def __len__(self) -> int:
        return len(self._scores)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        a, b = self._starts[i], self._ends[i]
        return Candidate(self._context[a:b], a, b, self._scores[i])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"NBest({list(self)!r})"


_EMPTY = NBest("", (), (), ())


@dataclass(frozen=True, slots=True)
class Prediction:
    """Decoded answer of one example. `text == ""` (start/end None) means no answer."""

    text: str
    start: int | None
    end: int | None
    score: float  # best span score (-inf when no span was valid)
    null_score: float | None  # min CLS score over windows (None for decoders without one)
    nbest: Sequence[Candidate] = field(default=_EMPTY)  # distinct spans, best first


def _as_tensor(x: torch.Tensor | np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    t = t.detach().cpu()
    return t.to(dtype) if dtype is not None else t


def _check_inputs(
    start: torch.Tensor,
    end: torch.Tensor,
    context_mask: torch.Tensor,
    offsets: torch.Tensor,
    window_example: torch.Tensor,
    n_examples: int,
) -> None:
    w, n_tok = start.shape
    expected = {
        "end_logits": (end.shape, (w, n_tok)),
        "context_mask": (context_mask.shape, (w, n_tok)),
        "offsets": (offsets.shape, (w, n_tok, 2)),
        "window_example": (window_example.shape, (w,)),
    }
    for name, (got, want) in expected.items():
        if tuple(got) != want:
            raise ValueError(f"decode: {name} has shape {tuple(got)}, expected {want} (from start_logits)")
    if w and (int(window_example.min()) < 0 or int(window_example.max()) >= n_examples):
        raise ValueError(f"decode: window_example must lie in 0..{n_examples - 1} (one context per example)")


def _window_top_spans(
    start: torch.Tensor, end: torch.Tensor, valid_tok: torch.Tensor, n_best: int, max_answer_len: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per window, the n best valid pairs of the top-n starts x top-n ends grid.

    Returns scores (W, n) (-inf where fewer than n pairs are valid), start and end tokens (W, n).
    """
    n = min(n_best, start.shape[1])
    s_val, s_idx = start.topk(n, dim=1)  # (W, n)
    e_val, e_idx = end.topk(n, dim=1)  # (W, n)
    ok = valid_tok.gather(1, s_idx)[:, :, None] & valid_tok.gather(1, e_idx)[:, None, :]  # (W, n, n)
    length = e_idx[:, None, :] - s_idx[:, :, None]  # (W, n, n)
    ok &= (length >= 0) & (length < max_answer_len)
    grid = (s_val[:, :, None] + e_val[:, None, :]).masked_fill_(~ok, _NEG_INF)  # (W, n, n)
    scores, pick = grid.reshape(len(grid), n * n).topk(n, dim=1)  # (W, n)
    return scores, s_idx.gather(1, pick // n), e_idx.gather(1, pick % n)


@dataclass(frozen=True)
class _Layout:
    """Where each window goes in an (examples, max windows per example) grid."""

    example: torch.Tensor  # (W,) example of each window, windows sorted by example
    slot: torch.Tensor  # (W,) position of that window inside its example
    order: torch.Tensor  # (W,) window ids in that sorted order
    n_examples: int
    max_windows: int

    @classmethod
    def of(cls, window_example: torch.Tensor, n_examples: int) -> "_Layout":
        order = torch.argsort(window_example, stable=True)
        counts = torch.bincount(window_example, minlength=n_examples)
        first = torch.cumsum(counts, 0) - counts  # (E,)
        ex_sorted = window_example[order]
        slot = torch.arange(len(order)) - first[ex_sorted]
        return cls(ex_sorted, slot, order, n_examples, max(int(counts.max()), 1))

    def group(self, values: torch.Tensor, fill: float | int) -> torch.Tensor:
        """(W, n) rows -> (E, max windows * n), padded with `fill`."""
        grouped = torch.full((self.n_examples, self.max_windows, values.shape[1]), fill, dtype=values.dtype)
        grouped[self.example, self.slot] = values[self.order]
        return grouped.reshape(self.n_examples, -1)


def _first_occurrences(keys: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Per row, True at the first (best-ranked) occurrence of each key among alive entries."""
    e, c = keys.shape
    row_key = np.where(alive, keys, -1) + (np.arange(e, dtype=np.int64)[:, None] * (int(keys.max(initial=0)) + 2))
    _, first = np.unique(row_key.ravel(), return_index=True)
    keep = np.zeros(e * c, dtype=bool)
    keep[first] = True
    return keep.reshape(e, c) & alive


def _null_decision(best: float, null_score: float, rule: str, threshold: float) -> bool:
    if best == _NEG_INF:
        return True
    if rule == "cls_threshold":
        return null_score - best > threshold
    if rule == "negative_score":
        return best < threshold
    return False


def decode_nbest(
    start_logits: torch.Tensor | np.ndarray,
    end_logits: torch.Tensor | np.ndarray,
    context_mask: torch.Tensor | np.ndarray,
    offsets: torch.Tensor | np.ndarray,
    window_example: torch.Tensor | np.ndarray,
    contexts: Sequence[str],
    n_best: int = 20,
    max_answer_len: int = 30,
    null_rule: NullRule = "none",
    null_threshold: float = 0.0,
) -> list[Prediction]:
    """One `Prediction` per example (see the module docstring); n-best spans are distinct char spans."""
    if null_rule not in NULL_RULES:
        raise ValueError(f"decode: null_rule={null_rule!r}, expected one of {NULL_RULES}")
    if n_best < 1 or max_answer_len < 1:
        raise ValueError(f"decode: n_best ({n_best}) and max_answer_len ({max_answer_len}) must be >= 1")
    start = _as_tensor(start_logits, torch.float32)
    end = _as_tensor(end_logits, torch.float32)
    cmask, offs = _as_tensor(context_mask, torch.bool), _as_tensor(offsets, torch.long)
    wex = _as_tensor(window_example, torch.long)
    n_examples = len(contexts)
    _check_inputs(start, end, cmask, offs, wex, n_examples)
    if start.shape[0] == 0:
        return [Prediction("", None, None, _NEG_INF, None) for _ in contexts]

    valid_tok = cmask & (offs[..., 0] >= 0) & (offs[..., 1] >= 0)  # (W, L)
    # a span of an example's distinct top-n is in the top-n of the window giving its best score
    scores, s_tok, e_tok = _window_top_spans(start, end, valid_tok, n_best, max_answer_len)  # (W, n)
    null = start[:, 0] + end[:, 0]  # (W,)
    null_ex = torch.full((n_examples,), float("inf")).scatter_reduce(0, wex, null, reduce="amin")

    win = torch.arange(start.shape[0])[:, None].expand_as(s_tok)
    char_s = offs[win, s_tok, 0]  # (W, n)
    char_e = offs[win, e_tok, 1]  # (W, n)
    layout = _Layout.of(wex, n_examples)
    flat = layout.group(scores, _NEG_INF)  # (E, M*n), M = most windows of one example
    order = torch.argsort(flat, dim=1, descending=True, stable=True)  # (E, M*n)
    top_score = flat.gather(1, order).numpy()
    top_cs = layout.group(char_s, -1).gather(1, order).numpy()
    top_ce = layout.group(char_e, -1).gather(1, order).numpy()
    alive = np.isfinite(top_score)
    keys = top_cs * (int(top_ce.max(initial=0)) + 1) + top_ce
    keep = _first_occurrences(keys, alive)
    keep &= np.cumsum(keep, axis=1) <= n_best
    return _assemble(contexts, top_score, top_cs, top_ce, keep, null_ex.tolist(), null_rule, null_threshold)


def _assemble(
    contexts: Sequence[str],
    scores: np.ndarray,
    cs: np.ndarray,
    ce: np.ndarray,
    keep: np.ndarray,
    null_scores: list[float],
    rule: str,
    threshold: float,
) -> list[Prediction]:
    """Cut the flat kept spans into per-example `NBest` views and apply the null rule per example."""
    rows, cols = np.nonzero(keep)  # row-major: by example, then by rank
    starts, ends = cs[rows, cols].tolist(), ce[rows, cols].tolist()
    scores_l = scores[rows, cols].tolist()
    bounds = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).tolist()
    out: list[Prediction] = []
    for i, null_score in enumerate(null_scores):
        lo, hi = bounds[i], bounds[i + 1]
        nbest = NBest(contexts[i], starts[lo:hi], ends[lo:hi], scores_l[lo:hi])
        null = None if null_score == float("inf") else null_score
        best = scores_l[lo] if hi > lo else _NEG_INF
        if _null_decision(best, null if null is not None else _NEG_INF, rule, threshold):
            out.append(Prediction("", None, None, best, null, nbest))
        else:
            a, b = starts[lo], ends[lo]
            out.append(Prediction(contexts[i][a:b], a, b, best, null, nbest))
    return out


def distinct_starts(nbest: Sequence[Candidate], k: int) -> list[Candidate]:
    """The k best candidates with pairwise different start offsets (best end for each start).

    Drawn from the n-best list, so decode with n_best well above k for k distinct starts.
    """
    seen: set[int] = set()
    out: list[Candidate] = []
    for c in nbest:
        if c.start not in seen:
            seen.add(c.start)
            out.append(c)
            if len(out) == k:
                break
    return out


# CRF decoding ------------------------------------------------------------------------


class CrfDecoder(Protocol):
    """What `decode_crf` needs from `training.crf.BioCrf`."""

    def decode(
        self, emissions: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor | None = None
    ) -> list[tuple[int, int] | None]: ...


def crf_span_score(
    emissions: torch.Tensor, start: int, end: int, o_tag: int = 0, b_tag: int = 1, i_tag: int = 2
) -> float:
    """Emission gain of tagging tokens start..end as B I* instead of O (transitions excluded)."""
    gain = emissions[start, b_tag] - emissions[start, o_tag]
    if end > start:
        gain = gain + (emissions[start + 1 : end + 1, i_tag] - emissions[start + 1 : end + 1, o_tag]).sum()
    return float(gain)


def decode_crf(
    crf: CrfDecoder,
    emissions: torch.Tensor,
    mask: torch.Tensor,
    context_mask: torch.Tensor | np.ndarray,
    offsets: torch.Tensor | np.ndarray,
    window_example: torch.Tensor | np.ndarray,
    contexts: Sequence[str],
    span_score: Callable[[torch.Tensor, int, int], float] = crf_span_score,
) -> list[Prediction]:
    """CRF (BIO) decoding mapped to char spans, one `Prediction` per example.

    `crf.decode(emissions (W, L, 3), mask (W, L), allowed=context_mask)` gives one token span
    (or None for all-O) per window, searched over context tokens only: without `allowed` the
    best path could run through question tokens, be dropped below, and lose the window's
    best context answer. A span that still touches a non-context token is dropped. Across
    the windows of an example the span with the highest `span_score` wins; no span means "".
    """
    cmask_t = _as_tensor(context_mask, torch.bool)
    with torch.no_grad():
        spans = crf.decode(emissions, mask, allowed=cmask_t.to(emissions.device))
    offs = _as_tensor(offsets, torch.long).numpy()
    cmask = cmask_t.numpy()
    wex = _as_tensor(window_example, torch.long).numpy()
    if len(spans) != len(wex):
        raise ValueError(f"decode_crf: crf.decode returned {len(spans)} spans for {len(wex)} windows")
    best: list[Candidate | None] = [None] * len(contexts)
    em = emissions.detach().cpu().float()
    for w, span in enumerate(spans):
        if span is None:
            continue
        s, e = span
        if (
            not (0 <= s <= e < cmask.shape[1])
            or not cmask[w, s : e + 1].all()
            or offs[w, s, 0] < 0
            or offs[w, e, 1] < 0
        ):
            continue
        ex = int(wex[w])
        cs, ce = int(offs[w, s, 0]), int(offs[w, e, 1])
        cand = Candidate(contexts[ex][cs:ce], cs, ce, span_score(em[w], s, e))
        if best[ex] is None or cand.score > best[ex].score:
            best[ex] = cand
    return [
        Prediction("", None, None, _NEG_INF, None)
        if c is None
        else Prediction(c.text, c.start, c.end, c.score, None, (c,))
        for c in best
    ]
