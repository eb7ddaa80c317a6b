"""Full-partition contrastive estimation over an instance bundle (docs/methods.md §2).

For every bundle question q_g with gold a_g, one softmax over the gold cell and every
non-gold cell (q, a) of the bundle (a is not q's gold; cells of other questions' gold
pairs are left out, they are positives of their own terms):

    L_full = −mean over questions [ log ψ(q_g, a_g)
                                    − log( ψ(q_g, a_g) + Σ_{(q,a): a ≠ gold(q)} ψ(q, a) ) ]

Cells compare different questions, so scores are locally normalised by default.

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
from training.scores import NEG_INF, logsumexp_masked


def full_partition(grid: BundleGrid) -> tuple[Tensor, Tensor]:
    """Per-question −log softmax over {gold cell} ∪ {all non-gold cells of the bundle}.  # (B, Q)"""
    num_b, num_q, num_a = grid.scores.shape
    valid = grid.gold_valid()  # (B, Q)
    answers = torch.arange(num_a, device=grid.scores.device)  # (A,)
    non_gold = answers.view(1, 1, -1) != grid.gold.unsqueeze(-1)  # (B, Q, A)
    others = grid.scores.masked_fill(~non_gold, NEG_INF).reshape(num_b, num_q * num_a)  # (B, Q*A)
    others = logsumexp_masked(others, dim=-1).unsqueeze(1).expand(num_b, num_q)  # (B, Q)
    gold = grid.gold_scores()  # (B, Q)
    norm = logsumexp_masked(torch.stack([gold, others], dim=-1), dim=-1)  # (B, Q)
    loss = torch.where(valid, norm - gold, torch.zeros_like(norm))  # (B, Q)
    return loss, valid


class CeFullLoss(BundleCeLoss):
    name = "ce_full"
    per_question = staticmethod(full_partition)
