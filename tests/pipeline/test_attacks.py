"""Negation attack and evaluation-set parsing (AddSent/AddOneSent restricted to the PROTOCOL eval titles)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipeline import io, schemas
from pipeline.attacks import entity_pool, fake_answer, insert_not, load_eval_set, negation_attack
from pipeline.eval_sets import PRESETS, Preset, adversarial_base_id, parse_eval_set


def _tokens(question: str, tags: str) -> list[tuple[str, str, int]]:
    """Hand-tagged tokens: words (and the final '?') with the given Penn tags."""
    out, pos = [], 0
    for word, tag in zip(re.findall(r"[\w'-]+|\?", question), tags.split(), strict=True):
        pos = question.index(word, pos)
        out.append((word, tag, pos))
        pos += len(word)
    return out


@pytest.mark.parametrize(
    "question, tags, expected",
    [
        # the reference's example (README of sonqt/unanswerable-robustness): "not" before "independent"
        (
            "In the effort of maintaining a level of abstraction, what choice is typically left independent?",
            "IN DT NN IN VBG DT NN IN NN WDT NN VBZ RB VBN JJ .",
            "In the effort of maintaining a level of abstraction, what choice is typically left not independent?",
        ),
        ("What is the largest city in Poland?", "WP VBZ DT JJS NN IN NNP .", "What is the not largest city in Poland?"),
        (
            "Who was the first president of the new republic?",
            "WP VBD DT JJ NN IN DT JJ NN .",
            "Who was the not first president of the new republic?",
        ),  # the FIRST adjective only
        # extension: the adjective of a "how ADJ" wh-phrase is skipped, the next one is taken
        (
            "How many people live in the old town?",
            "WRB JJ NNS VBP IN DT JJ NN .",
            "How many people live in the not old town?",
        ),
    ],
)
def test_insert_not_before_the_first_adjective(question: str, tags: str, expected: str) -> None:
    assert insert_not(question, _tokens(question, tags)) == expected


def test_no_adjective_gives_none() -> None:
    q = "Who founded the company?"
    assert insert_not(q, _tokens(q, "WP VBD DT NN .")) is None
    q = "How many people live in Warsaw?"  # only the wh-phrase's adjective
    assert insert_not(q, _tokens(q, "WRB JJ NNS VBP IN NNP .")) is None


CTX1 = "In 1998 Alice Smith founded the Orchard Company in Boston."
CTX2 = "Bob Jones visited Paris in 2001."
# hand-made NER: offsets counted by hand ("In 1998 " = 8 chars, "Alice Smith" = 11, ...)
ENTITIES = {
    io.text_id(CTX1): [
        {"start": 3, "end": 7, "label": "DATE"},
        {"start": 8, "end": 19, "label": "PERSON"},
        {"start": 32, "end": 47, "label": "ORG"},
        {"start": 51, "end": 57, "label": "GPE"},
    ],
    io.text_id(CTX2): [
        {"start": 0, "end": 9, "label": "PERSON"},
        {"start": 18, "end": 23, "label": "GPE"},
        {"start": 27, "end": 31, "label": "DATE"},
    ],
}
TAGS = {
    "Who founded the famous Orchard Company?": "WP VBD DT JJ NNP NNP .",
    "Who founded the not famous Orchard Company?": "WP VBD DT RB JJ NNP NNP .",
    "When was the old company founded?": "WRB VBD DT JJ NN VBN .",
    "When was the not old company founded?": "WRB VBD DT RB JJ NN VBN .",
    "Who sold it?": "WP VBD PRP .",
    "Who bought the big company?": "WP VBD DT JJ NN .",
    "Who did not found the big company?": "WP VBD RB VB DT JJ NN .",
    "What did the rich Alice Smith do?": "WP VBD DT JJ NNP NNP VB .",
    "What did the rich Alice Smith found?": "WP VBD DT JJ NNP NNP VB .",
    "The famous company was founded by whom?": "DT JJ NN VBD VBN IN WP .",
    "The not famous company was founded by whom?": "DT RB JJ NN VBD VBN IN WP .",
}


def _tagger(questions):
    return [_tokens(q, TAGS[q]) for q in questions]


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    base = {
        "context_id": io.text_id(CTX1),
        "title": "T",
        "is_impossible": False,
        "plausible_answers": [],
        "lang": "en",
        "question_type": None,
        "source_file": "file.json",
        "source_record": "r",
    }
    alice = [{"text": "Alice Smith", "start": 8, "end": 19}]
    rows = [
        {**base, "example_id": "a", "question": "Who founded the famous Orchard Company?", "answers": alice},
        {
            **base,
            "example_id": "b",
            "question": "When was the old company founded?",
            "answers": [{"text": "In 1998", "start": 0, "end": 7}],
        },
        {**base, "example_id": "c", "question": "Who sold it?", "answers": alice},
        {**base, "example_id": "d", "question": "Who bought the big company?", "answers": [], "is_impossible": True},
        {**base, "example_id": "e", "question": "Who did not found the big company?", "answers": alice},
        {
            **base,
            "example_id": "f",
            "question": "What did the rich Alice Smith do?",
            "answers": [{"text": "founded", "start": 20, "end": 27}],
        },
        {
            **base,
            "example_id": "g",
            "question": "What did the rich Alice Smith found?",
            "answers": [{"text": "the Orchard Company", "start": 28, "end": 47}],
        },
        # adjective and a PERSON gold (fake: Bob Jones), but no statement rule restates a
        # fronted-object question: rejected, not restated as 'The answer to "..." is Bob Jones.'
        {**base, "example_id": "h", "question": "The famous company was founded by whom?", "answers": alice},
    ]
    ex = pl.DataFrame(rows, schema=io.empty_frame(schemas.EXAMPLES).schema)
    ctx = pl.DataFrame(
        [
            {"context_id": io.text_id(c), "context": c, "title": "T", "lang": "en", "n_chars": len(c)}
            for c in (CTX1, CTX2)
        ],
        schema=io.empty_frame(schemas.CONTEXTS).schema,
    )
    return ex, ctx


def test_negation_attack_keeps_question_and_gold_and_appends_a_negated_distractor() -> None:
    ex, ctx = _frames()
    out = negation_attack(ex, ctx, _tagger, ENTITIES)
    io.to_table(out.attacked.examples, schemas.EXAMPLES)
    io.to_table(out.attacked.contexts, schemas.CONTEXTS)
    attacked = {r["example_id"]: r for r in out.attacked.examples.to_dicts()}
    assert set(attacked) == {"a~neg", "b~neg"}
    text = dict(zip(out.attacked.contexts["context_id"], out.attacked.contexts["context"], strict=True))
    # a: only PERSON of another context is "Bob Jones"; statement rule wh_subject ("ANS founded ...")
    a = attacked["a~neg"]
    assert a["question"] == "Who founded the famous Orchard Company?"  # the question is NOT changed
    assert a["answers"] == [{"text": "Alice Smith", "start": 8, "end": 19}] and not a["is_impossible"]
    assert text[a["context_id"]] == CTX1 + " Bob Jones founded the not famous Orchard Company."
    # b: the DATE entity "1998" lies inside the gold "In 1998": only that part is replaced (the one other DATE: 2001)
    b = attacked["b~neg"]
    assert b["question"] == "When was the old company founded?" and b["answers"][0]["text"] == "In 1998"
    # the fake "In 2001" brings its own preposition: the statement's "in" gives way (was "founded in In 2001")
    assert text[b["context_id"]] == CTX1 + " The not old company was founded in 2001."
    audit = {r["example_id"]: r for r in out.audit.to_dicts()}
    assert audit["a~neg"]["negated_question"] == "Who founded the not famous Orchard Company?"
    assert (audit["a~neg"]["fake_answer"], audit["a~neg"]["label"], audit["a~neg"]["rule"]) == (
        "Bob Jones",
        "PERSON",
        "wh_subject",
    )
    assert audit["b~neg"]["distractor_start"] == len(CTX1) + 1
    # the same examples unattacked: original ids, questions, contexts
    clean = out.unattacked.examples
    assert clean["example_id"].to_list() == ["a", "b"] and set(clean["context_id"]) == {io.text_id(CTX1)}
    assert out.unattacked.contexts["context"].to_list() == [CTX1]


def test_negation_attack_rejects_with_a_reason() -> None:
    ex, ctx = _frames()
    rej = negation_attack(ex, ctx, _tagger, ENTITIES).attacked.rejects
    assert dict(zip(rej["record_id"], rej["reason"], strict=True)) == {
        "c": "no_adjective",
        "d": "unanswerable",
        "e": "already_negated",
        "f": "untyped_answer",  # no entity overlaps "founded"
        "g": "no_fake_answer",  # ORG: no other context has one
        "h": "no_statement",  # no quoting fallback: a question no rule restates is not attacked
    }
    assert set(rej["stage"]) == {"negation_attack"} and set(rej["source_file"]) == {"file.json"}
    assert rej.filter(pl.col("record_id") == "g")["detail"][0].startswith("no ORG entity")


def test_fake_answer_differs_from_every_gold() -> None:
    ctx3 = "Alice Smith and Alice met."
    entities = {
        **ENTITIES,
        io.text_id(ctx3): [{"start": 0, "end": 11, "label": "PERSON"}, {"start": 16, "end": 21, "label": "PERSON"}],
    }
    texts = {io.text_id(c): c for c in (CTX1, CTX2, ctx3)}
    pool = entity_pool(texts, entities)
    ex = {
        "example_id": "a",
        "context_id": io.text_id(CTX1),
        "answers": [{"text": "Alice Smith", "start": 8, "end": 19}],
    }
    for seed in range(10):  # "Alice Smith" (equal) and "Alice" (token subset) never picked
        assert fake_answer(ex, CTX1, entities[io.text_id(CTX1)], pool, seed)[0] == "Bob Jones"


def test_a_model_that_keeps_answering_the_gold_scores_100_and_the_fake_answer_0() -> None:
    from training.decoding import Candidate, Prediction
    from training.evaluation import evaluate_predictions

    ex, ctx = _frames()
    out = negation_attack(ex, ctx, _tagger, ENTITIES)
    attacked = out.attacked.examples
    audit = dict(zip(out.audit["example_id"], out.audit["fake_answer"], strict=True))

    def preds(text_of):
        return {
            r["example_id"]: Prediction(text_of(r), 0, 1, 1.0, None, [Candidate(text_of(r), 0, 1, 1.0)])
            for r in attacked.to_dicts()
        }

    robust = evaluate_predictions(attacked, preds(lambda r: r["answers"][0]["text"]), n_resamples=20)["summary"]
    assert robust["em"] == 100.0 and robust["f1"] == 100.0  # never abstaining is NOT penalised
    fooled = evaluate_predictions(attacked, preds(lambda r: audit[r["example_id"]]), n_resamples=20)["summary"]
    assert fooled["em"] == 0.0


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


def test_presets_declare_which_sets_are_adversarial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sorted(n for n, p in PRESETS.items() if p.adversarial) == ["addonesent", "addsent"]
    (tmp_path / "adv.json").write_text('{"version": "1.1", "data": []}')
    # a new preset: one entry, no name rule
    monkeypatch.setitem(PRESETS, "my-adv", Preset("adv.json", adversarial=True))
    assert parse_eval_set("my-adv", tmp_path).adversarial
    assert not parse_eval_set("neg-my-adv", tmp_path).adversarial  # `<id>~neg` ids are no variants of one question
    assert not parse_eval_set("addsent=some/file.json").adversarial  # a file set named like a preset is not one


def test_adversarial_base_id() -> None:
    assert adversarial_base_id("56be4db0acb8001400a502ee-high-conf-turk1") == "56be4db0acb8001400a502ee"
    assert adversarial_base_id("56be4db0acb8001400a502ee-high-conf") == "56be4db0acb8001400a502ee"
    assert adversarial_base_id("56be4db0acb8001400a502ee") == "56be4db0acb8001400a502ee"


def test_negation_attack_with_spacy_on_the_sample(samples: Path) -> None:
    frames = load_eval_set(parse_eval_set(f"neg-s={samples / 'squad11_sample.json'}"))
    attack_rejects = frames.rejects.filter(pl.col("stage") == "negation_attack")
    assert frames.examples.height + attack_rejects.height == 28  # every question attacked or rejected
    assert frames.examples.height >= 1 and set(attack_rejects["reason"]) <= {
        "no_adjective",
        "untyped_answer",
        "no_fake_answer",
        "already_negated",
        "unanswerable",
        "no_statement",
    }
    assert "fallback" not in set(frames.audit["rule"])  # no distractor quotes the question
    assert not frames.examples["is_impossible"].any() and frames.examples["answers"].list.len().min() > 0
    clean = frames.unattacked.examples
    assert [i + "~neg" for i in clean["example_id"]] == frames.examples["example_id"].to_list()
    assert clean["question"].to_list() == frames.examples["question"].to_list()  # questions unchanged
    text = dict(zip(frames.contexts["context_id"], frames.contexts["context"], strict=True))
    original = dict(zip(frames.unattacked.contexts["context_id"], frames.unattacked.contexts["context"], strict=True))
    for row, old, audit in zip(frames.examples.to_dicts(), clean.to_dicts(), frames.audit.to_dicts(), strict=True):
        assert text[row["context_id"]] == original[old["context_id"]] + " " + audit["distractor"]
        assert " not " in audit["distractor"] and audit["fake_answer"] in audit["distractor"]
        assert "The answer to" not in audit["distractor"]


@pytest.mark.integration
def test_adversarial_sets_keep_the_eval_titles_only(shared_data: Path) -> None:
    one = load_eval_set(parse_eval_set("addonesent", shared_data))
    assert one.examples.height == 609  # PROTOCOL.md: AddOneSent on eval titles
    squad = load_eval_set(parse_eval_set("squad11-eval", shared_data))
    assert squad.examples.height == 3634
    assert set(one.examples["title"]) <= set(squad.examples["title"])
