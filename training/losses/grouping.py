"""Group window-level span scores into per-question (or per-example) scores.

A question usually spans several windows. The score of an answer for a question is the
logsumexp of its window scores over that question's windows that contain it (a window
that does not contain the answer contributes -inf, i.e. nothing). An answer found in no
window of the question scores -inf and drops out of every normaliser.

| name | shape | meaning |
| --- | --- | --- |
| scores | (W, A) | window-level span scores, -inf where the span is not in the window |
| window_bundle, window_question | (W,) | bundle index and question index inside it (-1 none) |
| bundle_gold | (W,) | gold answer index among the bundle answers (-1 none) |
| grid.scores | (B, Q, A) | per-question answer scores |
| grid.gold | (B, Q) | gold answer index (-1 none) |
| grid.present | (B, Q) | the question has at least one window in the batch |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from training.losses.output import LossOutput, detached
from training.scores import NEG_INF, logsumexp_masked, masked_mean, span_scores


@dataclass(frozen=True)
class BundleGrid:
    scores: Tensor  # (B, Q, A) per-question answer scores, -inf = answer in none of its windows
    gold: Tensor  # (B, Q) long gold answer index, -1 when the question has none
    present: Tensor  # (B, Q) bool the question has a window in the batch

    def gold_scores(self) -> Tensor:
        """Score of each question's gold answer, -inf where there is none.  # (B, Q)"""
        picked = self.scores.gather(-1, self.gold.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, Q)
        return picked.masked_fill(self.gold < 0, NEG_INF)

    def gold_valid(self) -> Tensor:
        """Questions that are present, have a gold answer, and see it in some window.  # (B, Q)"""
        return self.present & (self.gold >= 0) & torch.isfinite(self.gold_scores())


def group_logsumexp(scores: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """out[g, n] = logsumexp of scores[w, n] over windows w with group[w] == g.  # (G, N)"""
    ids = torch.arange(num_groups, device=scores.device)  # (G,)
    member = group.unsqueeze(0) == ids.unsqueeze(1)  # (G, W)
    cells = scores.unsqueeze(0).masked_fill(~member.unsqueeze(-1), NEG_INF)  # (G, W, N)
    return logsumexp_masked(cells, dim=1)  # (G, N)


def question_answer_grid(
    scores: Tensor, window_bundle: Tensor, window_question: Tensor, bundle_gold: Tensor
) -> BundleGrid:
    """Per-question answer scores for every bundle in the batch."""
    in_bundle = (window_bundle >= 0) & (window_question >= 0)  # (W,)
    num_answers = scores.shape[-1]
    if not bool(in_bundle.any()):
        empty = scores[:0].unsqueeze(0)  # (1, 0, A), still attached to the graph
        return BundleGrid(empty, window_bundle.new_zeros((1, 0)), in_bundle.new_zeros((1, 0)))
    num_b = int(window_bundle.max()) + 1
    num_q = int(window_question.max()) + 1
    group = torch.where(in_bundle, window_bundle * num_q + window_question, -1)  # (W,)
    grid = group_logsumexp(scores, group, num_b * num_q).view(num_b, num_q, num_answers)  # (B, Q, A)
    gold = torch.full((num_b * num_q,), -1, dtype=torch.long, device=scores.device)  # (B*Q,)
    gold[group[in_bundle]] = bundle_gold[in_bundle].long()
    present = torch.zeros(num_b * num_q, dtype=torch.bool, device=scores.device)  # (B*Q,)
    present[group[in_bundle]] = True
    return BundleGrid(grid, gold.view(num_b, num_q), present.view(num_b, num_q))


BUNDLE_INPUTS = (
    "start_logits",
    "end_logits",
    "bundle_spans",
    "bundle_mask",
    "window_bundle",
    "window_question",
    "bundle_gold",
    "context_mask",
)


def bundle_grid(
    start_logits: Tensor,
    end_logits: Tensor,
    bundle_spans: Tensor,
    bundle_mask: Tensor,
    window_bundle: Tensor,
    window_question: Tensor,
    bundle_gold: Tensor,
    context_mask: Tensor,
    normalised: bool,
) -> BundleGrid:
    """Span scores of every bundle answer in every window, grouped per bundle question."""
    scores = span_scores(start_logits, end_logits, bundle_spans, bundle_mask, normalised, context_mask)  # (W, A)
    return question_answer_grid(scores, window_bundle, window_question, bundle_gold)


class BundleCeLoss(nn.Module):
    """Shared body of the bundle contrastive-estimation losses (answer-, question-conditional, full).

    A subclass sets `name` (the component logged) and `per_question(grid) -> (loss, valid)`,
    both (B, Q); the total is the mean over the valid bundle questions.
    """

    inputs = BUNDLE_INPUTS
    activity = "questions"  # component counting what the term saw
    name = ""

    def __init__(self, normalised: bool = True) -> None:
        super().__init__()
        self.normalised = normalised  # locally normalised span scores (True) or raw s_i + e_j

    @staticmethod
    def per_question(grid: BundleGrid) -> tuple[Tensor, Tensor]:
        raise NotImplementedError  # each subclass gives its formula

    def forward(self, **batch: Tensor) -> LossOutput:
        grid = bundle_grid(**batch, normalised=self.normalised)
        loss, valid = self.per_question(grid)  # (B, Q), (B, Q)
        total = masked_mean(loss, valid)
        return LossOutput(total, detached(**{self.name: total}, questions=valid.sum().float()))
