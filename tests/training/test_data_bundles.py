"""Bundles whose members have their own contexts (ROPES `with-question`, the default), and synthetic placement.

The ROPES paragraph below is built by hand: the answers of the "more or less" pair occur
only in the questions, so the default layout (background + situation + question, one
context per question) is the only one that keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline import io, schemas
from pipeline.build_config import build_config_from_dict
from pipeline.nlp import IndexConfig
from pipeline.sources import SourceSpec, load_source
from pipeline.stages import run_index, run_load, run_miner
from training.config import BundleSource, DataConfig, FeatureConfig, load_config
from training.data import NO_SPAN, TrainExample, load_examples, locate_bundle_answer, question_part, synthetic_placement
from training.features import featurize
from training.model import load_tokenizer

BACKGROUND = "Sunlight helps plants grow. A plant kept in the dark grows slowly."
SITUATION = "Tom put his plant on a sunny windowsill. Ann put her plant in a closet."
# "more" and "less" are in neither text: those answers exist only in the questions
QAS = [
    ("r1", "Will Tom's plant grow more or less than Ann's plant?", "more"),
    ("r2", "Will Ann's little plant grow more or less than Tom's plant?", "less"),
    ("r3", "Whose plant got more sunlight during that long summer week?", "Tom"),
    ("r4", "Whose plant got less sunlight during that long summer week?", "Ann"),
]
ROPES = {
    "version": "1.0",
    "data": [
        {
            "title": "ropes",
            "paragraphs": [
                {
                    "background": BACKGROUND,
                    "situation": SITUATION,
                    "qas": [{"id": i, "question": q, "answers": [{"text": a}]} for i, q, a in QAS],
                }
            ],
        }
    ],
}
PREFIX = BACKGROUND + "\n\n" + SITUATION + "\n\n"


def run_ropes_bundles(root, dataset, split, section, force=False):
    return run_miner(
        root, "ropes_bundles", dataset, split, build_config_from_dict({"ropes_bundles": section}), force=force
    )


def run_synthetic(root, dataset, split, section, force=False):
    return run_miner(root, "synthetic", dataset, split, build_config_from_dict({"synthetic": section}), force=force)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(load_config(None, ["model.name=tiny"], validate=False).model)


@pytest.fixture(scope="module")
def ropes_root(tmp_path_factory) -> Path:
    """The paragraph loaded with the default context and mined in both modes."""
    tmp = tmp_path_factory.mktemp("ropes_more_less")
    path = tmp / "ropes.json"
    path.write_text(json.dumps(ROPES), encoding="utf-8")
    root = tmp / "artifacts"
    run_load(root, SourceSpec("ropes", str(path), format="ropes", split="train"))
    run_ropes_bundles(root, "ropes", "train", {"modes": ["reference-code", "paper"]})
    return root


def test_shared_rejects_the_pair_the_default_keeps(tmp_path: Path):
    assert SourceSpec("x", "f.json").ropes_context == "with-question"
    path = tmp_path / "ropes.json"
    path.write_text(json.dumps(ROPES), encoding="utf-8")
    old = load_source(SourceSpec("ropes", str(path), ropes_context="shared"))
    assert old.examples["example_id"].to_list() == ["r3", "r4"]
    assert old.rejects["reason"].to_list() == ["answer_only_in_question"] * 2
    new = load_source(SourceSpec("ropes", str(path)))
    assert new.examples["example_id"].to_list() == ["r1", "r2", "r3", "r4"] and new.rejects.height == 0
    ctx = dict(zip(new.contexts["context_id"].to_list(), new.contexts["context"].to_list()))
    for row in new.examples.iter_rows(named=True):
        context, answer = ctx[row["context_id"]], row["answers"][0]
        assert context == PREFIX + row["question"]  # background + situation + own question
        assert context[answer["start"] : answer["end"]] == answer["text"]
        in_question = answer["start"] >= len(PREFIX)
        assert in_question == (row["example_id"] in ("r1", "r2"))


def test_more_or_less_pair_is_one_bundle_in_both_modes(ropes_root: Path):
    bundles = io.read(ropes_root, schemas.BUNDLES, {"dataset": "ropes", "split": "train"})
    for mode in ("reference-code", "paper"):
        rows = bundles.filter(pl.col("mode") == mode)
        groups = sorted(sorted(g["example_id"].to_list()) for _, g in rows.group_by("bundle_id"))
        assert groups == [["r1", "r2"], ["r3", "r4"]], mode
        assert rows.group_by("bundle_id").agg(pl.col("context_id").n_unique())["context_id"].to_list() == [2, 2]


def test_attach_bundles_locates_every_bundle_answer_in_each_members_own_context(ropes_root: Path, tokenizer):
    cfg = DataConfig(
        root=str(ropes_root),
        dataset="ropes",
        split="train",
        bundles=BundleSource(kind="ropes-mined", mode="reference-code"),
    )
    examples = {e.example_id: e for e in load_examples(cfg)}
    r1, r2, r3, r4 = (examples[k] for k in ("r1", "r2", "r3", "r4"))
    assert r1.bundle_id == r2.bundle_id != r3.bundle_id == r4.bundle_id
    # the pair: answer 0 = "more" (r1's, sorted first), answer 1 = "less"; each found in the
    # member's OWN question part, which starts at len(PREFIX) in both contexts:
    # "Will Tom's plant grow " is 22 chars, "Will Ann's little plant grow " 29, "more or " 8 more
    q0 = len(PREFIX)
    assert r1.bundle_answers == ((q0 + 22, q0 + 26), (q0 + 30, q0 + 34))
    assert r2.bundle_answers == ((q0 + 29, q0 + 33), (q0 + 37, q0 + 41))  # not r1's offsets
    for e in (r1, r2):
        assert [e.context[s:t] for s, t in e.bundle_answers] == ["more", "less"]
    assert (r1.bundle_gold, r2.bundle_gold, r1.bundle_question, r2.bundle_question) == (0, 1, 0, 1)
    # the situation pair: the same offsets in both contexts (inside the shared prefix)
    tom, ann = len(BACKGROUND) + 2, len(BACKGROUND) + 2 + SITUATION.index("Ann")
    assert r3.bundle_answers == r4.bundle_answers == ((tom, tom + 3), (ann, ann + 3))
    assert r3.context != r4.context
    # token spans: in every window of every member, each bundle answer maps onto tokens
    # whose char offsets cover exactly the answer text of THAT member's context
    feats = featurize(tokenizer, [r1, r2, r3, r4], FeatureConfig(max_length=48, stride=16))
    spans, mask, offsets = feats.arrays["bundle_spans"], feats.arrays["bundle_mask"], feats.arrays["offsets"]
    for i, e in enumerate([r1, r2, r3, r4]):
        seen = np.zeros(2, dtype=bool)
        for w in feats.windows_of(i):
            for a in range(2):
                if mask[w, a]:
                    s, t = spans[w, a]
                    got = e.context[offsets[w, s, 0] : offsets[w, t, 1]]
                    assert got == e.context[e.bundle_answers[a][0] : e.bundle_answers[a][1]]
                    seen[a] = True
        assert seen.all(), f"{e.example_id}: a bundle answer is in none of its windows"


def test_question_part_and_masking():
    ctx = PREFIX + "Is it hot?"
    assert question_part(ctx, " Is it hot? ") == len(PREFIX)
    assert question_part(SITUATION, "Is it hot?") is None
    assert question_part("Is it hot?", "Is it hot?") == 0
    assert question_part("xIs it hot?", "Is it hot?") is None  # the question must follow the separator
    other = PREFIX + "Is it more or less hot?"
    s = other.index("more")
    # "more" is in neither the prefix nor this member's question: masked for it
    assert locate_bundle_answer(other, (s, s + 4), ctx, "Is it hot?") == NO_SPAN
    # same context: same offsets, no search
    assert locate_bundle_answer(other, (s, s + 4), other, "anything") == (s, s + 4)
    # found in the member's own question part, case-insensitively when needed
    mine = PREFIX + "More rain, or less?"
    assert locate_bundle_answer(other, (s, s + 4), mine, "More rain, or less?") == (len(PREFIX), len(PREFIX) + 4)


def test_a_masked_bundle_answer_is_in_no_window(tokenizer):
    ctx = PREFIX + "Is it hot?"
    e = TrainExample(
        "x",
        ctx,
        "Is it hot?",
        ((0, 8),),
        bundle_id="b",
        bundle_answers=((0, 8), NO_SPAN),
        bundle_gold=0,
        bundle_question=0,
    )
    f = featurize(tokenizer, [e], FeatureConfig(max_length=32, stride=8))
    assert not f.arrays["bundle_mask"][:, 1].any() and f.arrays["bundle_mask"][:, 0].any()


@pytest.mark.parametrize("kind", ["ropes-mined"])
def test_shared_layout_still_gives_one_context_per_bundle(tmp_path: Path, kind):
    path = tmp_path / "ropes.json"
    path.write_text(json.dumps(ROPES), encoding="utf-8")
    root = tmp_path / "artifacts"
    run_load(root, SourceSpec("ropes", str(path), format="ropes", split="train", ropes_context="shared"))
    run_ropes_bundles(root, "ropes", "train", {"modes": ["reference-code"]})
    b = io.read(root, schemas.BUNDLES, {"dataset": "ropes", "split": "train"})
    assert b.group_by("bundle_id").agg(pl.col("context_id").n_unique())["context_id"].to_list() == [1]
    examples = load_examples(
        DataConfig(root=str(root), dataset="ropes", split="train", bundles=BundleSource(kind=kind))
    )
    r3, r4 = sorted(examples, key=lambda e: e.example_id)
    assert r3.context == r4.context and r3.bundle_answers == r4.bundle_answers


# Synthetic placement -------------------------------------------------------------------


@pytest.fixture(scope="module")
def squad20_root(tmp_path_factory, samples: Path) -> Path:
    """The SQuAD 2.0 sample loaded and indexed (spaCy), ready for the synthetic miner."""
    root = tmp_path_factory.mktemp("synthetic_placement") / "artifacts"
    run_load(root, SourceSpec("squad20", str(samples / "squad20_sample.json"), format="squad", split="train"))
    run_index(root, "squad20", "train", IndexConfig())
    return root


@pytest.mark.parametrize("placement", ["replace", "add"])
def test_placement_decides_whether_the_parent_is_trained_on(squad20_root: Path, placement: str, tokenizer):
    rep = run_synthetic(
        squad20_root, "squad20", "train", {"share": 0.5, "seed": 13, "placement": placement}, force=True
    )
    part = {"dataset": "squad20", "split": "train"}
    syn = io.read(squad20_root, schemas.SYNTHETIC, part)
    base = io.read(squad20_root, schemas.EXAMPLES, part)
    assert rep.rows == syn.height > 0
    cfg = DataConfig(root=str(squad20_root), dataset="squad20", split="train", synthetic=True)
    assert synthetic_placement(cfg) == placement
    examples = load_examples(cfg)
    ids = [e.example_id for e in examples]
    parents = set(syn["parent_id"].to_list())
    assert set(syn["example_id"].to_list()) <= set(ids)
    if placement == "replace":
        # every parent is dropped and its augmented example sits where it was
        assert len(examples) == base.height
        assert not parents & set(ids)
        assert [e.extra.get("parent_id", e.example_id) for e in examples] == base["example_id"].to_list()
    else:
        assert len(examples) == base.height + syn.height
        assert parents <= set(ids)
        assert ids[: base.height] == base["example_id"].to_list()
    # which contexts the model sees for each parent's question: the augmented one only
    # (replace) or the original and the augmented one (add)
    ctx = dict(io.read(squad20_root, schemas.CONTEXTS, part).select("context_id", "context").iter_rows())
    seen: dict[str, set[str]] = {}
    for e in examples:
        seen.setdefault(e.extra.get("parent_id", e.example_id), set()).add(e.context)
    for r in syn.iter_rows(named=True):
        want = {r["context"]} if placement == "replace" else {r["context"], ctx[r["parent_context_id"]]}
        assert seen[r["parent_id"]] == want, r["parent_id"]
    # the augmented examples keep both golds (original first, inserted second) and featurize
    for e in examples:
        if e.extra.get("origin") == "synthetic":
            assert len(e.answers) >= 2
    feats = featurize(tokenizer, examples, FeatureConfig(max_length=128, stride=32))
    assert set(np.unique(feats.window_example)) == set(range(len(examples)))


def test_placement_missing_from_the_manifest_fails_loudly(tmp_path: Path):
    root = tmp_path / "artifacts"
    part = {"dataset": "d", "split": "train"}
    io.write_partition(root, schemas.SYNTHETIC, io.empty_frame(schemas.SYNTHETIC), part)  # written without a config
    with pytest.raises(io.ArtifactError, match="config.placement = None"):
        synthetic_placement(DataConfig(root=str(root), dataset="d", split="train", synthetic=True))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("split", "mode", "bundles", "members", "masked"),
    [
        ("train", "reference-code", 5129, 10258, 65),
        ("train", "paper", 3108, 6234, 19),
        ("dev", "reference-code", 701, 1402, 8),
        ("dev", "paper", 632, 1377, 6),
    ],
)
def test_real_ropes_bundle_answers_in_every_members_own_context(
    shared_data, tmp_path: Path, split, mode, bundles, members, masked
):
    """ROPES default layout, real files: the training reader places every bundle answer in each member's context.

    Figures measured 2026-12-01 (issue 10 §3); an example in several bundles joins the first,
    so the reader holds fewer reference-code bundles than are written. `masked`: (member,
    other answer) cells whose answer occurs neither in the shared background + situation nor
    in that member's question (e.g. "lower" for a member asking only "higher or not?")."""
    root = tmp_path / "artifacts"
    run_load(root, SourceSpec("ropes", str(shared_data / "ropes" / f"{split}-v1.0.json"), format="ropes", split=split))
    run_ropes_bundles(root, "ropes", split, {"modes": [mode]})
    rows = io.read(root, schemas.BUNDLES, {"dataset": "ropes", "split": split})
    text = {
        bid: sorted({" ".join(a["text"].lower().split()) for a in g["answer"].to_list()})
        for (bid,), g in rows.group_by(["bundle_id"])
    }
    exs = [
        e
        for e in load_examples(
            DataConfig(
                root=str(root), dataset="ropes", split=split, bundles=BundleSource(kind="ropes-mined", mode=mode)
            )
        )
        if e.bundle_id
    ]
    assert (len({e.bundle_id for e in exs}), len(exs)) == (bundles, members)
    n_masked = 0
    for e in exs:
        got = [" ".join(e.context[s:t].lower().split()) for s, t in e.bundle_answers if (s, t) != NO_SPAN]
        n_masked += len(e.bundle_answers) - len(got)
        assert set(got) <= set(text[e.bundle_id]) and e.bundle_answers[e.bundle_gold] == e.answers[0]
    assert n_masked == masked


def test_a_flip_whose_context_is_missing_fails_naming_it(tmp_path: Path):
    """A flip row whose context is not in `contexts` used to be skipped silently."""
    from tests.training.conftest import DATASET, build_sample_artifacts

    root = build_sample_artifacts(tmp_path / "artifacts")
    part = {"dataset": DATASET, "split": "train"}
    flips = io.read(root, schemas.FLIPS, part)
    cfg = DataConfig(root=str(root), dataset=DATASET, split="train", flips=True)
    assert sum(e.extra["origin"] == "flip" for e in load_examples(cfg)) == flips.height > 0
    io.write_partition(root, schemas.FLIPS, flips.with_columns(pl.lit("nowhere").alias("context_id")), part)
    with pytest.raises(io.ArtifactError, match=r"context_id missing from `contexts`.*example_id="):
        load_examples(cfg)
