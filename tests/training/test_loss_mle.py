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


def null_positions_of(batch, w, which, length):
    """Positions of window w a no-answer target spreads over, written out per option."""
    if which == "padded":
        return list(range(length))
    if which == "context":
        return [t for t in range(length) if batch["context_mask"][w, t]]
    first = 1 if which == "no_cls" else 0
    return [t for t in range(first, length) if batch["attention_mask"][w, t]]


def loop_soft_qa(batch, out, null_positions="padded", window_sum=False):
    num_w, length = out["start_logits"].shape
    total = 0.0
    for w in range(num_w):
        for key, multi in (("start_logits", "gold_start_multi"), ("end_logits", "gold_end_multi")):
            golds = [t for t in range(length) if batch[multi][w, t] > 0] if batch["has_answer"][w] else []
            if not golds:
                golds = null_positions_of(batch, w, null_positions, length)
            for t in golds:
                total = total - log_softmax_at(out[key][w], t) / len(golds) / 2
    return total if window_sum else total / num_w


def loop_bce(logit, target, pos_weight):
    sig = 1 / (1 + torch.exp(-logit))
    return -(pos_weight * target * torch.log(sig) + (1 - target) * torch.log(1 - sig))


def loop_tagging(batch, out, pos_weight=2.0, positions="padded", reduction="sum"):
    num_w, length = out["start_logits"].shape
    parts = []
    for key, multi in (("start_logits", "gold_start_multi"), ("end_logits", "gold_end_multi")):
        terms = []
        for w in range(num_w):
            for t in null_positions_of(batch, w, positions, length):
                target = float(batch[multi][w, t]) if batch["has_answer"][w] else 0.0
                terms.append(loop_bce(out[key][w, t], target, pos_weight))
        divisor = {"sum": 1, "window_mean": num_w, "token_mean": len(terms)}[reduction]
        parts.append(sum(terms) / divisor)
    return (parts[0] + parts[1]) / 2


@pytest.mark.parametrize("seed", [0, 1])
def test_mle_matches_loop(seed):
    batch, out = synthetic_batch(seed=seed)
    assert not batch["has_answer"].all()  # windows without the answer target CLS
    assert_same(call(build_loss("mle"), batch, out).total, loop_mle(batch, out), out)


@pytest.mark.parametrize("null_positions", ["padded", "sequence", "no_cls", "context"])
def test_mle_soft_matches_loop(null_positions):
    batch, out = synthetic_batch(seed=2)
    assert (batch["gold_start_multi"].sum(1) > 1).any()  # a window with two golds
    fast = call(build_loss("mle_soft", null_positions=null_positions), batch, out).total
    assert_same(fast, loop_soft_qa(batch, out, null_positions), out)


def test_mle_soft_no_cls_option_puts_no_null_mass_on_cls():
    batch, out = synthetic_batch(seed=5)
    with torch.no_grad():
        out["start_logits"][:, 0] = 50.0  # CLS overwhelmingly likely
        out["end_logits"][:, 0] = 50.0
    batch["has_answer"][:] = False
    loss = call(build_loss("mle_soft", null_positions="no_cls"), batch, out).total
    assert loss.item() > 40  # the uniform target ignores CLS, so a CLS-heavy model pays


def test_robust_tagging_matches_loop_with_paper_weights():
    batch, out = synthetic_batch(seed=6)
    result = call(build_loss("robust_tagging"), batch, out)
    slow = 2 * loop_soft_qa(batch, out, window_sum=True) + 1 * loop_tagging(batch, out)
    assert_same(result.total, slow, out)
    assert set(result.components) == {"qa", "tag"}
    assert not any(v.requires_grad for v in result.components.values())


@pytest.mark.parametrize("reduction", ["sum", "window_mean", "token_mean"])
def test_robust_tagging_settings(reduction):
    batch, out = synthetic_batch(seed=7)
    loss = build_loss(
        "robust_tagging",
        qa_weight=0.5,
        tag_weight=3.0,
        pos_weight=1.0,
        null_positions="context",
        tag_positions="sequence",
        reduction=reduction,
    )
    result = call(loss, batch, out)
    qa = loop_soft_qa(batch, out, "context", window_sum=reduction == "sum")
    slow = 0.5 * qa + 3.0 * loop_tagging(batch, out, 1.0, "sequence", reduction)
    assert_same(result.total, slow, out)


def test_bad_settings_fail_naming_the_field():
    with pytest.raises(ValueError, match="null_positions"):
        build_loss("mle_soft", null_positions="everywhere")
    with pytest.raises(ValueError, match="pos_weight"):
        build_loss("robust_tagging", pos_weight=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        build_loss("robust_tagging", reduction="mean")
