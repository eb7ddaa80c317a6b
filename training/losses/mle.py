"""Maximum likelihood span losses: standard (one gold) and soft-target (every gold).

``mle`` — the standard extractive QA loss (Devlin et al. 2019; docs/methods.md §2.2 "MLE"):

    L = ½ [CE(softmax(s), start) + CE(softmax(e), end)]

averaged over windows; a window without the answer targets CLS (position 0).

``mle_soft`` — soft targets (robust training for unanswerable questions, docs/methods.md §3.2):

    t_start = uniform over the gold starts inside the window        (window holds a gold)
            = uniform 1/n over the n positions of ``null_positions`` (otherwise)
    L = mean over windows ½ [−Σ_i t_start,i log softmax(s)_i − Σ_j t_end,j log softmax(e)_j]

``null_positions`` (where a no-answer window's uniform target lives):

* ``"padded"`` (default; paper "1/n over the sequence", reference code softmax(9999·y + eps)
  over all 384 padded positions): every position of the batch tensor, CLS and padding
  included. Departure: our batches are trimmed to the longest window (rounded up to 8), so
  n is that length, not always ``features.max_length``.
* ``"sequence"``: every real token (attention mask), CLS included, padding not.
* ``"no_cls"``: every real token but CLS (this module's default before issue 9).
* ``"context"``: the context tokens only (the tokens a span can occupy).

The softmax runs over every position, as in the standard loss and the reference code.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| start_positions, end_positions | (W,) | long |
| gold_start_multi, gold_end_multi | (W, L) | float multi-hot |
| has_answer | (W,) | bool |
| context_mask, attention_mask | (W, L) | bool / long |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.losses.output import LossOutput, detached

NULL_POSITIONS = ("padded", "sequence", "no_cls", "context")


class MleLoss(nn.Module):
    """Standard cross-entropy on the first gold answer's start and end tokens."""

    inputs = ("start_logits", "end_logits", "start_positions", "end_positions")

    def forward(
        self, start_logits: Tensor, end_logits: Tensor, start_positions: Tensor, end_positions: Tensor
    ) -> LossOutput:
        start = F.cross_entropy(start_logits, start_positions)  # scalar, mean over W
        end = F.cross_entropy(end_logits, end_positions)  # scalar, mean over W
        return LossOutput((start + end) / 2, detached(start=start, end=end))


def soft_targets(gold_multi: Tensor, has_answer: Tensor, null_positions: Tensor) -> Tensor:
    """Uniform over gold positions, or uniform over ``null_positions`` without a gold.  # (W, L)"""
    gold = gold_multi.float() * has_answer.unsqueeze(-1).float()  # (W, L)
    gold_count = gold.sum(-1, keepdim=True)  # (W, 1)
    null = null_positions.float()  # (W, L)
    null_count = null.sum(-1, keepdim=True).clamp(min=1)  # (W, 1)
    use_gold = gold_count > 0  # (W, 1)
    return torch.where(use_gold, gold / gold_count.clamp(min=1), null / null_count)  # (W, L)


def null_position_mask(context_mask: Tensor, attention_mask: Tensor, which: str) -> Tensor:
    """Positions the no-answer target spreads over (see ``NULL_POSITIONS``).  # (W, L) bool"""
    if which == "padded":
        return torch.ones_like(attention_mask, dtype=torch.bool)
    if which == "context":
        return context_mask.bool()
    base = attention_mask.bool().clone()  # (W, L)
    if which == "no_cls":
        base[:, 0] = False
    return base


def soft_cross_entropy(logits: Tensor, targets: Tensor, window_sum: bool = False) -> Tensor:
    """Mean (or, with ``window_sum``, sum) over windows of −Σ_i t_i log softmax(logits)_i."""
    log_probs = logits.log_softmax(-1)  # (W, L)
    per_window = -(targets * log_probs).sum(-1)  # (W,)
    return per_window.sum() if window_sum else per_window.mean()


class MleSoftLoss(nn.Module):
    """Soft-target CE: uniform over all gold starts/ends; uniform 1/n over ``null_positions`` otherwise."""

    inputs = (
        "start_logits",
        "end_logits",
        "gold_start_multi",
        "gold_end_multi",
        "has_answer",
        "context_mask",
        "attention_mask",
    )

    def __init__(self, null_positions: str = "padded") -> None:
        super().__init__()
        if null_positions not in NULL_POSITIONS:
            raise ValueError(f"mle_soft.null_positions: expected one of {NULL_POSITIONS}, got {null_positions!r}")
        self.null_positions = null_positions  # where a no-answer window's uniform target lives

    def forward(
        self,
        start_logits: Tensor,
        end_logits: Tensor,
        gold_start_multi: Tensor,
        gold_end_multi: Tensor,
        has_answer: Tensor,
        context_mask: Tensor,
        attention_mask: Tensor,
    ) -> LossOutput:
        null = null_position_mask(context_mask, attention_mask, self.null_positions)  # (W, L)
        start = soft_cross_entropy(start_logits, soft_targets(gold_start_multi, has_answer, null))
        end = soft_cross_entropy(end_logits, soft_targets(gold_end_multi, has_answer, null))
        return LossOutput((start + end) / 2, detached(start=start, end=end))
