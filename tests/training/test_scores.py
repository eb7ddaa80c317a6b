"""span_scores (raw and locally normalised) and the masked reductions, against loops."""

from __future__ import annotations

import math

import torch

from training.losses.synthetic_batch import synthetic_batch
from training.scores import answer_positions, logsumexp_masked, masked_mean, span_scores


def loop_span_scores(start, end, spans, mask, normalised, context_mask):
    num_w, num_n = mask.shape
    out = []
    for w in range(num_w):
        allowed = [t == 0 or bool(context_mask[w, t]) for t in range(start.shape[1])]
        if normalised:
            log_zs = torch.logsumexp(torch.stack([start[w, t] for t in range(len(allowed)) if allowed[t]]), 0)
            log_ze = torch.logsumexp(torch.stack([end[w, t] for t in range(len(allowed)) if allowed[t]]), 0)
        row = []
        for n in range(num_n):
            if not mask[w, n]:
                row.append(torch.tensor(-math.inf, dtype=start.dtype))
                continue
            i, j = int(spans[w, n, 0]), int(spans[w, n, 1])
            value = start[w, i] + end[w, j]
            if normalised:
                value = value - log_zs - log_ze
            row.append(value)
        out.append(torch.stack(row))
    return torch.stack(out)


def test_span_scores_match_loop_in_value_and_gradient():
    batch, out = synthetic_batch(seed=3)
    args = (batch["bundle_spans"], batch["bundle_mask"])
    for normalised in (False, True):
        fast = span_scores(out["start_logits"], out["end_logits"], *args, normalised, batch["context_mask"])
        slow = loop_span_scores(out["start_logits"], out["end_logits"], *args, normalised, batch["context_mask"])
        assert torch.equal(torch.isinf(fast), ~batch["bundle_mask"])
        finite = torch.isfinite(slow)
        assert torch.allclose(fast[finite], slow[finite])
        weights = torch.randn(finite.shape, dtype=fast.dtype)
        g_fast = torch.autograd.grad((fast[finite] * weights[finite]).sum(), [out["start_logits"], out["end_logits"]])
        g_slow = torch.autograd.grad((slow[finite] * weights[finite]).sum(), [out["start_logits"], out["end_logits"]])
        for a, b in zip(g_fast, g_slow):
            assert torch.allclose(a, b)


def test_normalised_scores_are_log_probabilities_over_context_and_cls():
    batch, out = synthetic_batch(seed=4)
    allowed = answer_positions(batch["context_mask"])
    w = 0
    positions = allowed[w].nonzero().squeeze(1)
    spans = torch.cartesian_prod(positions, positions).unsqueeze(0)  # every (start, end) pair
    mask = torch.ones(spans.shape[:2], dtype=torch.bool)
    scores = span_scores(out["start_logits"][:1], out["end_logits"][:1], spans, mask, True, batch["context_mask"][:1])
    assert torch.allclose(scores.exp().sum(), torch.tensor(1.0, dtype=scores.dtype))


def test_logsumexp_masked_gives_minus_inf_and_zero_gradient_for_dead_slices():
    x = torch.tensor([[0.5, -math.inf], [-math.inf, -math.inf]], requires_grad=True)
    out = logsumexp_masked(x, dim=1)
    assert out[0].item() == 0.5 and out[1].item() == -math.inf
    (grad,) = torch.autograd.grad(torch.where(torch.isfinite(out), out, 0).sum(), x)
    assert torch.equal(grad, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_masked_mean_ignores_invalid_entries_and_is_zero_without_any():
    values = torch.tensor([1.0, math.inf, 3.0], requires_grad=True)
    assert masked_mean(values, torch.tensor([True, False, True])).item() == 2.0
    empty = masked_mean(values, torch.zeros(3, dtype=torch.bool))
    assert empty.item() == 0.0 and empty.requires_grad
