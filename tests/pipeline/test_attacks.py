"""Negation attack and evaluation-set parsing (AddSent/AddOneSent restricted to the PROTOCOL eval titles)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipeline import io, schemas
from pipeline.attacks import (
    PRESETS, adversarial_base_id, distractor, load_eval_set, negate_question, negation_attack, parse_eval_set,
)


def _tokens(question: str, tags: str) -> list[tuple[str, str, int]]:
    """Hand-tagged tokens: words (and the final '?') with the given Penn tags."""
    out, pos = [], 0
    for word, tag in zip(re.findall(r"[\w'-]+|\?", question), tags.split(), strict=True):
        pos = question.index(word, pos)
        out.append((word, tag, pos))
        pos += len(word)
    return out


@pytest.mark.parametrize("question, tags, expected", [
    ("Who founded the company?", "WP VBD DT NN .", "Who didn't found the company?"),
    ("In what year was the institute founded?", "IN WDT NN VBD DT NN VBN .", "In what year wasn't the institute founded?"),
    ("Where had the director studied?", "WRB VBD DT NN VBN .", "Where hadn't the director studied?"),
    ("How many streets had to be closed?", "WRB JJ NNS VBD TO VB VBN .", "How many streets didn't have to be closed?"),
    ("What does the river feed?", "WP VBZ DT NN VB .", "What doesn't the river feed?"),
    ("Who has the key?", "WP VBZ DT NN .", "Who doesn't have the key?"),
    ("Which city will host the fair?", "WDT NN MD VB DT NN .", "Which city won't host the fair?"),
    ("Is the river long?", "VBZ DT NN JJ .", "Isn't the river long?"),
])
def test_negate_question(question: str, tags: str, expected: str) -> None:
    assert negate_question(question, _tokens(question, tags)) == expected


def test_no_negation_without_a_finite_verb_or_when_already_negated() -> None:
    q = "Which company, the first?"
    assert negate_question(q, _tokens(q, "WDT NN DT JJ .")) is None
    q = "Who did not win?"
    assert negate_question(q, _tokens(q, "WP VBD RB VB .")) is None


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    context = "In 1998 Alice Smith founded the Orchard Company in Boston."
    cid = io.text_id(context)
    base = {"context_id": cid, "title": "T", "is_impossible": False, "plausible_answers": [], "lang": "en",
            "question_type": None, "source_file": "file.json", "source_record": "r"}
    rows = [
        {**base, "example_id": "a", "question": "Who founded the Orchard Company?",
         "answers": [{"text": "Alice Smith", "start": 8, "end": 19}]},
        {**base, "example_id": "b", "question": "What, the company?", "answers": [{"text": "Orchard", "start": 32, "end": 39}]},
        {**base, "example_id": "c", "question": "Who sold it?", "answers": [], "is_impossible": True},
    ]
    ex = pl.DataFrame(rows, schema=io.empty_frame(schemas.EXAMPLES).schema)
    ctx = pl.DataFrame([{"context_id": cid, "context": context, "title": "T", "lang": "en", "n_chars": len(context)}],
                       schema=io.empty_frame(schemas.CONTEXTS).schema)
    return ex, ctx


def _tagger(questions):
    tags = {"Who founded the Orchard Company?": "WP VBD DT NNP NNP .", "What, the company?": "WP DT NN .",
            "Who sold it?": "WP VBD PRP ."}
    return [_tokens(q, tags[q]) for q in questions]


def test_negation_attack_rows_and_rejects() -> None:
    ex, ctx = _frames()
    out = negation_attack(ex, ctx, _tagger)
    io.to_table(out.examples, schemas.EXAMPLES)
    io.to_table(out.contexts, schemas.CONTEXTS)
    (row,) = out.examples.to_dicts()
    assert row["example_id"] == "a~neg" and row["question"] == "Who didn't found the Orchard Company?"
    assert row["answers"] == [] and row["is_impossible"] and row["plausible_answers"][0]["text"] == "Alice Smith"
    (context,) = out.contexts["context"].to_list()
    original = ctx["context"][0]
    assert context.startswith(original + " ") and "Alice Smith" in context[len(original):]
    assert out.contexts["context_id"][0] == row["context_id"] == io.text_id(context)
    assert dict(zip(out.rejects["record_id"], out.rejects["reason"], strict=True)) == {
        "b": "not_negatable", "c": "unanswerable"}
    assert set(out.rejects["stage"]) == {"negation_attack"} and set(out.rejects["source_file"]) == {"file.json"}


def test_distractor_restates_the_original_question() -> None:
    q = "Who founded the Orchard Company?"
    assert distractor(q, _tokens(q, "WP VBD DT NNP NNP ."), "Alice Smith") == "Alice Smith founded the Orchard Company."


def test_parse_eval_set_forms(tmp_path: Path) -> None:
    es = parse_eval_set("neg-mine=data/samples/squad11_sample.json")
    assert es.name == "neg-mine" and es.negation and es.source.path == "data/samples/squad11_sample.json"
    assert not parse_eval_set("mine=some/file.json:squad").negation
    with pytest.raises(ValueError, match="preset"):
        parse_eval_set("nonsense")
    with pytest.raises(ValueError, match="--data-dir"):
        parse_eval_set("addsent")
    with pytest.raises(ValueError, match="not found"):
        parse_eval_set("addsent", tmp_path)
    assert {"squad11-eval", "addsent", "addonesent", "xquad-de", "ropes-dev"} <= set(PRESETS)


def test_adversarial_base_id() -> None:
    assert adversarial_base_id("56be4db0acb8001400a502ee-high-conf-turk1") == "56be4db0acb8001400a502ee"
    assert adversarial_base_id("56be4db0acb8001400a502ee-high-conf") == "56be4db0acb8001400a502ee"
    assert adversarial_base_id("56be4db0acb8001400a502ee") == "56be4db0acb8001400a502ee"


def test_negation_attack_with_spacy_on_the_sample(samples: Path) -> None:
    frames = load_eval_set(parse_eval_set(f"neg-s={samples / 'squad11_sample.json'}"))
    assert frames.examples.height + frames.rejects.height == 28  # every question attacked or rejected
    assert frames.examples.height >= 20
    assert all(("n't" in q or " not " in q) for q in frames.examples["question"])
    assert frames.examples["is_impossible"].all()


@pytest.mark.integration
def test_adversarial_sets_keep_the_eval_titles_only(shared_data: Path) -> None:
    one = load_eval_set(parse_eval_set("addonesent", shared_data))
    assert one.examples.height == 609  # PROTOCOL.md: AddOneSent on eval titles
    squad = load_eval_set(parse_eval_set("squad11-eval", shared_data))
    assert squad.examples.height == 3634
    assert set(one.examples["title"]) <= set(squad.examples["title"])
