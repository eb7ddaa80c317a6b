"""Official SQuAD 1.1 / 2.0 behaviour on hand-made cases whose official values are worked out below."""

from __future__ import annotations

import pytest

from training.metrics.squad import f1_v1, f1_v2, normalize_answer, scores_v2, squad_v1, squad_v2


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The  Quick, brown-fox!", "quick brownfox"),
        ("An apple a day", "apple day"),
        ("the theatre", "theatre"),  # articles only as whole words
        ("A.B.C.", "abc"),  # punctuation goes first, so "a" is no longer a word
        ("  \tEiffel\nTower ", "eiffel tower"),
        ("Ångström's UNIT", "ångströms unit"),
        ("", ""),
    ],
)
def test_normalize_answer(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def test_token_f1_is_multiset() -> None:
    # common = {cat: 1, dog: 1} -> P = R = 2/3
    assert f1_v1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    assert f1_v1("the cat", "a cat") == 1.0
    assert f1_v1("Denver", "Denver Broncos") == pytest.approx(2 / 3)  # P 1, R 1/2


def test_empty_prediction_v1_vs_v2() -> None:
    assert f1_v1("", "") == 0.0  # v1.1: no shared token -> 0
    assert f1_v2("", "") == 1.0  # v2.0: both empty -> 1
    assert f1_v2("", "Paris") == 0.0 and f1_v2("Paris", "") == 0.0
    assert f1_v2("the", "") == 1.0  # normalises to nothing on both sides


def test_squad_v1_multiple_golds_missing_and_empty_predictions() -> None:
    golds = {
        "q1": ["the Eiffel Tower", "Eiffel Tower"],
        "q2": ["Denver Broncos"],
        "q3": ["1990"],
        "q4": ["a cat sat"],
        "q5": ["in 1990", "1990"],
    }
    preds = {"q1": "Eiffel tower!", "q2": "The Broncos", "q3": "", "q5": "1990"}  # q4 missing -> 0
    # EM: q1 1, q5 1 -> 2/5; F1: q1 1, q2 2/3, q5 max(2/3, 1) = 1 -> (2 + 2/3) / 5
    assert squad_v1(golds, preds) == pytest.approx({"exact_match": 40.0, "f1": 100 * (8 / 3) / 5})


def test_squad_v2_breakdown() -> None:
    golds = {"a": ["Paris"], "b": [], "c": ["in 1990", "1990"], "d": [], "e": ["the red car", "red car"]}
    preds = {"a": "Paris", "b": "", "c": "1990s", "d": "London", "e": "a red car door"}
    # EM a 1, b 1, c 0, d 0, e 0; F1 a 1, b 1, c 0, d 0, e P 2/3 R 1 -> 0.8
    out = squad_v2(golds, preds)
    assert out == pytest.approx(
        {
            "exact": 40.0,
            "f1": 100 * 2.8 / 5,
            "total": 5.0,
            "HasAns_exact": 100 / 3,
            "HasAns_f1": 100 * 1.8 / 3,
            "HasAns_total": 3.0,
            "NoAns_exact": 50.0,
            "NoAns_f1": 50.0,
            "NoAns_total": 2.0,
        }
    )


def test_squad_v2_best_threshold_and_na_prob_thresh() -> None:
    golds = {"a": ["Paris"], "b": [], "c": ["1990"], "d": []}
    preds = {"a": "Paris", "b": "", "c": "1990s", "d": "London"}
    na = {"a": 0.1, "b": 0.9, "c": 0.4, "d": 0.8}
    # find_best_thresh: start at #no-answer = 2; by na_prob: a +1 -> 3 (thresh .1), c +0, d -1, b 0 -> best 3/4
    out = squad_v2(golds, preds, na_probs=na)
    assert out["best_exact"] == 75.0 and out["best_exact_thresh"] == 0.1
    assert out["best_f1"] == 75.0 and out["best_f1_thresh"] == 0.1
    assert out["exact"] == 50.0  # default na_prob_thresh 1.0 changes nothing
    # na_prob_thresh 0.5: b (0.9) and d (0.8) become "no answer" -> both correct -> a, b, d right
    assert squad_v2(golds, preds, na_probs=na, na_prob_thresh=0.5)["exact"] == 75.0


def test_best_threshold_keeps_zero_when_abstaining_everywhere_is_best() -> None:
    golds = {"a": ["Paris"], "b": []}
    preds = {"a": "Rome", "b": "x"}
    out = squad_v2(golds, preds, na_probs={"a": 0.3, "b": 0.6})
    # start 1 (b abstains); a adds 0, b adds -1 -> best 1/2 at threshold 0.0
    assert (out["best_exact"], out["best_exact_thresh"]) == (50.0, 0.0)


def test_all_unanswerable_set() -> None:
    out = squad_v2({"x": [], "y": [], "z": []}, {"x": "", "y": "foo", "z": ""})
    assert out["exact"] == pytest.approx(200 / 3) and out["f1"] == pytest.approx(200 / 3)
    assert out["NoAns_total"] == 3.0 and "HasAns_exact" not in out


def test_gold_normalising_to_empty_counts_as_answerable_with_empty_gold() -> None:
    raw = scores_v2({"z": ["The"]}, {"z": ""})  # official: gold list filtered to [] -> [""]
    assert raw.em["z"] == 1.0 and raw.f1["z"] == 1.0
    assert squad_v2({"z": ["The"]}, {"z": ""})["HasAns_total"] == 1.0


def test_v2_missing_prediction_is_an_error_naming_the_id() -> None:
    with pytest.raises(ValueError, match="'q9'"):
        squad_v2({"q9": ["x"]}, {})


@pytest.mark.integration
def test_real_squad_dev_files_score_their_own_golds(shared_data) -> None:
    """Predicting a gold answer scores 100 on the real files (Unicode, punctuation, v2 empty golds)."""
    import json

    def golds(path):
        data = json.loads((shared_data / path).read_text(encoding="utf-8"))["data"]
        return {
            qa["id"]: [a["text"] for a in qa["answers"]]
            for art in data
            for par in art["paragraphs"]
            for qa in par["qas"]
        }

    g1 = golds("squad/v1.1/dev-v1.1.json")
    assert len(g1) == 10_570
    # official v1.1 quirk: a gold that normalises to nothing (e.g. "the") gets EM 1 but F1 0
    empty = sum(1 for a in g1.values() if not normalize_answer(a[-1]))
    assert empty >= 1
    out1 = squad_v1(g1, {q: a[-1] for q, a in g1.items()})
    assert out1 == pytest.approx({"exact_match": 100.0, "f1": 100.0 * (len(g1) - empty) / len(g1)})
    g2 = golds("squad/v2.0/dev-v2.0.cs224n-dev-half.json")
    out = squad_v2(g2, {q: (a[0] if a else "") for q, a in g2.items()})
    assert (out["exact"], out["f1"], out["NoAns_total"]) == (100.0, 100.0, 3168.0)
    # answering every unanswerable question with a span costs exactly the NoAns share
    wrong = squad_v2(g2, {q: (a[0] if a else "x") for q, a in g2.items()})
    assert wrong["exact"] == pytest.approx(100.0 * (len(g2) - 3168) / len(g2))
