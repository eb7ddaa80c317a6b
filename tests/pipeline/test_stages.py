"""Stage runners: load/skip/force, miner registry and skip logic, per-writer parts of shared partitions."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pipeline import io
from pipeline.build_config import load_build_config
from pipeline.miners import INPUTS, MINERS, Miner
from pipeline.near_miss import near_miss_stats
from pipeline.rejects import reject, rejects_frame
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, NEAR_MISS, REJECTS
from pipeline.stages import run_load, run_miner, write_stage_rejects
from tests.flows.conftest import parquet_state

CONTEXT = "Rollo led the Norse raiders to France in 911, and Charles III gave him Normandy in 912."


def _squad(path: Path, answer_start: int = 41) -> Path:
    qas = [
        {"id": "q1", "question": "Who led the raiders?", "answers": [{"text": "Rollo", "answer_start": 0}]},
        {"id": "q2", "question": "When did they come?", "answers": [{"text": "911", "answer_start": answer_start}]},
    ]
    path.write_text(
        json.dumps({"version": "1.1", "data": [{"title": "Normans", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]})
    )
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return _squad(tmp_path / "mini.json")


def _cfg(root: Path, source: Path, *overrides: str):
    return load_build_config(None, list(overrides), root=root, sources=[f"mini={source}:squad"])


def test_load_writes_partitions_and_skips_when_unchanged(root: Path, source: Path) -> None:
    spec = _cfg(root, source).sources[0]
    first = run_load(root, spec)
    assert [(r.dataset, r.split, r.rows, r.skipped) for r in first] == [("mini", "dev", 2, False)]
    assert io.read(root, EXAMPLES)["example_id"].sort().to_list() == ["q1", "q2"]
    assert io.read(root, CONTEXTS).height == 1
    state = parquet_state(root)
    again = run_load(root, spec)
    assert [r.skipped for r in again] == [True] and again[0].rows == 2
    assert parquet_state(root) == state
    forced = run_load(root, spec, force=True)
    assert not forced[0].skipped and parquet_state(root) != state


def test_two_sources_of_one_dataset_with_different_splits_skip_independently(root: Path, tmp_path: Path) -> None:
    train, dev = _squad(tmp_path / "train.json"), _squad(tmp_path / "dev.json", answer_start=40)  # dev: one bad offset
    cfg = load_build_config(None, [], root=root, sources=[f"mini={train}:squad"])
    specs = [dataclasses.replace(cfg.sources[0], split="train"), dataclasses.replace(cfg.sources[0], path=str(dev))]
    for spec in specs:
        assert not run_load(root, spec)[0].skipped
    assert {(p["dataset"], p["split"]) for p in io.partitions(root, EXAMPLES)} == {("mini", "train"), ("mini", "dev")}
    state = parquet_state(root)
    assert [run_load(root, spec)[0].skipped for spec in specs] == [True, True]  # neither reloads because of the other
    assert parquet_state(root) == state


def test_two_sources_writing_one_partition_are_refused(tmp_path: Path) -> None:
    from pipeline.build_config import BuildConfigError

    path = _squad(tmp_path / "a.json")
    with pytest.raises(BuildConfigError, match=r"partition\(s\) \['mini/dev'\] written by two sources"):
        load_build_config(None, [], root=tmp_path, sources=[f"mini={path}:squad", f"mini={path}:squad"])


def test_changed_source_file_is_reloaded_and_its_rejects_replaced(root: Path, source: Path) -> None:
    spec = _cfg(root, source).sources[0]
    run_load(root, spec)
    assert not io.partitions(root, REJECTS)  # no rejects: nothing written
    _squad(source, answer_start=7)  # q2's offset no longer matches
    [report] = run_load(root, spec)
    assert not report.skipped and report.rows == 1 and report.rejects > 0
    rej = io.read(root, REJECTS)
    assert set(rej["stage"]) == {"load"} and "q2" in rej["record_id"].to_list()
    _squad(source)  # fixed again: the load part of rejects becomes empty, not stale
    [report] = run_load(root, spec)
    assert report.rejects == 0 and io.read(root, REJECTS).height == 0


def test_stage_rejects_are_kept_per_stage(root: Path) -> None:
    a = rejects_frame([reject("load", "f.json", "1", "answers", "offset_mismatch")])
    b = rejects_frame([reject("near_miss", "ex", "2", "answers[0]", "gold_offset_mismatch")] * 2)
    write_stage_rejects(root, "load", "d", "dev", a)
    write_stage_rejects(root, "near_miss", "d", "dev", b)
    write_stage_rejects(root, "load", "d", "dev", a)  # rewriting one stage keeps the other's rows
    rej = io.read(root, REJECTS)
    assert rej.group_by("stage").len().sort("stage").rows() == [("load", 1), ("near_miss", 2)]
    assert io.partition_entry(root, REJECTS, {"dataset": "d", "split": "dev"})["rows"] == 3


@dataclass(frozen=True)
class CountConfig:
    label: str = "x"  # copied into every row


def _fake_flips(examples: pl.DataFrame, cfg: CountConfig):
    """A fake two-output miner in the shape of the real flips miner (rows of FLIPS and BUNDLES)."""
    calls.append(cfg.label)
    flips = io.empty_frame(FLIPS)
    bundles = pl.DataFrame(
        {
            "bundle_id": [cfg.label],
            "kind": ["flip"],
            "mode": ["m"],
            "example_id": [examples["example_id"][0]],
            "context_id": [examples["context_id"][0]],
            "question": ["q"],
            "answer": [examples["answers"][0][0]],  # a real span: the write gate checks it
            "role": ["original"],
            "rule": [None],
            "parent_id": [None],
        },
        schema=io.empty_frame(BUNDLES).schema,
    )
    rejects = rejects_frame([reject("fake", "examples", examples["example_id"][-1], "question", "no_rule_applies")])
    return {"flips": flips, "bundles": bundles}, rejects, {"calls": len(calls)}


def _fake_bundles(examples: pl.DataFrame, cfg: CountConfig):
    bundles = _fake_flips(examples, cfg)[0]["bundles"].with_columns(pl.lit("ropes-mined").alias("kind"))
    return bundles, rejects_frame([]), {}


calls: list[str] = []


@pytest.fixture
def fake_miners(monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    monkeypatch.setitem(MINERS, "fake", Miner((FLIPS, BUNDLES), ("examples",), _fake_flips, CountConfig))
    monkeypatch.setitem(MINERS, "fake_bundles", Miner((BUNDLES,), ("examples",), _fake_bundles, CountConfig))


def test_miner_skips_on_unchanged_inputs_and_reruns_on_config_change(root: Path, source: Path, fake_miners) -> None:
    cfg = _cfg(root, source)
    run_load(root, cfg.sources[0])
    first = run_miner(root, "fake", "mini", "dev", cfg)
    assert (first.rows, first.rejects, first.skipped) == (0, 1, False)
    state = parquet_state(root)
    again = run_miner(root, "fake", "mini", "dev", cfg)
    assert again.skipped and again.rejects == 1 and again.stats["calls"] == 1 and calls == ["x"]
    assert parquet_state(root) == state
    changed = run_miner(root, "fake", "mini", "dev", _cfg(root, source, "fake.label=y"))
    assert not changed.skipped and calls == ["x", "y"]
    forced = run_miner(root, "fake", "mini", "dev", _cfg(root, source, "fake.label=y"), force=True)
    assert not forced.skipped and calls == ["x", "y", "y"]


def test_miner_reruns_when_its_input_partition_changes(root: Path, source: Path, fake_miners) -> None:
    cfg = _cfg(root, source)
    run_load(root, cfg.sources[0])
    run_miner(root, "fake", "mini", "dev", cfg)
    run_load(root, cfg.sources[0], force=True)  # same rows again: nothing to re-mine
    assert run_miner(root, "fake", "mini", "dev", cfg).skipped
    _squad(Path(cfg.sources[0].path), answer_start=7)  # q2 now rejected: examples change
    run_load(root, cfg.sources[0])
    assert not run_miner(root, "fake", "mini", "dev", cfg).skipped


def test_two_miners_share_a_bundles_partition(root: Path, source: Path, fake_miners) -> None:
    cfg = _cfg(root, source)
    run_load(root, cfg.sources[0])
    run_miner(root, "fake", "mini", "dev", cfg)
    run_miner(root, "fake_bundles", "mini", "dev", cfg)
    run_miner(root, "fake", "mini", "dev", cfg, force=True)
    bundles = io.read(root, BUNDLES)
    assert sorted(bundles["kind"].to_list()) == ["flip", "ropes-mined"]
    entry = io.partition_entry(root, BUNDLES, {"dataset": "mini", "split": "dev"})
    assert set(entry["writers"]) == {"fake", "fake_bundles"} and entry["rows"] == 2
    assert run_miner(root, "fake_bundles", "mini", "dev", cfg).skipped


def test_miner_without_loaded_input_names_the_missing_partition(root: Path, source: Path) -> None:
    with pytest.raises(io.ArtifactError, match="examples.*dataset=mini/split=dev"):
        run_miner(root, "near_miss", "mini", "dev", _cfg(root, source))


def test_registry_starts_with_near_miss_and_declares_outputs() -> None:
    assert next(iter(MINERS)) == "near_miss"
    assert MINERS["near_miss"].outputs == (NEAR_MISS,)
    for name, miner in MINERS.items():
        assert set(miner.inputs) <= set(INPUTS), name
        assert all(spec.partition_by == ("dataset", "split") for spec in miner.outputs), name


def test_near_miss_stats() -> None:
    rows = pl.DataFrame({"n_negatives": [0, 1, 3, 0], "status": ["no_negative", "ok", "ok", "unanswerable"]})
    stats = near_miss_stats(rows)
    assert stats["with_negative"] == 0.5 and stats["negatives_per_example"] == 1.0
    assert stats["histogram"] == {"0": 2, "1": 1, "3": 1} and stats["status"]["ok"] == 2
