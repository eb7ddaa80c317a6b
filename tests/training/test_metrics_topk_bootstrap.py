"""Top-k EM (docs/methods.md §5) and bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics.bootstrap import bootstrap_ci, paired_bootstrap
from training.metrics.topk import first_correct_rank, topk_em, topk_hits


def test_topk_em_counts_any_match_in_the_k_best() -> None:
    golds = {"a": ["Paris"], "b": ["1990", "in 1990"], "c": ["red"], "d": []}
    cands = {
        "a": ["Paris"],
        "b": ["1989", "1991", "1992", "in 1990"],
        "c": ["blue"] + ["x%d" % i for i in range(20)],
        "d": ["foo", ""],
    }
    assert topk_em(cands, golds) == {1: 25.0, 3: 50.0, 5: 75.0, 10: 75.0}  # d: "" at rank 1
    ids, hits = topk_hits(cands, golds, ks=(1, 2))
    assert ids == ["a", "b", "c", "d"] and hits.tolist() == [
        [True, True],
        [False, False],
        [False, False],
        [False, True],
    ]


def test_first_correct_rank_skips_duplicate_texts() -> None:
    # "The Paris" and "paris" normalise alike: one rank
    assert first_correct_rank(["the Paris", "paris", "Lyon", "Nice"], ["Nice"]) == 2
    assert first_correct_rank([], ["x"]) is None
    with pytest.raises(ValueError):
        topk_hits({}, {"a": ["x"]}, ks=(0,))


def test_bootstrap_is_seeded_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    v = (rng.random(500) < 0.6).astype(float)
    a, b = bootstrap_ci(v, seed=3), bootstrap_ci(v, seed=3)
    assert a == b
    assert a.low <= a.estimate <= a.high and a.estimate == pytest.approx(v.mean())
    assert 0.0 < a.high - a.low < 0.15  # about 2 x 1.96 x sqrt(.24 / 500) = 0.086
    assert bootstrap_ci(v, seed=4) != a


def test_paired_bootstrap_identical_runs_and_a_clear_win() -> None:
    rng = np.random.default_rng(2)
    v = rng.random(300)
    same = paired_bootstrap(v, v, seed=0)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    better = np.clip(v + 0.2, 0, 1)
    win = paired_bootstrap(better, v, seed=0, n_resamples=500)
    assert 0.0 < win.low <= win.estimate <= win.high and win.p_not_better == 0.0
    with pytest.raises(ValueError, match="pair them"):
        paired_bootstrap(v, v[:10])
