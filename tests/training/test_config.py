"""Config parsing, overrides and validation before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.conftest import tiny_overrides
from training.config import ConfigError, apply_overrides, load_config, save_config

MLE = Path(__file__).resolve().parents[2] / "training" / "configs" / "mle.yaml"


def test_overrides_are_typed_and_reach_lists(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(
        MLE, tiny_overrides(train_root, tmp_path) + ["optim.lr=1e-4", "losses.0.weight=0.5", "model.crf_head=false"]
    )
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
    with pytest.raises(
        ConfigError, match=r"data\.dataset/data\.split: artifact 'examples' has no partition dataset=nope/split=train"
    ):
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


# Issue 9, defect 9: a loss that can never see its inputs is refused before any work ---------

CONFIGS = MLE.parent


@pytest.mark.parametrize(
    "config,off,setting,loss",
    [
        ("near_miss_hinge.yaml", "data.near_miss=false", "data.near_miss", "span_hinge"),
        ("ce_question.yaml", "data.bundles=null", "data.bundles", "ce_question"),
        ("ce_joint.yaml", "data.bundles=null", "data.bundles", "ce_joint"),
        ("unlikelihood.yaml", "data.bundles=null", "data.bundles", "unlikelihood"),
        ("hard_learning_aacl.yaml", "data.topk_model=null", "data.topk_model", "hard_learning"),
    ],
)
def test_loss_without_its_data_setting_fails_naming_loss_and_field(config, off, setting, loss, train_root, tmp_path):
    with pytest.raises(ConfigError, match=rf"losses\.\d \({loss}\): reads .* which only {setting} produces"):
        load_config(CONFIGS / config, tiny_overrides(train_root, tmp_path) + [off])


def test_zero_weight_control_term_needs_no_data(train_root, tmp_path):
    cfg = load_config(
        CONFIGS / "near_miss_hinge.yaml",
        tiny_overrides(train_root, tmp_path) + ["data.near_miss=false", "losses.1.weight=0"],
    )
    assert cfg.losses[1].weight == 0


def test_topk_bundle_kind_is_refused_with_the_reason(train_root, tmp_path):
    with pytest.raises(ConfigError, match=r"data\.bundles\.kind: 'topk' is not supported.*not wired"):
        load_config(CONFIGS / "ce_question.yaml", tiny_overrides(train_root, tmp_path) + ["data.bundles.kind=topk"])


def test_hard_learning_needs_the_gold_in_z(train_root, tmp_path):
    with pytest.raises(ConfigError, match=r"hard_learning.*data\.topk_force_gold"):
        load_config(
            CONFIGS / "hard_learning_aacl.yaml",
            tiny_overrides(train_root, tmp_path) + ["data.topk_force_gold=false", "data.topk_model=base"],
        )


def test_experiment_planner_checks_losses_before_any_work(tmp_path):
    """`cqa experiment` resolves runs with validate=False (artifacts do not exist yet); the
    loss names and their data inputs are still checked there."""
    from flows.experiment_profile import ProfileError, RunSpec, _resolve_run

    base = [f"data.root={tmp_path}/none", f"output_dir={tmp_path}"]
    ok = _resolve_run(
        RunSpec(name="m", config="training/configs/near_miss_hinge.yaml"), "method", "methods.0", base, "b"
    )
    assert ok.train.losses[1].name == "span_hinge"
    with pytest.raises(ProfileError, match=r"methods\.0 \(m\): losses\.1\.name: unknown loss 'span_hing'"):
        _resolve_run(
            RunSpec(name="m", config="training/configs/near_miss_hinge.yaml", overrides=("losses.1.name=span_hing",)),
            "method",
            "methods.0",
            base,
            "b",
        )
    with pytest.raises(ProfileError, match=r"methods\.0 \(m\): losses\.1 \(span_hinge\).*data\.near_miss"):
        _resolve_run(
            RunSpec(name="m", config="training/configs/near_miss_hinge.yaml", overrides=("data.near_miss=false",)),
            "method",
            "methods.0",
            base,
            "b",
        )


@pytest.mark.parametrize(
    "name, rule", [("robust.yaml", "negative_score"), ("crf.yaml", "cls_threshold"), ("mle.yaml", None)]
)
def test_shipped_configs_carry_their_papers_null_rule(name: str, rule: str | None) -> None:
    """`cqa evaluate` decodes each run with its config's rule: the robust method's negative-score
    null (docs/methods.md §3.2), the CRF control's span-head CLS threshold; SQuAD 1.1 needs none."""
    cfg = load_config(CONFIGS / name, validate=False)
    assert cfg.decoding.null_rule == rule and cfg.decoding.null_threshold == 0.0


# Issue 11 step 3: cross-field rules live on the loss classes, read generically ---------------


def test_loss_class_rules_name_real_config_fields_and_constructor_settings():
    """`requires` / `equals_config` name TrainConfig fields, `equals_config` / `from_model` constructor
    settings and `from_model` a model attribute: a typo in a class attribute fails here, not silently."""
    from training.config import TrainConfig, _setting
    from training.losses import LOSSES, loss_parameters
    from training.model import QaModel

    cfg, model_attrs = TrainConfig(), set(vars(QaModel(torch.nn.Linear(1, 1), crf_head=False)))
    seen = 0
    for name, cls in LOSSES.items():
        for setting, (value, why) in getattr(cls, "requires", {}).items():
            assert type(_setting(cfg, setting)) is type(value) and why, (name, setting)
            seen += 1
        for param, setting in getattr(cls, "equals_config", {}).items():
            assert param in loss_parameters(name) and isinstance(_setting(cfg, setting), int), (name, param)
            seen += 1
        for arg, attr in getattr(cls, "from_model", {}).items():
            assert arg in loss_parameters(name) and attr in model_attrs, (name, arg, attr)
            seen += 1
    assert seen == 4  # crf_nll: requires + from_model; hard_learning: requires + equals_config


def test_a_zero_weight_crf_loss_still_needs_the_crf_head(train_root, tmp_path):
    """The module of a zero-weight term is still built and called (crf_emissions would be missing)."""
    with pytest.raises(
        ConfigError,
        match=r"^model\.crf_head: the crf_nll loss \(losses\.1\) needs model\.crf_head: true "
        r"\(its emissions come from the model's CRF head\)$",
    ):
        load_config(MLE, tiny_overrides(train_root, tmp_path) + ["losses=[{name: mle}, {name: crf_nll, weight: 0}]"])


def test_top_k_slots_must_equal_features_max_topk(train_root, tmp_path):
    with pytest.raises(ConfigError, match=r"^losses\.0\.params\.num_slots: 20 must equal features\.max_topk \(5\)$"):
        load_config(
            CONFIGS / "hard_learning_aacl.yaml",
            tiny_overrides(train_root, tmp_path) + ["features.max_topk=5", "data.topk_model=base"],
        )


def test_the_objective_hands_the_models_crf_to_the_crf_loss():
    """`from_model`: training and decoding share one transition matrix (it was a loss-name `if` in the loop)."""
    from training.config import config_from_dict
    from training.loop import build_objective
    from training.model import load_model

    cfg = config_from_dict(
        {"model": {"name": "tiny", "crf_head": True}, "losses": [{"name": "mle"}, {"name": "crf_nll"}]}
    )
    model, _ = load_model(cfg.model, seed=0)
    objective = build_objective(cfg, model)
    assert objective.modules[1].crf is model.crf
    plain, _ = load_model(config_from_dict({"model": {"name": "tiny"}}).model, seed=0)
    assert build_objective(cfg, plain).modules[1].crf is not None  # no CRF on the model: the loss owns one
