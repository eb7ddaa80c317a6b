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
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from training.config import TrainConfig, save_config

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAIN_STATE = "train_state.pt"
LOSSES_FILE = "losses.safetensors"


def rng_state() -> dict[str, Any]:
    """torch (CPU + CUDA), numpy and python RNG states as plain tensors / lists."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
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


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(
    run_dir: Path, step: int, *, model, tokenizer, losses: list[torch.nn.Module], train_state: dict[str, Any],
    cfg: TrainConfig, keep: int,
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
    _atomic_write_text(Path(run_dir) / LATEST, final.name + "\n")
    steps = sorted(p for p in base.glob("step-*") if p.is_dir())
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in base.glob(".tmp-*"):
        if stale != tmp:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The folder `latest` points at, or None when the run has no complete checkpoint."""
    pointer = Path(run_dir) / LATEST
    if not pointer.exists():
        return None
    folder = Path(run_dir) / CHECKPOINTS / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / TRAIN_STATE).exists() else None


def load_train_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(Path(folder) / TRAIN_STATE, map_location=map_location, weights_only=True)


def load_losses_file(folder: str | Path) -> dict[str, torch.Tensor]:
    path = Path(folder) / LOSSES_FILE
    return load_file(path) if path.exists() else {}
