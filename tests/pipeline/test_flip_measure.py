"""Issue 10 §5: phrase antonyms, contrast-phrase options, the np_swap cores, and the flip
measurement (answer precision, partner recall, unjudged) against human questions.

Hand-written questions in, the exact flipped question out. The np_swap cases are the
shapes of the ROPES train partner misses of the old rule (whose flips are quoted in the
comments), rewritten with other names.
"""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import flip_rules, io
from pipeline.flips import (
    FlipConfig,
    FlipResult,
    find_options,
    flip_question,
    flips,
    judge_flips,
    question_key,
    spacy_tagger,
)
from pipeline.schemas import CONTEXTS, EXAMPLES

TAG = spacy_tagger("en_core_web_sm")


def _flip(q: str) -> tuple[str, str] | None:
    found = find_options(q)
    spans = found[1] if found else []
    return flip_question(q, spans, ("antonym", "negation", "np_swap"), TAG([q])[0])


# --- phrase antonyms (multi-word entries a word-level table gets wrong) -------------------


@pytest.mark.parametrize(
    "question, expected",
    [
        # word by word this was "further to the sea"
        ("Which town is closer to the sea, town A or town B?", "Which town is farther from the sea, town A or town B?"),
        ("Which town is farther from the sea, town A or town B?", "Which town is closer to the sea, town A or town B?"),
        ("Which town is further from the sea, town A or town B?", "Which town is closer to the sea, town A or town B?"),
        ("Which town is close to the sea, town A or town B?", "Which town is far from the sea, town A or town B?"),
        ("Which town is far from the sea, town A or town B?", "Which town is close to the sea, town A or town B?"),
        # the phrase wins over the word table: word by word "less likely consume less food"
        (
            "Which patient would less likely consume more food, patient A or patient B?",
            "Which patient would more likely consume more food, patient A or patient B?",
        ),
        (
            "Which patient would more likely eat less, patient A or patient B?",
            "Which patient would less likely eat less, patient A or patient B?",
        ),
        (
            "Who would most likely have diabetes, patient A or patient B?",
            "Who would least likely have diabetes, patient A or patient B?",
        ),
        (
            "Who would least likely have diabetes, patient A or patient B?",
            "Who would most likely have diabetes, patient A or patient B?",
        ),
        # case of the first letter kept
        ("More likely to flood: town A or town B?", "Less likely to flood: town A or town B?"),
        # from the public table's single words, missing before
        ("Which field is drier, field A or field B?", "Which field is wetter, field A or field B?"),
        ("Which field is wetter, field A or field B?", "Which field is drier, field A or field B?"),
    ],
)
def test_phrase_antonyms(question, expected):
    assert flip_rules.antonym(question, find_options(question)[1]) == expected


@pytest.mark.parametrize(
    "question, expected",
    [
        # the article agrees with the new word
        (
            "If the students recorded a decrease in heat, did the mercury expand or contract?",
            "If the students recorded an increase in heat, did the mercury expand or contract?",
        ),
        (
            "If the students recorded an increase in heat, did the mercury expand or contract?",
            "If the students recorded a decrease in heat, did the mercury expand or contract?",
        ),
        # "likely" as an adverb is skipped ("would D unlikely increase" is not English): next entry
        ("Which one would likely be colder, cup A or cup B?", "Which one would likely be hotter, cup A or cup B?"),
        ("Which area is likely to flood, point A or point B?", "Which area is unlikely to flood, point A or point B?"),
    ],
)
def test_antonym_with_tags(question, expected):
    assert flip_rules.antonym(question, find_options(question)[1], TAG([question])[0]) == expected


def test_word_after_comparative_options_is_not_flipped():
    # was "Will Craig be more or less unlikely to see limestone on Friday?"
    q = "Will Craig be more or less likely to see limestone on Friday?"
    assert flip_rules.antonym(q, find_options(q)[1], TAG([q])[0]) is None


