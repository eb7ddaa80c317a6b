"""crf_nll loss: equals BioCrf.nll on the attention mask, brute force on tiny inputs."""

from __future__ import annotations

import itertools

import torch

from training.crf import BioCrf
from training.losses import build_loss
from training.losses.synthetic_batch import synthetic_batch


def test_crf_nll_matches_brute_force_and_shares_the_given_crf():
    batch, out = synthetic_batch(num_windows=3, length=5, question_length=1, seed=0)
    crf = BioCrf().double()
    with torch.no_grad():
        crf.transitions.copy_(torch.randn(3, 3, dtype=torch.float64))
    loss = build_loss("crf_nll", crf=crf)
    result = loss(**{k: {**batch, **out}[k] for k in loss.inputs})
    start, trans, end = crf.scores()
    em, tags = out["crf_emissions"], batch["bio_tags"]
    terms = []
    for w in range(3):
        n = int(batch["attention_mask"][w].sum())

        def score(seq):
            total = start[seq[0]] + em[w, 0, seq[0]] + end[seq[-1]]
            return total + sum(trans[seq[t - 1], seq[t]] + em[w, t, seq[t]] for t in range(1, n))

        log_z = torch.logsumexp(torch.stack([score(s) for s in itertools.product(range(3), repeat=n)]), 0)
        terms.append(log_z - score(tags[w, :n].tolist()))
    brute = torch.stack(terms).mean()
    assert torch.allclose(result.total, brute)
    params = [em, crf.transitions]
    for a, b in zip(torch.autograd.grad(result.total, params), torch.autograd.grad(brute, params)):
        assert torch.allclose(a, b)
    assert list(loss.parameters())[0] is crf.transitions
