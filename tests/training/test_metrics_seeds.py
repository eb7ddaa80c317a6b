"""Method minus control over seeds: hand-worked values, and the verdict's intent (a lucky seed is not a gain)."""

from __future__ import annotations

import math

import pytest

from training.metrics.seeds import seed_comparison, spread


def test_hand_worked_two_seeds_three_questions() -> None:
    # seed 1: method EM (q1, q2, q3) = 100, 0, 100; control = 0, 0, 100   -> d1 = (100 + 0 + 0) / 3 = 33.33
    # seed 2: method EM = 100, 100, 0;            control = 100, 0, 100   -> d2 = (0 + 100 - 100) / 3 = 0
    # mean = (33.33 + 0) / 2 = 16.67; sd = |33.33 - 0| / sqrt(2) = 23.57
    # pooled: a = seed-mean of the method per question = 100, 50, 50; b = control = 50, 0, 100
    #         mean(a) - mean(b) = 66.67 - 50 = 16.67 (= the mean of the per-seed differences)
    method = {1: {"q1": 100.0, "q2": 0.0, "q3": 100.0}, 2: {"q1": 100.0, "q2": 100.0, "q3": 0.0}}
    control = {1: {"q1": 0.0, "q2": 0.0, "q3": 100.0}, 2: {"q1": 100.0, "q2": 0.0, "q3": 100.0}}
    c = seed_comparison(method, control, n_resamples=200)
    assert c.seeds == (1, 2) and c.n == 3
    assert c.per_seed == pytest.approx((100 / 3, 0.0))
    assert c.mean == pytest.approx(50 / 3) and c.pooled.estimate == pytest.approx(50 / 3)
    assert c.sd == pytest.approx((100 / 3) / math.sqrt(2))
    assert c.pooled.low <= c.mean <= c.pooled.high


def test_a_method_better_on_every_seed_helps_and_identical_runs_do_not() -> None:
    ids = [f"q{i}" for i in range(200)]
    control = {s: {q: float(100 * ((i + s) % 3 == 0)) for i, q in enumerate(ids)} for s in (13, 14, 15)}
    better = {s: {q: 100.0 if (i % 4 == 0) else v for i, (q, v) in enumerate(control[s].items())} for s in control}
    assert seed_comparison(better, control).verdict == "helps"
    assert seed_comparison(control, better).verdict == "hurts"
    same = seed_comparison(control, control)
    assert same.verdict == "no measurable difference" and same.mean == 0.0 and same.sd == 0.0


def test_one_lucky_seed_is_not_a_gain_and_the_spread_shows_it() -> None:
    # seed 13: the method's run took off (+30 EM on 30% of questions); seeds 14 and 15: it is slightly worse.
    ids = [f"q{i}" for i in range(300)]
    control = {s: {q: float(100 * (i % 5 == 0)) for i, q in enumerate(ids)} for s in (13, 14, 15)}
    method = {
        13: {q: 100.0 if i % 10 < 3 or i % 5 == 0 else 0.0 for i, q in enumerate(ids)},
        14: {q: 0.0 if i % 20 == 0 else v for i, (q, v) in enumerate(control[14].items())},
        15: {q: 0.0 if i % 20 == 0 else v for i, (q, v) in enumerate(control[15].items())},
    }
    one_seed = seed_comparison({13: method[13]}, {13: control[13]})
    assert one_seed.verdict == "helps" and one_seed.single_seed and one_seed.sd is None  # what one seed would claim
    three = seed_comparison(method, control)
    # per seed: s13 40% vs 20% correct -> +20; s14, s15: 5% of questions lost -> -5 each; mean 3.33, sd 14.43
    assert three.per_seed == pytest.approx((20.0, -5.0, -5.0)) and three.mean == pytest.approx(10 / 3)
    assert three.sd > abs(three.mean)  # the seed spread dwarfs the mean
    assert three.verdict in ("seed-dependent", "no measurable difference")  # never "helps"


def test_only_questions_scored_everywhere_are_compared_and_missing_seeds_fail() -> None:
    method = {1: {"a": 100.0, "b": 0.0}, 2: {"a": 100.0}}
    control = {1: {"a": 0.0, "b": 100.0}, 2: {"a": 0.0, "b": 0.0}}
    assert seed_comparison(method, control, n_resamples=50).n == 1
    with pytest.raises(ValueError, match=r"every seed needs both runs"):
        seed_comparison(method, {1: control[1]})
    with pytest.raises(ValueError, match=r"no question is scored"):
        seed_comparison({1: {"a": 1.0}}, {1: {"b": 1.0}})


def test_spread_of_one_number_per_seed() -> None:
    assert spread({13: 9.5, 0: 29.7}) == pytest.approx((19.6, 14.2836, 9.5, 29.7), abs=1e-4)
    assert spread({13: 5.0})[1] is None