def test_phrase_inside_the_options_is_not_flipped():
    q = "Is town A closer to or farther from the sea than town B?"
    _, spans = find_options(q)
    assert [q[s:e] for s, e in spans] == ["closer to", "farther from"]
    assert flip_rules.antonym(q, spans) is None


def test_phrase_needs_whole_words():
    # "close to" inside "enclose to" is no phrase
    assert flip_rules.antonym("Did they enclose to the left, pen A or pen B?", [(31, 36), (40, 45)]) is None


# --- contrast-phrase options ---------------------------------------------------------------


@pytest.mark.parametrize(
    "question, options",
    [
        ("Would lever B have more friction or less friction than lever A?", ["more friction", "less friction"]),
        ("Would group A more likely or less likely be diagnosed than group B?", ["more likely", "less likely"]),
        ("Would cat A be closer to or farther from the nucleus than cat B?", ["closer to", "farther from"]),
        ("Would Keith see objects more clearly or less clearly than John?", ["more clearly", "less clearly"]),
        ("Will the helium leave more quickly or more slowly than before?", ["more quickly", "more slowly"]),
        # not a phrase pair: "be more" / "less likely" differ in two words -> the single words
        ("Are Clarence's parents more or less likely than Molly's parents to wear glasses?", ["more", "less"]),
    ],
)
def test_contrast_phrase_options(question, options):
    _, spans = find_options(question)
    assert [question[s:e] for s, e in spans] == options


def test_antonym_phrases():
    assert flip_rules.antonym_phrases("more friction", "less friction")
    assert flip_rules.antonym_phrases("closer to", "farther from")
    assert flip_rules.antonym_phrases("closer", "farther")  # two comparatives
    assert not flip_rules.antonym_phrases("more friction", "less heat")
    assert not flip_rules.antonym_phrases("patient A", "patient B")


# --- np_swap: what differs is swapped ------------------------------------------------------


