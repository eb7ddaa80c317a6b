"""Span hinge loss against near-miss hard negatives (docs/methods.md §1).

Paper: contrastive training with near-miss negatives (ELECTRA-small, SQuAD 1.1). For every
valid (gold, negative) pair — a negative counts only in a window that holds both it and
the gold, which ``neg_mask`` already encodes (and ``has_answer`` re-checks):

    L_CL = mean over pairs max(0, m − (score(gold) − score(neg))),   m = 0.25

This module returns L_CL only. The method's total is L_QA + α·L_CL with α = 0.1: the
config lists ``mle`` with weight 1 and ``span_hinge`` with weight 0.1 and the loop sums them.

Score form: ``normalised=False`` (raw s_i + e_j, default) or locally normalised. Both give
the same margin here, because gold and negative always sit in the same window and the
per-window log-partition cancels in score(gold) − score(neg); the option exists so the
scale can be matched to other losses if that ever changes.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| start_positions, end_positions | (W,) | long, the gold span |
| neg_spans | (W, K, 2) | long |
| neg_mask | (W, K) | bool |
| has_answer | (W,) | bool |
| context_mask | (W, L) | bool |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.losses.output import LossOutput, detached
from training.scores import masked_mean, span_scores


class SpanHingeLoss(nn.Module):
    activity = "pairs"  # component counting what the term saw; 0 on every step = it never trained
    inputs = (
        "start_logits",
        "end_logits",
        "start_positions",
        "end_positions",
        "neg_spans",
        "neg_mask",
        "has_answer",
        "context_mask",
    )

    def __init__(self, margin: float = 0.25, normalised: bool = False) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"span_hinge.margin: expected >= 0, got {margin}")
        self.margin = margin  # m: required gap between gold and negative scores
        self.normalised = normalised  # span score form (identical margins, see docstring)

    def forward(
        self,
        start_logits: Tensor,
        end_logits: Tensor,
        start_positions: Tensor,
        end_positions: Tensor,
        neg_spans: Tensor,
        neg_mask: Tensor,
        has_answer: Tensor,
        context_mask: Tensor,
    ) -> LossOutput:
        gold_span = torch.stack([start_positions, end_positions], dim=-1).unsqueeze(1)  # (W, 1, 2)
        gold_ok = (has_answer.bool() & (start_positions > 0)).unsqueeze(1)  # (W, 1) gold span is in the window
        gold = span_scores(start_logits, end_logits, gold_span, gold_ok, self.normalised, context_mask)  # (W, 1)
        pairs = neg_mask.bool() & gold_ok  # (W, K)
        neg = span_scores(start_logits, end_logits, neg_spans, pairs, self.normalised, context_mask)  # (W, K)
        gap = torch.where(pairs, gold - neg, torch.zeros_like(neg))  # (W, K)
        hinge = (self.margin - gap).clamp(min=0)  # (W, K)
        loss = masked_mean(hinge, pairs)
        active = (hinge > 0) & pairs  # (W, K)
        return LossOutput(
            loss,
            detached(hinge=loss, pairs=pairs.sum().float(), violated=active.sum().float()),
        )
