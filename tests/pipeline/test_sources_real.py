"""pipeline.sources on the real data in ../shared/data (PROTOCOL.md counts).

pytest tests/pipeline/test_sources_real.py -q -m integration
"""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.sources import LoadResult, SourceSpec, load_source, protocol_eval_titles

pytestmark = pytest.mark.integration


def spans_point_at_text(result: LoadResult) -> int:
    """Number of answer / plausible spans whose offsets do not point at their text (0 expected)."""
    joined = result.examples.join(result.contexts.select("context_id", "split", "context"), on=["context_id", "split"])
    bad = 0
    for context, answers, plausible in joined.select("context", "answers", "plausible_answers").iter_rows():
        bad += sum(context[s["start"] : s["end"]] != s["text"] for s in answers + plausible)
    return bad


@pytest.fixture(scope="module")
def squad11_path(shared_data):
    return str(shared_data / "squad" / "v1.1" / "dev-v1.1.json")


def test_squad11_dev_full(squad11_path):
    result = load_source(SourceSpec("squad11", squad11_path))
    assert (result.examples.height, result.contexts.height, result.rejects.height) == (10570, 2067, 0)
    assert result.summary() == "squad11: 10570 examples, 2067 contexts, 0 rejected"
    assert result.examples["answers"].list.len().sum() == 34726
    assert spans_point_at_text(result) == 0


def test_squad11_protocol_split(squad11_path):
    result = load_source(SourceSpec("squad11", squad11_path, article_split="protocol"))
    stats = result.examples.group_by("split").agg(
        pl.col("title").n_unique().alias("articles"),
        pl.col("context_id").n_unique().alias("paragraphs"),
        pl.len().alias("questions"),
    )
    assert dict((s, (a, p, q)) for s, a, p, q in stats.iter_rows()) == {
        "eval": (16, 768, 3634),
        "train": (32, 1299, 6936),
    }
    assert result.contexts.group_by("split").len().sort("split").rows() == [("eval", 768), ("train", 1299)]
    assert len(protocol_eval_titles(squad11_path)) == 16


def test_squad20_half(shared_data):
    result = load_source(SourceSpec("squad20", str(shared_data / "squad" / "v2.0" / "dev-v2.0.cs224n-dev-half.json")))
    assert (result.examples.height, result.rejects.height, result.contexts.height) == (6078, 0, 646)
    assert result.examples["is_impossible"].sum() == 3168
    impossible = result.examples.filter(pl.col("is_impossible"))
    assert impossible["answers"].list.len().max() == 0 and impossible["plausible_answers"].list.len().min() >= 1
    assert spans_point_at_text(result) == 0


@pytest.mark.parametrize(
    ("name", "questions", "kept", "only_in_question", "inside_word"),
    [
        ("dev", 1688, 1492, 196, 0),
        ("train", 10924, 9572, 1346, 6),
    ],
)
def test_ropes_shared_context(shared_data, name, questions, kept, only_in_question, inside_word):
    result = load_source(
        SourceSpec("ropes", str(shared_data / "ropes" / f"{name}-v1.0.json"), split=name, ropes_context="shared")
    )
    assert result.n_records == questions
    assert result.examples.height == kept
    reasons = dict(result.rejects.group_by("reason").len().iter_rows())
    assert reasons == {
        "answer_only_in_question": only_in_question,
        **({"answer_only_inside_word": inside_word} if inside_word else {}),
    }
    assert kept + only_in_question + inside_word == questions
    assert spans_point_at_text(result) == 0
    per_context = result.examples.group_by("context_id").len()["len"]
    assert per_context.max() > 1  # questions of a situation share one context


def test_ropes_with_question_context(shared_data):
    result = load_source(SourceSpec("ropes", str(shared_data / "ropes" / "dev-v1.0.json")))  # the default
    assert (result.examples.height, result.contexts.height, result.rejects.height) == (1688, 1688, 0)
    assert spans_point_at_text(result) == 0
    train = load_source(SourceSpec("ropes", str(shared_data / "ropes" / "train-v1.0.json"), split="train"))
    assert (train.n_records, train.examples.height) == (10924, 10918)  # 99.95% kept
    assert dict(train.rejects.group_by("reason").len().iter_rows()) == {"answer_only_inside_word": 6}
    assert spans_point_at_text(train) == 0


def test_xquad_de(shared_data, squad11_path):
    path = str(shared_data / "xquad" / "xquad.de.json")
    result = load_source(SourceSpec("xquad_de", path))
    assert (result.examples.height, result.rejects.height) == (1190, 0)
    assert set(result.examples["lang"]) == {"de"}
    restricted = load_source(SourceSpec("xquad_de", path, restrict_titles=protocol_eval_titles(squad11_path)))
    assert (restricted.examples.height, restricted.n_filtered) == (356, 834)  # checked with plain json too
    assert set(restricted.examples["title"]) == set(protocol_eval_titles(squad11_path))


def test_adversarial_on_eval_titles(shared_data, squad11_path):
    eval_titles = protocol_eval_titles(squad11_path)
    folder = shared_data / "adversarial_squad"
    addonesent = load_source(
        SourceSpec("addonesent", str(folder / "sample1k-HCVerifySample.json"), restrict_titles=eval_titles)
    )
    assert (addonesent.examples.height, addonesent.rejects.height, addonesent.n_records) == (609, 0, 1787)
    addsent = load_source(SourceSpec("addsent", str(folder / "sample1k-HCVerifyAll.json")))
    assert (addsent.examples.height, addsent.rejects.height) == (3560, 0)
    addsent_eval = load_source(
        SourceSpec("addsent", str(folder / "sample1k-HCVerifyAll.json"), restrict_titles=eval_titles)
    )
    assert addsent_eval.examples.height == 1219
