"""Consistency over bundles and Hungarian joint inference (docs/methods.md §2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from training.metrics.bundles import answer_scores, consistency, joint_assignment, joint_inference, members_of


def test_consistency_counts_only_bundles_of_two_or_more() -> None:
    members = {"b1": ["q1", "q2"], "b2": ["q3", "q4"], "b3": ["q5"], "b4": ["q6", "q7", "q8"]}
    correct = {"q1": True, "q2": True, "q3": True, "q4": False, "q5": True, "q6": 1.0, "q7": 1.0}  # q8 missing
    c = consistency(members, correct)
    assert c.n_bundles == 3  # b3 has one question
    assert c.all_correct == {"b1": True, "b2": False, "b4": False}
    assert c.value == pytest.approx(100 / 3)


def test_a_question_in_two_bundles_counts_in_both() -> None:
    # q1 is in b1 and b2, every question right: 2 of 2 bundles consistent (a question -> bundle map kept one)
    members = members_of([("b1", "q1"), ("b1", "q2"), ("b2", "q1"), ("b2", "q3")])
    assert members == {"b1": ["q1", "q2"], "b2": ["q1", "q3"]}
    c = consistency(members, {"q1": 1.0, "q2": 1.0, "q3": 1.0})
    assert c.n_bundles == 2 and c.value == 100.0


def test_hungarian_fixes_a_duplicated_greedy_answer() -> None:
    # both questions prefer "warmer"; greedy argmax answers "warmer" twice -> one is wrong
    scores = np.array(
        [
            [5.0, 1.0],  # q1: gold "warmer"
            [4.0, 3.5],
        ]
    )  # q2: gold "cooler"
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


def test_joint_inference_assigns_per_bundle() -> None:
    nbest = {"q1": [("warmer", 5.0), ("cooler", 1.0)], "q2": [("warmer", 4.0), ("cooler", 3.5)], "q3": [("same", 2.0)]}
    preds = {"q1": "warmer", "q2": "warmer", "q3": "same"}
    # q1 in b (with q2) and in c (with q3, answers "warmer" / "same"): each bundle assigns on its own
    out = joint_inference(
        {"b": ["q1", "q2"], "c": ["q1", "q3"]}, {"b": ["warmer", "cooler"], "c": ["warmer", "same"]}, nbest, preds
    )
    assert out == {"b": {"q1": "warmer", "q2": "cooler"}, "c": {"q1": "warmer", "q3": "same"}}
    # more questions than answers: the unassigned question keeps its own prediction
    assert joint_inference({"b": ["q1", "q2"]}, {"b": ["warmer"]}, nbest, preds) == {
        "b": {"q1": "warmer", "q2": "warmer"}
    }
