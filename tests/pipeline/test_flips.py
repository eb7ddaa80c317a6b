"""Question flips: option patterns, the three rules on hand-written questions, skips."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import flip_rules, io
from pipeline.flips import FlipConfig, find_options, flip_question, flips, spacy_tagger
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, REJECTS

TAG = spacy_tagger("en_core_web_sm")


def _flip(q: str) -> tuple[str, str] | None:
    found = find_options(q)
    spans = found[1] if found else []
    return flip_question(q, spans, ("antonym", "negation", "np_swap"), TAG([q])[0])


@pytest.mark.parametrize(
    "question, options",
    [
        ("Which cup has a higher concentration of sugar, cup A or cup B?", ["cup A", "cup B"]),
        (
            "Which person's radiator, Alex's or Bob's, would have water with a higher boiling point?",
            ["Alex's", "Bob's"],
        ),
        ("Which group is healthy: group A or group B?", ["group A", "group B"]),
        ("Would patient A produce more or less insulin than patient B?", ["more", "less"]),
        ("Is the temperature of the air decreasing less in Milshen or Limlen?", ["Milshen", "Limlen"]),
    ],
)
def test_find_options(question, options):
    _, spans = find_options(question)
    assert [question[s:e] for s, e in spans] == options


def test_no_options():
    assert find_options("What is the boiling point of water?") is None


@pytest.mark.parametrize(
    "question, expected",
    [
        # rule 1: antonyms, case kept, table order (more/less before increase/decrease)
        (
            "Which cup has a higher concentration of sugar, cup A or cup B?",
            ("antonym", "Which cup has a lower concentration of sugar, cup A or cup B?"),
        ),
        ("Who was born first, Tom or Bob?", ("antonym", "Who was born last, Tom or Bob?")),
        ("Higher pressure: tank A or tank B?", ("antonym", "Lower pressure: tank A or tank B?")),
        (
            "Which group had fewer cases, group X or group Y?",
            ("antonym", "Which group had more cases, group X or group Y?"),
        ),
        (
            "Is the temperature of the air decreasing less in Milshen or Limlen?",
            ("antonym", "Is the temperature of the air decreasing more in Milshen or Limlen?"),
        ),
        # rule 2: negation inflections
        ("Which person played tennis, Tom or Bob?", ("negation", "Which person did not play tennis, Tom or Bob?")),
        ("Which team plays well, team A or team B?", ("negation", "Which team does not play well, team A or team B?")),
        (
            "Which team has the ball, team A or team B?",
            ("negation", "Which team does not have the ball, team A or team B?"),
        ),
        ("Who is taller, Tom or Bob?", ("antonym", "Who is shorter, Tom or Bob?")),
        ("Who is healthy, Tom or Bob?", ("negation", "Who is not healthy, Tom or Bob?")),
        ("Which team can win, team A or team B?", ("negation", "Which team can not win, team A or team B?")),
        ("Which team should win, team A or team B?", ("negation", "Which team should not win, team A or team B?")),
        ("Which team will win, team A or team B?", ("negation", "Which team will not win, team A or team B?")),
        (
            "Which team has won the cup, team A or team B?",
            ("negation", "Which team has not won the cup, team A or team B?"),
        ),
        (
            "What day did demand for power go up: Monday or Saturday?",
            ("negation", "What day did demand for power not go up: Monday or Saturday?"),
        ),
        (
            "Which team would Tom pick, team A or team B?",
            ("negation", "Which team would Tom not pick, team A or team B?"),
        ),
        (
            "Would the slope hold water, slope A or slope B?",
            ("negation", "Would the slope not hold water, slope A or slope B?"),
        ),
        # rule 3: noun phrases around "than"
        (
            "Would patient A produce more or less insulin than patient B?",
            ("np_swap", "Would patient B produce more or less insulin than patient A?"),
        ),
        (
            "Will the slope built by team A hold more or less water than the slope built by team B?",
            ("np_swap", "Will the slope built by team B hold more or less water than the slope built by team A?"),
        ),
    ],
)
def test_rules_on_hand_written_questions(question, expected):
    assert _flip(question) == expected


def test_negation_not_applied_to_negated_or_comparative_options():
    assert (
        flip_rules.negation(
            "Which one is not red, A or B?", [(22, 23), (27, 28)], TAG(["Which one is not red, A or B?"])[0]
        )
        is None
    )
    q = "Would Tim have more or less energy than John?"
    assert flip_rules.negation(q, find_options(q)[1], TAG([q])[0]) is None


def test_keep_case():
    assert flip_rules.keep_case("HIGHER", "lower") == "LOWER"
    assert flip_rules.keep_case("Higher", "lower") == "Lower"


def _frames(rows, context):
    cid = io.text_id(context)
    ctx = pl.DataFrame(
        [{"context_id": cid, "context": context, "title": "t", "lang": "en", "n_chars": len(context)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    ex = []
    for i, (q, a) in enumerate(rows):
        start = context.find(a) if a else -1
        answers = [{"text": a, "start": start, "end": start + len(a)}] if a else []
        ex.append(
            {
                "example_id": f"q{i}",
                "context_id": cid,
                "title": "t",
                "question": q,
                "answers": answers,
                "is_impossible": not a,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "f.json",
                "source_record": f"qas[{i}]",
            }
        )
    return pl.DataFrame(ex, schema=io.empty_frame(EXAMPLES).schema), ctx


def test_flips_rows_bundles_and_counted_skips():
    context = "Cup A got two spoons of sugar. Cup B got three spoons. Tom plays chess."
    examples, contexts = _frames(
        [
            ("Which cup has a higher concentration of sugar, cup A or cup B?", "Cup B"),
            ("Which cup is sweet, cup A or cup C?", "Cup A"),  # other option not in context
            ("How many spoons did cup B get?", "three"),  # not a choice question
            ("Which is it or not", "Tom"),  # has " or " but no options
            ("Who plays chess, Tom or Ann?", "Tom"),  # Ann not in context
        ],
        context,
    )
    res = flips(examples, contexts, FlipConfig(), tagger=TAG)
    assert res.counts["flip:antonym"] == 1
    assert res.counts["other_option_not_in_context"] == 2
    assert res.counts["no_options"] == 1 and res.counts["not_a_choice"] == 1
    assert sorted(r["reason"] for r in res.rejects) == [
        "no_options",
        "other_option_not_in_context",
        "other_option_not_in_context",
    ]
    io.to_table(pl.DataFrame(res.rejects), REJECTS)
    (row,) = res.rows
    assert row["example_id"] == "q0~flip:antonym" and row["parent_id"] == "q0"
    assert row["question"] == "Which cup has a lower concentration of sugar, cup A or cup B?"
    a = row["answer"]
    assert context[a["start"] : a["end"]] == a["text"] == "Cup A"
    io.to_table(pl.DataFrame(res.rows), FLIPS)
    bundles = pl.DataFrame(res.bundles)
    io.to_table(bundles, BUNDLES)
    assert bundles["role"].to_list() == ["original", "generated"] and bundles["bundle_id"].n_unique() == 1
    assert bundles["kind"].unique().to_list() == ["flip"]


def test_flip_ids_are_stable():
    context = "Cup A got two spoons of sugar. Cup B got three spoons."
    examples, contexts = _frames([("Which cup has more sugar, cup A or cup B?", "Cup B")], context)
    a = flips(examples, contexts, FlipConfig(), tagger=TAG)
    b = flips(examples, contexts, FlipConfig(), tagger=TAG)
    assert a.rows == b.rows and a.bundles == b.bundles


def test_bad_rule_name_fails_early():
    with pytest.raises(ValueError, match="FlipConfig.rules"):
        FlipConfig(rules=("antonym", "reverse"))


@pytest.mark.integration
def test_ropes_dev_flips_never_crash_and_count_skips(shared_data):
    from pipeline.sources import SourceSpec, load_source

    # the shared layout: with the default per-question context the other option is always found
    # (in the parent's own question), so `other_option_not_in_context` cannot occur there
    loaded = load_source(
        SourceSpec("ropes", str(shared_data / "ropes" / "dev-v1.0.json"), split="dev", ropes_context="shared")
    )
    res = flips(loaded.examples, loaded.contexts, FlipConfig())
    n_flips = sum(v for k, v in res.counts.items() if k.startswith("flip:"))
    assert n_flips == len(res.rows) > 500
    assert sum(res.counts.values()) == loaded.examples.height
    assert res.counts["no_options"] > 0 and res.counts["other_option_not_in_context"] > 0
    assert len(res.rejects) == loaded.examples.height - n_flips - res.counts["not_a_choice"]
    ctx = dict(zip(loaded.contexts["context_id"].to_list(), loaded.contexts["context"].to_list()))
    for row in res.rows:
        a = row["answer"]
        assert ctx[row["context_id"]][a["start"] : a["end"]] == a["text"]
