"""Training loop: JSONL components, schedule, accumulation, eval hook, init_from, entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from flows.cli import app
from flows.train import launch_training, train_command_line
from tests.training.conftest import tiny_overrides
from training.config import load_config
from training.loop import train

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_log_schedule_accumulation_and_eval(train_root: Path, tmp_path: Path) -> None:
    calls = []

    def hook(model, step):
        calls.append(step)
        return {"probe": float(step)}

    cfg = load_config(
        CONFIGS / "ce_two_way.yaml",
        tiny_overrides(train_root, tmp_path, steps=10)
        + [
            "optim.grad_accum=2",
            "optim.batch_windows=4",
            "eval_every=4",
            "optim.warmup_ratio=0.3",
        ],
    )
    rows = _rows(train(cfg, eval_fn=hook))
    steps = [r for r in rows if "event" not in r]
    assert calls == [4, 8, 10]
    assert [r["probe"] for r in rows if r.get("event") == "eval"] == [4.0, 8.0, 10.0]
    for r in steps:
        assert {"loss", "mle", "mle.start", "mle.end", "ce_two_way", "lr", "grad_norm", "windows"} <= set(r)
    assert max(r["windows"] for r in steps) > 4  # a micro-batch holds <= 4 windows: two were accumulated
    lrs = [r["lr"] for r in steps]
    peak = cfg.optim.lr
    assert lrs[:3] == pytest.approx([peak / 3, 2 * peak / 3, peak])  # linear warm-up over 3 steps
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))  # then linear decay


def test_default_eval_hook_logs_dev_loss(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(
        CONFIGS / "mle.yaml", tiny_overrides(train_root, tmp_path, steps=4) + ["data.eval_split=dev", "eval_every=2"]
    )
    evals = [r for r in _rows(train(cfg)) if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [2, 4] and all(r["dev_loss"] > 0 for r in evals)


def test_init_from_starts_from_the_given_weights(train_root: Path, tmp_path: Path) -> None:
    base = train(load_config(CONFIGS / "mle.yaml", tiny_overrides(train_root, tmp_path, steps=3) + ["run_name=base"]))
    frozen = ["optim.lr=1e-12", "optim.weight_decay=0", "run_name=cont", "seed=99"]
    cont = train(
        load_config(
            CONFIGS / "near_miss_hinge.yaml",
            tiny_overrides(train_root, tmp_path, steps=1) + frozen + [f"init_from={base}/model"],
        )
    )
    a, b = load_file(base / "model" / "model.safetensors"), load_file(cont / "model" / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    fresh = train(
        load_config(CONFIGS / "mle.yaml", tiny_overrides(train_root, tmp_path, steps=1) + frozen + ["run_name=fresh"])
    )
    c = load_file(fresh / "model" / "model.safetensors")
    assert not torch.allclose(a["qa_outputs.weight"], c["qa_outputs.weight"], atol=1e-3)


def test_cli_trains_and_rejects_bad_config(train_root: Path, tmp_path: Path) -> None:
    sets = [a for o in tiny_overrides(train_root, tmp_path, steps=2) for a in ("--set", o)]
    ok = CliRunner().invoke(app, ["train", "--config", str(CONFIGS / "mle.yaml"), *sets])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip().splitlines()[-1] == str(tmp_path / "mle-squad11")
    bad = CliRunner().invoke(
        app, ["train", "--config", str(CONFIGS / "mle.yaml"), *sets, "--set", "losses.0.name=nope"]
    )
    assert bad.exit_code == 2 and "unknown loss 'nope'" in bad.output


def test_flow_command_line() -> None:
    argv = train_command_line("c.yaml", ["a=1"], True, 1)
    assert argv[1:] == ["-m", "flows.cli_training", "--config", "c.yaml", "--set", "a=1", "--resume"]
    assert "torch.distributed.run" in train_command_line("c.yaml", [], False, 4)


@pytest.mark.slow
def test_launch_training_runs_the_cli_in_a_subprocess(train_root: Path, tmp_path: Path) -> None:
    run = launch_training(str(CONFIGS / "mle.yaml"), tiny_overrides(train_root, tmp_path, steps=2))
    assert Path(run) == (tmp_path / "mle-squad11").resolve()
    assert (Path(run) / "model" / "model.safetensors").exists()


def test_run_stops_when_a_contrastive_term_never_sees_its_inputs(train_root: Path, tmp_path: Path) -> None:
    """Issue 9, defect 9: span_hinge with no near-miss negatives in any batch (the config check
    is bypassed here, validate=False) has 0 pairs on every step; the run stops, naming it."""
    from training.loop import InactiveLossError

    cfg = load_config(
        CONFIGS / "near_miss_hinge.yaml",
        tiny_overrides(train_root, tmp_path, steps=6)
        + [
            "data.near_miss=false",
            "inactive_check_steps=3",
        ],
        validate=False,
    )
    with pytest.raises(
        InactiveLossError,
        match=r"losses\.1 \(span_hinge\) was inactive on each of the first 3 steps"
        r" \(span_hinge\.pairs = 0 every step\).*data\.near_miss",
    ):
        train(cfg)
    rows = _rows(tmp_path / cfg.run_name)
    assert [r["step"] for r in rows] == [1, 2]  # stopped on step 3, before logging it


def test_active_contrastive_term_passes_the_guard(train_root: Path, tmp_path: Path) -> None:
    cfg = load_config(
        CONFIGS / "near_miss_hinge.yaml",
        tiny_overrides(train_root, tmp_path, steps=3)
        + [
            "inactive_check_steps=3",
        ],
    )
    rows = _rows(train(cfg))
    assert any(r["span_hinge.pairs"] > 0 for r in rows)
