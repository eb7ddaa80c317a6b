"""Consistency over bundles and Hungarian joint inference (METHODS.md §2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from training.metrics.bundles import answer_scores, consistency, joint_assignment, joint_inference


def test_consistency_counts_only_bundles_of_two_or_more() -> None:
    bundle_of = {"q1": "b1", "q2": "b1", "q3": "b2", "q4": "b2", "q5": "b3", "q6": "b4", "q7": "b4", "q8": "b4"}
    correct = {"q1": True, "q2": True, "q3": True, "q4": False, "q5": True, "q6": 1.0, "q7": 1.0}  # q8 missing
    c = consistency(bundle_of, correct)
    assert c.n_bundles == 3  # b3 has one question
    assert c.all_correct == {"b1": True, "b2": False, "b4": False}
    assert c.value == pytest.approx(100 / 3)


def test_hungarian_fixes_a_duplicated_greedy_answer() -> None:
    # both questions prefer "warmer"; greedy argmax answers "warmer" twice -> one is wrong
    scores = np.array([[5.0, 1.0],   # q1: gold "warmer"
                       [4.0, 3.5]])  # q2: gold "cooler"
    assert list(scores.argmax(1)) == [0, 0]
    assert list(joint_assignment(scores)) == [0, 1]  # 5 + 3.5 > 4 + 1


def _brute_force_best(s: np.ndarray) -> float:
    """Best total over all one-to-one matchings of min(questions, answers) pairs."""
    q, a = s.shape
    if q <= a:
        return max(sum(s[i, j] for i, j in enumerate(p)) for p in itertools.permutations(range(a), q))
    return max(sum(s[i, j] for j, i in enumerate(p)) for p in itertools.permutations(range(q), a))


def test_joint_assignment_is_the_brute_force_optimum() -> None:
    rng = np.random.default_rng(0)
    for q, a in [(2, 2), (3, 3), (2, 4), (4, 2), (3, 5), (5, 3)]:
        s = rng.normal(size=(q, a))
        got = joint_assignment(s)
        used = got[got >= 0]
        assert len(used) == min(q, a) and len(set(used.tolist())) == len(used)  # one-to-one
        total = sum(s[i, j] for i, j in enumerate(got) if j >= 0)
        assert total == pytest.approx(_brute_force_best(s))


def test_infinite_cells_used_only_when_needed() -> None:
    s = np.array([[1.0, -np.inf], [2.0, -np.inf]])
    got = joint_assignment(s)
    assert sorted(got.tolist()) == [0, 1] and got[1] == 0  # the finite 2.0 beats 1.0 for answer 0
    assert list(joint_assignment(np.array([[0.0, -np.inf], [-np.inf, -100.0]]))) == [0, 1]


def test_answer_scores_from_nbest_use_normalised_text() -> None:
    nbest = [("The Warmer", 3.0), ("warmer", 2.5), ("cooler.", 1.0)]
    assert list(answer_scores(nbest, ["warmer", "cooler", "same"])) == [3.0, 1.0, -np.inf]


def test_joint_inference_rewrites_bundled_predictions_only() -> None:
    bundle_of = {"q1": "b", "q2": "b"}
    nbest = {"q1": [("warmer", 5.0), ("cooler", 1.0)], "q2": [("warmer", 4.0), ("cooler", 3.5)]}
    preds = {"q1": "warmer", "q2": "warmer", "q3": "alone"}
    out = joint_inference(bundle_of, {"b": ["warmer", "cooler"]}, nbest, preds)
    assert out == {"q1": "warmer", "q2": "cooler", "q3": "alone"}
