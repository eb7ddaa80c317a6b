"""Unlikelihood term over an instance bundle's negative answers (docs/methods.md §2).

For every bundle question q with gold a_g, push down the probability of the bundle's
other answers (Welleck et al. 2020 unlikelihood, as used with instance bundles):

    L_UL = mean over questions [ −Σ_{a ∈ B_A, a ≠ a_g} log(1 − p(a | q)) ]

p(a | q) = Σ over q's windows holding a of P_start(i)·P_end(j) (locally normalised, so
probabilities; clamped below 1). Answers in none of q's windows contribute nothing.
The method's objective is MLE + UL: the config lists ``mle`` and ``unlikelihood`` with
their weights and the loop sums them.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| bundle_spans | (W, A, 2) | long |
| bundle_mask | (W, A) | bool |
| window_bundle, window_question, bundle_gold | (W,) | long (-1 none) |
| context_mask | (W, L) | bool |
| grid (internal) | (B, Q, A) | float log p(a | q) |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.losses.grouping import BUNDLE_INPUTS, bundle_grid
from training.losses.output import LossOutput, detached
from training.scores import masked_mean


class UnlikelihoodLoss(nn.Module):
    inputs = BUNDLE_INPUTS
    activity = "negatives"  # component counting what the term saw

    def __init__(self, max_probability: float = 1.0 - 1e-6) -> None:
        super().__init__()
        if not 0.0 < max_probability < 1.0:
            raise ValueError(f"unlikelihood.max_probability: expected in (0, 1), got {max_probability}")
        self.max_probability = max_probability  # clamp on p(a|q) so log(1 − p) stays finite

    def forward(self, **batch: Tensor) -> LossOutput:
        grid = bundle_grid(**batch, normalised=True)
        num_a = grid.scores.shape[-1]
        questions = grid.present & (grid.gold >= 0)  # (B, Q)
        answers = torch.arange(num_a, device=grid.scores.device)  # (A,)
        negative = (answers.view(1, 1, -1) != grid.gold.unsqueeze(-1)) & torch.isfinite(grid.scores)  # (B, Q, A)
        negative &= questions.unsqueeze(-1)
        prob = grid.scores.exp().clamp(max=self.max_probability)  # (B, Q, A)
        term = torch.where(negative, -torch.log1p(-prob), torch.zeros_like(prob))  # (B, Q, A)
        total = masked_mean(term.sum(-1), questions)
        return LossOutput(
            total, detached(unlikelihood=total, negatives=negative.sum().float(), questions=questions.sum().float())
        )
