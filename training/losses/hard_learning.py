"""Hard learning over a baseline model's top-k candidate spans (docs/methods.md §5).

Paper: hard-learning + answer-aware contrastive learning (XLM-R on MLQA/XQuAD). Z is the
baseline's top-k spans per question (the ``topk`` artifact; the gold replaces the last
slot when missing — ``data.topk_force_gold``, required by the config check). With
P(z) = P_start(i)·P_end(j) (locally normalised over context+CLS, summed over the
question's windows that hold z):

    match-type (default):  L_hard = −Σ_{l ∈ Z} w_l log P(z_l)
    mml (ablation):        L_hard = −log Σ_{l ∈ Z} P(z_l)

The paper says the weights are learnable and states the intent — the gold must be learned,
spans matching only the gold's start or only its end, or neither, must get lower
probability — but not how w is parameterised. This project's reading (issue 9, defect 4):
each candidate has a match type τ(l) ∈ {gold, partial (same start xor same end token as the
gold), none}; the types share the weight and a type's share is split equally among its
candidates in the example:

    W = m·e_gold + (1 − m)·softmax(θ),  θ ∈ R³ learnable (init 0),  m = ``min_gold_share``
    w_l = W_τ(l) / n_τ(l)            (W renormalised over the types present in the example)

Why this serves the intent: with P = P_start·P_end, minimising −Σ w_l log P(z_l) drives
P_start (P_end) towards the weights gathered on each start (end) token, so the gold's
tokens receive at least m of the target mass whatever θ learns, and a candidate's target
shrinks with its type's share. Free per-rank-slot weights (the old form) either spread the
mass over all 20 candidates or, learned, collapse onto the baseline's wrong top-1; θ here
can only move the remaining 1 − m between the three types. θ trains at its own learning
rate ``weight_lr`` (the loop puts loss parameters in their own optimizer group).

A candidate is gold when the artifact flags it (``topk_is_gold``, text-level) or it has the
window's gold token span. Examples whose Z holds no gold are left out (``no_gold`` counts
them; with ``data.topk_force_gold`` only unanswerable examples can be such).

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float |
| topk_spans | (W, Z, 2) | long |
| topk_mask, topk_is_gold | (W, Z) | bool |
| start_positions, end_positions | (W,) | long, first gold span (0 = none in the window) |
| has_answer | (W,) | bool |
| window_example | (W,) | long |
| context_mask | (W, L) | bool |
| theta (parameter) | (3,) | float: gold, partial, none |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.losses.grouping import group_logsumexp
from training.losses.output import LossOutput, detached
from training.scores import logsumexp_masked, masked_mean, span_scores

MODES = ("match_type", "mml")
GOLD, PARTIAL, NONE = 0, 1, 2  # match types, the order of θ


def match_types(
    topk_spans: Tensor,
    topk_mask: Tensor,
    topk_is_gold: Tensor,
    start_positions: Tensor,
    end_positions: Tensor,
    has_answer: Tensor,
    window_example: Tensor,
    num_examples: int,
) -> Tensor:
    """Match type of every (example, slot): 0 gold, 1 partial, 2 none; -1 slot absent.  # (E, Z)"""
    gold_here = (has_answer.bool() & (start_positions > 0)).unsqueeze(1)  # (W, 1)
    same_start = topk_spans[..., 0] == start_positions.unsqueeze(1)  # (W, Z)
    same_end = topk_spans[..., 1] == end_positions.unsqueeze(1)  # (W, Z)
    gold = topk_is_gold.bool() | (gold_here & same_start & same_end)  # (W, Z)
    partial = gold_here & (same_start ^ same_end)  # (W, Z)
    rank = torch.where(gold, 3, torch.where(partial, 2, 1)) * topk_mask.bool()  # (W, Z) 0 = absent
    ids = torch.arange(num_examples, device=rank.device)
    member = window_example.unsqueeze(0) == ids.unsqueeze(1)  # (E, W)
    best = (rank.unsqueeze(0) * member.unsqueeze(-1)).amax(1)  # (E, Z) best evidence over the windows
    return torch.where(best > 0, 3 - best, -1)


