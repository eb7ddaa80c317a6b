"""What every loss returns: its total and its named, detached components for logging."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class LossOutput:
    total: Tensor  # scalar to back-propagate (this loss's own term; the loop applies its weight)
    components: dict[str, Tensor] = field(default_factory=dict)  # detached scalars, one per term


def detached(**terms: Tensor) -> dict[str, Tensor]:
    """Components dict: every term detached, as a scalar tensor."""
    return {name: value.detach().reshape(()) for name, value in terms.items()}
