"""evaluate_predictions: the combined metrics, and frames that validate against the declared schemas."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import io, schemas
from training.decoding import Candidate, Prediction
from training.evaluation import evaluate_predictions

CTX = "Town Alpha used fertilizer. Town Beta used none. Algae grew in Paris in 1990."


def _span(text: str) -> dict:
    s = CTX.index(text)
    return {"text": text, "start": s, "end": s + len(text)}


def _examples(rows: list[tuple[str, list[str], str]]) -> pl.DataFrame:
    cid = io.text_id(CTX)
    recs = [
        {
            "example_id": eid,
            "context_id": cid,
            "title": "t",
            "question": "q?",
            "answers": [_span(a) for a in ans],
            "is_impossible": not ans,
            "plausible_answers": [],
            "lang": lang,
            "question_type": None,
            "source_file": "tests",
            "source_record": eid,
        }
        for eid, ans, lang in rows
    ]
    return pl.from_arrow(io.to_table(pl.DataFrame(recs).to_arrow(), schemas.EXAMPLES))


def _pred(texts_scores: list[tuple[str, float]], null: float | None = None, answer: bool = True) -> Prediction:
    nbest = tuple(Candidate(t, CTX.index(t), CTX.index(t) + len(t), s) for t, s in texts_scores)
    top = nbest[0]
    if not answer:
        return Prediction("", None, None, top.score, null, nbest)
    return Prediction(top.text, top.start, top.end, top.score, null, nbest)


def test_v1_summary_topk_languages_and_schemas() -> None:
    ex = _examples([("q1", ["Paris"], "en"), ("q2", ["1990"], "en"), ("q3", ["Town Beta"], "de")])
    preds = {
        "q1": _pred([("Paris", 3.0), ("1990", 1.0)]),
        "q2": _pred([("Paris", 2.0), ("Town Alpha", 1.5), ("1990", 1.0)]),
        "q3": _pred([("Town Alpha", 1.0), ("Town Alpha used fertilizer", 0.5)]),
    }
    out = evaluate_predictions(ex, preds, run="r1", n_resamples=200)
    s = out["summary"]
    assert s["em"] == pytest.approx(100 / 3) and s["top1_em"] == pytest.approx(100 / 3)
    assert s["top3_em"] == pytest.approx(200 / 3)
    assert s["f1"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)  # q3: "town alpha" vs "town beta": P = R = F1 = 1/2
    io.to_table(out["predictions"], schemas.PREDICTIONS)
    io.to_table(out["metrics"], schemas.METRICS)
    m = out["metrics"]
    assert set(m["slice"]) == {"all", "lang=de", "lang=en"}
    row = m.filter((pl.col("metric") == "em") & (pl.col("slice") == "all")).row(0, named=True)
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["n"] == 3
    assert out["by_language"]["group"].to_list() == ["de", "en", "avg"]


def test_v2_breakdown_best_threshold_and_slices() -> None:
    ex = _examples([("a", ["Paris"], "en"), ("b", [], "en"), ("c", ["1990"], "en")])
    preds = {
        "a": _pred([("Paris", 5.0)], null=1.0),  # diff -4: answer
        "b": _pred([("Town Beta", 1.0)], null=3.0, answer=False),  # diff 2: abstained, right
        "c": _pred([("1990", 2.0)], null=2.5, answer=False),
    }  # diff .5: abstained, wrong
    out = evaluate_predictions(ex, preds, slices={"near_miss": ["a", "c"]}, n_resamples=100)
    s = out["summary"]
    assert s["em"] == pytest.approx(200 / 3)
    assert s["has_ans_em"] == 50.0 and s["no_ans_em"] == 100.0
    # best threshold on the span answers: answering a and c (diff <= .5) and abstaining on b -> all right
    assert s["best_em"] == 100.0 and s["best_em_thresh"] == 0.5
    ns = out["metrics"].filter((pl.col("slice") == "near_miss") & (pl.col("metric") == "em")).row(0, named=True)
    assert ns["value"] == 50.0 and ns["n"] == 2
    assert out["predictions"].filter(pl.col("example_id") == "b")["start"].to_list() == [None]


def _bundle_rows(rows: list[tuple[str, str, str, str, str]]) -> pl.DataFrame:
    """(bundle_id, kind, mode, example_id, gold answer) -> `bundles` artifact rows."""
    return pl.from_arrow(
        io.to_table(
            pl.DataFrame(
                [
                    {
                        "bundle_id": b,
                        "kind": kind,
                        "mode": mode,
                        "example_id": q,
                        "context_id": io.text_id(CTX),
                        "question": "q?",
                        "answer": _span(a),
                        "role": "original",
                        "rule": None,
                        "parent_id": None,
                    }
                    for b, kind, mode, q, a in rows
                ]
            ).to_arrow(),
            schemas.BUNDLES,
        )
    )


def test_bundle_consistency_and_joint_inference() -> None:
    ex = _examples([("q1", ["Town Alpha"], "en"), ("q2", ["Town Beta"], "en")])
    preds = {
        "q1": _pred([("Town Alpha", 5.0), ("Town Beta", 1.0)]),
        "q2": _pred([("Town Alpha", 4.0), ("Town Beta", 3.5)]),
    }
    bundles = _bundle_rows(
        [("b", "ropes-mined", "paper", "q1", "Town Alpha"), ("b", "ropes-mined", "paper", "q2", "Town Beta")]
    )
    out = evaluate_predictions(ex, preds, bundles=bundles, n_resamples=50)
    s, key = out["summary"], "[bundles:ropes-mined/paper]"
    # greedy: both answer "Town Alpha" -> q2 wrong -> consistency 0; Hungarian: 5 + 3.5 > 4 + 1 -> both right
    assert s["consistency" + key] == 0.0 and s["joint_consistency" + key] == 100.0 and s["joint_em" + key] == 100.0
    assert s["em"] == 50.0 and s["n_bundles" + key] == 1.0
    rows = out["metrics"].filter(pl.col("slice") == "bundles:ropes-mined/paper")
    assert dict(zip(rows["metric"], rows["n"], strict=True)) == {
        "consistency": 1,
        "joint_consistency": 1,
        "joint_em": 2,
    }


def test_a_question_in_bundles_of_two_modes_counts_in_both() -> None:
    """Issue 9, defect 6: q1 sits in b1 (mode paper) and in b2, b3 (mode reference-code).

    Every question of b1 and b2 is right -> consistency 100 in both modes; b3 = {q1, q4} with
    q4 wrong (it answers "Town Alpha", its gold is "1990") -> reference-code:
    1 of 2 bundles right = 50. Joint inference on b3: answers {Town Alpha, 1990};
    q1: (5, 1), q4: (4, 3.5) -> q1 -> Town Alpha, q4 -> 1990 (8.5 > 5) -> both right.
    """
    ex = _examples(
        [("q1", ["Town Alpha"], "en"), ("q2", ["Town Beta"], "en"), ("q3", ["Paris"], "en"), ("q4", ["1990"], "en")]
    )
    preds = {
        "q1": _pred([("Town Alpha", 5.0), ("1990", 1.0)]),
        "q2": _pred([("Town Beta", 2.0)]),
        "q3": _pred([("Paris", 2.0)]),
        "q4": _pred([("Town Alpha", 4.0), ("1990", 3.5)]),
    }
    bundles = _bundle_rows(
        [
            ("b1", "ropes-mined", "paper", "q1", "Town Alpha"),
            ("b1", "ropes-mined", "paper", "q2", "Town Beta"),
            ("b2", "ropes-mined", "reference-code", "q1", "Town Alpha"),
            ("b2", "ropes-mined", "reference-code", "q3", "Paris"),
            ("b3", "ropes-mined", "reference-code", "q1", "Town Alpha"),
            ("b3", "ropes-mined", "reference-code", "q4", "1990"),
        ]
    )
    s = evaluate_predictions(ex, preds, bundles=bundles, n_resamples=20)["summary"]
    paper, ref = "[bundles:ropes-mined/paper]", "[bundles:ropes-mined/reference-code]"
    assert s["consistency" + paper] == 100.0 and s["n_bundles" + paper] == 1.0
    assert s["consistency" + ref] == 50.0 and s["n_bundles" + ref] == 2.0
    assert s["joint_consistency" + ref] == 100.0 and s["joint_em" + ref] == 100.0 and s["n_bundled" + ref] == 4.0


def test_bad_version_fails_early() -> None:
    with pytest.raises(ValueError, match="version"):
        evaluate_predictions(_examples([("q", ["Paris"], "en")]), {}, version="v3")
