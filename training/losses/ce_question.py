"""Question-conditional contrastive estimation over an instance bundle (docs/methods.md §2).

Paper: instance bundles + contrastive estimation (best variant in the paper). For every
bundle question q_g with gold a_g, compare q_g against the bundle's other questions on
the same answer:

    L_QC = −mean over questions [ log ψ(q_g, a_g) − log Σ_{q ∈ B_Q} ψ(q, a_g) ]

Different questions are different forward passes, so scores must be comparable across
questions: locally normalised (log-probability) scores are the default. A question whose
windows do not hold a_g drops out of the sum.

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


def question_conditional(grid: BundleGrid) -> tuple[Tensor, Tensor]:
    """Per-question −log softmax over the bundle questions at the gold answer.  # (B, Q), (B, Q)"""
    num_b, num_q, _ = grid.scores.shape
    valid = grid.gold_valid()  # (B, Q)
    gold = grid.gold.clamp(min=0).unsqueeze(1).expand(num_b, num_q, num_q)  # (B, Q', Q)
    column = grid.scores.gather(2, gold)  # (B, Q', Q): score of question q' on q's gold answer
    norm = logsumexp_masked(column, dim=1)  # (B, Q)
    loss = torch.where(valid, norm - grid.gold_scores(), torch.zeros_like(norm))  # (B, Q)
    return loss, valid


class CeQuestionLoss(BundleCeLoss):
    name = "ce_question"
    per_question = staticmethod(question_conditional)
