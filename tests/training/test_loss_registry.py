"""The loss registry and the contract every loss keeps (inputs, LossOutput, finite gradients)."""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from pathlib import Path

import pytest
import torch

import training.losses
from training.losses import LOSSES, LossOutput, build_loss, loss_parameters
from training.losses.synthetic_batch import synthetic_batch

OUTPUT_KEYS = {"start_logits", "end_logits", "hidden_states", "crf_emissions"}


def _loss_classes_in_package() -> set[type]:
    """Every concrete loss defined under training/losses/: an nn.Module with `inputs` that no other loss extends."""
    found = set()
    for info in pkgutil.iter_modules(training.losses.__path__):
        module = importlib.import_module(f"training.losses.{info.name}")
        found |= {
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if c.__module__ == module.__name__ and issubclass(c, torch.nn.Module) and hasattr(c, "inputs")
        }
    return {c for c in found if not any(o is not c and issubclass(o, c) for o in found)}


def test_every_loss_class_in_the_package_is_registered_once():
    """LOSSES is the one list: a new loss module whose class is not in it fails here (no hand-kept name list)."""
    registered = list(LOSSES.values())
    assert len(set(registered)) == len(registered), "a class registered under two names"
    assert set(registered) == _loss_classes_in_package()


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        build_loss("contrastive_magic")
    assert "contrastive_magic" in str(err.value)
    for name in LOSSES:
        assert name in str(err.value)


def test_unknown_setting_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['margn'\].*margin"):
        build_loss("span_hinge", margn=0.3)
    assert loss_parameters("span_hinge") == {"margin": 0.25, "normalised": False}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_keeps_the_contract(name):
    batch, outputs = synthetic_batch(num_windows=8, num_slots=20, seed=1)
    merged = {**batch, **outputs}
    loss = build_loss(name)
    assert isinstance(loss, torch.nn.Module)
    assert set(loss.inputs) <= set(merged), set(loss.inputs) - set(merged)
    result = loss(**{key: merged[key] for key in loss.inputs})
    assert isinstance(result, LossOutput)
    assert result.total.dim() == 0 and math.isfinite(result.total.item())
    assert result.components and all(v.dim() == 0 and not v.requires_grad for v in result.components.values())
    used = [outputs[k] for k in loss.inputs if k in OUTPUT_KEYS]
    grads = torch.autograd.grad(result.total, used, allow_unused=True)
    assert any(g is not None and torch.count_nonzero(g) > 0 for g in grads)
    assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_losses_are_documented_and_device_agnostic():
    folder = Path(__file__).resolve().parents[2] / "training" / "losses"
    for path in [*folder.glob("*.py"), folder.parent / "scores.py", folder.parent / "crf.py"]:
        text = path.read_text()
        assert ".cuda(" not in text and 'device="cuda"' not in text, path
        assert text.lstrip().startswith('"""'), f"{path} has no module docstring"
