"""DDP on CPU (gloo): 2 ranks under `torchrun` train exactly what 1 process trains at the same global batch.

Same global batch: the bundle sampler gives rank r the packed batches r, r+2, r+4, ...
of the epoch order, so one 2-rank step sees batches (2k, 2k+1); one process with
grad_accum=2 sees the same two batches in step k. DDP averages the two ranks' gradients,
grad_accum averages the two micro-batches' gradients (loss / accum): both optimise the mean
over micro-batches of each micro-batch's own loss. With batch_windows=8 the sample's 26
windows pack into 8 + 8 + 8 + 2 (an even count, so no batch is dropped), so the second
step of every epoch pairs a full batch with a 2-window one: unequal window counts, weighted
alike in both runs (each micro-batch's mean counts once).

The config is hard_learning_aacl: learnable loss parameters (hard-learning slot weights,
outside the DDP-wrapped model; training.loop averages their gradients itself) and hidden
states. Dropout is 0 for the equality (the two ranks draw their dropout masks from their own
streams, one process from one stream); the resume test keeps dropout on, so it also checks
that every rank's RNG stream is restored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.conftest import tiny_overrides
from training.checkpoint import CheckpointError, step_folders
from training.config import load_config
from training.loop import train

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "training" / "configs" / "hard_learning_aacl.yaml"
WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS = 6  # 3 epochs of 2 steps (4 packed batches per epoch)
pytestmark = pytest.mark.slow


def _overrides(root: Path, out: Path, name: str, *, accum: int, dropout: float) -> list[str]:
    return tiny_overrides(root, out, steps=STEPS) + [
        "data.topk_model=base",
        f"run_name={name}",
        "checkpoint_every=2",
        "keep_checkpoints=3",
        "optim.batch_windows=8",
        f"optim.grad_accum={accum}",
        f"model.hidden_dropout={dropout}",
        f"model.attention_dropout={dropout}",
    ]


def _torchrun(overrides: list[str], *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        str(WORKER),
        "--config",
        str(CONFIG),
        *extra,
        *overrides,
    ]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def _steps(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [r for r in rows if "event" not in r]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    folder = step_folders(run)[-1]
    out = {f"model.{k}": v for k, v in load_file(folder / "model.safetensors").items()}
    out.update({f"loss.{k}": v for k, v in load_file(folder / "losses.safetensors").items()})
    return out


@pytest.fixture(scope="module")
def ddp_runs(train_root: Path, tmp_path_factory) -> dict[str, Path]:
    """2-rank runs: no dropout to 6 steps; with dropout to 6 steps; with dropout cut after step 3."""
    out = tmp_path_factory.mktemp("ddp")
    runs = {}
    for name, dropout, stop in (("ddp", 0.0, None), ("ddp-dropout", 0.1, None), ("ddp-cut", 0.1, 3)):
        extra = ("--stop-after", str(stop)) if stop else ()
        result = _torchrun(_overrides(train_root, out, name, accum=1, dropout=dropout), *extra)
        want = 0 if stop is None else 1  # a rank that stops early exits 3; torchrun reports the failure as 1
        assert result.returncode == want, result.stderr[-3000:]
        runs[name] = out / name
    runs["root"] = out
    return runs


def test_two_ranks_equal_one_process_at_the_same_global_batch(ddp_runs, train_root: Path) -> None:
    single = train(load_config(CONFIG, _overrides(train_root, ddp_runs["root"], "single", accum=2, dropout=0.0)))
    two, one = _steps(ddp_runs["ddp"]), _steps(single)
    # one row per step: rank 0 logs
    assert [r["step"] for r in two] == [r["step"] for r in one] == list(range(1, STEPS + 1))
    assert [r["windows"] for r in two] == [r["windows"] for r in one] == [16, 10] * 3
    for key in ("loss", "hard_learning", "aa_cl", "grad_norm", "lr"):
        assert [r[key] for r in two] == pytest.approx([r[key] for r in one], rel=1e-4, abs=1e-6), key
    a, b = _weights(ddp_runs["ddp"]), _weights(single)
    assert a.keys() == b.keys() and any(k.startswith("loss.") for k in a)
    # qa_outputs.bias shifts every start (end) logit of a window alike, and every loss here is
    # a softmax or a score difference over those logits, so its true gradient is 0: what it
    # gets is rounding noise near Adam's eps (1e-8), which Adam turns into steps of any size
    # up to lr. Summation order differs between DDP's all-reduce and accumulation (and by CPU:
    # CI's differed by 6.7e-5 where this machine's is 0), so that one tensor is held only to
    # Adam's bound, |Δ| <= 2·lr·steps, and to staying far below what a real gradient moves
    # (lr·steps); every other tensor is held to 1e-4.
    noise_only = {"model.qa_outputs.bias"}
    lr_steps = 3e-3 * STEPS  # tiny_overrides' lr
    for k in noise_only:
        assert float((a[k] - b[k]).abs().max()) <= 2 * lr_steps, k
        assert float(a[k].abs().max()) < 0.25 * lr_steps and float(b[k].abs().max()) < 0.25 * lr_steps, k
    far = {
        k: float((a[k] - b[k]).abs().max())
        for k in a
        if k not in noise_only and not torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5)
    }
    assert not far, far
    # the comparison can fail: one process WITHOUT accumulation (one batch a step) trains other weights
    lone = train(load_config(CONFIG, _overrides(train_root, ddp_runs["root"], "lone", accum=1, dropout=0.0)))
    assert not torch.allclose(
        _weights(lone)["model.qa_outputs.weight"], a["model.qa_outputs.weight"], rtol=1e-4, atol=1e-5
    )


def test_only_rank_zero_writes_checkpoints_and_the_model(ddp_runs) -> None:
    run = ddp_runs["ddp"]
    calls = (run / "checkpoint_calls.txt").read_text().split("\n")
    assert [c for c in calls if c] == ["0 2", "0 4", "0 6"]
    assert [p.name for p in step_folders(run)] == ["step-000002", "step-000004", "step-000006"]
    assert (run / "model" / "model.safetensors").is_file()
    state = torch.load(step_folders(run)[-1] / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2


def test_resume_on_two_ranks_is_identical_and_refuses_another_world_size(ddp_runs, train_root: Path) -> None:
    cut = ddp_runs["ddp-cut"]
    assert [p.name for p in step_folders(cut)] == ["step-000002"]  # step 3 ran, its checkpoint never came
    cfg = load_config(CONFIG, _overrides(train_root, ddp_runs["root"], "ddp-cut", accum=1, dropout=0.1))
    with pytest.raises(CheckpointError, match=r"2 process\(es\), this one has 1.*--nproc_per_node 2"):
        train(cfg, resume=True)
    result = _torchrun(_overrides(train_root, ddp_runs["root"], "ddp-cut", accum=1, dropout=0.1), "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    full, resumed = _weights(ddp_runs["ddp-dropout"]), _weights(cut)
    different = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not different, different[:5]
    assert [r["loss"] for r in _steps(cut)] == [r["loss"] for r in _steps(ddp_runs["ddp-dropout"])]
