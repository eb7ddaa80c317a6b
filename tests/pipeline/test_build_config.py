"""Build config: YAML + overrides -> typed config; every mistake named before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.build_config import BuildConfigError, load_build_config
from pipeline.config_model import apply_overrides
from pipeline.near_miss import NearMissConfig
from pipeline.nlp import IndexConfig


def _yaml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "s.json").write_text('{"version": "1.1", "data": []}')
    path = tmp_path / "build.yaml"
    path.write_text(text)
    return path


def test_demo_config_loads_with_every_sample(samples: Path) -> None:
    cfg = load_build_config(samples / "build.yaml")
    assert {s.dataset for s in cfg.sources} >= {"squad11", "squad20", "ropes", "hotpot", "xquad_de", "broken"}
    assert all(Path(s.path).is_absolute() and Path(s.path).exists() for s in cfg.sources)
    assert cfg.index == IndexConfig() and cfg.miner_config("near_miss") == NearMissConfig(max_negatives=4)
    assert cfg.miners[0] == "near_miss" and "xquad_de" not in cfg.miner_datasets["near_miss"]
    assert Path(cfg.root).is_absolute()


def test_overrides_are_typed_and_dotted(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "sources: [{dataset: s, path: s.json}]\n")
    cfg = load_build_config(
        path, ["index.batch_size=8", "near_miss.max_negatives=2", "sources.0.split=train", "miners=near_miss"]
    )
    assert cfg.index.batch_size == 8 and cfg.miner_config("near_miss").max_negatives == 2
    assert cfg.sources[0].split == "train" and cfg.miners == ("near_miss",)
    assert cfg.resolved()["near_miss"] == {"max_negatives": 2}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "sources: [{dataset: s, path: s.json}]\nindx: {}\n",
            [],
            "indx: unknown key; expected one of ['audit', 'fail_fast', ",
        ),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["index.batchsize=3"],
            "index.batchsize: unknown key; "
            "expected one of ['batch_size', 'chunk_size', 'model', 'n_process', 'sentences']",
        ),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["index.batch_size=lots"],
            "index.batch_size: got 'lots', expected an integer",
        ),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["index.batch_size=0"],
            "index.batch_size: got 0, expected >= 1",
        ),
        ("sources: [{dataset: s, path: s.json}]\n", ["index.sentences=parse"], "expected one of ['senter', 'parser']"),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["index.model=xx_no_such_model"],
            "index.model: spaCy model 'xx_no_such_model' is not installed",
        ),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["miners=near_mis"],
            "miners: got ['near_mis'], expected a list drawn from",
        ),
        (
            "sources: [{dataset: s, path: s.json}]\n",
            ["near_miss.max_negatives=two"],
            "near_miss.max_negatives: got 'two'",
        ),
        ("sources: [{dataset: s, path: s.json}]\n", ["batch_size"], "expected KEY=VALUE"),
        ("sources: [{dataset: s, path: missing.json}]\n", [], "sources.0.path: file not found: 'missing.json'"),
        (
            "sources: [{dataset: s, path: s.json, fromat: squad}]\n",
            [],
            "sources.0.fromat: unknown key; expected one of ['article_split', 'dataset', 'format', ",
        ),
        ("sources: [{dataset: s, path: s.json, format: csv}]\n", [], "sources.0.format: got 'csv', expected one of"),
        (
            "sources: [{dataset: s, path: s.json}, {dataset: s, path: s.json}]\n",
            [],
            "partition(s) ['s/dev'] written by two sources",
        ),
        ("sources: []\n", [], "sources: empty"),
        ("- just a list\n", [], "expected a mapping at the top level"),
    ],
)
def test_mistakes_fail_naming_the_field(tmp_path: Path, text: str, overrides: list[str], message: str) -> None:
    with pytest.raises(BuildConfigError) as info:
        load_build_config(_yaml(tmp_path, text), overrides)
    assert message in str(info.value)


def test_cli_sources_replace_the_file_sources(tmp_path: Path, samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(samples)
    cfg = load_build_config(samples / "build.yaml", sources=["mine=squad11_sample.json:squad"], root=tmp_path)
    assert [(s.dataset, s.format) for s in cfg.sources] == [("mine", "squad")]
    assert cfg.sources[0].path == str(samples / "squad11_sample.json") and cfg.root == str(tmp_path)


def test_hub_sources_are_not_checked_as_files(tmp_path: Path) -> None:
    cfg = load_build_config(None, sources=["squad=rajpurkar/squad:hub"], root=tmp_path)
    assert cfg.sources[0].path == "rajpurkar/squad"


def test_apply_override_rejects_a_bad_list_index() -> None:
    with pytest.raises(BuildConfigError, match=r"override 'sources.3.split': '3' is not an index of a list of 1"):
        apply_overrides({"sources": [{}]}, ["sources.3.split=x"], error=BuildConfigError)


def test_fail_fast_is_off_by_default_typed_and_kept_out_of_the_default_resolved_config(samples: Path) -> None:
    cfg = load_build_config(samples / "build.yaml")
    assert cfg.fail_fast is False and "fail_fast" not in cfg.resolved()  # default fingerprints unchanged
    on = load_build_config(samples / "build.yaml", ["fail_fast=true"])
    assert on.fail_fast is True and on.resolved()["fail_fast"] is True
    with pytest.raises(BuildConfigError, match="fail_fast: expected true or false, got 'sometimes'"):
        load_build_config(samples / "build.yaml", ["fail_fast=sometimes"])
