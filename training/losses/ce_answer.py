"""Answer-conditional contrastive estimation over an instance bundle (docs/methods.md §2).

Paper: instance bundles + contrastive estimation (T5 on ROPES / HotpotQA). For every
bundle question q_g with gold answer a_g, compare the gold against the bundle's other
answers under the same question, ψ(q, a) = exp(score(q, a)):

    L_AC = −mean over questions [ log ψ(q_g, a_g) − log Σ_{a ∈ B_A} ψ(q_g, a) ]

score(q, a) is the logsumexp of the window span scores over q's windows holding a;
answers in none of q's windows drop out of the sum (grouping.py). Scores are locally
normalised by default (``normalised``); the loop adds MLE with its own weight.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| bundle_spans | (W, A, 2) | long |
| bundle_mask | (W, A) | bool |
| window_bundle, window_question, bundle_gold | (W,) | long (-1 none) |
| context_mask | (W, L) | bool |
| grid (internal) | (B, Q, A) | float |
"""

from __future__ import annotations

import torch
from torch import Tensor

from training.losses.grouping import BundleCeLoss, BundleGrid
from training.scores import logsumexp_masked


def answer_conditional(grid: BundleGrid) -> tuple[Tensor, Tensor]:
    """Per-question −log softmax over the bundle answers at the gold.  # (B, Q), (B, Q)"""
    valid = grid.gold_valid()  # (B, Q)
    norm = logsumexp_masked(grid.scores, dim=-1)  # (B, Q)
    loss = torch.where(valid, norm - grid.gold_scores(), torch.zeros_like(norm))  # (B, Q)
    return loss, valid


class CeAnswerLoss(BundleCeLoss):
    name = "ce_answer"
    per_question = staticmethod(answer_conditional)
