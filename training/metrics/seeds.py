"""Method minus control over several training seeds: per-seed differences, their spread, and a
paired bootstrap over questions pooled across seeds.

    from training.metrics.seeds import seed_comparison
    cmp = seed_comparison(method_scores, control_scores)   # {seed: {example_id: score}} each

Why: one training seed can decide between a fast start and a stall (two seeds of the same
400-step baseline differ by 20 EM), so a single-seed "method − control" can be the seed's
doing. For each seed s the method and the control start from the same baseline and differ
only in the loss, so d_s = mean_q(method_s,q − control_s,q) is that seed's effect estimate.

- `per_seed`: d_s for every seed; `mean`: their mean; `sd`: their sample standard deviation
  (None for one seed: a single seed cannot show the seed's share of a difference).
- `pooled`: a paired bootstrap over QUESTIONS of the seed-averaged scores: question q gets
  a_q = mean_s method_s,q and b_q = mean_s control_s,q, and `paired_bootstrap(a, b)` resamples
  questions with the same indices for both (so every resample keeps, for each drawn
  question, all seeds' pairs). Its estimate equals `mean` exactly. The interval covers
  question sampling, with the seed noise averaged in; the seed-to-seed spread is reported
  beside it (`sd`, `per_seed`) rather than folded in.
- `verdict`: "helps" when the pooled interval lies above 0 AND every seed's difference is
  positive, "hurts" when it lies below 0 and every seed's is negative, "seed-dependent" when
  the interval excludes 0 but the seeds disagree in sign (the question bootstrap does not
  see seed noise: one lucky seed can move the pooled mean), "no measurable difference" when
  it contains 0. A method helps only if its interval excludes 0.

Only questions scored for every run of every seed are compared (the count is `n`); a seed
that lacks a run raises ValueError naming it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from training.metrics.bootstrap import Interval, paired_bootstrap

# The verdict in words, for a metric where higher is better (the experiment report and the portable runner).
VERDICT_WORDS = {
    "helps": "gain",
    "hurts": "loss",
    "no measurable difference": "no measurable gain",
    "seed-dependent": "seed-dependent (interval excludes 0, seeds disagree in sign)",
}
# A run that abstains on (almost) every question scores the set's unanswerable share whatever it
# learnt: a difference against it measures abstention, not the method, and is reported "not comparable".
ABSTAIN_ALL = 0.99

Scores = Mapping[int, Mapping[str, float]]  # seed -> example id -> per-question score (EM or F1, 0..100)


@dataclass(frozen=True)
class SeedComparison:
    seeds: tuple[int, ...]  # seeds compared, in the order given
    per_seed: tuple[float, ...]  # d_s = mean(method_s) − mean(control_s) over the shared questions, per seed
    mean: float  # mean of per_seed (equals pooled.estimate)
    sd: float | None  # sample standard deviation of per_seed; None with one seed
    pooled: Interval  # paired bootstrap over questions of the seed-averaged scores
    n: int  # questions shared by every run

    @property
    def single_seed(self) -> bool:
        return len(self.seeds) == 1

    @property
    def verdict(self) -> str:
        if self.pooled.low > 0:
            return "helps" if all(d > 0 for d in self.per_seed) else "seed-dependent"
        if self.pooled.high < 0:
            return "hurts" if all(d < 0 for d in self.per_seed) else "seed-dependent"
        return "no measurable difference"


def seed_comparison(
    method: Scores, control: Scores, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> SeedComparison:
    """Compare a method with its control, both given per training seed (see the module docstring)."""
    seeds = tuple(method)
    if not seeds:
        raise ValueError("seed_comparison: no seeds given")
    missing = [s for s in seeds if s not in control]
    if missing or set(control) != set(seeds):
        raise ValueError(
            f"seed_comparison: the method has seeds {sorted(method)}, the control {sorted(control)}: "
            "every seed needs both runs"
        )
    shared = set.intersection(*(set(method[s]) & set(control[s]) for s in seeds))
    if not shared:
        raise ValueError("seed_comparison: no question is scored for every run of every seed")
    ids = sorted(shared)
    m = np.array([[method[s][q] for s in seeds] for q in ids], dtype=np.float64)  # (n, S)
    c = np.array([[control[s][q] for s in seeds] for q in ids], dtype=np.float64)  # (n, S)
    per_seed = tuple(float(v) for v in (m - c).mean(axis=0))
    pooled = paired_bootstrap(m.mean(axis=1), c.mean(axis=1), n_resamples=n_resamples, confidence=confidence, seed=seed)
    sd = statistics.stdev(per_seed) if len(seeds) > 1 else None
    return SeedComparison(seeds, per_seed, float(statistics.fmean(per_seed)), sd, pooled, len(ids))


def spread(values: Mapping[int, float]) -> tuple[float, float | None, float, float]:
    """(mean, sample sd or None for one value, min, max) of one number per seed."""
    v = list(values.values())
    if not v:
        raise ValueError("spread: no values")
    return float(statistics.fmean(v)), (statistics.stdev(v) if len(v) > 1 else None), float(min(v)), float(max(v))
