"""Every training loss of the papers, one module each, behind one explicit registry.

Each loss is an ``nn.Module`` taking tensors (never the model) as keyword arguments named
as in the training contract, listing them in its class attribute ``inputs``, and
returning ``LossOutput(total, components)``. The loop does

    loss = build_loss("ce_question", normalised=True)
    out = loss(**{key: merged[key] for key in loss.inputs})   # merged = batch | model outputs
    total = sum(weight * out.total for ...)                    # weights from the config

Losses that own parameters (``hard_learning``'s θ, ``crf_nll``'s transitions when it is
not given the model's CRF) must have ``loss.parameters()`` in the optimizer and
``loss.state_dict()`` in the checkpoint; a loss may set ``param_lr`` for their group.

No silent no-ops: every input a loss reads is a key of the batch table
(``training.batch.BATCH``: shape, dtype and the setting that produces it; without its
setting a key exists but is all padding); ``loss_requirements(name)`` gives, per setting,
the inputs of that loss that need it (a class may list ``optional_inputs`` it can do
without). The config check (``training.batch.check_loss_inputs``) refuses a loss that
reads an undeclared key or whose setting is off. A contrastive loss also names its
``activity`` component (how many pairs / questions / examples it saw); the loop stops a run
in which that count is 0 on every one of the first ``inactive_check_steps`` steps.

Cross-field rules live on the class too, read generically (no loss name is tested anywhere
else): ``requires`` (setting -> (value, why), checked by the config whatever the weight),
``equals_config`` (constructor setting -> the config field it must equal) and ``from_model``
(constructor argument -> the model attribute the loop passes in when the model has it).
"""

from __future__ import annotations

import inspect

from torch import nn

from training.batch import input_sources
from training.losses.aa_cl import AaClLoss
from training.losses.ce_answer import CeAnswerLoss
from training.losses.ce_full import CeFullLoss
from training.losses.ce_joint import CeJointLoss
from training.losses.ce_question import CeQuestionLoss
from training.losses.ce_two_way import CeTwoWayLoss
from training.losses.crf_nll import CrfNllLoss
from training.losses.hard_learning import HardLearningLoss
from training.losses.mle import MleLoss, MleSoftLoss
from training.losses.output import LossOutput
from training.losses.robust_tagging import RobustTaggingLoss
from training.losses.span_hinge import SpanHingeLoss
from training.losses.unlikelihood import UnlikelihoodLoss

LOSSES: dict[str, type[nn.Module]] = {
    "mle": MleLoss,
    "mle_soft": MleSoftLoss,
    "span_hinge": SpanHingeLoss,
    "unlikelihood": UnlikelihoodLoss,
    "ce_answer": CeAnswerLoss,
    "ce_question": CeQuestionLoss,
    "ce_two_way": CeTwoWayLoss,
    "ce_full": CeFullLoss,
    "ce_joint": CeJointLoss,
    "robust_tagging": RobustTaggingLoss,
    "crf_nll": CrfNllLoss,
    "hard_learning": HardLearningLoss,
    "aa_cl": AaClLoss,
}


def loss_requirements(name: str) -> dict[str, tuple[str, ...]]:
    """Setting -> the inputs of loss ``name`` it produces (only settings the loss cannot do without)."""
    cls = loss_class(name)
    optional = set(getattr(cls, "optional_inputs", ()))
    sources = input_sources()
    out: dict[str, tuple[str, ...]] = {}
    for key in cls.inputs:
        if key in sources and key not in optional:
            out[sources[key]] = out.get(sources[key], ()) + (key,)
    return out


def loss_activity(name: str) -> str | None:
    """Component that counts what a contrastive loss saw (None for losses active on every batch)."""
    return getattr(loss_class(name), "activity", None)


def loss_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; ValueError listing the valid names otherwise."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


def loss_parameters(name: str) -> dict[str, object]:
    """Constructor settings of a loss and their defaults (for config validation)."""
    signature = inspect.signature(loss_class(name).__init__)
    return {
        key: param.default
        for key, param in signature.parameters.items()
        if key != "self" and param.kind is param.POSITIONAL_OR_KEYWORD
    }


def build_loss(name: str, **params: object) -> nn.Module:
    """Instantiate a registered loss; unknown names or settings raise ValueError naming them."""
    accepted = loss_parameters(name)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"loss {name!r}: unknown setting(s) {unknown}; accepted: {sorted(accepted) or 'none'}")
    return loss_class(name)(**params)


__all__ = [
    "LOSSES",
    "LossOutput",
    "build_loss",
    "loss_activity",
    "loss_class",
    "loss_parameters",
    "loss_requirements",
]
