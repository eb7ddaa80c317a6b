"""Bootstrap confidence intervals for per-question scores (EM, F1, top-k hits, ...).

- `bootstrap_ci(values)`: percentile interval of the mean of one run.
- `paired_bootstrap(a, b)`: percentile interval of mean(a) - mean(b) for two runs on the
  same questions; both runs are resampled with the same indices (Koehn 2004), and
  `p_not_better` is the share of resamples where the difference is <= 0.

Seeded (`numpy.random.default_rng(seed)`), so the same inputs give the same interval.
Values are reported on the input scale; multiply by 100 beforehand for percentages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 100  # resamples drawn at once, bounds memory at CHUNK x n indices


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean on the full sample (or difference of means)
    low: float
    high: float
    n: int  # questions
    p_not_better: float | None = None  # paired only: share of resamples with difference <= 0


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples,) means; `values` is (n,) or (n, c) and gives (n_resamples, c) then."""
    rng = np.random.default_rng(seed)
    n = len(values)
    out = []
    for start in range(0, n_resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, n_resamples - start), n))
        out.append(values[idx].mean(axis=1))
    return np.concatenate(out)


def _check(values: np.ndarray, n_resamples: int, confidence: float) -> None:
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"bootstrap: expected a non-empty 1-d array of per-question scores, got shape {values.shape}")
    if n_resamples < 1 or not 0.0 < confidence < 1.0:
        raise ValueError(f"bootstrap: n_resamples={n_resamples} must be >= 1 and confidence={confidence} in (0, 1)")


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_ci(values, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of one run's per-question scores."""
    v = np.asarray(values, dtype=np.float64)
    _check(v, n_resamples, confidence)
    low, high = _percentiles(_resampled_means(v, n_resamples, seed), confidence)
    return Interval(float(v.mean()), low, high, len(v))


def paired_bootstrap(a, b, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Interval of mean(a) - mean(b) for paired per-question scores of two runs."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if va.shape != vb.shape:
        raise ValueError(f"paired_bootstrap: runs have {va.shape} and {vb.shape} scores; pair them by question first")
    diff = va - vb
    _check(diff, n_resamples, confidence)
    samples = _resampled_means(diff, n_resamples, seed)
    low, high = _percentiles(samples, confidence)
    return Interval(float(diff.mean()), low, high, len(diff), float((samples <= 0).mean()))
