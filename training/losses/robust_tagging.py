"""Uniform-null soft-target QA loss + per-token tagging loss (METHODS.md §3).

Paper: robust training for unanswerable questions (SQuAD 2.0). Two terms:

    L_QA  = soft-target CE of mle.py (uniform over gold starts/ends; uniform 1/n over the
            non-CLS answer positions when the window holds no answer)
    L_tag = mean over tagged tokens and both heads of
            BCE_with_logits(x_t, y_t; pos_weight) = −[w·y_t·log σ(x_t) + (1 − y_t)·log(1 − σ(x_t))]
            with x = start (resp. end) logits, y = gold_start_multi (resp. gold_end_multi), w = 2
    total = 2·L_QA + 1·L_tag      (``qa_weight``, ``tag_weight``)

Unanswerable windows have all-zero tags, so the tagging term pushes every logit negative;
inference outputs "" when the best span score s_i + e_j < 0. Tagged tokens are every real
token (``tag_positions="all"``, default: "every logit" in METHODS.md) or only the context
tokens (``"context"``). ``null_positions`` is the same setting as in ``mle_soft``.

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


def tagging_bce(logits: Tensor, tags: Tensor, positions: Tensor, pos_weight: float) -> Tensor:
    """Per-token BCE with a positive weight, mean over ``positions``."""
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    per_token = F.binary_cross_entropy_with_logits(
        logits, tags.to(logits.dtype), pos_weight=weight, reduction="none"
    )  # (W, L)
    return masked_mean(per_token, positions)


class RobustTaggingLoss(nn.Module):
    inputs = (
        "start_logits", "end_logits", "gold_start_multi", "gold_end_multi",
        "has_answer", "context_mask", "attention_mask",
    )

    def __init__(
        self, qa_weight: float = 2.0, tag_weight: float = 1.0, pos_weight: float = 2.0,
        null_positions: str = "all", tag_positions: str = "all",
    ) -> None:
        super().__init__()
        for name, value in (("null_positions", null_positions), ("tag_positions", tag_positions)):
            if value not in NULL_POSITIONS:
                raise ValueError(f"robust_tagging.{name}: expected one of {NULL_POSITIONS}, got {value!r}")
        if pos_weight <= 0:
            raise ValueError(f"robust_tagging.pos_weight: expected > 0, got {pos_weight}")
        self.qa_weight = qa_weight  # weight of the uniform-null soft-target QA term
        self.tag_weight = tag_weight  # weight of the per-token BCE tagging term
        self.pos_weight = pos_weight  # BCE weight on positive (gold) tokens
        self.null_positions = null_positions  # where a no-answer window's uniform target lives
        self.tag_positions = tag_positions  # which tokens the tagging BCE covers

    def forward(
        self, start_logits: Tensor, end_logits: Tensor, gold_start_multi: Tensor, gold_end_multi: Tensor,
        has_answer: Tensor, context_mask: Tensor, attention_mask: Tensor,
    ) -> LossOutput:
        null = null_position_mask(context_mask, attention_mask, self.null_positions)  # (W, L)
        qa_start = soft_cross_entropy(start_logits, soft_targets(gold_start_multi, has_answer, null))
        qa_end = soft_cross_entropy(end_logits, soft_targets(gold_end_multi, has_answer, null))
        qa = (qa_start + qa_end) / 2
        tagged = (context_mask if self.tag_positions == "context" else attention_mask).bool()  # (W, L)
        start_tags = gold_start_multi * has_answer.unsqueeze(-1)  # (W, L)
        end_tags = gold_end_multi * has_answer.unsqueeze(-1)  # (W, L)
        tag = (
            tagging_bce(start_logits, start_tags, tagged, self.pos_weight)
            + tagging_bce(end_logits, end_tags, tagged, self.pos_weight)
        ) / 2
        total = self.qa_weight * qa + self.tag_weight * tag
        return LossOutput(total, detached(qa=qa, tag=tag))
