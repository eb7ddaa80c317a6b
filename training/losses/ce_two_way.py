"""Two-way contrastive estimation: λ1·answer-conditional + λ2·question-conditional (docs/methods.md §2).

    L = λ1 · L_AC + λ2 · L_QC          (λ1 = λ2 = 1 in the paper)

See ce_answer.py and ce_question.py for the two terms; both share one bundle grid.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| bundle_spans | (W, A, 2) | long |
| bundle_mask | (W, A) | bool |
| window_bundle, window_question, bundle_gold | (W,) | long (-1 none) |
| context_mask | (W, L) | bool |
"""

from __future__ import annotations

from torch import Tensor, nn

from training.losses.ce_answer import answer_conditional
from training.losses.ce_question import question_conditional
from training.losses.grouping import BUNDLE_INPUTS, bundle_grid
from training.losses.output import LossOutput, detached
from training.scores import masked_mean


class CeTwoWayLoss(nn.Module):
    inputs = BUNDLE_INPUTS
    activity = "questions"  # component counting what the term saw

    def __init__(self, answer_weight: float = 1.0, question_weight: float = 1.0, normalised: bool = True) -> None:
        super().__init__()
        self.answer_weight = answer_weight  # λ1 on the answer-conditional term
        self.question_weight = question_weight  # λ2 on the question-conditional term
        self.normalised = normalised  # locally normalised span scores (True) or raw s_i + e_j

    def forward(self, **batch: Tensor) -> LossOutput:
        grid = bundle_grid(**batch, normalised=self.normalised)
        ac_loss, valid = answer_conditional(grid)
        qc_loss, _ = question_conditional(grid)
        ac = masked_mean(ac_loss, valid)
        qc = masked_mean(qc_loss, valid)
        total = self.answer_weight * ac + self.question_weight * qc
        return LossOutput(total, detached(ce_answer=ac, ce_question=qc, questions=valid.sum().float()))
