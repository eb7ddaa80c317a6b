"""Hard learning over a baseline model's top-k candidate spans (METHODS.md §5).

Paper: hard-learning + answer-aware contrastive learning (XLM-R on MLQA/XQuAD). Z is the
baseline's top-k spans per question (the ``topk`` artifact; the gold replaces the last
slot when missing). With P(z) = P_start(i)·P_end(j) (locally normalised over context+CLS,
summed over the question's windows that hold z):

    weighted (default):  L_hard = −Σ_l w_l log P(z_l),   w = softmax(θ) over rank slots
    mml (ablation):      L_hard = −log Σ_l P(z_l)

θ ∈ R^Z is a learnable parameter initialised to 0 (uniform weights); the paper does not
say how w is constrained, softmax is the documented default. Slots whose span lies in
none of the question's windows are dropped and the softmax renormalises over the rest.
Note: nothing stops θ from concentrating on the easiest slot; that is the paper's design.
This module owns θ, so the loop must hand ``loss.parameters()`` to the optimizer.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| topk_spans | (W, Z, 2) | long |
| topk_mask | (W, Z) | bool |
| window_example | (W,) | long |
| context_mask | (W, L) | bool |
| theta (parameter) | (Z,) | float |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.losses.grouping import group_logsumexp
from training.losses.output import LossOutput, detached
from training.scores import NEG_INF, logsumexp_masked, masked_mean, span_scores

MODES = ("weighted", "mml")


class HardLearningLoss(nn.Module):
    inputs = ("start_logits", "end_logits", "topk_spans", "topk_mask", "window_example", "context_mask")

    def __init__(self, num_slots: int = 20, mode: str = "weighted") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"hard_learning.mode: expected one of {MODES}, got {mode!r}")
        if num_slots < 1:
            raise ValueError(f"hard_learning.num_slots: expected >= 1, got {num_slots}")
        self.mode = mode  # softmax-weighted rank slots, or plain MML
        self.theta = nn.Parameter(torch.zeros(num_slots))  # rank-slot logits θ (weights = softmax θ)

    def forward(
        self, start_logits: Tensor, end_logits: Tensor, topk_spans: Tensor, topk_mask: Tensor,
        window_example: Tensor, context_mask: Tensor,
    ) -> LossOutput:
        num_slots = topk_spans.shape[1]
        if num_slots != self.theta.shape[0]:
            raise ValueError(f"hard_learning.num_slots: is {self.theta.shape[0]} but topk_spans has {num_slots} slots")
        scores = span_scores(start_logits, end_logits, topk_spans, topk_mask, True, context_mask)  # (W, Z)
        num_e = int(window_example.max()) + 1 if window_example.numel() else 0
        log_p = group_logsumexp(scores, window_example, num_e)  # (E, Z) log P(z) per example
        slot_ok = torch.isfinite(log_p)  # (E, Z)
        example_ok = slot_ok.any(-1)  # (E,)
        if self.mode == "mml":
            per_example = -logsumexp_masked(log_p, dim=-1)  # (E,)
        else:
            theta = self.theta.to(log_p.dtype).expand_as(log_p).masked_fill(~slot_ok, NEG_INF)  # (E, Z)
            weights = torch.where(example_ok.unsqueeze(-1), theta, torch.zeros_like(theta)).softmax(-1)  # (E, Z)
            safe_log_p = torch.where(slot_ok, log_p, torch.zeros_like(log_p))  # (E, Z)
            per_example = -(weights * safe_log_p).sum(-1)  # (E,)
        total = masked_mean(per_example, example_ok)
        slot_weights = self.theta.detach().softmax(-1)
        return LossOutput(
            total,
            detached(hard=total, examples=example_ok.sum().float(), top_slot_weight=slot_weights.max()),
        )
