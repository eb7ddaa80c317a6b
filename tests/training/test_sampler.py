"""Bundle sampler properties: bundles never split, every example once per epoch, seeded, resumable."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.data import TrainExample
from training.features import Features
from training.sampler import BundleBatchSampler


def _features(units: list[tuple[int, list[int]]]) -> Features:
    """units: (bundle size or 0 for a lone example, windows per member)."""
    examples, windows = [], []
    for u, (size, member_windows) in enumerate(units):
        for q in range(max(size, 1)):
            bundle = f"b{u}" if size else None
            examples.append(
                TrainExample(f"u{u}q{q}", "ctx", "q?", (), bundle_id=bundle, bundle_question=q if size else -1)
            )
            windows.append(member_windows[q % len(member_windows)])
    bounds = np.concatenate([[0], np.cumsum(windows)]).astype(np.int64)
    return Features(examples, bounds, np.repeat(np.arange(len(examples)), windows), {})


UNITS = st.lists(
    st.tuples(st.sampled_from([0, 0, 2, 3]), st.lists(st.integers(1, 4), min_size=1, max_size=3)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(UNITS, st.integers(1, 12), st.integers(0, 2**16), st.integers(0, 3))
def test_bundles_whole_every_example_once_budget_kept(units, batch_windows: int, seed: int, epoch: int) -> None:
    feats = _features(units)
    sampler = BundleBatchSampler(feats, batch_windows, seed)
    batches = sampler.epoch_batches(epoch)
    seen = [i for b in batches for i in b]
    assert sorted(seen) == list(range(len(feats.examples)))  # every example exactly once
    counts = np.diff(feats.example_windows)
    home = {}
    for n, batch in enumerate(batches):
        bundles_here = {feats.examples[i].bundle_id for i in batch} - {None}
        for b in bundles_here:
            assert home.setdefault(b, n) == n  # a bundle lives in one batch only
        size = int(counts[batch].sum())
        single_unit = len(bundles_here) + sum(feats.examples[i].bundle_id is None for i in batch) == 1
        assert size <= batch_windows or single_unit  # over budget only when one unit is bigger than it


def test_seeded_shuffle_changes_with_epoch_and_is_reproducible() -> None:
    feats = _features([(0, [1])] * 20 + [(2, [2])] * 5)
    a, b = BundleBatchSampler(feats, 4, seed=1), BundleBatchSampler(feats, 4, seed=1)
    assert a.epoch_batches(0) == b.epoch_batches(0)
    assert a.epoch_batches(0) != a.epoch_batches(1)
    assert a.epoch_batches(0) != BundleBatchSampler(feats, 4, seed=2).epoch_batches(0)


def test_state_resumes_mid_epoch_and_across_epochs() -> None:
    feats = _features([(0, [1])] * 7 + [(3, [1, 2])] * 2)
    full = BundleBatchSampler(feats, 3, seed=5)
    stream = [full.next_batch() for _ in range(12)]
    part = BundleBatchSampler(feats, 3, seed=5)
    first = [part.next_batch() for _ in range(5)]
    resumed = BundleBatchSampler(feats, 3, seed=5)
    resumed.load_state_dict(part.state_dict())
    assert first + [resumed.next_batch() for _ in range(7)] == stream


def test_distributed_ranks_partition_the_epoch() -> None:
    feats = _features([(0, [1])] * 13 + [(2, [1])] * 4)
    ranks = [BundleBatchSampler(feats, 2, seed=3, rank=r, world_size=2).epoch_batches(0) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])
    flat = [i for r in ranks for b in r for i in b]
    assert len(flat) == len(set(flat))
