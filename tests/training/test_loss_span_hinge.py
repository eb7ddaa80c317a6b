"""span_hinge against a slow loop over (gold, negative) pairs, value and gradient."""

from __future__ import annotations

import pytest
import torch

from training.losses import build_loss
from training.losses.synthetic_batch import synthetic_batch

LOGITS = ("start_logits", "end_logits")


def call(loss, batch, out):
    merged = {**batch, **out}
    return loss(**{k: merged[k] for k in loss.inputs})


def loop_hinge(batch, out, margin):
    s, e = out["start_logits"], out["end_logits"]
    terms = []
    for w in range(s.shape[0]):
        if not batch["has_answer"][w]:
            continue
        gold = s[w, batch["start_positions"][w]] + e[w, batch["end_positions"][w]]
        for k in range(batch["neg_spans"].shape[1]):
            if batch["neg_mask"][w, k]:
                i, j = batch["neg_spans"][w, k].tolist()
                terms.append(torch.clamp(margin - (gold - (s[w, i] + e[w, j])), min=0))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("seed,normalised", [(0, False), (1, False), (2, True)])
def test_span_hinge_matches_loop(seed, normalised):
    batch, out = synthetic_batch(num_windows=8, seed=seed)
    with torch.no_grad():  # put some pairs inside the margin and some outside
        out["start_logits"].mul_(0.1)
    result = call(build_loss("span_hinge", normalised=normalised), batch, out)
    slow = loop_hinge(batch, out, 0.25)
    assert torch.allclose(result.total, slow)
    logits = [out[k] for k in LOGITS]
    for a, b in zip(torch.autograd.grad(result.total, logits), torch.autograd.grad(slow, logits)):
        assert torch.allclose(a, b)
    assert result.components["pairs"] == batch["neg_mask"].sum()
    assert 0 < result.components["violated"] <= result.components["pairs"]


def test_negatives_in_windows_without_gold_do_not_count():
    batch, out = synthetic_batch(num_windows=4, seed=3)
    batch["neg_mask"][:] = False
    batch["neg_mask"][-1, 0] = True  # the last window never holds the gold
    result = call(build_loss("span_hinge"), batch, out)
    assert result.total.item() == 0.0 and result.components["pairs"] == 0
    (grad,) = torch.autograd.grad(result.total, out["start_logits"])
    assert torch.count_nonzero(grad) == 0


def test_margin_must_be_non_negative():
    with pytest.raises(ValueError, match="margin"):
        build_loss("span_hinge", margin=-0.1)
