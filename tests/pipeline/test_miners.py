"""The registered miners through the one runner: write, skip when unchanged, re-mine only changed groups."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl
import pytest

from pipeline import io
from pipeline.build_config import BuildConfigError, build_config_from_dict
from pipeline.miners import MINERS, Miner, mined_artifacts, per_context_id
from pipeline.nlp import IndexConfig, index_key
from pipeline.rejects import rejects_frame
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, INDEX, NEAR_MISS, REJECTS, SYNTHETIC
from pipeline.stages import part_path, run_miner
from tests.flows.conftest import parquet_state

PART = {"dataset": "toy", "split": "train"}


def _miner(name: str):
    """`run_miner` of one registered miner with `section` as its YAML section."""

    def run(root, dataset, split, section, force=False):
        return run_miner(root, name, dataset, split, build_config_from_dict({name: section}), force=force)

    return run


run_ropes_bundles, run_flips, run_synthetic = (_miner(n) for n in ("ropes_bundles", "flips", "synthetic"))
SIT1 = "The cup A got two spoons of sugar and the cup B got three. Paris and London were cities in 1900."
SIT2 = "The tank X was full and the tank Y was empty."


def _load(root, situations):
    ex, ctx = [], []
    for context, qas in situations:
        cid = io.text_id(context)
        ctx.append({"context_id": cid, "context": context, "title": "t", "lang": "en", "n_chars": len(context)})
        for q, a, qid in qas:
            s = context.index(a)
            ex.append(
                {
                    "example_id": qid,
                    "context_id": cid,
                    "title": "t",
                    "question": q,
                    "answers": [{"text": a, "start": s, "end": s + len(a)}],
                    "is_impossible": False,
                    "plausible_answers": [],
                    "lang": "en",
                    "question_type": None,
                    "source_file": "f",
                    "source_record": qid,
                }
            )
    inputs = {"source": io.fingerprint(situations)}
    extra = {"content": io.fingerprint(situations)}  # as the load stage records it
    io.write_partition(
        root, EXAMPLES, pl.DataFrame(ex, schema=io.empty_frame(EXAMPLES).schema), PART, inputs=inputs, extra=extra
    )
    io.write_partition(
        root, CONTEXTS, pl.DataFrame(ctx, schema=io.empty_frame(CONTEXTS).schema), PART, inputs=inputs, extra=extra
    )


S1 = (
    SIT1,
    [
        ("Which cup has a higher concentration of sugar, cup A or cup B?", "cup B", "a1"),
        ("Which cup has a lower concentration of sugar, cup A or cup B?", "cup A", "a2"),
    ],
)
S2 = (
    SIT2,
    [
        ("Which tank has more water, tank X or tank Y?", "tank X", "b1"),
        ("Which tank has less water, tank X or tank Y?", "tank Y", "b2"),
        ("Which tank is it, tank X or tank Z?", "tank X", "b3"),
    ],
)


def test_ropes_runner_skips_and_reuses_groups(root):
    _load(root, [S1, S2])
    first = run_ropes_bundles(root, "toy", "train", {"modes": ["reference-code"]})
    assert not first.skipped and first.stats["modes"]["reference-code"]["bundles"] == 2
    again = run_ropes_bundles(root, "toy", "train", {"modes": ["reference-code"]})
    assert again.skipped and again.rows == first.rows
    s2 = (SIT2, S2[1][:2] + [("Which tank is emptier, tank X or tank Y?", "tank Y", "b3")])
    _load(root, [S1, s2])
    third = run_ropes_bundles(root, "toy", "train", {"modes": ["reference-code"]})
    st = third.stats["modes"]["reference-code"]
    assert (st["groups_reused"], st["groups_mined"]) == (1, 1)
    assert io.read(root, BUNDLES, PART)["kind"].unique().to_list() == ["ropes-mined"]


def test_force_re_mines_and_an_identical_reload_does_not(root):
    _load(root, [S1, S2])
    run_ropes_bundles(root, "toy", "train", {})
    run_flips(root, "toy", "train", {})
    assert not run_ropes_bundles(root, "toy", "train", {}, force=True).skipped
    forced = run_flips(root, "toy", "train", {}, force=True)
    assert not forced.skipped and forced.stats["groups_reused"] == 0
    _load(root, [S1, S2])  # the same rows written again (a forced reload): new manifest entries, same content
    assert run_ropes_bundles(root, "toy", "train", {}).skipped
    assert run_flips(root, "toy", "train", {}).skipped


def test_flips_and_ropes_kinds_share_the_bundles_partition(root):
    _load(root, [S1, S2])
    run_ropes_bundles(root, "toy", "train", {})
    rep = run_flips(root, "toy", "train", {})
    assert rep.stats["per_rule"] == {"antonym": 4}
    rejects = io.read(root, REJECTS, PART).filter(pl.col("stage") == "flips")
    assert rejects["reason"].to_list() == ["other_option_not_in_context"] and rep.rejects == 1
    kinds = io.read(root, BUNDLES, PART).group_by("kind").len().sort("kind")
    assert kinds["kind"].to_list() == ["flip", "ropes-mined"]
    assert io.read(root, FLIPS, PART).height == 4
    assert run_flips(root, "toy", "train", {}).skipped
    assert run_ropes_bundles(root, "toy", "train", {}).skipped
    _load(root, [S1, (SIT2, S2[1][:2])])  # one context changed: only it is flipped again
    rep = run_flips(root, "toy", "train", {})
    assert (rep.stats["groups_reused"], rep.stats["groups_flipped"]) == (1, 1)
    assert io.read(root, FLIPS, PART).height == 4 and rep.rejects == 0
    assert "ropes-mined" in io.read(root, BUNDLES, PART)["kind"].to_list()


def test_bad_config_fails_before_work(root):
    with pytest.raises(BuildConfigError, match="ropes_bundles.modes"):
        run_ropes_bundles(root, "toy", "train", {"modes": ["fuzzy"]})
    with pytest.raises(BuildConfigError, match=r"ropes_bundles\.max_size: got 1, expected >= 2"):
        run_ropes_bundles(root, "toy", "train", {"max_size": 1})
    with pytest.raises(BuildConfigError, match=r"flips\.rule: unknown key"):
        run_flips(root, "toy", "train", {"rule": ["antonym"]})


def test_synthetic_runner(root):
    qas = [(f"Which city was it {i}?", "Paris", f"s{i}") for i in range(20)]
    _load(root, [(SIT1, qas)])
    cid = io.text_id(SIT1)
    ents = [
        {"start": SIT1.index(t), "end": SIT1.index(t) + len(t), "label": lab, "sent": 1}
        for t, lab in (("Paris", "GPE"), ("London", "GPE"), ("1900", "DATE"))
    ]
    rec = {
        "context_id": cid,
        "n_chars": len(SIT1),
        "sentences": [{"start": 0, "end": 50}, {"start": 51, "end": len(SIT1)}],
        "entities": ents,
    }
    io.write_partition(
        root, INDEX, pl.DataFrame([rec], schema=io.empty_frame(INDEX).schema), {"nlp": index_key(IndexConfig())}
    )
    rep = run_synthetic(root, "toy", "train", {"share": 0.5, "seed": 3})
    assert rep.rows == 10 and rep.stats["share"] == 0.5
    rows = io.read(root, SYNTHETIC, PART)
    for ctx, answers in zip(rows["context"].to_list(), rows["answers"].to_list()):
        assert [ctx[a["start"] : a["end"]] for a in answers] == [a["text"] for a in answers]
        assert answers[-1]["text"] == "London"
    assert run_synthetic(root, "toy", "train", {"share": 0.5, "seed": 3}).skipped


def test_each_writer_of_bundles_owns_one_part_file(root):
    _load(root, [S1, S2])
    run_ropes_bundles(root, "toy", "train", {})
    run_flips(root, "toy", "train", {})
    folder = io.partition_dir(root, BUNDLES, PART)
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["part-flips.parquet", "part-ropes_bundles.parquet"]
    entry = io.partition_entry(root, BUNDLES, PART)
    assert set(entry["writers"]) == {"flips", "ropes_bundles"} and entry["rows"] == io.read(root, BUNDLES, PART).height
    ropes_part = part_path(root, BUNDLES, PART, "ropes_bundles")
    before = ropes_part.stat()
    run_flips(root, "toy", "train", {}, force=True)  # flips rewrites its part only: no read-modify-write of the other
    after = ropes_part.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert io.read(root, BUNDLES, PART).filter(pl.col("kind") == "ropes-mined").height > 0


def test_a_part_written_before_the_partition_was_shared_is_dropped(root):
    _load(root, [S1, S2])
    legacy = io.empty_frame(BUNDLES)
    io.write_partition(root, BUNDLES, legacy, PART)  # the old single-file layout: part-0.parquet, no writers
    run_flips(root, "toy", "train", {})
    folder = io.partition_dir(root, BUNDLES, PART)
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["part-flips.parquet"]


@dataclass(frozen=True)
class ToyConfig:
    tag: str = "t"


toy_calls: list[frozenset[str]] = []


def _toy(examples: pl.DataFrame, cfg: ToyConfig, previous):
    """A toy miner: one `near_miss` row per example, `no_negative`; counts what it is allowed to reuse."""
    toy_calls.append(previous.unchanged)
    rows = [
        {
            "example_id": e,
            "context_id": c,
            "status": cfg.tag,
            "gold": None,
            "gold_label": None,
            "gold_coarse": None,
            "sentence": None,
            "negatives": [],
            "n_negatives": 0,
        }
        for e, c in examples.select("example_id", "context_id").iter_rows()
    ]
    return pl.DataFrame(rows, schema=io.empty_frame(NEAR_MISS).schema), rejects_frame([]), {"n": len(rows)}


def test_a_toy_miner_added_through_the_registry_alone_is_skipped_on_an_unchanged_re_run(root, monkeypatch):
    toy_calls.clear()
    monkeypatch.setitem(MINERS, "toy", Miner((NEAR_MISS,), ("examples",), _toy, ToyConfig, groups=per_context_id))
    _load(root, [S1, S2])
    first = run_miner(root, "toy", "toy", "train", build_config_from_dict({"toy": {"tag": "a"}}))
    assert not first.skipped and first.rows == 5 and toy_calls == [frozenset()]
    state = parquet_state(root)
    again = run_miner(root, "toy", "toy", "train", build_config_from_dict({"toy": {"tag": "a"}}))
    assert again.skipped and again.stats == {"n": 5} and len(toy_calls) == 1 and parquet_state(root) == state
    _load(root, [S1, (SIT2, S2[1][:2])])  # one context's questions changed: the other context may be reused
    run_miner(root, "toy", "toy", "train", build_config_from_dict({"toy": {"tag": "a"}}))
    assert toy_calls[-1] == {io.text_id(SIT1)}
    run_miner(root, "toy", "toy", "train", build_config_from_dict({"toy": {"tag": "b"}}))
    assert toy_calls[-1] == frozenset()  # the config is in every group's fingerprint
    assert io.read(root, NEAR_MISS, PART)["status"].unique().to_list() == ["b"]


def test_a_miner_must_declare_known_inputs_and_dataset_split_outputs():
    with pytest.raises(ValueError, match="inputs \\['frames'\\]"):
        Miner((NEAR_MISS,), ("frames",), _toy, ToyConfig)
    with pytest.raises(ValueError, match="'index', \\('nlp',\\)"):
        Miner((INDEX,), ("examples",), _toy, ToyConfig)


def test_mined_artifacts_are_the_load_outputs_and_every_registered_output(monkeypatch):
    assert {s.name for s in mined_artifacts()} == {
        "examples",
        "contexts",
        "rejects",
        "near_miss",
        "bundles",
        "flips",
        "synthetic",
    }
    toy_out = dataclasses.replace(NEAR_MISS, name="toy_out")
    monkeypatch.setitem(MINERS, "toy", Miner((toy_out,), ("examples",), _toy, ToyConfig))
    assert toy_out in mined_artifacts()
