"""Bundle-aware batches counted in windows.

A *unit* is one instance bundle (all its member examples) or one example outside any
bundle. Each epoch the units are shuffled with `seed + epoch` and packed greedily, in
that order, into batches of at most `batch_windows` windows. A bundle is never split
across batches (a unit larger than the budget becomes a batch of its own), every example
is in exactly one batch per epoch, and examples without negatives or bundles ride along
and train with the base loss.

Distributed runs (`WORLD_SIZE` > 1) take batches `rank, rank + world, ...` of the same
epoch order; the last `len(batches) % world` batches of an epoch are dropped so every rank
makes the same number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.features import Features


@dataclass(frozen=True)
class SamplerState:
    epoch: int  # epoch the next batch belongs to
    position: int  # index of the next batch within that epoch (this rank's list)


def units_of(features: Features) -> list[list[int]]:
    """Example indices grouped into units (bundles whole, other examples alone), in input order."""
    units: list[list[int]] = []
    by_bundle: dict[str, int] = {}
    for i, e in enumerate(features.examples):
        if e.bundle_id is None:
            units.append([i])
        elif e.bundle_id in by_bundle:
            units[by_bundle[e.bundle_id]].append(i)
        else:
            by_bundle[e.bundle_id] = len(units)
            units.append([i])
    return units


def pack(unit_windows: list[int], order: np.ndarray, batch_windows: int) -> list[list[int]]:
    """Greedy packing of units (in `order`) into batches of at most `batch_windows` windows."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for u in order.tolist():
        n = unit_windows[u]
        if current and used + n > batch_windows:
            batches.append(current)
            current, used = [], 0
        current.append(u)
        used += n
    if current:
        batches.append(current)
    return batches


class BundleBatchSampler:
    """Deterministic, resumable epoch batches of example indices; bundles never split."""

    def __init__(
        self,
        features: Features,
        batch_windows: int,
        seed: int,
        *,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.units = units_of(features)
        counts = np.diff(features.example_windows)
        self.unit_windows = [int(counts[u].sum()) for u in self.units]
        self.batch_windows = batch_windows
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.state = SamplerState(0, 0)
        self._cache: tuple[int, list[list[int]]] | None = None

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of one epoch, each a list of example indices."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        order = np.arange(len(self.units))
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.units))
        packed = pack(self.unit_windows, order, self.batch_windows)
        if self.world_size > 1:
            usable = len(packed) - len(packed) % self.world_size
            packed = packed[self.rank : usable : self.world_size]
        batches = [[i for u in batch for i in self.units[u]] for batch in packed]
        self._cache = (epoch, batches)
        return batches

    def __len__(self) -> int:
        """Batches per epoch for this rank (epoch 0; other epochs differ by packing only slightly)."""
        return len(self.epoch_batches(0))

    def next_batch(self) -> list[int]:
        """The next batch; advances the resumable state across epoch boundaries."""
        batches = self.epoch_batches(self.state.epoch)
        if not batches:
            raise ValueError("sampler: no batches (fewer batches than distributed ranks?)")
        if self.state.position >= len(batches):
            self.state = SamplerState(self.state.epoch + 1, 0)
            batches = self.epoch_batches(self.state.epoch)
        batch = batches[self.state.position]
        self.state = SamplerState(self.state.epoch, self.state.position + 1)
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.state.epoch, "position": self.state.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(
                f"sampler: checkpoint was written with seed {state['seed']}, this run has seed {self.seed}"
            )
        self.state = SamplerState(int(state["epoch"]), int(state["position"]))
