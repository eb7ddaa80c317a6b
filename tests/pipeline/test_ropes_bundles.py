"""ROPES question mining: similarity per mode, packing, uniqueness, ids, reuse, real data."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import io
from pipeline.normalize import normalize
from pipeline.ropes_bundles import (
    BundleConfig,
    answer_tokens,
    check_unique_answers,
    group_fingerprints,
    pair_by_similarity,
    question_tokens,
    reference_closure,
    reference_groups,
    reference_links,
    reference_score,
    reference_split,
    ropes_bundles,
    rows_by_situation,
    set_order,
    similarity,
    situations,
)
from pipeline.schemas import BUNDLES, EXAMPLES

SITUATION = "Cup A got two spoons of sugar and cup B got three. Cup C got none. Tom and Ann watched."


def _examples(rows, context=SITUATION, cid=None):
    cid = cid or io.text_id(context)
    out = []
    for i, (q, a) in enumerate(rows):
        s = context.find(a) if a else -1
        out.append(
            {
                "example_id": f"{cid[:4]}-{i}",
                "context_id": cid,
                "title": "t",
                "question": q,
                "answers": [{"text": a, "start": s, "end": s + len(a)}] if a else [],
                "is_impossible": not a,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "f",
                "source_record": str(i),
            }
        )
    return pl.DataFrame(out, schema=io.empty_frame(EXAMPLES).schema)


PAIR = [
    ("Which cup has a higher concentration of sugar?", "cup B"),
    ("Which cup has a lower concentration of sugar?", "cup A"),
]


def test_reference_code_tokens_drop_comparatives_and_the():
    assert question_tokens("Which is the higher one?", "reference-code") == {"which", "is", "one?"}
    a, b = (question_tokens(q, "reference-code") for q, _ in PAIR)
    assert similarity(a, b, "reference-code") == 1.0


def test_paper_jaccard():
    a, b = (question_tokens(q, "paper") for q, _ in PAIR)
    assert similarity(a, b, "paper") == pytest.approx(7 / 9)


def test_answers_differ_per_mode():
    # paper: answers are compared as normalised texts (mine_group's keys): "cup B" and "Cup B" are one answer
    assert normalize("cup B") == normalize("Cup B")
    # reference-code: score = token-set F1 of the questions (1.0 for a question with itself) + 1 when
    # neither answer's token set (minus "the") contains the other's: {cup, b} ⊇ {b}, so no bonus
    q = question_tokens("Which cup has more sugar?", "reference-code")
    assert reference_score(q, q, answer_tokens("cup B"), answer_tokens("B")) == 1.0
    assert reference_score(q, q, answer_tokens("cup B"), answer_tokens("cup A")) == 2.0


def test_reference_tokens_follow_the_public_driver():
    # stripped, "?" appended: the last word carries the "?" and so is not dropped even when it
    # is a comparative ("higher?" is not "higher"), as in the public code
    assert question_tokens("  Which is higher ", "reference-code") == {"which", "is", "higher?"}
    # only the public word list is dropped: "bigger" is not in it, "closer" is
    assert question_tokens("Is the bigger one closer?", "reference-code") == {"is", "bigger", "one", "closer?"}
    assert question_tokens("Is it closer or further away?", "reference-code") == {"is", "it", "or", "away?"}


# Worked example 1, by hand from data/utils.py::get_contrast_qa (fixed_group_size=2):
# tokens minus comparatives/"the": q0 = q1 = {which, cup, has, a, concentration, of, sugar?} (7),
# q2 = {…, salt?} (6 shared with q0 and q1): F1 = 6/7; q3 shares nothing.
# Answers {cup,b} {cup,a} {cup,c} never contain one another: +1 for every pair.
# Scores: (0,1) = 2, (0,2) = (1,2) = 1 + 6/7 ≈ 1.857, (3,·) = 1 + 0 < 1.6.
# Links, row by row: row 0 → (0,1); row 1 → (0,1); row 2: tie 0 and 1 → (0,2), (1,2); q3 singleton.
# Closure: {0,1} + (0,1) → {0,1}; + (0,2): shares 0, rest answers {cup a} vs {cup c} → {0,1,2};
# + (1,2) → {0,1,2}. Groups: {0,1,2} (3 ≤ max 3, kept) and the singleton {3}.
EX1 = [
    ("Which cup has a higher concentration of sugar?", "cup B"),
    ("Which cup has a lower concentration of sugar?", "cup A"),
    ("Which cup has a higher concentration of salt?", "cup C"),
    ("Who watched?", "Tom"),
]


def test_reference_worked_example_ties_and_closure():
    qs, ans = zip(*EX1)
    links, singles = reference_links(qs, ans)
    assert links == [(0, 1), (0, 1), (0, 2), (1, 2)] and singles == [3]
    assert reference_groups(qs, ans) == [[0, 1, 2], [3]]


# Worked example 2: a clash in the closure puts one question in two groups.
# q0 = q1 = {which, cup, has, sugar?}; q2 = {which, cup, has, sugar, now?} (5 tokens, 3 shared with q1):
# p = 3/5, r = 3/4, F1 = 2/3; q2 and q0 have the same answer (cup A): score 2/3 < 1.6.
# Links: (0,1), (0,1), (1,2). Closure: {0,1}; + (1,2): shares 1 (cup b); rest answers {cup a}
# and {cup a} clash → {0,1} closed, {1,2} opened. Groups {0,1} and {1,2}.
EX2 = [
    ("Which cup has more sugar?", "cup A"),
    ("Which cup has less sugar?", "cup B"),
    ("Which cup has less sugar now?", "cup A"),
]


def test_reference_worked_example_clash_splits_the_closure():
    qs, ans = zip(*EX2)
    assert reference_links(qs, ans) == ([(0, 1), (0, 1), (1, 2)], [])
    assert reference_groups(qs, ans) == [[0, 1], [1, 2]]


def test_reference_closure_merges_only_neighbouring_links():
    keys = ["a", "b", "c", "d"]
    # (0,1) and (2,3) do not touch: {0,1} is closed; (1,2) joins the running {2,3}, so
    # question 1 ends up in two groups although all four are connected
    assert reference_closure([(0, 1), (2, 3), (1, 2)], keys) == [{0, 1}, {1, 2, 3}]
    assert reference_closure([(0, 1), (1, 2), (2, 3)], keys) == [{0, 1, 2, 3}]
    assert reference_closure([], keys) == []


def test_reference_split_cuts_once_in_python_set_order():
    # 4 members: first max-1 = 2 in set order; a set of 4 small ints iterates by value mod 8:
    # 8 -> slot 0, then 3, 6, 7, so {3,6,7,8} is cut into {8,3} and {6,7}
    assert set_order({3, 6, 7, 8}) == [8, 3, 6, 7]
    assert reference_split([{3, 6, 7, 8}]) == [[3, 8], [6, 7]]
    # 5 members: first 3 and the rest; 7 members: first 3 and a rest of 4 that is not cut again
    assert reference_split([{0, 1, 2, 3, 4}]) == [[0, 1, 2], [3, 4]]
    assert reference_split([set(range(7))]) == [[0, 1, 2], [3, 4, 5, 6]]
    # duplicates are removed before the cut, not after it
    assert reference_split([{0, 1}, {1, 0}, {2}]) == [[0, 1], [2]]
    assert reference_split([{0, 1, 2, 3}, {2, 3}]) == [[0, 1], [2, 3], [2, 3]]


def test_paper_pairs_by_similarity_not_position():
    # four questions all above the threshold; 0~3 and 1~2 are the most similar pairs.
    # A positional round-robin into two bundles would give {0,2} and {1,3}.
    edges = {(0, 1): 0.81, (0, 2): 0.82, (0, 3): 0.95, (1, 2): 0.9, (1, 3): 0.83, (2, 3): 0.84}
    assert pair_by_similarity(4, edges, ["a", "b", "c", "d"], 2) == [[0, 3], [1, 2]]
    # an odd one out joins its most similar partner's bundle when the size allows
    edges[(3, 4)] = 0.85
    edges[(1, 4)] = 0.88
    assert pair_by_similarity(5, edges, list("abcde"), 3) == [[0, 3], [1, 2, 4]]
    # … but never one where its answer is already taken (here 4 shares 1's answer)
    assert pair_by_similarity(5, edges, list("abcdb"), 3) == [[0, 3, 4], [1, 2]]
    assert pair_by_similarity(5, edges, list("abcde"), 2) == [[0, 3], [1, 2]]


def test_reference_code_pairs_and_answer_uniqueness():
    ex = _examples(
        PAIR
        + [
            ("Which cup has a higher concentration of salt?", "cup C"),
            ("Which cup has a higher concentration of sugar?", "cup B"),
            ("Who watched?", "Tom"),
        ]
    )
    df, stats = ropes_bundles(ex, BundleConfig(mode="reference-code"))
    io.to_table(df, BUNDLES)
    assert check_unique_answers(df) == []
    assert set(stats["size_histogram"]) == {"2"}
    assert "Who watched?" not in df["question"].to_list()
    for _, g in df.group_by("bundle_id"):  # one hand-made context here, as with `ropes_context: shared`
        assert g["context_id"].n_unique() == 1


def test_paper_mode_needs_high_jaccard():
    long_pair = [
        ("Which cup of the two has a higher concentration of sugar in it after the son poured?", "cup B"),
        ("Which cup of the two has a lower concentration of sugar in it after the son poured?", "cup A"),
    ]
    df, stats = ropes_bundles(_examples(PAIR), BundleConfig(mode="paper"))
    assert df.height == 0 and stats["bundles"] == 0
    df, stats = ropes_bundles(_examples(long_pair), BundleConfig(mode="paper"))
    assert stats["bundles"] == 1 and stats["size_histogram"] == {"2": 1}


def test_only_same_situation_is_compared():
    other = "Cup A got salt and cup B got pepper."
    ex = pl.concat([_examples(PAIR[:1]), _examples(PAIR[1:], context=other)])
    df, _ = ropes_bundles(ex, BundleConfig(mode="reference-code"))
    assert df.height == 0


def test_ids_are_stable_and_mode_specific():
    ex = _examples(PAIR)
    a, _ = ropes_bundles(ex, BundleConfig(mode="reference-code"))
    b, _ = ropes_bundles(ex.reverse(), BundleConfig(mode="reference-code"))
    assert a.equals(b)
    c, _ = ropes_bundles(ex, BundleConfig(mode="reference-code", set_f1=0.5))
    assert a["bundle_id"].to_list() == c["bundle_id"].to_list()


def test_unanswerable_is_rejected_with_reason():
    _, stats = ropes_bundles(_examples(PAIR + [("Which cup is empty?", "")]), BundleConfig())
    assert [r["reason"] for r in stats["rejects"]] == ["no_answer"]


def test_reuse_skips_unchanged_groups():
    ex = pl.concat([_examples(PAIR), _examples(PAIR, context="Cup A and cup B sat there.")])
    cfg = BundleConfig(mode="reference-code")
    full, _ = ropes_bundles(ex, cfg)
    fps = group_fingerprints(ex, cfg)
    keep = next(iter(fps))
    df, stats = ropes_bundles(ex, cfg, reuse=rows_by_situation(ex, full, {keep}))
    assert stats["groups_reused"] == 1 and stats["groups_mined"] == 1
    assert df.equals(full)


def test_bad_mode_fails_early():
    with pytest.raises(ValueError, match="BundleConfig.mode"):
        BundleConfig(mode="fuzzy")


@pytest.mark.integration
def test_reference_groups_reproduce_the_public_driver_figures(shared_data):
    """Per paragraph of the raw file, as data_process_ropes.py calls get_contrast_qa: the
    figures its output has on ROPES train (measured by running the public code, issue 10)."""
    import json
    from collections import Counter

    paragraphs = json.loads((shared_data / "ropes" / "train-v1.0.json").read_text())["data"][0]["paragraphs"]
    sizes, member = Counter(), Counter()
    for p in paragraphs:
        ids = [qa["id"] for qa in p["qas"]]
        for g in reference_groups([qa["question"] for qa in p["qas"]], [qa["answers"][0]["text"] for qa in p["qas"]]):
            sizes[len(g)] += 1
            if len(g) > 1:
                member.update(ids[i] for i in g)
    assert dict(sizes) == {1: 550, 2: 5304, 3: 53}
    assert len(member) == 10374 and sum(1 for v in member.values() if v > 1) == 286


@pytest.mark.integration
def test_ropes_train_counts_and_uniqueness_shared_context(shared_data):
    """`ropes_context: shared` (no longer the default): one context per bundle."""
    from pipeline.sources import SourceSpec, load_source

    loaded = load_source(
        SourceSpec("ropes", str(shared_data / "ropes" / "train-v1.0.json"), split="train", ropes_context="shared")
    )
    for mode in ("paper", "reference-code"):
        df, stats = ropes_bundles(loaded.examples, BundleConfig(mode=mode))
        print(mode, {k: v for k, v in stats.items() if k != "rejects"})
        assert stats["bundles"] > 100
        assert check_unique_answers(df) == []
        assert df.group_by("bundle_id").agg(pl.col("context_id").n_unique())["context_id"].max() == 1


# Default layout (`with-question`) on the real files, measured 2026-12-01 (issue 10 §3):
# (questions, kept, {mode: (bundles, questions in bundles)}), default BundleConfig per mode.
DEFAULT_FIGURES = {
    "train": (10924, 10918, {"paper": (3108, 6234), "reference-code": (5421, 10362)}),
    "dev": (1688, 1688, {"paper": (632, 1377), "reference-code": (1579, 1643)}),
}


@pytest.mark.integration
@pytest.mark.parametrize("split", ["train", "dev"])
def test_default_context_keeps_and_bundles_every_answerable_question(shared_data, split):
    from pipeline.sources import SourceSpec, load_source

    path = shared_data / "ropes" / f"{split}-v1.0.json"
    questions, kept, figures = DEFAULT_FIGURES[split]
    loaded = load_source(SourceSpec("ropes", str(path), split=split))
    assert (loaded.n_records, loaded.examples.height) == (questions, kept)
    assert kept / questions >= 0.999
    assert loaded.rejects.filter(pl.col("field") == "answers").height == questions - kept  # the rest have a reason
    assert loaded.rejects["reason"].null_count() == 0
    shared = load_source(SourceSpec("ropes", str(path), split=split, ropes_context="shared"))
    sit = situations(loaded.examples)
    ctx = dict(zip(loaded.contexts["context_id"].to_list(), loaded.contexts["context"].to_list()))
    for mode, (n_bundles, n_in) in figures.items():
        df, stats = ropes_bundles(loaded.examples, BundleConfig(mode=mode))
        assert (stats["bundles"], stats["questions_in_bundles"]) == (n_bundles, n_in), mode
        assert check_unique_answers(df) == []
        # a bundle is one situation, its members' contexts differ only after background + situation
        keyed = df.join(sit, on="example_id")
        assert keyed.group_by("bundle_id").agg(pl.col("situation").n_unique())["situation"].max() == 1
        for _, g in df.group_by("bundle_id"):
            texts = [ctx[c] for c in g["context_id"].to_list()]
            prefixes = {t[: t.rfind("\n\n")] for t in texts}
            assert len(prefixes) == 1
        # more questions are bundled than with the old default, which lost the "more or less" ones
        _, old = ropes_bundles(shared.examples, BundleConfig(mode=mode))
        assert stats["questions_in_bundles"] > old["questions_in_bundles"]
