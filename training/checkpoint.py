"""Atomic, pickle-free checkpoints: `<run>/checkpoints/step-000120/`.

A checkpoint folder holds
- `config.json` + `model.safetensors` (encoder, Hugging Face layout: the folder loads with
  `AutoModelForQuestionAnswering.from_pretrained`), `heads.safetensors` (CRF head),
  tokenizer files;
- `losses.safetensors`: learnable loss parameters (e.g. hard-learning rank weights);
- `train_state.pt`: step, optimizer, scheduler, AMP scaler, sampler position and RNG
  states as plain tensors / numbers, read back with `torch.load(weights_only=True)`;
- `config.yaml`: the resolved run config.

It is written into a hidden `.tmp-*` sibling and renamed into place, then the `latest`
pointer file is replaced atomically: a kill at any moment leaves the previous checkpoint
intact and `latest` pointing at a complete folder.

Resuming (`resume_point`) takes the newest COMPLETE checkpoint (every file above present),
whatever `latest` says: a deleted `train_state.pt` or a `latest` naming a missing folder
falls back to the checkpoint before it, said in `ResumePoint.skipped`; no complete one is a
`CheckpointError`. A file that is present but unreadable (truncated, garbage) is a
`CheckpointError` naming the file and what to do; nothing is ever deleted to get past it.
Pruning only removes checkpoints older than the one just written.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from training.config import TrainConfig, save_config

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAIN_STATE = "train_state.pt"
LOSSES_FILE = "losses.safetensors"
CONFIG_FILE = "config.yaml"
REQUIRED = (
    "config.json",
    "model.safetensors",
    CONFIG_FILE,
    TRAIN_STATE,
)  # a checkpoint without one of them is incomplete
TRAIN_STATE_KEYS = ("step", "optimizer", "scheduler", "scaler", "sampler", "rng")
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A run folder or checkpoint cannot be used as asked; the message names the file and what to do."""


class RunFolderTaken(CheckpointError, FileExistsError):
    """A fresh run (no `--resume`) was pointed at a folder that already holds a run."""


