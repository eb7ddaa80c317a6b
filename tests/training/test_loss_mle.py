"""mle, mle_soft and robust_tagging against slow loop references, value and gradient."""

from __future__ import annotations

import pytest
import torch

from training.losses import build_loss
from training.losses.synthetic_batch import synthetic_batch

LOGITS = ("start_logits", "end_logits")

def grads(value, out):
    return torch.autograd.grad(value, [out[k] for k in LOGITS])

def assert_same(fast, slow, out):
    assert torch.allclose(fast, slow), (fast, slow)
    for a, b in zip(grads(fast, out), grads(slow, out)):
        assert torch.allclose(a, b)

def call(loss, batch, out):
    merged = {**batch, **out}
    return loss(**{k: merged[k] for k in loss.inputs})

def log_softmax_at(logits_row, index):
    return logits_row[index] - torch.logsumexp(logits_row, 0)

def loop_mle(batch, out):
    total = 0.0
    num_w = out["start_logits"].shape[0]
    for w in range(num_w):
        for key, pos in (("start_logits", "start_positions"), ("end_logits", "end_positions")):
            total = total - log_softmax_at(out[key][w], int(batch[pos][w])) / 2
    return total / num_w

def loop_soft_qa(batch, out, null_positions="all"):
    num_w, length = out["start_logits"].shape
    total = 0.0
    for w in range(num_w):
        for key, multi in (("start_logits", "gold_start_multi"), ("end_logits", "gold_end_multi")):
            golds = [t for t in range(length) if batch[multi][w, t] > 0] if batch["has_answer"][w] else []
            if not golds:
                mask = batch["context_mask"] if null_positions == "context" else batch["attention_mask"]
                golds = [t for t in range(1, length) if mask[w, t]]
            for t in golds:
                total = total - log_softmax_at(out[key][w], t) / len(golds) / 2
    return total / num_w

def loop_bce(logit, target, pos_weight):
    sig = 1 / (1 + torch.exp(-logit))
    return -(pos_weight * target * torch.log(sig) + (1 - target) * torch.log(1 - sig))

def loop_tagging(batch, out, pos_weight=2.0, positions="all"):
    num_w, length = out["start_logits"].shape
    parts = []
    for key, multi in (("start_logits", "gold_start_multi"), ("end_logits", "gold_end_multi")):
        terms = []
        for w in range(num_w):
            for t in range(length):
                if batch["context_mask" if positions == "context" else "attention_mask"][w, t]:
                    target = float(batch[multi][w, t]) if batch["has_answer"][w] else 0.0
                    terms.append(loop_bce(out[key][w, t], target, pos_weight))
        parts.append(sum(terms) / len(terms))
    return (parts[0] + parts[1]) / 2

@pytest.mark.parametrize("seed", [0, 1])
def test_mle_matches_loop(seed):
    batch, out = synthetic_batch(seed=seed)
    assert not batch["has_answer"].all()  # windows without the answer target CLS
    assert_same(call(build_loss("mle"), batch, out).total, loop_mle(batch, out), out)

@pytest.mark.parametrize("null_positions", ["context", "all"])
def test_mle_soft_matches_loop(null_positions):
    batch, out = synthetic_batch(seed=2)
    assert (batch["gold_start_multi"].sum(1) > 1).any()  # a window with two golds
    fast = call(build_loss("mle_soft", null_positions=null_positions), batch, out).total
    assert_same(fast, loop_soft_qa(batch, out, null_positions), out)

def test_mle_soft_null_target_never_puts_mass_on_cls():
    batch, out = synthetic_batch(seed=5)
    with torch.no_grad():
        out["start_logits"][:, 0] = 50.0  # CLS overwhelmingly likely
        out["end_logits"][:, 0] = 50.0
    batch["has_answer"][:] = False
    loss = call(build_loss("mle_soft"), batch, out).total
    assert loss.item() > 40  # the uniform target ignores CLS, so a CLS-heavy model pays

def test_robust_tagging_matches_loop_with_paper_weights():
    batch, out = synthetic_batch(seed=6)
    result = call(build_loss("robust_tagging"), batch, out)
    slow = 2 * loop_soft_qa(batch, out) + 1 * loop_tagging(batch, out)
    assert_same(result.total, slow, out)
    assert set(result.components) == {"qa", "tag"}
    assert not any(v.requires_grad for v in result.components.values())

def test_robust_tagging_settings():
    batch, out = synthetic_batch(seed=7)
    loss = build_loss("robust_tagging", qa_weight=0.5, tag_weight=3.0, pos_weight=1.0,
                      null_positions="context", tag_positions="context")
    result = call(loss, batch, out)
    slow = 0.5 * loop_soft_qa(batch, out, "context") + 3.0 * loop_tagging(batch, out, 1.0, "context")
    assert_same(result.total, slow, out)

def test_bad_settings_fail_naming_the_field():
    with pytest.raises(ValueError, match="null_positions"):
        build_loss("mle_soft", null_positions="everywhere")
    with pytest.raises(ValueError, match="pos_weight"):
        build_loss("robust_tagging", pos_weight=-1.0)