@pytest.mark.parametrize(
    "question, expected",
    [
        # old: "Would particles in test B A have lower or higher energy than particles of reactants in test?"
        (
            "Would particles of solute in trial A have lower or higher energy than particles in trial B?",
            "Would particles of solute in trial B have lower or higher energy than particles in trial A?",
        ),
        # the first thing sits between the options and "than";
        # old: "Would in case B increase or decrease in case A than ..."
        (
            "Would the solute concentration increase or decrease in case A than in case B?",
            "Would the solute concentration increase or decrease in case B than in case A?",
        ),
        # old: "Is in the Lomo forest higher or lower than the temperature in the Arva forest?"
        (
            "Is the temperature in the Arva forest higher or lower than in the Lomo forest?",
            "Is the temperature in the Lomo forest higher or lower than in the Arva forest?",
        ),
        (
            "Is air pressure in Kelso higher or lower than in Dunmore?",
            "Is air pressure in Dunmore higher or lower than in Kelso?",
        ),
        # a place of several words is swapped whole
        (
            "Would the air density in Grasslands in Chad be higher or lower than in Sahel Desert?",
            "Would the air density in Sahel Desert be higher or lower than in Grasslands in Chad?",
        ),
        # the compared thing before the auxiliary
        (
            "In point A were the stars closer or farther from each other than in point B?",
            "In point B were the stars closer or farther from each other than in point A?",
        ),
        (
            "In test B would the particles move faster or slower than in test A?",
            "In test A would the particles move faster or slower than in test B?",
        ),
        # a typo stays where the writer put it (transposed letters count as the same word)
        (
            "Would objcet B have more or less kinetic energy than object A?",
            "Would objcet A have more or less kinetic energy than object B?",
        ),
        # possessives: the name is swapped, the "'s" and the noun stay
        (
            "Is Mark's plan better or worse than Greg's for the planet?",
            "Is Greg's plan better or worse than Mark's for the planet?",
        ),
        (
            "Will Barb's boat require more or less fuel than Stephanie's to travel far?",
            "Will Stephanie's boat require more or less fuel than Barb's to travel far?",
        ),
        (
            "Would the species in country A have less or more food than country B's species?",
            "Would the species in country B have less or more food than country A's species?",
        ),
        # an adjunct after Y stays
        (
            "Will plant A be more or less healthy than plant B in the future?",
            "Will plant B be more or less healthy than plant A in the future?",
        ),
        # same person: left/right swap, the possessor stays
        (
            "Will Ryan's right knee hurt more or less than his left knee?",
            "Will Ryan's left knee hurt more or less than his right knee?",
        ),
        (
            "Are the electrons in the large sign more or less energized than the small sign's electrons?",
            "Are the electrons in the small sign more or less energized than the large sign's electrons?",
        ),
        # "A" the name is not "a" the article ("risk a damaged liver")
        (
            "Would patient B more likely or less likely risk a damaged liver than patient A?",
            "Would patient A more likely or less likely risk a damaged liver than patient B?",
        ),
        # contrast-phrase options
        (
            "Would lever B have more friction or less friction than lever A?",
            "Would lever A have more friction or less friction than lever B?",
        ),
        (
            "Would cat A be closer to or farther from the nucleus than cat B?",
            "Would cat B be closer to or farther from the nucleus than cat A?",
        ),
        # nothing shared around the two things: the fallback
        (
            "Would elands be less or more active at night than wild boars?",
            "Would wild boars be less or more active at night than elands?",
        ),
        (
            "Does Brad more likely have more or less brain cells than John?",
            "Does John more likely have more or less brain cells than Brad?",
        ),
        (
            "Would Keith see objects more clearly or less clearly than John?",
            "Would John see objects more clearly or less clearly than Keith?",
        ),
        (
            "Will Bob prefer hiking more or less on Monday than Tuesday?",
            "Will Bob prefer hiking more or less on Tuesday than Monday?",
        ),
        # np_swap first when the options are a contrast pair (the antonym rule gave "before school",
        # and "more or less unlikely" for the next one)
        (
            "Will Marge have more or less time than Jeremy to play after school?",
            "Will Jeremy have more or less time than Marge to play after school?",
        ),
        (
            "Is Fluffy more or less likely than Teddy to pass on his genes?",
            "Is Teddy more or less likely than Fluffy to pass on his genes?",
        ),
        # old cases still hold
        (
            "Would patient A produce more or less insulin than patient B?",
            "Would patient B produce more or less insulin than patient A?",
        ),
        (
            "Will the slope built by team A hold more or less water than the slope built by team B?",
            "Will the slope built by team B hold more or less water than the slope built by team A?",
        ),
    ],
)
def test_np_swap_cases(question, expected):
    assert _flip(question) == ("np_swap", expected)


def test_options_are_the_pattern_that_holds_the_gold():
    from pipeline.flips import choose_options

    # the comma pattern reads "would particle A feel warmer" / "cooler than particle B"; the
    # gold "warmer" equals an option of the comparative pair only
    q = "If the students touch the particles, would particle A feel warmer or cooler than particle B?"
    name, spans, idx = choose_options(q, "warmer")
    assert (name, [q[s:e] for s, e in spans], idx) == ("comparative_pair", ["warmer", "cooler"], 0)
    assert flip_question(q, spans, ("antonym", "negation", "np_swap"), TAG([q])[0]) == (
        "np_swap",
        "If the students touch the particles, would particle B feel warmer or cooler than particle A?",
    )
    q = "Which cup has more or less sugar, cup A or cup B?"
    name, spans, idx = choose_options(q, "cup B")
    assert (name, [q[s:e] for s, e in spans], idx) == ("comma", ["cup A", "cup B"], 1)
    assert choose_options(q, "jar C") is None


@pytest.mark.parametrize(
    "question, expected",
    [
        # the main clause is negated, not the condition
        (
            "If Ken wants the dough to expand, which yeast should he use, yeast A or yeast B?",
            "If Ken wants the dough to expand, which yeast should he not use, yeast A or yeast B?",
        ),
        (
            "Given Rob is interested in glaciers, which mountain should he visit, Alps or Urals?",
            "Given Rob is interested in glaciers, which mountain should he not visit, Alps or Urals?",
        ),
    ],
)
def test_negation_after_a_condition(question, expected):
    assert _flip(question) == ("negation", expected)


