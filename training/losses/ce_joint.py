"""Joint contrastive estimation for bundles with two gold pairs, in log space (docs/methods.md §2.2).

For a bundle with exactly two gold-holding questions q1, q2 and distinct gold answers
a1 ≠ a2 (the numerator is the true assignment ψ11·ψ22 — NOT the crossed ψ12·ψ21 that
the public code appears to pick), with ψ(q, a) = exp(score(q, a)):

    L_joint = −mean over bundles [ log ψ(q1,a1)ψ(q2,a2) − log Σ_{(c, c') ∈ P} ψ(c)ψ(c') ]

The normaliser set P (``normaliser``):

* ``"all_cell_pairs"`` (default; the paper, docs/methods.md §2.2): C(B), every unordered
  pair {c, c'} of two distinct cells of B_Q × B_A, here the two questions' rows — for a
  2×2 bundle the 6 pairs {11,12}, {11,21}, {11,22}, {12,21}, {12,22}, {21,22}.
* ``"question_pairs"`` (ablation): every pair of cells (q1, a), (q2, a') over all bundle
  answers a, a' (a = a' included). This sum factorises into (Σ_a ψ(q1,a))(Σ_a' ψ(q2,a')),
  so the loss equals the sum of the two questions' answer-conditional losses — it is NOT
  the joint loss (it was this module's default before issue 9).
* ``"one_to_one"`` (ablation): the same pairs with a ≠ a' (the assignments joint
  inference chooses among).

Answers in none of a question's windows drop out. Bundles with other shapes (one gold
question, more than two, or equal golds) are skipped; ``bundles`` counts those used.
Locally normalised scores by default.

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
from torch import Tensor, nn

from training.losses.grouping import BUNDLE_INPUTS, BundleGrid, bundle_grid
from training.losses.output import LossOutput, detached
from training.scores import NEG_INF, logsumexp_masked, masked_mean

NORMALISERS = ("all_cell_pairs", "question_pairs", "one_to_one")


def pair_normaliser(row1: Tensor, row2: Tensor, normaliser: str) -> Tensor:
    """log Σ over the normaliser's pairs of cells of ψψ.  # (B,)"""
    num_b, num_a = row1.shape
    if normaliser == "all_cell_pairs":
        cells = torch.cat([row1, row2], dim=-1)  # (B, 2A)
        pairs = cells.unsqueeze(-1) + cells.unsqueeze(-2)  # (B, 2A, 2A)
        upper = torch.ones(2 * num_a, 2 * num_a, dtype=torch.bool, device=row1.device).triu(1)  # (2A, 2A)
    else:
        pairs = row1.unsqueeze(-1) + row2.unsqueeze(-2)  # (B, A, A): cell (q1, a) with (q2, a')
        upper = torch.ones(num_a, num_a, dtype=torch.bool, device=row1.device)  # (A, A)
        if normaliser == "one_to_one":
            upper &= ~torch.eye(num_a, dtype=torch.bool, device=row1.device)
    pairs = pairs.masked_fill(~upper, NEG_INF).reshape(num_b, -1)  # (B, P)
    return logsumexp_masked(pairs, dim=-1)  # (B,)


def joint(grid: BundleGrid, normaliser: str) -> tuple[Tensor, Tensor]:
    """Per-bundle joint loss and which bundles are eligible.  # (B,), (B,)"""
    num_b, num_q, num_a = grid.scores.shape
    valid = grid.gold_valid()  # (B, Q)
    if num_q < 2:
        zero = grid.scores.sum(dim=(1, 2)) * 0  # (B,) attached to the graph
        return zero, torch.zeros(num_b, dtype=torch.bool, device=grid.scores.device)
    order = torch.sort((~valid).to(torch.uint8), dim=1, stable=True).indices[:, :2]  # (B, 2) first two valid
    rows = grid.scores.gather(1, order.unsqueeze(-1).expand(num_b, 2, num_a))  # (B, 2, A)
    gold = grid.gold.gather(1, order)  # (B, 2)
    eligible = (valid.sum(1) == 2) & (gold[:, 0] != gold[:, 1])  # (B,)
    gold_cells = rows.gather(2, gold.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, 2)
    numerator = gold_cells.sum(-1)  # (B,)
    denominator = pair_normaliser(rows[:, 0], rows[:, 1], normaliser)  # (B,)
    loss = torch.where(eligible, denominator - numerator, torch.zeros_like(numerator))  # (B,)
    return loss, eligible


class CeJointLoss(nn.Module):
    inputs = BUNDLE_INPUTS
    activity = "bundles"  # component counting what the term saw

    def __init__(self, normaliser: str = "all_cell_pairs", normalised: bool = True) -> None:
        super().__init__()
        if normaliser not in NORMALISERS:
            raise ValueError(f"ce_joint.normaliser: expected one of {NORMALISERS}, got {normaliser!r}")
        self.normaliser = normaliser  # which pairs of cells form the partition function
        self.normalised = normalised  # locally normalised span scores (True) or raw s_i + e_j

    def forward(self, **batch: Tensor) -> LossOutput:
        grid = bundle_grid(**batch, normalised=self.normalised)
        loss, eligible = joint(grid, self.normaliser)
        total = masked_mean(loss, eligible)
        return LossOutput(total, detached(ce_joint=total, bundles=eligible.sum().float()))
