"""Answer-aware contrastive learning (AA-CL) with the current model's hard negatives (docs/methods.md §5).

Paper: hard-learning + answer-aware contrastive learning (XLM-R, MLQA/XQuAD). At every
update, for each window w that holds its gold span g_w:

1. candidates = the CURRENT model's top-``num_candidates`` spans of w (from the n_best
   starts × n_best ends over context tokens, start ≤ end < start + max_answer_length),
   selected under no_grad from the start/end logits passed in;
2. candidates that are the gold are excluded: same token positions as (start_positions,
   end_positions), same token ids as the gold span (same text), or equal to a ``topk``
   candidate flagged ``topk_is_gold`` (the artifact's text-level gold check);
3. span representation r(i, j) = mean of hidden states i..j; the hard negative h_w is the
   remaining candidate with the highest cosine similarity to r(g_w) (no_grad selection);
4. question representation u_w = mean of the hidden states of the question tokens;
5. InfoNCE over the batch's keys K = {r(g_v)} ∪ {r(h_v)} (gold spans of other windows of
   the same example are left out — they are the same answer):

       L_AA-CL = mean_w −log [ exp(cos(u_w, r(g_w))/τ) / Σ_{k ∈ K} exp(cos(u_w, k)/τ) ]

τ = ``temperature``, default 0.1 (our choice, the usual value in contrastive work). The
paper prints τ = 10; with cosine logits in [−1, 1] the softmax is then nearly flat (the
loss equals log |K| to ~2 decimals) and the gradient reaching the hidden states is
1/109 of the one at τ = 0.1 (measured: mean ‖∂L/∂h‖ over 20 synthetic batches of 16
windows, 0.0074 at τ = 10 vs 0.81 at τ = 0.1; docs/methods.md §5), so beside L_hard the
term does nothing. ``temperature: 10`` reproduces the printed value. The method's total
α·L_AA-CL + (1 − α)·L_hard (α = 0.5) is the config's weights on ``aa_cl`` and
``hard_learning``. Gradients reach the hidden states only.

| name | shape | dtype |
| --- | --- | --- |
| start_logits, end_logits | (W, L) | float (selection only) |
| hidden_states | (W, L, H) | float |
| input_ids | (W, L) | long |
| context_mask, question_mask | (W, L) | bool |
| start_positions, end_positions | (W,) | long |
| has_answer | (W,) | bool |
| window_example | (W,) | long |
| topk_spans | (W, Z, 2) | long |
| topk_mask, topk_is_gold | (W, Z) | bool |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.losses.output import LossOutput, detached
from training.scores import NEG_INF, logsumexp_masked, masked_mean


@torch.no_grad()
def current_candidates(
    start_logits: Tensor, end_logits: Tensor, context_mask: Tensor, n_best: int, max_answer_length: int, count: int
) -> tuple[Tensor, Tensor]:
    """Top-``count`` context spans by s_i + e_j from n_best starts × n_best ends.  # (W, C, 2), (W, C)"""
    allowed = context_mask.bool()  # (W, L)
    start = start_logits.float().masked_fill(~allowed, NEG_INF)  # (W, L)
    end = end_logits.float().masked_fill(~allowed, NEG_INF)  # (W, L)
    n = min(n_best, start.shape[1])
    start_top, start_idx = start.topk(n, dim=-1)  # (W, n)
    end_top, end_idx = end.topk(n, dim=-1)  # (W, n)
    length = end_idx.unsqueeze(1) - start_idx.unsqueeze(2)  # (W, n, n)
    score = start_top.unsqueeze(2) + end_top.unsqueeze(1)  # (W, n, n)
    ok = (length >= 0) & (length < max_answer_length) & torch.isfinite(score)
    score = score.masked_fill(~ok, NEG_INF).flatten(1)  # (W, n*n)
    top, flat = score.topk(min(count, n * n), dim=-1)  # (W, C)
    spans = torch.stack([start_idx.gather(1, flat // n), end_idx.gather(1, flat % n)], dim=-1)  # (W, C, 2)
    return spans, torch.isfinite(top)


def span_token_ids(input_ids: Tensor, starts: Tensor, max_len: int) -> Tensor:
    """Token ids at starts + 0..max_len-1 (clamped to the window).  # (W, N, R)"""
    idx = (starts.unsqueeze(-1) + torch.arange(max_len, device=starts.device)).clamp(max=input_ids.shape[1] - 1)
    return input_ids.gather(1, idx.flatten(1)).view(*idx.shape)


@torch.no_grad()
def gold_like(
    spans: Tensor, input_ids: Tensor, gold: Tensor, topk_spans: Tensor, topk_gold: Tensor, max_len: int
) -> Tensor:
    """Candidates that are the gold: same positions, same token ids, or a gold-flagged top-k span.  # (W, C)"""
    same_place = (spans == gold.unsqueeze(1)).all(-1)  # (W, C)
    cand_len = spans[..., 1] - spans[..., 0] + 1  # (W, C)
    gold_len = (gold[:, 1] - gold[:, 0] + 1).unsqueeze(1)  # (W, 1)
    inside = torch.arange(max_len, device=spans.device).view(1, 1, -1) < cand_len.unsqueeze(-1)  # (W, C, R)
    cand_ids = span_token_ids(input_ids, spans[..., 0], max_len)  # (W, C, R)
    gold_ids = span_token_ids(input_ids, gold[:, :1], max_len)  # (W, 1, R)
    same_text = (cand_len == gold_len) & ((cand_ids == gold_ids) | ~inside).all(-1)  # (W, C)
    flagged = (spans.unsqueeze(2) == topk_spans.unsqueeze(1)).all(-1) & topk_gold.unsqueeze(1)  # (W, C, Z)
    return same_place | same_text | flagged.any(-1)


def full_precision(hidden: Tensor) -> Tensor:
    """Half-precision states (mixed precision) go to float32 before sums; others stay as they are."""
    return hidden.float() if hidden.dtype in (torch.float16, torch.bfloat16) else hidden


def span_means(hidden: Tensor, spans: Tensor) -> Tensor:
    """Mean hidden state over each inclusive token span, as a batched matmul.  # (W, N, H)"""
    hidden = full_precision(hidden)
    positions = torch.arange(hidden.shape[1], device=hidden.device)  # (L,)
    inside = (positions >= spans[..., :1]) & (positions <= spans[..., 1:])  # (W, N, L)
    weights = inside.to(hidden.dtype)
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1)  # (W, N, L)
    return torch.bmm(weights, hidden)  # (W, N, H)


def question_means(hidden: Tensor, question_mask: Tensor) -> Tensor:
    """Mean hidden state over each window's question tokens.  # (W, H)"""
    hidden = full_precision(hidden)
    weights = question_mask.to(hidden.dtype).unsqueeze(-1)  # (W, L, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


class AaClLoss(nn.Module):
    activity = "anchors"  # component counting what the term saw
    optional_inputs = ("topk_spans", "topk_mask", "topk_is_gold")  # only sharpen the gold check
    inputs = (
        "start_logits",
        "end_logits",
        "hidden_states",
        "input_ids",
        "context_mask",
        "question_mask",
        "start_positions",
        "end_positions",
        "has_answer",
        "window_example",
        "topk_spans",
        "topk_mask",
        "topk_is_gold",
    )

    def __init__(
        self, temperature: float = 0.1, num_candidates: int = 50, n_best: int = 20, max_answer_length: int = 30
    ) -> None:
        super().__init__()
        for name, value in (
            ("temperature", temperature),
            ("num_candidates", num_candidates),
            ("n_best", n_best),
            ("max_answer_length", max_answer_length),
        ):
            if value <= 0:
                raise ValueError(f"aa_cl.{name}: expected > 0, got {value}")
        self.temperature = temperature  # τ: cosine logits are divided by it
        self.num_candidates = num_candidates  # current top spans searched for the hard negative
        self.n_best = n_best  # starts and ends kept before pairing
        self.max_answer_length = max_answer_length  # longest candidate span, tokens

    def hard_negatives(self, hidden: Tensor, gold_rep: Tensor, **batch: Tensor) -> tuple[Tensor, Tensor]:
        """The non-gold current candidate closest (cosine) to the gold span.  # (W, 2), (W,)"""
        spans, valid = current_candidates(
            batch["start_logits"],
            batch["end_logits"],
            batch["context_mask"],
            self.n_best,
            self.max_answer_length,
            self.num_candidates,
        )  # (W, C, 2), (W, C)
        with torch.no_grad():
            gold = torch.stack([batch["start_positions"], batch["end_positions"]], dim=-1)  # (W, 2)
            flagged = batch["topk_is_gold"].bool() & batch["topk_mask"].bool()  # (W, Z)
            valid &= ~gold_like(spans, batch["input_ids"], gold, batch["topk_spans"], flagged, self.max_answer_length)
            sim = F.cosine_similarity(span_means(hidden, spans), gold_rep.detach().unsqueeze(1), dim=-1)  # (W, C)
            best = sim.masked_fill(~valid, NEG_INF).argmax(-1)  # (W,)
            chosen = spans.gather(1, best.view(-1, 1, 1).expand(-1, 1, 2)).squeeze(1)  # (W, 2)
        return chosen, valid.any(-1)

    def forward(self, hidden_states: Tensor, question_mask: Tensor, has_answer: Tensor, **batch: Tensor) -> LossOutput:
        gold = torch.stack([batch["start_positions"], batch["end_positions"]], dim=-1)  # (W, 2)
        anchor_ok = has_answer.bool() & (batch["start_positions"] > 0)  # (W,)
        gold_rep = span_means(hidden_states, gold.unsqueeze(1)).squeeze(1)  # (W, H)
        hard_span, has_hard = self.hard_negatives(hidden_states, gold_rep, **batch)  # (W, 2), (W,)
        hard_rep = span_means(hidden_states, hard_span.unsqueeze(1)).squeeze(1)  # (W, H)
        query = F.normalize(question_means(hidden_states, question_mask), dim=-1)  # (W, H)
        keys = F.normalize(torch.cat([gold_rep, hard_rep], dim=0), dim=-1)  # (2W, H)
        logits = query @ keys.T / self.temperature  # (W, 2W)
        example = batch["window_example"]
        same_example = example.unsqueeze(0) == example.unsqueeze(1)  # (W, W)
        own = torch.eye(len(example), dtype=torch.bool, device=example.device)  # (W, W)
        gold_keys = anchor_ok.unsqueeze(0) & (~same_example | own)  # (W, W)
        hard_keys = (anchor_ok & has_hard).unsqueeze(0).expand_as(gold_keys)  # (W, W)
        key_ok = torch.cat([gold_keys, hard_keys], dim=1)  # (W, 2W)
        norm = logsumexp_masked(logits.masked_fill(~key_ok, NEG_INF), dim=-1)  # (W,)
        per_window = norm - logits.diagonal()  # (W,)
        total = masked_mean(per_window, anchor_ok)
        return LossOutput(
            total,
            detached(aa_cl=total, anchors=anchor_ok.sum().float(), hard_negatives=(anchor_ok & has_hard).sum().float()),
        )
