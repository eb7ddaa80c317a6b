"""A killed run resumed from its latest checkpoint ends with weights identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.conftest import tiny_overrides
from training.checkpoint import LATEST, latest_checkpoint, load_train_state
from training.config import ConfigError, load_config
from training.loop import TrainingInterrupted, train

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "training" / "configs" / "hard_learning_aacl.yaml"  # learnable loss parameters + hidden states


def _overrides(root: Path, out: Path, name: str, steps: int) -> list[str]:
    return tiny_overrides(root, out, steps=steps) + [
        "data.topk_model=base",
        f"run_name={name}",
        "checkpoint_every=3",
        "model.attention_dropout=0.1",
        "model.hidden_dropout=0.1",
        "optim.grad_accum=2",
        "optim.batch_windows=6",
    ]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    ckpt = latest_checkpoint(run)
    assert ckpt is not None
    out = {f"model.{k}": v for k, v in load_file(ckpt / "model.safetensors").items()}
    out.update({f"loss.{k}": v for k, v in load_file(ckpt / "losses.safetensors").items()})
    return out


def _assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


STEPS = 12


@pytest.fixture(scope="module")
def uninterrupted(train_root: Path, tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("uninterrupted")
    return _weights(train(load_config(CONFIG, _overrides(train_root, out, "full", STEPS))))


def test_resume_after_interrupt_is_bit_identical(train_root: Path, tmp_path: Path, uninterrupted) -> None:
    cfg = load_config(CONFIG, _overrides(train_root, tmp_path, "cut", STEPS))
    with pytest.raises(TrainingInterrupted):
        train(cfg, stop_after_steps=4)  # checkpoint at step 3, then step 4 is lost
    assert load_train_state(latest_checkpoint(cfg.run_dir))["step"] == 3
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)
    changed = load_config(CONFIG, _overrides(train_root, tmp_path, "cut", STEPS) + ["optim.lr=1e-2"])
    with pytest.raises(ConfigError, match=r"\['optim.lr'\]"):
        train(changed, resume=True)
    train(cfg, resume=True)
    _assert_identical(uninterrupted, _weights(cfg.run_dir))
    steps = [
        json.loads(line)["step"]
        for line in (cfg.run_dir / "train_log.jsonl").read_text().splitlines()
        if '"event"' not in line
    ]
    assert steps == list(range(1, STEPS + 1))  # step 4, logged before the kill, was cut from the log on resume


def _cli(train_root: Path, out: Path, name: str) -> list[str]:
    sets = [a for o in _overrides(train_root, out, name, STEPS) for a in ("--set", o)]
    return [sys.executable, "-m", "flows.cli_training", "--config", str(CONFIG), *sets]


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(train_root: Path, tmp_path: Path) -> None:
    # Reference and killed run are both fresh processes with the same environment: the
    # last bits of CPU results depend on the thread count and on global torch state that
    # earlier tests of this session may have changed in-process.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    reference = subprocess.run(_cli(train_root, tmp_path, "full"), cwd=REPO, env=env, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr[-2000:]
    argv = _cli(train_root, tmp_path, "killed")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = tmp_path / "killed"
    deadline = time.monotonic() + 120
    while not (run / LATEST).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = load_train_state(latest_checkpoint(run))["step"]
    assert stopped_at < STEPS, "the run finished before it could be killed"
    result = subprocess.run(argv + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_train_state(latest_checkpoint(run))["step"] == STEPS
    _assert_identical(_weights(tmp_path / "full"), _weights(run))