class HardLearningLoss(nn.Module):
    activity = "examples"  # component counting what the term saw
    # Read by training.config.check_losses, whatever the weight: setting -> (required value, why) ...
    requires = {"data.topk_force_gold": (True, "the gold is always in Z")}
    # ... and constructor setting -> the config field it must equal.
    equals_config = {"num_slots": "features.max_topk"}
    inputs = (
        "start_logits",
        "end_logits",
        "topk_spans",
        "topk_mask",
        "topk_is_gold",
        "start_positions",
        "end_positions",
        "has_answer",
        "window_example",
        "context_mask",
    )

    def __init__(
        self, num_slots: int = 20, mode: str = "match_type", min_gold_share: float = 0.6, weight_lr: float = 1e-3
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"hard_learning.mode: expected one of {MODES}, got {mode!r}")
        if num_slots < 1:
            raise ValueError(f"hard_learning.num_slots: expected >= 1, got {num_slots}")
        if not 0.0 <= min_gold_share <= 1.0:
            raise ValueError(f"hard_learning.min_gold_share: expected in [0, 1], got {min_gold_share}")
        if weight_lr < 0:
            raise ValueError(f"hard_learning.weight_lr: expected >= 0, got {weight_lr}")
        self.num_slots = num_slots  # Z: candidates per question (must equal features.max_topk)
        self.mode = mode  # match-type weights, or plain MML (the paper's ablation)
        self.min_gold_share = min_gold_share  # m: target share the gold keeps whatever θ learns
        self.param_lr = weight_lr  # learning rate of θ (its own optimizer group)
        self.theta = nn.Parameter(torch.zeros(3))  # match-type logits θ (gold, partial, none)

    def type_shares(self) -> Tensor:
        """W = m·e_gold + (1 − m)·softmax(θ).  # (3,)"""
        gold = torch.zeros(3, dtype=self.theta.dtype, device=self.theta.device)
        gold[GOLD] = 1.0
        return self.min_gold_share * gold + (1 - self.min_gold_share) * self.theta.softmax(-1)

    def forward(
        self,
        start_logits: Tensor,
        end_logits: Tensor,
        topk_spans: Tensor,
        topk_mask: Tensor,
        topk_is_gold: Tensor,
        start_positions: Tensor,
        end_positions: Tensor,
        has_answer: Tensor,
        window_example: Tensor,
        context_mask: Tensor,
    ) -> LossOutput:
        num_slots = topk_spans.shape[1]
        if num_slots != self.num_slots:
            raise ValueError(f"hard_learning.num_slots: is {self.num_slots} but topk_spans has {num_slots} slots")
        scores = span_scores(start_logits, end_logits, topk_spans, topk_mask, True, context_mask)  # (W, Z)
        num_e = int(window_example.max()) + 1 if window_example.numel() else 0
        log_p = group_logsumexp(scores, window_example, num_e)  # (E, Z) log P(z) per example
        types = match_types(
            topk_spans, topk_mask, topk_is_gold, start_positions, end_positions, has_answer, window_example, num_e
        )  # (E, Z)
        slot_ok = torch.isfinite(log_p) & (types >= 0)  # (E, Z)
        has_gold = (slot_ok & (types == GOLD)).any(-1)  # (E,)
        if self.mode == "mml":
            example_ok = slot_ok.any(-1)  # (E,)
            per_example = -logsumexp_masked(log_p.masked_fill(~slot_ok, float("-inf")), dim=-1)  # (E,)
        else:
            example_ok = has_gold
            one_hot = (types.clamp(min=0).unsqueeze(-1) == torch.arange(3, device=types.device)) & slot_ok.unsqueeze(-1)
            counts = one_hot.sum(1).to(log_p.dtype)  # (E, 3) candidates per type
            shares = self.type_shares().to(log_p.dtype) * (counts > 0)  # (E, 3) types present
            shares = shares / shares.sum(-1, keepdim=True).clamp(min=1e-12)
            per_type = shares / counts.clamp(min=1)  # (E, 3) weight of one candidate of each type
            weights = (one_hot.to(log_p.dtype) * per_type.unsqueeze(1)).sum(-1)  # (E, Z)
            safe_log_p = torch.where(slot_ok, log_p, torch.zeros_like(log_p))  # (E, Z)
            per_example = -(weights * safe_log_p).sum(-1)  # (E,)
        total = masked_mean(per_example, example_ok)
        shares = self.type_shares().detach()
        return LossOutput(
            total,
            detached(
                hard=total,
                examples=example_ok.sum().float(),
                no_gold=(slot_ok.any(-1) & ~has_gold).sum().float(),
                gold_share=shares[GOLD],
                partial_share=shares[PARTIAL],
                none_share=shares[NONE],
            ),
        )