def test_negation_never_inside_the_condition():
    # was "If the students do not touch the particles, …"
    q = "If the students touch the particles, which gets warmer, particle A or particle B?"
    assert flip_rules.negation(q, find_options(q)[1], TAG([q])[0]) == (
        "If the students touch the particles, which does not get warmer, particle A or particle B?"
    )
    # no main-clause verb before the options: nothing to negate (was "Given Damen does not start …")
    q = "Given Damen starts going to the gym, will his muscles get stronger or weaker?"
    assert flip_rules.negation(q, find_options(q)[1], TAG([q])[0]) is None


def test_np_swap_does_not_swap_a_pronoun():
    # fallback X would be "it": no np_swap; the antonym rule flips "more trees" instead
    q = "Is it more or less likely that Glarnak has more trees than Bornak?"
    assert flip_rules.np_swap(q, find_options(q)[1], TAG([q])[0]) is None
    assert _flip(q) == ("antonym", "Is it more or less likely that Glarnak has less trees than Bornak?")


def test_np_swap_needs_than_and_contrast_options():
    q = "Would patient A produce more or less insulin?"
    assert flip_rules.np_swap(q, find_options(q)[1]) is None
    q = "Which cup has more sugar than cup C, cup A or cup B?"
    assert flip_rules.np_swap(q, find_options(q)[1]) is None


# --- the measurement -------------------------------------------------------------------------


def _frames(paragraphs):
    """EXAMPLES/CONTEXTS for [(context, [(question, answer), ...]), ...]; one ROPES-like
    situation per paragraph (source_record data[0].paragraphs[p].qas[k])."""
    ex, ctx = [], []
    for p, (context, rows) in enumerate(paragraphs):
        cid = io.text_id(context)
        ctx.append({"context_id": cid, "context": context, "title": "t", "lang": "en", "n_chars": len(context)})
        for k, (q, a) in enumerate(rows):
            start = context.find(a)
            assert start >= 0, a
            ex.append(
                {
                    "example_id": f"p{p}q{k}",
                    "context_id": cid,
                    "title": "t",
                    "question": q,
                    "answers": [{"text": a, "start": start, "end": start + len(a)}],
                    "is_impossible": False,
                    "plausible_answers": [],
                    "lang": "en",
                    "question_type": None,
                    "source_file": "f.json",
                    "source_record": f"data[0].paragraphs[{p}].qas[{k}]",
                }
            )
    return (
        pl.DataFrame(ex, schema=io.empty_frame(EXAMPLES).schema),
        pl.DataFrame(ctx, schema=io.empty_frame(CONTEXTS).schema),
    )


def test_question_key():
    assert question_key("  Which  cup is Sweeter? ") == question_key("which cup is sweeter")