def rng_state() -> dict[str, Any]:
    """torch (CPU + CUDA), numpy and python RNG states as plain tensors / lists."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def loss_state(losses: list[torch.nn.Module], skip: set[int]) -> dict[str, torch.Tensor]:
    """Learnable loss tensors keyed `<i>.<name>`, except those in `skip` (ids of model tensors)."""
    out = {}
    for i, loss in enumerate(losses):
        for name, t in loss.state_dict(keep_vars=True).items():
            if id(t) not in skip:
                out[f"{i}.{name}"] = t.detach().contiguous().cpu()
    return out


def load_loss_state(losses: list[torch.nn.Module], state: dict[str, torch.Tensor]) -> None:
    for i, loss in enumerate(losses):
        own = {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == str(i)}
        if own:
            loss.load_state_dict(own, strict=False)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model,
    tokenizer,
    losses: list[torch.nn.Module],
    train_state: dict[str, Any],
    cfg: TrainConfig,
    keep: int,
) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, prune older ones beyond `keep`."""
    base = Path(run_dir) / CHECKPOINTS
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"step-{step:06d}"
    tmp = base / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    model.save(tmp, tokenizer)
    model_ids = {id(t) for t in model.state_dict(keep_vars=True).values()}
    extra = loss_state(losses, model_ids)
    if extra:
        save_file(extra, tmp / LOSSES_FILE)
    torch.save({**train_state, "step": step}, tmp / TRAIN_STATE)
    save_config(cfg, tmp / "config.yaml")
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    atomic_write_text(Path(run_dir) / LATEST, final.name + "\n")
    older = [p for p in step_folders(run_dir) if checkpoint_step(p) <= step]  # never one ahead of this run
    for old in older[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in base.glob(".tmp-*"):
        if stale != tmp:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def checkpoint_step(folder: str | Path) -> int:
    """`step-000120` → 120 (-1 for a name that is not a step folder)."""
    m = _STEP_DIR.match(Path(folder).name)
    return int(m.group(1)) if m else -1


def step_folders(run_dir: str | Path) -> list[Path]:
    """The run's `checkpoints/step-*` folders, oldest step first (hidden `.tmp-*` ones excluded)."""
    base = Path(run_dir) / CHECKPOINTS
    return sorted((p for p in base.glob("step-*") if p.is_dir() and checkpoint_step(p) >= 0), key=checkpoint_step)


def missing_files(folder: Path) -> list[str]:
    """The files of `REQUIRED` a checkpoint folder lacks (all of them when the folder is gone)."""
    return [name for name in REQUIRED if not (folder / name).is_file()]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder (see `REQUIRED`), or None when the run has none."""
    complete = [p for p in step_folders(run_dir) if not missing_files(p)]
    return complete[-1] if complete else None


def holds_a_run(run_dir: str | Path) -> str | None:
    """What makes `run_dir` an existing run a fresh start would overwrite (None: nothing there)."""
    run_dir = Path(run_dir)
    steps = step_folders(run_dir)
    if steps:
        return f"checkpoints up to {steps[-1].name}"
    if (run_dir / LATEST).exists():
        return f"a `{LATEST}` pointer"
    if (run_dir / "model").is_dir():
        return "a finished model/"
    return None


@dataclass(frozen=True)
class ResumePoint:
    """Where `--resume` continues: the newest complete checkpoint and the newer ones passed over."""

    folder: Path
    step: int
    skipped: tuple[str, ...]  # one line per newer, incomplete checkpoint (or dangling `latest`) that was passed over


def resume_point(run_dir: str | Path) -> ResumePoint:
    """The newest complete checkpoint of `run_dir`; `CheckpointError` when there is none.

    `latest` is only a hint: a kill between the folder's rename and the pointer's update
    leaves a complete folder newer than `latest`, and a deleted folder leaves `latest` dangling.
    """
    run_dir = Path(run_dir)
    skipped = []
    pointer = run_dir / LATEST
    if pointer.exists():
        name = pointer.read_text(encoding="utf-8").strip()
        if not (run_dir / CHECKPOINTS / name).is_dir():
            skipped.append(f"{pointer} names {name!r}, which does not exist")
    for folder in reversed(step_folders(run_dir)):
        missing = missing_files(folder)
        if not missing:
            return ResumePoint(folder, checkpoint_step(folder), tuple(skipped))
        skipped.append(f"{folder} is incomplete (no {', '.join(missing)})")
    found = "; ".join(skipped) or f"{run_dir / CHECKPOINTS} holds no step-* folder"
    raise CheckpointError(
        f"--resume: {run_dir} has no complete checkpoint to resume from ({found}); "
        f"run without --resume to start it afresh, after moving the folder away if you want to keep it"
    )


def _unreadable(path: Path, e: Exception, advice: str) -> CheckpointError:
    # torch's own message for a garbage file advises weights_only=False (arbitrary code execution): never repeat it
    detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
    detail = "" if "weights_only" in detail or len(detail) > 160 else f": {detail}"
    return CheckpointError(
        f"{path}: cannot be read ({type(e).__name__}{detail}); the file is truncated or corrupt. {advice}"
    )


def resume_advice(folder: Path) -> str:
    """What to do about an unreadable file of checkpoint `folder`: name the complete one before it, if any."""
    older = [
        p
        for p in step_folders(folder.parent.parent)
        if checkpoint_step(p) < checkpoint_step(folder) and not missing_files(p)
    ]
    if older:
        return (
            f"Move {folder} out of {folder.parent} to resume from {older[-1].name} "
            "(the newest complete one before it), or start afresh without --resume"
        )
    return "No older complete checkpoint exists: start afresh without --resume (after moving the run folder away)"


def verify_checkpoint(folder: str | Path) -> None:
    """Open every safetensors file of a checkpoint (header and size checked); `CheckpointError` naming a bad one."""
    folder = Path(folder)
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except Exception as e:  # noqa: BLE001 - SafetensorError, OSError: the file cannot be used either way
            raise _unreadable(path, e, resume_advice(folder)) from None


def load_train_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """`train_state.pt` read with `torch.load(weights_only=True)`; `CheckpointError` when unreadable or incomplete."""
    path = Path(folder) / TRAIN_STATE
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - RuntimeError (zip), UnpicklingError, EOFError, OSError
        raise _unreadable(path, e, resume_advice(Path(folder))) from None
    missing = [k for k in TRAIN_STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: not a train state of this project (no {', '.join(missing)}). {resume_advice(Path(folder))}"
        )
    return state


def load_losses_file(folder: str | Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / LOSSES_FILE
    return load_file(path) if path.exists() else {}
