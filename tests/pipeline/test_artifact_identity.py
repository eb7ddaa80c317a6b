"""The sample build's artifacts, row for row, as the code before the miner refactor (ab27ab1) wrote them.

The hashes below are `benchmarks/bench_artifact_identity.py`'s order-independent content hash
per partition (rows as JSON, the samples folder anonymised), computed from a build of
data/samples/build.yaml with the code of ab27ab1 (and equal, in row order too, to the
current build then: `python benchmarks/bench_artifact_identity.py --rev ab27ab1`). A
difference means a refactor changed what is mined; an intended change of a miner updates
them (re-run the benchmark and copy its hashes). The index rows also depend on the spaCy
model: its version is in the index partition's name.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.build_config import load_build_config
from pipeline.miners import MINERS
from pipeline.stages import miner_applies, run_index, run_load, run_miner

REPO = Path(__file__).resolve().parents[2]
PINNED = {
    "examples/dataset=broken/split=dev": (3, "9371e642567148de"),
    "examples/dataset=hotpot/split=dev": (4, "65911f70f79fbf40"),
    "examples/dataset=ropes/split=dev": (16, "5467a936d2bcf4e1"),
    "examples/dataset=squad11/split=dev": (28, "6046947d725052af"),
    "examples/dataset=squad20/split=dev": (20, "8f3a468967a186db"),
    "examples/dataset=xquad_de/split=dev": (9, "405928a5201c5c07"),
    "contexts/dataset=broken/split=dev": (1, "090c28afc092f685"),
    "contexts/dataset=hotpot/split=dev": (4, "1835bb44042d6e1c"),
    "contexts/dataset=ropes/split=dev": (16, "11bdf1ce5598a5e1"),
    "contexts/dataset=squad11/split=dev": (6, "d577dd60c50da582"),
    "contexts/dataset=squad20/split=dev": (4, "a676716afecc01a6"),
    "contexts/dataset=xquad_de/split=dev": (2, "fd084b14aad5519c"),
    "rejects/dataset=broken/split=dev": (15, "40b645fea0065736"),
    "rejects/dataset=hotpot/split=dev": (1, "25011c473c5b53a8"),
    "index/nlp=en_core_web_sm-3.8.0-6bb981c4": (31, "48e6ab43f2d71d57"),
    "near_miss/dataset=broken/split=dev": (3, "2abc0b4d35c7c3d9"),
    "near_miss/dataset=hotpot/split=dev": (4, "fbb2f8387d08b3c3"),
    "near_miss/dataset=ropes/split=dev": (16, "f50486af78b0b546"),
    "near_miss/dataset=squad11/split=dev": (28, "d28230d825287455"),
    "near_miss/dataset=squad20/split=dev": (20, "c364cd4912c60ece"),
    "bundles/dataset=hotpot/split=dev": (6, "acf34530cb1c8385"),
    "bundles/dataset=ropes/split=dev": (48, "81129910079b313d"),
    "bundles/dataset=squad11/split=dev": (0, "e3b0c44298fc1c14"),
    "flips/dataset=hotpot/split=dev": (3, "f1d7b4d8f6b21a6a"),
    "flips/dataset=ropes/split=dev": (12, "2442c5ae63aeb212"),
    "flips/dataset=squad11/split=dev": (0, "e3b0c44298fc1c14"),
    "synthetic/dataset=squad11/split=dev": (6, "37436f6c86248be2"),
    "synthetic/dataset=squad20/split=dev": (3, "0db1b9fd2a6af7ca"),
}


def _hashes():
    spec = importlib.util.spec_from_file_location(
        "bench_artifact_identity", REPO / "benchmarks/bench_artifact_identity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.partition_hashes


def test_sample_build_equals_the_pre_refactor_artifacts(samples: Path, tmp_path: Path) -> None:
    cfg = load_build_config(str(samples / "build.yaml"), root=str(tmp_path / "artifacts"))
    parts = [(r.dataset, r.split) for s in cfg.sources for r in run_load(cfg.root, s)]
    for d, s in parts:
        if any("index" in MINERS[n].inputs and miner_applies(cfg, n, d) for n in cfg.miners):
            run_index(cfg.root, d, s, cfg.index)
    for name in cfg.miners:
        for d, s in parts:
            if miner_applies(cfg, name, d):
                run_miner(cfg.root, name, d, s, cfg)
    got = {k: (v["rows"], v["unordered"]) for k, v in _hashes()(Path(cfg.root), str(samples.resolve())).items()}
    assert set(got) == set(PINNED), (
        f"partitions differ: new {sorted(set(got) - set(PINNED))}, gone {sorted(set(PINNED) - set(got))}"
    )
    assert {k: v for k, v in got.items() if v != PINNED[k]} == {}
    bundles = Path(cfg.root) / "bundles/dataset=ropes/split=dev"
    assert sorted(p.name for p in bundles.glob("*.parquet")) == ["part-flips.parquet", "part-ropes_bundles.parquet"]
