"""Soft-target QA loss + sequence-tagging loss, as the reference sums them (docs/methods.md §3.2).

Paper: robust training for unanswerable questions (SQuAD 2.0); public code
sonqt/robust_qa `code/robust_qa_models.py` (`QALossFunction`, `SequenceTaggingLossFunction`).
Two terms, each the mean of its start and end halves:

    L_QA  = ½ Σ_w [ −Σ_i t^s_w,i log softmax(s_w)_i − Σ_j t^e_w,j log softmax(e_w)_j ]
            t = soft targets of mle.py: uniform over the window's gold starts (ends); uniform
            1/n over ``null_positions`` when the window holds no gold
    L_tag = ½ Σ_w Σ_{t ∈ tagged} [ BCE⁺(s_w,t, y^s_w,t) + BCE⁺(e_w,t, y^e_w,t) ]
            BCE⁺(x, y) = −[p·y·log σ(x) + (1 − y)·log(1 − σ(x))],  p = ``pos_weight`` = 2,
            y = multi-hot gold starts (ends), all zero in a window without a gold
    total = 2·L_QA + 1·L_tag          (``qa_weight``, ``tag_weight``: reference defaults)

``reduction`` (how windows and positions are combined):

* ``"sum"`` (default; reference ``reduction='sum'`` in both losses): as written above,
  summed over windows and, for the tagging term, over tagged positions. Near
  initialisation the tagging term dominates (≈ L·log 2 per window against ≈ log L).
* ``"window_mean"``: the same per-window sums, averaged over windows (same QA/tag ratio,
  independent of the batch size).
* ``"token_mean"``: QA averaged over windows and tagging averaged over tagged tokens —
  this module's form before issue 9, which made the tagging share ~380× smaller.

Tagged positions (``tag_positions``, same choices as ``null_positions`` in mle.py):
``"padded"`` (default, reference: every position of the padded input) — departure: our
batches are trimmed to the longest window rounded up to 8, so the padded length (and
with ``"sum"`` the term's size) follows the batch, not a constant 384.
Unanswerable windows have all-zero tags, so the tagging term pushes every logit negative;
inference outputs "" when the best span score s_i + e_j < 0 (null rule ``negative_score``).

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| gold_start_multi, gold_end_multi | (W, L) | float multi-hot |
| has_answer | (W,) | bool |
| context_mask, attention_mask | (W, L) | bool / long |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.losses.mle import NULL_POSITIONS, null_position_mask, soft_cross_entropy, soft_targets
from training.losses.output import LossOutput, detached
from training.scores import masked_mean

REDUCTIONS = ("sum", "window_mean", "token_mean")


def tagging_bce(logits: Tensor, tags: Tensor, positions: Tensor, pos_weight: float, reduction: str) -> Tensor:
    """Per-token BCE with a positive weight over ``positions``, reduced as ``reduction`` says."""
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    # (W, L)
    per_token = F.binary_cross_entropy_with_logits(logits, tags.to(logits.dtype), pos_weight=weight, reduction="none")
    if reduction == "token_mean":
        return masked_mean(per_token, positions)
    summed = torch.where(positions, per_token, torch.zeros_like(per_token)).sum(-1)  # (W,)
    return summed.sum() if reduction == "sum" else summed.mean()


class RobustTaggingLoss(nn.Module):
    inputs = (
        "start_logits",
        "end_logits",
        "gold_start_multi",
        "gold_end_multi",
        "has_answer",
        "context_mask",
        "attention_mask",
    )

    def __init__(
        self,
        qa_weight: float = 2.0,
        tag_weight: float = 1.0,
        pos_weight: float = 2.0,
        null_positions: str = "padded",
        tag_positions: str = "padded",
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        for name, value in (("null_positions", null_positions), ("tag_positions", tag_positions)):
            if value not in NULL_POSITIONS:
                raise ValueError(f"robust_tagging.{name}: expected one of {NULL_POSITIONS}, got {value!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"robust_tagging.reduction: expected one of {REDUCTIONS}, got {reduction!r}")
        if pos_weight <= 0:
            raise ValueError(f"robust_tagging.pos_weight: expected > 0, got {pos_weight}")
        self.qa_weight = qa_weight  # weight of the soft-target QA term (reference qa_lambda = 2)
        self.tag_weight = tag_weight  # weight of the BCE tagging term (reference tagging_lambda = 1)
        self.pos_weight = pos_weight  # BCE weight on positive (gold) tokens (reference 2)
        self.null_positions = null_positions  # where a no-answer window's uniform target lives
        self.tag_positions = tag_positions  # which positions the tagging BCE covers
        self.reduction = reduction  # sum (reference), window_mean or token_mean

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
        window_sum = self.reduction == "sum"
        qa_start = soft_cross_entropy(start_logits, soft_targets(gold_start_multi, has_answer, null), window_sum)
        qa_end = soft_cross_entropy(end_logits, soft_targets(gold_end_multi, has_answer, null), window_sum)
        qa = (qa_start + qa_end) / 2
        tagged = null_position_mask(context_mask, attention_mask, self.tag_positions)  # (W, L)
        start_tags = gold_start_multi * has_answer.unsqueeze(-1)  # (W, L)
        end_tags = gold_end_multi * has_answer.unsqueeze(-1)  # (W, L)
        tag = (
            tagging_bce(start_logits, start_tags, tagged, self.pos_weight, self.reduction)
            + tagging_bce(end_logits, end_tags, tagged, self.pos_weight, self.reduction)
        ) / 2
        total = self.qa_weight * qa + self.tag_weight * tag
        return LossOutput(total, detached(qa=qa, tag=tag))
