"""hard_learning (softmax-weighted rank slots, and plain MML) against a slow loop."""

from __future__ import annotations

import pytest
import torch

from training.losses import build_loss
from training.losses.synthetic_batch import synthetic_batch


def call(loss, batch, out):
    merged = {**batch, **out}
    return loss(**{k: merged[k] for k in loss.inputs})


def lse(values):
    return torch.logsumexp(torch.stack(values), 0)


def log_p(batch, out, w, z):
    i, j = batch["topk_spans"][w, z].tolist()
    s, e = out["start_logits"][w], out["end_logits"][w]
    allowed = [t for t in range(len(s)) if t == 0 or batch["context_mask"][w, t]]
    return s[i] - lse([s[t] for t in allowed]) + e[j] - lse([e[t] for t in allowed])


def loop_hard(batch, out, theta, mode):
    terms = []
    num_slots = batch["topk_spans"].shape[1]
    for example in sorted(set(batch["window_example"].tolist())):
        windows = [w for w in range(len(batch["window_example"])) if batch["window_example"][w] == example]
        slots = {}
        for z in range(num_slots):
            values = [log_p(batch, out, w, z) for w in windows if batch["topk_mask"][w, z]]
            if values:
                slots[z] = lse(values)
        if not slots:
            continue
        if mode == "mml":
            terms.append(-lse(list(slots.values())))
        else:
            weights = torch.softmax(torch.stack([theta[z] for z in slots]), 0)
            terms.append(-sum(wt * v for wt, v in zip(weights, slots.values())))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["weighted", "mml"])
def test_hard_learning_matches_loop(seed, mode):
    batch, out = synthetic_batch(num_windows=8, num_slots=5, windows_per_question=2, seed=seed)
    batch["topk_mask"][:2] = False  # an example whose candidates lie in none of its windows
    loss = build_loss("hard_learning", num_slots=5, mode=mode)
    with torch.no_grad():
        loss.theta.copy_(torch.randn(5))
    result = call(loss, batch, out)
    slow = loop_hard(batch, out, loss.theta.double(), mode)
    assert torch.allclose(result.total, slow)
    assert result.components["examples"] == 3
    params = [out["start_logits"], out["end_logits"], loss.theta]
    fast_g = torch.autograd.grad(result.total, params, allow_unused=True)
    slow_g = torch.autograd.grad(slow, params, allow_unused=True)
    for a, b in zip(fast_g, slow_g):
        if b is None:
            assert a is None or torch.count_nonzero(a) == 0
        else:
            assert torch.allclose(a.to(b.dtype), b, atol=1e-6)


def test_theta_starts_at_zero_and_is_learnable():
    loss = build_loss("hard_learning", num_slots=5)
    assert torch.equal(loss.theta.detach(), torch.zeros(5))
    assert [n for n, _ in loss.named_parameters()] == ["theta"]
    batch, out = synthetic_batch(num_slots=5, seed=4)
    (grad,) = torch.autograd.grad(call(loss, batch, out).total, loss.theta)
    assert torch.count_nonzero(grad) > 0


def test_slot_count_mismatch_fails_naming_the_field():
    batch, out = synthetic_batch(num_slots=5)
    with pytest.raises(ValueError, match="num_slots"):
        call(build_loss("hard_learning", num_slots=20), batch, out)
    with pytest.raises(ValueError, match="mode"):
        build_loss("hard_learning", mode="hardest")
