"""Near-miss slice (docs/methods.md §1) and per-language tables, on frames built from the declared schemas."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from pipeline import io, schemas
from training.metrics.slices import near_miss_slice, table_by_group

CONTEXT = "Alice Smith met Bob Jones in Boston in 1998. Later Carol King moved to Paris in 2001."
S1, S2 = (0, 44), (45, len(CONTEXT))


def _span(text: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = CONTEXT.index(text, start + 1)
    return {"text": text, "start": start, "end": start + len(text)}


def _ent(text: str, label: str, sent: int) -> dict:
    s = _span(text)
    return {"start": s["start"], "end": s["end"], "label": label, "sent": sent}


def _frames(answers: dict[str, list[dict]]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    cid = io.text_id(CONTEXT)
    examples = [
        {
            "example_id": eid,
            "context_id": cid,
            "title": "t",
            "question": "q?",
            "answers": ans,
            "is_impossible": not ans,
            "plausible_answers": [],
            "lang": "en",
            "question_type": None,
            "source_file": "tests",
            "source_record": eid,
        }
        for eid, ans in answers.items()
    ]
    contexts = [{"context_id": cid, "context": CONTEXT, "title": "t", "lang": "en", "n_chars": len(CONTEXT)}]
    ents = [
        _ent("Alice Smith", "PERSON", 0),
        _ent("Bob Jones", "PERSON", 0),
        _ent("Boston", "GPE", 0),
        _ent("1998", "DATE", 0),
        _ent("Carol King", "PERSON", 1),
        _ent("Paris", "GPE", 1),
        _ent("2001", "DATE", 1),
    ]
    index = [
        {
            "context_id": cid,
            "n_chars": len(CONTEXT),
            "nlp": "x",
            "sentences": [{"start": S1[0], "end": S1[1]}, {"start": S2[0], "end": S2[1]}],
            "entities": ents,
        }
    ]

    def frame(rows, spec):
        return pl.from_arrow(io.to_table(pl.DataFrame(rows).to_arrow(), spec))

    return frame(examples, schemas.EXAMPLES), frame(contexts, schemas.CONTEXTS), frame(index, schemas.INDEX)


def _pred(text: str | None, nth: int = 0):
    if text is None:
        return SimpleNamespace(text="", start=None, end=None)
    s = _span(text, nth)
    return SimpleNamespace(text=text, start=s["start"], end=s["end"])


def test_near_miss_slice_reasons() -> None:
    answers = {
        "in": [_span("Alice Smith")],
        "same": [_span("Alice Smith")],
        "type": [_span("Alice Smith")],
        "far": [_span("Alice Smith")],
        "none": [_span("1998")],
        "unans": [],
        "noent": [_span("met")],
        "date": [_span("1998")],
    }
    baseline = {
        "in": _pred("Bob Jones"),
        "same": _pred("alice smith".title()),
        "type": _pred("Boston"),
        "far": _pred("Carol King"),
        "none": _pred(None),
        "unans": _pred("Paris"),
        "noent": _pred("Bob Jones"),
        "date": _pred("Boston in 1998"),
    }  # overlaps GPE Boston most -> other type
    examples, contexts, index = _frames(answers)
    out = near_miss_slice(examples, contexts, index, baseline)
    reasons = dict(zip(out["example_id"], out["reason"], strict=True))
    assert reasons == {
        "in": "near_miss",
        "same": "same_text",
        "type": "other_type",
        "far": "outside_sentence",
        "none": "no_prediction",
        "unans": "unanswerable",
        "noent": "no_gold_entity",
        "date": "other_type",
    }
    assert out.filter(pl.col("in_slice"))["example_id"].to_list() == ["in"]


def test_near_miss_slice_context_not_indexed_and_bad_frames() -> None:
    examples, contexts, index = _frames({"a": [_span("Alice Smith")]})
    out = near_miss_slice(examples, contexts, index.head(0), {"a": _pred("Bob Jones")})
    assert out["reason"].to_list() == ["context_not_indexed"]
    with pytest.raises(ValueError, match="index frame lacks"):
        near_miss_slice(examples, contexts, index.drop("entities"), {})


def test_table_by_group_with_macro_average() -> None:
    lang = {"q1": "de", "q2": "de", "q3": "en", "q4": "en", "q5": "en", "q6": "en"}
    em = {"q1": 1.0, "q2": 0.0, "q3": 1.0, "q4": 1.0, "q5": 1.0}  # q6 missing -> 0
    f1 = {q: 0.5 for q in lang}
    t = table_by_group(lang, {"em": em, "f1": f1})
    assert t["group"].to_list() == ["de", "en", "avg"]
    assert t["n"].to_list() == [2, 4, 6]
    assert t["em"].to_list() == pytest.approx([50.0, 75.0, 62.5])
    assert t["f1"].to_list() == pytest.approx([50.0, 50.0, 50.0])


def test_near_miss_slice_metrics_scores_every_run_on_the_baseline_slice():
    from training.metrics.slices import near_miss_slice_metrics

    slice_rows = pl.DataFrame(
        {"example_id": ["a", "b", "c"], "reason": ["near_miss", "near_miss", "same_text"]}
    ).with_columns(in_slice=pl.col("reason") == "near_miss")
    preds = {
        "base": pl.DataFrame({"example_id": ["a", "b", "c"], "em": [0.0, 0.0, 1.0], "f1": [0.5, 0.0, 1.0]}),
        "new": pl.DataFrame({"example_id": ["a", "b", "c"], "em": [1.0, 0.0, 1.0], "f1": [1.0, 0.5, 1.0]}),
    }
    out = near_miss_slice_metrics(slice_rows, preds, n_resamples=50)
    got = {(r["run"], r["metric"]): (r["value"], r["n"]) for r in out.iter_rows(named=True)}
    assert got == {
        ("base", "em"): (0.0, 2),
        ("base", "f1"): (25.0, 2),
        ("new", "em"): (50.0, 2),
        ("new", "f1"): (75.0, 2),
    }
    assert (out["slice"] == "near_miss").all() and (out["ci_low"] <= out["value"]).all()
    empty = slice_rows.with_columns(in_slice=pl.lit(False))
    assert near_miss_slice_metrics(empty, preds).height == 0
