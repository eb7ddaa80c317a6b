"""Official SQuAD 1.1 and 2.0 EM/F1, offline, with the official scripts' exact behaviour.

- `normalize_answer`: lower-case, drop punctuation (`string.punctuation`), drop the
  articles a/an/the, collapse whitespace (both official scripts).
- v1.1 (`squad_v1`): per question the max over golds of EM and token-multiset F1; a missing
  prediction scores 0 and still counts in the total.
- v2.0 (`squad_v2`): golds that normalise to "" are dropped and an unanswerable question's
  gold is [""]; F1 is 1 when both sides are empty, 0 when one is; HasAns/NoAns breakdown;
  `na_prob_thresh` (default 1.0) turns predictions with na_prob above it into "";
  with `na_probs` given, best_exact / best_f1 and their thresholds as the official
  `find_best_thresh` computes them. Every question needs a prediction (the official script
  fails on the breakdown otherwise); a missing one raises ValueError naming its id.

All values are percentages, as in the official output.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_v1(prediction: str, gold: str) -> float:
    """v1.1 `f1_score`: multiset token overlap; 0 when nothing is shared (also for empty vs empty)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1_v2(prediction: str, gold: str) -> float:
    """v2.0 `compute_f1`: like v1.1, but 1.0 when prediction and gold are both empty."""
    pred = normalize_answer(prediction).split() if prediction else []
    ref = normalize_answer(gold).split() if gold else []
    if not pred or not ref:
        return float(pred == ref)
    return f1_v1(prediction, gold)


@dataclass(frozen=True)
class QuestionScores:
    """Per-question scores in [0, 1], keyed by question id (input order kept)."""

    em: dict[str, float]
    f1: dict[str, float]


def scores_v1(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]) -> QuestionScores:
    """Per-question v1.1 EM/F1; a missing prediction scores 0."""
    em: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in golds.items():
        if not answers:
            raise ValueError(f"squad_v1: question {qid!r} has no gold answer (use squad_v2 for unanswerable)")
        if qid not in preds:
            em[qid], f1[qid] = 0.0, 0.0
            continue
        em[qid] = float(max(exact_match(preds[qid], a) for a in answers))
        f1[qid] = max(f1_v1(preds[qid], a) for a in answers)
    return QuestionScores(em, f1)


def squad_v1(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]) -> dict[str, float]:
    """Official v1.1 output: {'exact_match', 'f1'} in percent over all gold questions."""
    s = scores_v1(golds, preds)
    total = len(s.em)
    return {"exact_match": 100.0 * sum(s.em.values()) / total, "f1": 100.0 * sum(s.f1.values()) / total}


def gold_texts_v2(answers: Sequence[str]) -> list[str]:
    """v2.0 gold list: answers that normalise to something, else [""] (unanswerable)."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def scores_v2(golds: Mapping[str, Sequence[str]], preds: Mapping[str, str]) -> QuestionScores:
    """Per-question raw v2.0 EM/F1 (before any no-answer threshold)."""
    missing = [q for q in golds if q not in preds]
    if missing:
        raise ValueError(f"squad_v2: {len(missing)} question(s) have no prediction, e.g. {missing[0]!r}")
    em: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in golds.items():
        texts = gold_texts_v2(answers)
        em[qid] = float(max(normalize_answer(a) == normalize_answer(preds[qid]) for a in texts))
        f1[qid] = max(f1_v2(preds[qid], a) for a in texts)
    return QuestionScores(em, f1)


def apply_no_answer_threshold(
    scores: Mapping[str, float], na_probs: Mapping[str, float], has_answer: Mapping[str, bool], thresh: float
) -> dict[str, float]:
    """Official `apply_no_ans_threshold`: na_prob > thresh means the model said "no answer"."""
    return {q: (float(not has_answer[q]) if na_probs[q] > thresh else s) for q, s in scores.items()}


def best_threshold(
    preds: Mapping[str, str], scores: Mapping[str, float], na_probs: Mapping[str, float], has_answer: Mapping[str, bool]
) -> tuple[float, float]:
    """Official `find_best_thresh`: (best score in percent, na_prob threshold reaching it)."""
    cur = best = float(sum(1 for q in has_answer if not has_answer[q]))
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            diff = scores[qid]
        else:
            diff = -1.0 if preds[qid] else 0.0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def _mean(values: Mapping[str, float], ids: Sequence[str]) -> float:
    return 100.0 * sum(values[q] for q in ids) / len(ids)


def squad_v2(
    golds: Mapping[str, Sequence[str]],
    preds: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict[str, float]:
    """Official v2.0 output: exact, f1, total, HasAns_*/NoAns_* and, with na_probs, best_* keys."""
    raw = scores_v2(golds, preds)
    has_answer = {q: bool(a) for q, a in golds.items()}
    probs = dict(na_probs) if na_probs is not None else {q: 0.0 for q in preds}
    em = apply_no_answer_threshold(raw.em, probs, has_answer, na_prob_thresh)
    f1 = apply_no_answer_threshold(raw.f1, probs, has_answer, na_prob_thresh)
    ids = list(em)
    out: dict[str, float] = {"exact": _mean(em, ids), "f1": _mean(f1, ids), "total": float(len(ids))}
    for name, subset in (
        ("HasAns", [q for q in ids if has_answer[q]]),
        ("NoAns", [q for q in ids if not has_answer[q]]),
    ):
        if subset:
            out.update(
                {
                    f"{name}_exact": _mean(em, subset),
                    f"{name}_f1": _mean(f1, subset),
                    f"{name}_total": float(len(subset)),
                }
            )
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = best_threshold(preds, raw.em, probs, has_answer)
        out["best_f1"], out["best_f1_thresh"] = best_threshold(preds, raw.f1, probs, has_answer)
    return out
