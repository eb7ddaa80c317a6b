"""Top-k exact match (docs/methods.md §5): a question counts at k when any of its k best distinct
predictions matches a gold answer under the official normalisation.

Golds follow SQuAD 2.0: an unanswerable question's gold is "", so it counts only when ""
(no answer) is among its top k. `topk_hits` gives the per-question matrix used for
bootstrap intervals and per-language tables; `topk_em` the percentages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from training.metrics.squad import gold_texts_v2, normalize_answer

TOP_KS: tuple[int, ...] = (1, 3, 5, 10)


def first_correct_rank(candidates: Sequence[str], golds: Sequence[str]) -> int | None:
    """0-based rank of the first candidate matching a gold (after de-duplicating normalised texts)."""
    gold = {normalize_answer(g) for g in gold_texts_v2(golds)}
    seen: set[str] = set()
    rank = 0
    for text in candidates:
        key = normalize_answer(text)
        if key in seen:
            continue
        if key in gold:
            return rank
        seen.add(key)
        rank += 1
    return None


def topk_hits(
    candidates: Mapping[str, Sequence[str]], golds: Mapping[str, Sequence[str]], ks: Sequence[int] = TOP_KS
) -> tuple[list[str], np.ndarray]:
    """(question ids, hits (questions, len(ks)) bool); a question without candidates never hits."""
    if any(k < 1 for k in ks):
        raise ValueError(f"topk: every k must be >= 1, got {list(ks)}")
    ids = list(golds)
    ranks = np.array([_rank_or_inf(first_correct_rank(candidates.get(q, ()), golds[q])) for q in ids])
    return ids, ranks[:, None] < np.asarray(ks)[None, :]


def _rank_or_inf(rank: int | None) -> float:
    return float("inf") if rank is None else float(rank)


def topk_em(
    candidates: Mapping[str, Sequence[str]], golds: Mapping[str, Sequence[str]], ks: Sequence[int] = TOP_KS
) -> dict[int, float]:
    """{k: percent of questions with a correct answer among their k best}."""
    ids, hits = topk_hits(candidates, golds, ks)
    if not ids:
        return {k: float("nan") for k in ks}
    return {k: 100.0 * float(hits[:, i].mean()) for i, k in enumerate(ks)}
