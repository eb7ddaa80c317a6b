"""Every method config in training/configs/ trains 20 CPU steps (tiny model, sample artifacts)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.training.conftest import tiny_overrides
from training.config import load_config
from training.loop import train

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "training" / "configs").glob("*.yaml"))
EXPECTED = {
    "mle",
    "near_miss_hinge",
    "unlikelihood",
    "ce_answer",
    "ce_question",
    "ce_two_way",
    "ce_full",
    "ce_joint",
    "robust",
    "crf",
    "hard_learning_aacl",
}


def test_every_method_has_a_config() -> None:
    assert {p.stem for p in CONFIGS} == EXPECTED


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_20_steps_with_decreasing_loss(path: Path, train_root: Path, tmp_path: Path) -> None:
    text = path.read_text()
    assert text.startswith("#") and "control" in text.lower(), "header comment must cite the paper and the control"
    topk = "data.topk_model=base" if "topk_model" in text else "data.topk_model=null"
    cfg = load_config(path, tiny_overrides(train_root, tmp_path) + [topk])
    run = train(cfg)
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "event" not in r]
    assert [r["step"] for r in steps] == list(range(1, 21))
    losses = [r["loss"] for r in steps]
    assert all(math.isfinite(x) for x in losses)
    for spec in cfg.losses:  # every loss and its components are logged
        assert all(spec.name in r and math.isfinite(r[spec.name]) for r in steps)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, f"loss did not decrease on average: {losses}"
    assert (run / "model" / "model.safetensors").exists() and (run / "config.yaml").exists()
