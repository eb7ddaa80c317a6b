"""Span scores from start/end logits, in the two forms docs/methods.md uses.

For a window with start logits s and end logits e the score of the token span (i, j) is

* raw (``normalised=False``):           s_i + e_j
* locally normalised (``normalised=True``): log softmax(s)_i + log softmax(e)_j,
  the softmax taken over the window's context tokens plus CLS (position 0).

Raw sums are only comparable inside one window; locally normalised scores are log
probabilities and can be compared across windows and questions. Masked spans score -inf.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| spans | (W, N, 2) | long (start, end) token positions, end inclusive |
| mask | (W, N) | bool |
| context_mask | (W, L) | bool (optional; None = softmax over every position) |
| result | (W, N) | float, -inf where masked |

Used by every loss; nothing here knows about the model.
"""

from __future__ import annotations

import torch
from torch import Tensor

NEG_INF = float("-inf")


def answer_positions(context_mask: Tensor) -> Tensor:
    """Positions a span may start/end at: context tokens plus CLS (index 0).  # (W, L) bool"""
    allowed = context_mask.clone().bool()  # (W, L)
    allowed[:, 0] = True
    return allowed


def local_log_probs(logits: Tensor, context_mask: Tensor | None) -> Tensor:
    """log_softmax over context + CLS positions; other positions -inf.  # (W, L)"""
    if context_mask is None:
        return logits.log_softmax(dim=-1)
    allowed = answer_positions(context_mask)  # (W, L)
    return logits.masked_fill(~allowed, NEG_INF).log_softmax(dim=-1)  # (W, L)


def span_scores(
    start_logits: Tensor,
    end_logits: Tensor,
    spans: Tensor,
    mask: Tensor,
    normalised: bool,
    context_mask: Tensor | None = None,
) -> Tensor:
    """Score of every span in ``spans`` (raw or locally normalised); -inf where ``mask`` is False."""
    if normalised:
        start = local_log_probs(start_logits, context_mask)  # (W, L)
        end = local_log_probs(end_logits, context_mask)  # (W, L)
    else:
        start, end = start_logits, end_logits
    starts = spans[..., 0].clamp(min=0)  # (W, N)
    ends = spans[..., 1].clamp(min=0)  # (W, N)
    scores = start.gather(1, starts) + end.gather(1, ends)  # (W, N)
    return scores.masked_fill(~mask.bool(), NEG_INF)  # (W, N)


def logsumexp_masked(x: Tensor, dim: int) -> Tensor:
    """logsumexp that returns -inf (with zero, not NaN, gradient) for slices that are all -inf."""
    alive = torch.isfinite(x).any(dim=dim, keepdim=True)  # slice has a finite entry
    safe = torch.where(alive, x, torch.zeros_like(x))
    out = torch.logsumexp(safe, dim=dim)
    return torch.where(alive.squeeze(dim), out, torch.full_like(out, NEG_INF))


def masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of ``values`` over ``valid`` entries; 0 (still attached to the graph) when none."""
    picked = torch.where(valid, values, torch.zeros_like(values))
    return picked.sum() / valid.sum().clamp(min=1).to(values.dtype)
