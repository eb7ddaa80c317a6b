"""hard_learning (match-type weights, and plain MML) against a slow loop.

The hand-worked value and the behavioural test of the paper's intent are in
test_loss_fidelity.py.
"""

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


def slot_type(batch, windows, z):
    """0 gold, 1 partial, 2 none: the strongest evidence over the windows that hold slot z."""
    found = []
    for w in windows:
        if not batch["topk_mask"][w, z]:
            continue
        i, j = batch["topk_spans"][w, z].tolist()
        gs, ge = int(batch["start_positions"][w]), int(batch["end_positions"][w])
        here = bool(batch["has_answer"][w]) and gs > 0
        if batch["topk_is_gold"][w, z] or (here and (i, j) == (gs, ge)):
            found.append(0)
        elif here and ((i == gs) != (j == ge)):
            found.append(1)
        else:
            found.append(2)
    return min(found)


def loop_hard(batch, out, theta, mode, floor=0.6):
    terms = []
    num_slots = batch["topk_spans"].shape[1]
    shares = floor * torch.tensor([1.0, 0.0, 0.0], dtype=theta.dtype) + (1 - floor) * torch.softmax(theta, 0)
    for example in sorted(set(batch["window_example"].tolist())):
        windows = [w for w in range(len(batch["window_example"])) if batch["window_example"][w] == example]
        slots = {}
        for z in range(num_slots):
            values = [log_p(batch, out, w, z) for w in windows if batch["topk_mask"][w, z]]
            if values:
                slots[z] = (lse(values), slot_type(batch, windows, z))
        if not slots:
            continue
        if mode == "mml":
            terms.append(-lse([v for v, _ in slots.values()]))
            continue
        types = [t for _, t in slots.values()]
        if 0 not in types:
            continue
        present = sorted(set(types))
        norm = sum(shares[t] for t in present)
        terms.append(-sum(shares[t] / norm / types.count(t) * v for v, t in slots.values()))
    return sum(terms) / len(terms)


def partial_batch(seed):
    batch, out = synthetic_batch(num_windows=8, num_slots=5, windows_per_question=2, seed=seed)
    batch["topk_mask"][:2] = False  # an example whose candidates lie in none of its windows
    # make slots 0 and 1 partial matches of the gold where the window holds one
    has = batch["has_answer"] & (batch["start_positions"] > 0)
    batch["topk_spans"][has, 0, 0] = batch["start_positions"][has]
    batch["topk_spans"][has, 1, 1] = batch["end_positions"][has]
    return batch, out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["match_type", "mml"])
def test_hard_learning_matches_loop(seed, mode):
    batch, out = partial_batch(seed)
    loss = build_loss("hard_learning", num_slots=5, mode=mode)
    with torch.no_grad():
        loss.theta.copy_(torch.randn(3))
    result = call(loss, batch, out)
    slow = loop_hard(batch, out, loss.theta.double(), mode)
    assert torch.allclose(result.total, slow)
    params = [out["start_logits"], out["end_logits"], loss.theta]
    fast_g = torch.autograd.grad(result.total, params, allow_unused=True)
    slow_g = torch.autograd.grad(slow, params, allow_unused=True)
    for a, b in zip(fast_g, slow_g):
        if b is None:
            assert a is None or torch.count_nonzero(a) == 0
        else:
            assert torch.allclose(a.to(b.dtype), b, atol=1e-6)


def test_theta_starts_at_zero_favours_the_gold_and_is_learnable():
    loss = build_loss("hard_learning", num_slots=5)
    assert torch.equal(loss.theta.detach(), torch.zeros(3))
    assert [n for n, _ in loss.named_parameters()] == ["theta"]
    # 0.6 + 0.4/3, 0.4/3, 0.4/3
    assert torch.allclose(loss.type_shares().detach(), torch.tensor([11 / 15, 2 / 15, 2 / 15]))
    assert loss.param_lr == 1e-3  # its own optimizer group
    batch, out = partial_batch(4)
    (grad,) = torch.autograd.grad(call(loss, batch, out).total, loss.theta)
    assert torch.count_nonzero(grad) > 0


def test_examples_without_a_gold_in_z_are_counted_not_trained():
    batch, out = partial_batch(0)
    batch["topk_is_gold"][:] = False
    batch["has_answer"][:] = False
    result = call(build_loss("hard_learning", num_slots=5), batch, out)
    assert result.total.item() == 0.0 and result.components["examples"] == 0
    assert result.components["no_gold"] >= 1


def test_bad_settings_fail_naming_the_field():
    batch, out = synthetic_batch(num_slots=5)
    with pytest.raises(ValueError, match="num_slots"):
        call(build_loss("hard_learning", num_slots=20), batch, out)
    with pytest.raises(ValueError, match="mode"):
        build_loss("hard_learning", mode="weighted")
    with pytest.raises(ValueError, match="min_gold_share"):
        build_loss("hard_learning", min_gold_share=1.5)
