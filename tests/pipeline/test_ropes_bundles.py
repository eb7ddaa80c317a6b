"""ROPES question mining: similarity per mode, packing, uniqueness, ids, reuse, real data."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline import io
from pipeline.ropes_bundles import (
    BundleConfig, answers_differ, check_unique_answers, group_fingerprints, pack, question_tokens, ropes_bundles, similarity,
)
from pipeline.schemas import BUNDLES, EXAMPLES

SITUATION = "Cup A got two spoons of sugar and cup B got three. Cup C got none. Tom and Ann watched."


def _examples(rows, context=SITUATION, cid=None):
    cid = cid or io.text_id(context)
    out = []
    for i, (q, a) in enumerate(rows):
        s = context.find(a) if a else -1
        out.append({"example_id": f"{cid[:4]}-{i}", "context_id": cid, "title": "t", "question": q,
                    "answers": [{"text": a, "start": s, "end": s + len(a)}] if a else [], "is_impossible": not a,
                    "plausible_answers": [], "lang": "en", "question_type": None, "source_file": "f", "source_record": str(i)})
    return pl.DataFrame(out, schema=io.empty_frame(EXAMPLES).schema)


PAIR = [("Which cup has a higher concentration of sugar?", "cup B"),
        ("Which cup has a lower concentration of sugar?", "cup A")]


def test_reference_code_tokens_drop_comparatives_and_the():
    assert question_tokens("Which is the higher one?", "reference-code") == {"which", "is", "one?"}
    a, b = (question_tokens(q, "reference-code") for q, _ in PAIR)
    assert similarity(a, b, "reference-code") == 1.0


def test_paper_jaccard():
    a, b = (question_tokens(q, "paper") for q, _ in PAIR)
    assert similarity(a, b, "paper") == pytest.approx(7 / 9)


def test_answers_differ_per_mode():
    assert not answers_differ("cup B", "Cup B", "paper")
    assert not answers_differ("cup B", "B", "reference-code")   # token set contained
    assert answers_differ("cup B", "cup A", "reference-code")


def test_pack_splits_above_max_and_keeps_answers_unique():
    bundles, dropped = pack(list(range(7)), ["a", "b", "c", "d", "e", "f", "g"], 3)
    assert sorted(len(b) for b in bundles) == [2, 2, 3] and dropped == 0
    bundles, dropped = pack([0, 1, 2], ["a", "a", "b"], 3)
    assert all(len({["a", "a", "b"][i] for i in b}) == len(b) for b in bundles)
    assert sum(len(b) for b in bundles) + dropped == 3


def test_reference_code_pairs_and_answer_uniqueness():
    ex = _examples(PAIR + [("Which cup has a higher concentration of salt?", "cup C"),
                           ("Which cup has a higher concentration of sugar?", "cup B"),
                           ("Who watched?", "Tom")])
    df, stats = ropes_bundles(ex, BundleConfig(mode="reference-code"))
    io.to_table(df, BUNDLES)
    assert check_unique_answers(df) == []
    assert set(stats["size_histogram"]) == {"2"}
    assert "Who watched?" not in df["question"].to_list()
    for _, g in df.group_by("bundle_id"):
        assert g["context_id"].n_unique() == 1


def test_paper_mode_needs_high_jaccard():
    long_pair = [("Which cup of the two has a higher concentration of sugar in it after the son poured?", "cup B"),
                 ("Which cup of the two has a lower concentration of sugar in it after the son poured?", "cup A")]
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
    df, stats = ropes_bundles(ex, cfg, reuse={keep: full.filter(pl.col("context_id") == keep)})
    assert stats["groups_reused"] == 1 and stats["groups_mined"] == 1
    assert df.equals(full)


def test_bad_mode_fails_early():
    with pytest.raises(ValueError, match="BundleConfig.mode"):
        BundleConfig(mode="fuzzy")


@pytest.mark.integration
def test_ropes_train_counts_and_uniqueness(shared_data):
    from pipeline.sources import SourceSpec, load_source

    loaded = load_source(SourceSpec("ropes", str(shared_data / "ropes" / "train-v1.0.json"), split="train"))
    for mode in ("paper", "reference-code"):
        df, stats = ropes_bundles(loaded.examples, BundleConfig(mode=mode))
        print(mode, {k: v for k, v in stats.items() if k != "rejects"})
        assert stats["bundles"] > 100
        assert check_unique_answers(df) == []
        assert df.group_by("bundle_id").agg(pl.col("context_id").n_unique())["context_id"].max() == 1
