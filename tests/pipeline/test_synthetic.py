"""Synthetic answer spans: statements, insertion offsets, share, skips, real SQuAD dev."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from pipeline import io
from pipeline.flips import spacy_tagger
from pipeline.schemas import CONTEXTS, EXAMPLES, INDEX, SYNTHETIC
from pipeline.statements import normalise_question, normalised_tokens, rule_statement, statement
from pipeline.synthetic import SyntheticConfig, insert, synthetic, synthetic_stats

TAG = spacy_tagger("en_core_web_sm")


@pytest.mark.parametrize(
    "question, rule, text",
    [
        ("When did the French Revolution begin?", "when_did", "The French Revolution began in ANS."),
        ("What did Beyonce release in 2003?", "wh_did", "Beyonce released ANS in 2003."),
        ("Where is the Eiffel Tower?", "wh_be_place", "The Eiffel Tower is in ANS."),
        ("When was the university founded?", "wh_be_time", "The university was founded in ANS."),
        ("What is the capital of France?", "wh_be", "The capital of France is ANS."),
        ("Who wrote Hamlet?", "wh_subject", "ANS wrote Hamlet."),
        ("How many students did the school enroll in 2010?", "how_many", "The school enrolled ANS students in 2010."),
        (
            "When was the colony of New South Wales founded?",
            "wh_be_time",
            "The colony of New South Wales was founded in ANS.",
        ),
        (
            "What was Henry IV known as before taking the throne?",
            "wh_be",
            "Henry IV was known as ANS before taking the throne.",
        ),
        (
            "Where did the Broncos practice for the Super Bowl?",
            "where_did",
            "The Broncos practiced for the Super Bowl in ANS.",
        ),
        ("In which year did the Sackler Center open?", "prep_wh", "The Sackler Center opened in ANS."),
        (
            "What would change the rotational inertia of a body?",
            "wh_modal",
            "ANS would change the rotational inertia of a body.",
        ),
    ],
)
def test_statement_rules(question, rule, text):
    got_rule, prefix, suffix = statement(question, TAG([question])[0])
    assert (got_rule, prefix + "ANS" + suffix) == (rule, text)


def test_no_rule_gives_no_statement_and_statement_keeps_the_quote_for_other_callers():
    q = "Why is the sky blue?"
    assert rule_statement(q, TAG([q])[0]) is None
    rule, prefix, suffix = statement("  Why is the sky blue?", TAG(["  Why is the sky blue?"])[0])
    assert (rule, prefix + "ANS" + suffix) == ("fallback", 'The answer to "Why is the sky blue?" is ANS.')


@pytest.mark.parametrize(
    "question",
    [
        "  When did the French Revolution begin?",  # leading spaces: before the fix "The French Revolution be began"
        "When  did the  French Revolution begin? ",  # inner double spaces: "The  French Revolution"
        "\tWhen did the French Revolution\nbegin?",
    ],
)
def test_question_whitespace_is_normalised_before_the_rules(question):
    rule, prefix, suffix = statement(question, TAG([question])[0])
    assert (rule, prefix + "ANS" + suffix) == ("when_did", "The French Revolution began in ANS.")


def test_normalised_tokens_map_offsets():
    q = "  When  did\tit begin?"
    assert normalise_question(q) == "When did it begin?"
    toks = [
        ("When", "WRB", 2),
        ("  ", "_SP", 6),
        ("did", "VBD", 8),
        ("it", "PRP", 12),
        ("begin", "VB", 15),
        ("?", ".", 20),
    ]
    # normalised: When(0) did(5) it(9) begin(12) ?(17); the whitespace token is dropped
    assert normalised_tokens(q, toks) == [
        ("When", "WRB", 0),
        ("did", "VBD", 5),
        ("it", "PRP", 9),
        ("begin", "VB", 12),
        ("?", ".", 17),
    ]
    with pytest.raises(ValueError, match="not in the question"):
        normalised_tokens(q, [("Where", "WRB", 2)])


CONTEXT = "Paris hosted the games in 1900. Later, London hosted them in 1908. Berlin did in 1936."


def _ent(text, label, sent, ctx=CONTEXT):
    s = ctx.index(text)
    return {"start": s, "end": s + len(text), "label": label, "sent": sent}


def _index(ctx=CONTEXT):
    sents = [(0, 31), (32, 66), (67, len(ctx))]
    ents = [
        _ent("Paris", "GPE", 0, ctx),
        _ent("1900", "DATE", 0, ctx),
        _ent("London", "GPE", 1, ctx),
        _ent("1908", "DATE", 1, ctx),
        _ent("Berlin", "GPE", 2, ctx),
        _ent("1936", "DATE", 2, ctx),
    ]
    return {
        "context_id": io.text_id(ctx),
        "n_chars": len(ctx),
        "sentences": [{"start": s, "end": e} for s, e in sents],
        "entities": ents,
    }


def _frames(questions, ctx=CONTEXT, with_index=True):
    cid = io.text_id(ctx)
    contexts = pl.DataFrame(
        [{"context_id": cid, "context": ctx, "title": "t", "lang": "en", "n_chars": len(ctx)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    rows = []
    for i, (q, answers) in enumerate(questions):
        spans = [{"text": a, "start": ctx.index(a), "end": ctx.index(a) + len(a)} for a in answers]
        rows.append(
            {
                "example_id": f"e{i:04d}",
                "context_id": cid,
                "title": "t",
                "question": q,
                "answers": spans,
                "is_impossible": not answers,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "f",
                "source_record": str(i),
            }
        )
    index = pl.DataFrame([_index(ctx)], schema=io.empty_frame(INDEX).schema) if with_index else None
    return pl.DataFrame(rows, schema=io.empty_frame(EXAMPLES).schema), contexts, index


def _check_spans(row):
    for a in row["answers"] + [row["inserted_answer"]]:
        assert row["context"][a["start"] : a["end"]] == a["text"]


def test_insert_shifts_answers_after_the_point():
    ex = {
        "example_id": "e",
        "context_id": "c",
        "question": "Where were the 1908 games?",
        "answers": [{"text": "London", "start": 39, "end": 45}, {"text": "Paris", "start": 0, "end": 5}],
    }
    for point in (0, 32, 67, len(CONTEXT)):
        row = insert(
            ex, CONTEXT, {"point": point, "substitute": "Rome"}, ("wh_be_place", "The 1908 games were in ", ".")
        )
        _check_spans(row)
        assert row["context"].replace(row["inserted_text"], "", 1) == CONTEXT
        assert row["answers"][-1]["text"] == "Rome" and row["insert_offset"] == point


def test_synthetic_rows_and_exact_share():
    qs = [("Where were the 1908 games?", ["London"]), ("When did Paris host the games?", ["1900"]), ("Why?", [])] * 100
    examples, contexts, index = _frames(qs)
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=0.3, seed=1)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    stats = synthetic_stats(res, cfg)
    assert stats["answerable"] == 200 and stats["augmented"] == 60 and stats["share"] == 0.3
    for row in res.rows:
        _check_spans(row)
        assert row["answers"][-1]["text"] in {"Paris", "Berlin", "London", "1908", "1936", "1900"}
        assert row["answers"][-1]["text"] != row["answers"][0]["text"]
    io.to_table(pl.DataFrame(res.rows), SYNTHETIC)
    again = synthetic(examples, contexts, index, cfg, tagger=TAG)
    assert again.rows == res.rows


def test_ineligible_examples_do_not_shrink_the_share():
    ctx = CONTEXT + " It rained."
    qs = [("What happened?", ["It rained"])] * 50 + [("Where were the 1908 games?", ["London"])] * 50
    examples, contexts, index = _frames(qs, ctx)
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=0.25)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    stats = synthetic_stats(res, cfg)
    assert stats["skips"]["no_gold_entity"] == 50
    assert stats["augmented"] == 25 and stats["skips"]["shortfall"] == 0


def test_bad_share_fails_early():
    with pytest.raises(ValueError, match="SyntheticConfig.share"):
        SyntheticConfig(share=1.5)
    with pytest.raises(ValueError, match="SyntheticConfig.placement"):
        SyntheticConfig(placement="both")


TYPED = "Paris hosted the games in 1900 for two hours. London hosted them in 1908 with 22 nations. Berlin came third."


def _typed_index(ents):
    ctx = TYPED
    sents = [(0, 45), (46, 89), (90, len(ctx))]
    out = [{"start": ctx.index(t), "end": ctx.index(t) + len(t), "label": lab, "sent": k} for t, lab, k in ents]
    return pl.DataFrame(
        [
            {
                "context_id": io.text_id(ctx),
                "n_chars": len(ctx),
                "sentences": [{"start": a, "end": b} for a, b in sents],
                "entities": out,
            }
        ],
        schema=io.empty_frame(INDEX).schema,
    )


def test_substitute_has_the_gold_spacy_label_not_just_its_coarse_type():
    # gold "1900" is DATE; "two hours" (TIME) has the same coarse type but not the label
    ents = [
        ("Paris", "GPE", 0),
        ("1900", "DATE", 0),
        ("two hours", "TIME", 0),
        ("London", "GPE", 1),
        ("1908", "DATE", 1),
        ("22", "CARDINAL", 1),
        ("third", "ORDINAL", 2),
    ]
    examples, contexts, _ = _frames(
        [("When did Paris host the games?", ["1900"])] * 40 + [("How many nations did London host?", ["22"])] * 40,
        TYPED,
        False,
    )
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=1.0, corpus_fallback=False)
    res = synthetic(examples, contexts, _typed_index(ents), cfg, tagger=TAG)
    subs = Counter((r["answers"][0]["text"], r["inserted_answer"]["text"]) for r in res.rows)
    # DATE → the only other DATE; CARDINAL 22 → no other CARDINAL: coarse fallback (NUMBER) → "third"
    assert subs == {("1900", "1908"): 40, ("22", "third"): 40}
    assert synthetic_stats(res, cfg)["type_match"] == {"coarse": 40, "label": 40}
    strict = SyntheticConfig(share=1.0, corpus_fallback=False, coarse_fallback=False)
    res = synthetic(examples, contexts, _typed_index(ents), strict, tagger=TAG)
    st = synthetic_stats(res, strict)
    assert st["type_match"] == {"label": 40} and st["skips"]["no_substitute"] == 40 and st["skips"]["shortfall"] == 40


def test_unrewritable_questions_are_skipped_and_the_share_comes_from_others():
    qs = [("Why is Paris famous?", ["Paris"])] * 50 + [("Where were the 1908 games?", ["London"])] * 50
    examples, contexts, index = _frames(qs)
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=0.4, seed=3)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    stats = synthetic_stats(res, cfg)
    assert stats["augmented"] == 40 and stats["skips"]["shortfall"] == 0
    assert stats["rules"] == {"wh_be_place": 40}
    assert stats["skips"]["no_statement"] > 0
    assert not any("The answer to" in r["inserted_text"] for r in res.rows)
    # the result does not depend on how the examined examples were batched for the tagger
    one_by_one = synthetic(examples, contexts, index, cfg, tagger=lambda qs: [TAG([q])[0] for q in qs])
    assert one_by_one.rows == res.rows


@pytest.mark.integration
@pytest.mark.slow
def test_squad11_dev_subset_spans_and_share(shared_data):
    """SQuAD 1.1 dev, first 12 articles (the index of all 2,067 contexts is too slow on 2 shared cores)."""
    from pipeline.nlp import IndexConfig, load_nlp
    from pipeline.sources import SourceSpec, load_source
    from pipeline.spacy_index import parse_contexts

    loaded = load_source(SourceSpec("squad11", str(shared_data / "squad" / "v1.1" / "dev-v1.1.json"), split="dev"))
    titles = sorted(loaded.contexts["title"].unique().to_list())[:12]
    contexts = loaded.contexts.filter(pl.col("title").is_in(titles))
    examples = loaded.examples.filter(pl.col("context_id").is_in(contexts["context_id"].to_list()))
    icfg = IndexConfig()
    recs = parse_contexts(load_nlp(icfg), contexts["context"].to_list(), icfg)
    index = pl.DataFrame([{"context_id": c, **r} for c, r in zip(contexts["context_id"].to_list(), recs)])
    cfg = SyntheticConfig(share=0.2, seed=7)
    res = synthetic(examples, contexts, index, cfg)
    stats = synthetic_stats(res, cfg)
    print(stats)
    assert abs(stats["share"] - 0.2) <= 0.01
    for row in res.rows:
        _check_spans(row)


def test_label_check_drops_insertions_that_read_as_another_type():
    qs = [("Where were the 1908 games?", ["London"])] * 60
    examples, contexts, index = _frames(qs)
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))

    def labeller(texts):
        # the inserted answer reads as a PERSON when it is "Berlin", else as a GPE (the gold London's label)
        out = []
        for t in texts:
            i = t.index("The 1908 games were in ") + len("The 1908 games were in ")
            word = t[i : t.index(".", i)]
            out.append([{"start": i, "end": i + len(word), "label": "PERSON" if word == "Berlin" else "GPE"}])
        return out

    cfg = SyntheticConfig(share=0.25, seed=2, corpus_fallback=False)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG, labeller=labeller)
    stats = synthetic_stats(res, cfg)
    assert stats["augmented"] == 15 and stats["skips"]["shortfall"] == 0
    assert stats["skips"]["label_check_failed"] > 0
    assert {r["inserted_answer"]["text"] for r in res.rows} == {"Paris"}
    off = SyntheticConfig(share=0.25, seed=2, corpus_fallback=False, check_label=False)
    assert {r["inserted_answer"]["text"] for r in synthetic(examples, contexts, index, off, tagger=TAG).rows} == {
        "Paris",
        "Berlin",
    }


def _one_context_index(ctx: str, sents: list[tuple[int, int]], ents: list[tuple[str, str, int]]) -> pl.DataFrame:
    """An `index` frame of one context: sentence spans and (text, label, sentence) entities, offsets by `str.index`."""
    return pl.DataFrame(
        [
            {
                "context_id": io.text_id(ctx),
                "n_chars": len(ctx),
                "sentences": [{"start": a, "end": b} for a, b in sents],
                "entities": [
                    {"start": ctx.index(t), "end": ctx.index(t) + len(t), "label": lab, "sent": k} for t, lab, k in ents
                ],
            }
        ],
        schema=io.empty_frame(INDEX).schema,
    )


def test_shape_filter_removes_a_date_of_another_form_and_counts_it():
    # gold "1900" (a year); the context's other DATEs: "1908" (a year) and "the previous year" (no year):
    # the shape check (docs/methods.md §3.1) removes "the previous year", so every substitute is "1908"
    ctx = "Paris hosted the games in 1900. London hosted them in 1908. Berlin did so the previous year."
    sents = [(0, 31), (32, 59), (60, len(ctx))]
    ents = [
        ("Paris", "GPE", 0),
        ("1900", "DATE", 0),
        ("London", "GPE", 1),
        ("1908", "DATE", 1),
        ("the previous year", "DATE", 2),
    ]
    index = _one_context_index(ctx, sents, ents)
    examples, contexts, _ = _frames([("When did Paris host the games?", ["1900"])] * 20, ctx, False)
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=1.0, corpus_fallback=False, check_label=False)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    assert {r["inserted_answer"]["text"] for r in res.rows} == {"1908"} and len(res.rows) == 20
    assert synthetic_stats(res, cfg)["shape_filter"] == {"candidates_removed": 20, "examples": 20}


def test_possessive_substitute_is_stripped_when_the_gold_answer_has_none():
    # seen in the §3.1 table: "Raymond Smullyan's provided a definition …"; the gold entity "John Myhill's"
    # carries the 's but the gold answer "John Myhill" does not, so the substitute loses it
    ctx = "John Myhill's definition of linear bounded automata came first. Raymond Smullyan's study followed."
    sents = [(0, 63), (64, len(ctx))]
    ents = [("John Myhill's", "PERSON", 0), ("Raymond Smullyan's", "PERSON", 1)]
    index = _one_context_index(ctx, sents, ents)
    examples, contexts, _ = _frames(
        [("Who provided a definition of linear bounded automata?", ["John Myhill"])] * 5, ctx, False
    )
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=1.0, corpus_fallback=False, check_label=False)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    assert len(res.rows) == 5
    for row in res.rows:
        _check_spans(row)
        assert row["inserted_text"].strip() == "Raymond Smullyan provided a definition of linear bounded automata."


def test_substitute_the_sentence_already_holds_is_not_inserted():
    # "What new product did Bank of America introduce" with the substitute "Bank of America" would write
    # "Bank of America introduced Bank of America in 1958": skipped, counted, the share met from others
    ctx = "Bank of America introduced BankAmericard in 1958. Visa came later."
    sents = [(0, 49), (50, len(ctx))]
    ents = [("Bank of America", "ORG", 0), ("BankAmericard", "ORG", 0), ("1958", "DATE", 0), ("Visa", "ORG", 1)]
    index = _one_context_index(ctx, sents, ents)
    examples, contexts, _ = _frames(
        [("What new product did Bank of America introduce in 1958?", ["BankAmericard"])] * 40, ctx, False
    )
    examples = examples.with_columns(pl.format("e{}", pl.int_range(pl.len())).alias("example_id"))
    cfg = SyntheticConfig(share=0.25, corpus_fallback=False, check_label=False)
    res = synthetic(examples, contexts, index, cfg, tagger=TAG)
    stats = synthetic_stats(res, cfg)
    assert stats["augmented"] == 10 and stats["skips"]["shortfall"] == 0
    assert stats["skips"]["substitute_in_sentence"] > 0
    assert {r["inserted_text"].strip() for r in res.rows} == {"Bank of America introduced Visa in 1958."}
