"""BioCrf: partition function, Viterbi and span decoding against brute-force enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from training.crf import FORBIDDEN, B, BioCrf, I, O


def brute_score(crf, emissions, tags):
    start, trans, end = crf.scores()
    total = start[tags[0]] + emissions[0, tags[0]]
    for t in range(1, len(tags)):
        total = total + trans[tags[t - 1], tags[t]] + emissions[t, tags[t]]
    return total + end[tags[-1]]


def random_crf(seed):
    gen = torch.Generator().manual_seed(seed)
    crf = BioCrf().double()
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return crf, gen


def tiny_inputs(gen, lengths, max_len=5):
    emissions = torch.randn(len(lengths), max_len, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(max_len).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return emissions, mask


def single_span_sequences(n):
    yield (O,) * n, None
    for i in range(n):
        for j in range(i, n):
            yield tuple(O if t < i or t > j else (B if t == i else I) for t in range(n)), (i, j)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partition_and_nll_match_brute_force(seed):
    crf, gen = random_crf(seed)
    lengths = [5, 3, 1, 4]
    emissions, mask = tiny_inputs(gen, lengths)
    tags = torch.randint(0, 3, mask.shape, generator=gen)
    log_z = crf.log_partition(emissions, mask)
    brute_nll = []
    for w, n in enumerate(lengths):
        scores = [brute_score(crf, emissions[w], seq) for seq in itertools.product(range(3), repeat=n)]
        brute_z = torch.logsumexp(torch.stack(scores), 0)
        assert torch.allclose(log_z[w], brute_z)
        gold = brute_score(crf, emissions[w], tags[w, :n].tolist())
        assert torch.allclose(crf.sequence_score(emissions, tags, mask)[w], gold)
        brute_nll.append(brute_z - gold)
    brute = torch.stack(brute_nll).mean()
    fast = crf.nll(emissions, tags, mask)
    assert torch.allclose(fast, brute)
    params = [emissions, *crf.parameters()]
    for a, b in zip(torch.autograd.grad(fast, params), torch.autograd.grad(brute, params)):
        assert torch.allclose(a, b)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_viterbi_and_span_decode_match_brute_force(seed):
    crf, gen = random_crf(seed)
    lengths = [5, 4, 2, 1]
    emissions, mask = tiny_inputs(gen, lengths)
    emissions = emissions.detach() * 3
    paths = crf.viterbi_tags(emissions, mask)
    spans = crf.decode(emissions, mask)
    crf.requires_grad_(False)
    for w, n in enumerate(lengths):
        best = max(itertools.product(range(3), repeat=n), key=lambda seq: float(brute_score(crf, emissions[w], seq)))
        assert tuple(paths[w]) == best
        best_seq, best_span = max(single_span_sequences(n), key=lambda p: float(brute_score(crf, emissions[w], p[0])))
        assert spans[w] == best_span


def test_decode_returns_none_for_all_o_and_respects_allowed_positions():
    crf = BioCrf().double()
    emissions = torch.zeros(2, 6, 3, dtype=torch.float64)
    emissions[:, :, O] = 5.0
    mask = torch.ones(2, 6, dtype=torch.bool)
    assert crf.decode(emissions, mask) == [None, None]
    emissions[1, 2, B] = 20.0
    emissions[1, 3, I] = 20.0
    emissions[1, 1, B] = 30.0
    allowed = torch.zeros(2, 6, dtype=torch.bool)
    allowed[:, 2:] = True
    assert crf.decode(emissions, mask, allowed)[1] == (2, 3)
    assert crf.decode(emissions, mask)[1] == (1, 3)  # B(30) + I(0) + I(20) beats B(30) + O(5) + O(5)


def test_forbidden_transitions_have_no_mass():
    crf = BioCrf()
    start, trans, _ = crf.scores()
    assert trans[O, I] <= FORBIDDEN and start[I] <= FORBIDDEN
    emissions = torch.zeros(1, 3, 3)
    mask = torch.ones(1, 3, dtype=torch.bool)
    bad = crf.nll(emissions, torch.tensor([[O, I, I]]), mask)
    good = crf.nll(emissions, torch.tensor([[O, B, I]]), mask)
    assert bad > 1000 and good < 10
    assert "forbidden" not in crf.state_dict()  # a constant, not a weight


def test_mask_rules():
    crf = BioCrf()
    emissions = torch.zeros(1, 3, 3)
    tags = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="first position"):
        crf.nll(emissions, tags, torch.tensor([[False, True, True]]))
    with pytest.raises(ValueError, match="prefix"):
        crf.nll(emissions, tags, torch.tensor([[True, False, True]]))


def test_parallel_scan_matches_the_sequential_forward_algorithm_on_long_windows():
    crf, gen = random_crf(7)
    lengths = torch.tensor([37, 36, 20, 1])
    emissions = 3 * torch.randn(4, 37, 3, generator=gen, dtype=torch.float64)
    mask = torch.arange(37).unsqueeze(0) < lengths.unsqueeze(1)
    start, trans, end = crf.scores()
    alpha = start + emissions[:, 0]
    for t in range(1, 37):
        step = torch.logsumexp(alpha.unsqueeze(-1) + trans, dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(-1), step, alpha)
    assert torch.allclose(crf.log_partition(emissions, mask), torch.logsumexp(alpha + end, dim=-1))