def test_judge_flips_counts_by_hand():
    context = "Cup A got two spoons of sugar. Cup B got three spoons. more less"
    examples, contexts = _frames(
        [
            (
                context,
                [
                    # q0 -> "lower": equals q1's text, answer Cup A == q1's answer: judged, right; q0/q1 are
                    #        natural partners (same words once higher/lower are dropped), so a partner hit
                    ("Which cup has a higher concentration of sugar, cup A or cup B?", "Cup B"),
                    ("which cup has a lower concentration of sugar, cup A or cup B", "Cup A"),
                    # q2 -> "less sweet": q3 has that text but answers Cup B (the writer's error): judged, wrong
                    ("Which cup is more sweet, cup A or cup B?", "Cup B"),
                    ("Which cup is less sweet, cup A or cup B?", "Cup B"),
                    # q4 -> "Which cup did not get sugar": no human wrote it: unjudged
                    ("Which cup got sugar, cup A or cup B?", "Cup A"),
                ],
            )
        ]
    )
    res = flips(examples, contexts, FlipConfig(), tagger=TAG)
    assert {r["parent_id"]: r["rule"] for r in res.rows} == {
        "p0q0": "antonym",
        "p0q1": "antonym",
        "p0q2": "antonym",
        "p0q3": "antonym",
        "p0q4": "negation",
    }
    j = judge_flips(res, examples)
    ant, neg = j.counts["antonym"], j.counts["negation"]
    # antonym: 4 flips; q0<->q1 judged right both ways; q2 -> q3's text, answer Cup A vs q3's
    # Cup B: wrong; q3 -> q2's text, answer Cup A vs q2's Cup B: wrong
    assert (ant["flips"], ant["judged"], ant["answer_right"], ant["unjudged"]) == (4, 4, 2, 0)
    # partners: q0-q1 only (q2/q3 share an answer); both flips hit
    assert (ant["partner_parents"], ant["partner_hits"]) == (2, 2)
    assert (neg["flips"], neg["judged"], neg["unjudged"], neg["partner_parents"]) == (1, 0, 1, 0)
    r = j.rates("antonym")
    assert r == {"answer_precision": 0.5, "partner_recall": 1.0, "unjudged_share": 0.0}
    assert j.rates("np_swap") == {"answer_precision": None, "partner_recall": None, "unjudged_share": None}
    assert len(j.wrong) == 2 and len(j.unjudged) == 1 and not j.misses


def test_judge_flips_partner_miss_and_other_situation():
    a = "Patient A made lots of insulin. Patient B made little. more less"
    b = "Patient B made lots of insulin. Patient A made little. more less"
    examples, contexts = _frames(
        [
            (
                a,
                [
                    ("Would patient A produce more or less insulin than patient B?", "more"),
                    # the partner: same words, another order than any swap gives, so the flip misses it
                    ("Than patient A, would patient B produce more or less insulin?", "less"),
                ],
            ),
            # the flip's text in another situation does not judge it
            (b, [("Would patient B produce more or less insulin than patient A?", "more")]),
        ]
    )
    res = flips(examples, contexts, FlipConfig(), tagger=TAG)
    j = judge_flips(res, examples)
    c = j.counts["np_swap"]
    assert c["flips"] == 2 and c["judged"] == 0 and c["unjudged"] == 2
    # p0q0 and p0q1 are partners (same word set, answers differ); p0q1 got no flip (options
    # "more or less", the gold "less" being one of them, but no "than" after them and no
    # other word to flip), so it is counted by skip reason
    assert (c["partner_parents"], c["partner_hits"]) == (1, 0)
    assert j.misses[0]["partners"] == ["Than patient A, would patient B produce more or less insulin?"]
    assert j.unflipped_partner_parents == {"no_rule_applies": 1}


@pytest.mark.integration
def test_ropes_train_flip_measurement(shared_data):
    """Issue 10 targets on ROPES train, the loader's default context: np_swap partner recall
    ≥ 0.90, answer precision ≥ 0.95 per rule (measured 2026-12-01: see docs/methods.md §2.1)."""
    from pipeline.sources import SourceSpec, load_source

    loaded = load_source(
        SourceSpec("ropes", str(shared_data / "ropes" / "train-v1.0.json"), format="ropes", split="train")
    )
    res = flips(loaded.examples, loaded.contexts, FlipConfig())
    j = judge_flips(res, loaded.examples)
    assert isinstance(res, FlipResult)
    for rule in ("antonym", "negation", "np_swap"):
        c = j.counts[rule]
        assert c["judged"] >= 50, (rule, c)  # enough judged flips for the rate to mean something
        assert j.rates(rule)["answer_precision"] >= 0.95, (rule, c)
    assert j.counts["np_swap"]["partner_parents"] >= 50
    assert j.rates("np_swap")["partner_recall"] >= 0.90, j.counts["np_swap"]
    assert j.rates("antonym")["partner_recall"] >= 0.90, j.counts["antonym"]
