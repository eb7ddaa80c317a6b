"""A random batch + model outputs that follow the training contract, for loss tests and benchmarks.

    from training.losses.synthetic_batch import synthetic_batch
    batch, outputs = synthetic_batch(num_windows=16, length=384, seed=0)

Layout of every window: [CLS] question (``question_length`` tokens) [SEP] context [SEP]
padding. Consecutive windows share an example (``windows_per_question``), consecutive
examples form a bundle (``questions_per_bundle``); the i-th question of a bundle has
answer i as its gold. Roughly 70% of windows hold their gold; spans and masks are random
but always consistent with the contract (masked entries hold position 0). Token ids come
from a tiny vocabulary so equal "texts" occur. Outputs require grad.
"""

from __future__ import annotations

import torch
from torch import Tensor


def random_spans(gen: torch.Generator, lo: Tensor, hi: Tensor, count: int, max_len: int) -> Tensor:
    """(W, count, 2) inclusive spans inside [lo_w, hi_w] per window."""
    num_w = lo.shape[0]
    width = (hi - lo + 1).unsqueeze(1).float()  # (W, 1)
    start = lo.unsqueeze(1) + (torch.rand(num_w, count, generator=gen) * width).long()  # (W, count)
    length = torch.randint(0, max_len, (num_w, count), generator=gen)  # (W, count)
    end = torch.minimum(start + length, hi.unsqueeze(1))  # (W, count)
    return torch.stack([start, end], dim=-1)


def synthetic_batch(
    num_windows: int = 6,
    length: int = 16,
    num_negatives: int = 3,
    num_answers: int = 3,
    num_slots: int = 5,
    hidden_size: int = 8,
    question_length: int = 3,
    windows_per_question: int = 2,
    questions_per_bundle: int = 2,
    vocab: int = 6,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    num_w, n = num_windows, length
    real = n - torch.randint(0, max(1, n // 4), (num_w,), generator=gen)  # (W,) tokens before padding
    real[0] = n
    pos = torch.arange(n).expand(num_w, n)  # (W, L)
    attention = pos < real.unsqueeze(1)  # (W, L)
    ctx_lo = torch.full((num_w,), question_length + 2)  # (W,)
    ctx_hi = real - 2  # (W,) last context token
    context = (pos >= ctx_lo.unsqueeze(1)) & (pos <= ctx_hi.unsqueeze(1))  # (W, L)
    question = (pos >= 1) & (pos <= question_length)  # (W, L)
    input_ids = torch.randint(3, 3 + vocab, (num_w, n), generator=gen) * attention
    input_ids[:, 0] = 1

    has_answer = torch.rand(num_w, generator=gen) < 0.7  # (W,)
    has_answer[0], has_answer[-1] = True, False  # always both kinds of window
    gold = random_spans(gen, ctx_lo, ctx_hi, 1, 4).squeeze(1) * has_answer.unsqueeze(1)  # (W, 2)
    start_multi = torch.zeros(num_w, n, dtype=dtype)
    end_multi = torch.zeros(num_w, n, dtype=dtype)
    rows = torch.arange(num_w)
    start_multi[rows[has_answer], gold[has_answer, 0]] = 1
    end_multi[rows[has_answer], gold[has_answer, 1]] = 1
    extra = random_spans(gen, ctx_lo, ctx_hi, 1, 4).squeeze(1)  # a second gold in some windows
    second = has_answer & (torch.rand(num_w, generator=gen) < 0.3)
    start_multi[rows[second], extra[second, 0]] = 1
    end_multi[rows[second], extra[second, 1]] = 1
    bio = torch.zeros(num_w, n, dtype=torch.long)
    for w in rows[has_answer].tolist():
        bio[w, gold[w, 0]] = 1
        bio[w, gold[w, 0] + 1 : gold[w, 1] + 1] = 2

    neg_mask = (torch.rand(num_w, num_negatives, generator=gen) < 0.6) & has_answer.unsqueeze(1)
    neg_spans = random_spans(gen, ctx_lo, ctx_hi, num_negatives, 4) * neg_mask.unsqueeze(-1)

    example = torch.arange(num_w) // windows_per_question  # (W,)
    bundle = example // questions_per_bundle  # (W,)
    in_question = example % questions_per_bundle  # (W,)
    bundle_mask = torch.rand(num_w, num_answers, generator=gen) < 0.7  # (W, A)
    bundle_gold = in_question % num_answers  # (W,)
    bundle_mask[rows, bundle_gold] |= torch.rand(num_w, generator=gen) < 0.8
    bundle_spans = random_spans(gen, ctx_lo, ctx_hi, num_answers, 4) * bundle_mask.unsqueeze(-1)

    topk_mask = torch.rand(num_w, num_slots, generator=gen) < 0.7  # (W, Z)
    topk_spans = random_spans(gen, ctx_lo, ctx_hi, num_slots, 4) * topk_mask.unsqueeze(-1)
    topk_is_gold = torch.zeros(num_w, num_slots, dtype=torch.bool)
    topk_is_gold[:, -1] = topk_mask[:, -1]

    batch = {
        "input_ids": input_ids,
        "attention_mask": attention.long(),
        "context_mask": context,
        "question_mask": question,
        "start_positions": gold[:, 0].clone(),
        "end_positions": gold[:, 1].clone(),
        "gold_start_multi": start_multi,
        "gold_end_multi": end_multi,
        "has_answer": has_answer,
        "neg_spans": neg_spans,
        "neg_mask": neg_mask,
        "window_example": example,
        "window_bundle": bundle,
        "window_question": in_question,
        "bundle_spans": bundle_spans,
        "bundle_mask": bundle_mask,
        "bundle_gold": bundle_gold,
        "topk_spans": topk_spans,
        "topk_mask": topk_mask,
        "topk_is_gold": topk_is_gold,
        "bio_tags": bio,
    }
    outputs = {
        "start_logits": torch.randn(num_w, n, generator=gen, dtype=dtype).requires_grad_(),
        "end_logits": torch.randn(num_w, n, generator=gen, dtype=dtype).requires_grad_(),
        "hidden_states": torch.randn(num_w, n, hidden_size, generator=gen, dtype=dtype).requires_grad_(),
        "crf_emissions": torch.randn(num_w, n, 3, generator=gen, dtype=dtype).requires_grad_(),
    }
    return batch, outputs
