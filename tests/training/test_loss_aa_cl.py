"""aa_cl (answer-aware contrastive) against a slow loop: candidates, hard negative, InfoNCE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.losses import build_loss
from training.losses.aa_cl import current_candidates, gold_like
from training.losses.synthetic_batch import synthetic_batch


def call(loss, batch, out):
    merged = {**batch, **out}
    return loss(**{k: merged[k] for k in loss.inputs})


def mean_state(h, i, j):
    return h[i : j + 1].mean(0)


def loop_hard_negative(batch, out, w, count, max_len):
    s, e, h = out["start_logits"][w].detach(), out["end_logits"][w].detach(), out["hidden_states"][w]
    ctx = [t for t in range(len(s)) if batch["context_mask"][w, t]]
    spans = sorted(((i, j) for i in ctx for j in ctx if i <= j < i + max_len), key=lambda p: -float(s[p[0]] + e[p[1]]))
    gi, gj = int(batch["start_positions"][w]), int(batch["end_positions"][w])
    ids = batch["input_ids"][w].tolist()
    gold_flagged = {
        tuple(batch["topk_spans"][w, z].tolist())
        for z in range(batch["topk_spans"].shape[1])
        if batch["topk_is_gold"][w, z] and batch["topk_mask"][w, z]
    }
    kept = [
        (i, j)
        for i, j in spans[:count]
        if (i, j) != (gi, gj) and ids[i : j + 1] != ids[gi : gj + 1] and (i, j) not in gold_flagged
    ]
    if not kept:
        return None
    gold = mean_state(h, gi, gj).detach()
    best = max(kept, key=lambda p: float(F.cosine_similarity(mean_state(h, *p).detach(), gold, dim=0)))
    return mean_state(h, *best)


def loop_aa_cl(batch, out, temperature, count=50, max_len=30):
    h = out["hidden_states"]
    num_w = h.shape[0]
    anchors = [w for w in range(num_w) if batch["has_answer"][w] and batch["start_positions"][w] > 0]
    gold = {w: mean_state(h[w], int(batch["start_positions"][w]), int(batch["end_positions"][w])) for w in anchors}
    hard = {w: loop_hard_negative(batch, out, w, count, max_len) for w in anchors}
    terms = []
    for w in anchors:
        q = h[w][batch["question_mask"][w]].mean(0)
        keys = [gold[v] for v in anchors if v == w or batch["window_example"][v] != batch["window_example"][w]]
        keys += [hard[v] for v in anchors if hard[v] is not None]
        logits = torch.stack([F.cosine_similarity(q, k, dim=0) for k in keys]) / temperature
        positive = F.cosine_similarity(q, gold[w], dim=0) / temperature
        terms.append(torch.logsumexp(logits, 0) - positive)
    return sum(terms) / len(terms)


@pytest.mark.parametrize("seed,temperature,count", [(0, 10.0, 50), (1, 0.1, 50), (2, 0.1, 4), (3, 0.5, 50)])
def test_aa_cl_matches_loop(seed, temperature, count):
    batch, out = synthetic_batch(num_windows=8, length=16, windows_per_question=2, seed=seed)
    loss = build_loss("aa_cl", temperature=temperature, num_candidates=count, n_best=20)
    result = call(loss, batch, out)
    slow = loop_aa_cl(batch, out, temperature, count)
    assert torch.allclose(result.total, slow)
    assert result.components["hard_negatives"] > 0
    (fast_g,) = torch.autograd.grad(result.total, out["hidden_states"])
    (slow_g,) = torch.autograd.grad(slow, out["hidden_states"])
    assert torch.allclose(fast_g, slow_g)


def test_current_candidates_are_the_best_context_spans():
    batch, out = synthetic_batch(num_windows=2, length=12, seed=5)
    spans, valid = current_candidates(out["start_logits"], out["end_logits"], batch["context_mask"], 20, 3, 5)
    s, e = out["start_logits"][0].detach(), out["end_logits"][0].detach()
    ctx = [t for t in range(12) if batch["context_mask"][0, t]]
    brute = sorted(((i, j) for i in ctx for j in ctx if i <= j < i + 3), key=lambda p: -float(s[p[0]] + e[p[1]]))[:5]
    assert [tuple(p) for p in spans[0].tolist()] == brute and valid.all()


def test_gold_like_catches_same_text_elsewhere_and_flagged_topk():
    input_ids = torch.tensor([[1, 9, 2, 5, 6, 7, 5, 6, 8, 2]])
    gold = torch.tensor([[3, 4]])  # tokens (5, 6)
    spans = torch.tensor([[[3, 4], [6, 7], [5, 6], [8, 8]]])
    topk = torch.tensor([[[8, 8]]])
    flags = gold_like(spans, input_ids, gold, topk, torch.tensor([[True]]), max_len=4)
    assert flags.tolist() == [[True, True, False, True]]


def test_gradients_reach_hidden_states_only_and_bad_settings_fail():
    batch, out = synthetic_batch(seed=6)
    result = call(build_loss("aa_cl", temperature=0.1), batch, out)
    grads = torch.autograd.grad(result.total, [out["hidden_states"], out["start_logits"]], allow_unused=True)
    assert torch.count_nonzero(grads[0]) > 0 and grads[1] is None
    with pytest.raises(ValueError, match="temperature"):
        build_loss("aa_cl", temperature=0.0)


def test_same_text_candidates_are_never_the_hard_negative():
    # states that depend on the token only: a same-text span elsewhere would be the most
    # similar candidate of all, so the loop reference and the loss must both skip it
    batch, out = synthetic_batch(num_windows=8, length=16, vocab=2, seed=7)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(16, 8, generator=gen, dtype=torch.float64)
    noise = 0.01 * torch.randn(out["hidden_states"].shape, generator=gen, dtype=torch.float64)
    out["hidden_states"] = (table[batch["input_ids"]] + noise).requires_grad_()
    result = call(build_loss("aa_cl", temperature=0.1), batch, out)
    slow = loop_aa_cl(batch, out, 0.1)
    assert torch.allclose(result.total, slow)
