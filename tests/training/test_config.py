"""Config parsing, overrides and validation before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.conftest import tiny_overrides
from training.config import ConfigError, apply_overrides, load_config, save_config

MLE = Path(__file__).resolve().parents[2] / "training" / "configs" / "mle.yaml"


def test_overrides_are_typed_and_reach_lists(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(MLE, tiny_overrides(train_root, tmp_path) + ["optim.lr=1e-4", "losses.0.weight=0.5", "model.crf_head=false"])
    assert cfg.optim.lr == 1e-4 and cfg.losses[0].weight == 0.5 and cfg.model.name == "tiny"
    assert apply_overrides({"a": {"b": 1}}, ["a.c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}


def test_config_is_frozen(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(MLE, tiny_overrides(train_root, tmp_path))
    with pytest.raises(Exception):
        cfg.seed = 3  # type: ignore[misc]


def test_unknown_loss_lists_valid_names(train_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"losses\.0\.name: unknown loss 'mle2'.*ce_question.*span_hinge"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["losses.0.name=mle2"])


def test_bad_loss_param_names_field(train_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"losses\.0\.params"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["losses.0.params={marginn: 1}"])


def test_missing_artifact_names_field(train_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.dataset/data\.split: artifact 'examples' has no partition dataset=nope/split=train"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["data.dataset=nope"])
    with pytest.raises(ConfigError, match=r"data\.topk_model: artifact 'topk'"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["data.topk_model=missing"])


def test_bad_model_path_names_field(train_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.name: .*is not a folder"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + [f"model.name={tmp_path}/no/such/model"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"model\.name: folder .* has no config\.json"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + [f"model.name={tmp_path}/empty"])


def test_type_errors_and_unknown_keys_name_the_field(train_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["optim.lr=fast"])
    with pytest.raises(ConfigError, match=r"optim\.learning_rate"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["optim.learning_rate=1"])
    with pytest.raises(ConfigError, match=r"model\.crf_head: the crf_nll loss"):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["losses.0.name=crf_nll"])


def test_resolved_config_round_trips(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(MLE, tiny_overrides(train_root, tmp_path))
    saved = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(saved) == cfg
