"""Bundle metrics (docs/methods.md §2): consistency and joint (one-to-one) inference.

- `consistency`: the share of bundles with at least two questions whose questions are all
  answered correctly (Dua et al. 2021). Bundles of size 1 do not count. Bundles are given
  as bundle id -> member question ids, so one question may sit in several bundles (a
  ROPES question mined in two bundles, a question with two flips); score each bundle kind
  and mining mode separately (`training.evaluation` does).
- `joint_assignment`: given a (questions x answers) score matrix of one bundle, assign
  answers to questions one-to-one maximising the summed score
  (`scipy.optimize.linear_sum_assignment`). Cells that are -inf (answer not among the
  question's candidates) are used only when no finite assignment exists for that question.
- `answer_scores` builds one row of that matrix from a question's n-best list: the score of
  bundle answer a is the best score of a candidate whose normalised text equals a's.
- `joint_inference` applies it to every bundle and returns, per bundle, the answer each of
  its questions gets under that bundle's assignment (a question in two bundles can get two
  different answers: each bundle is scored on its own assignment).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from training.metrics.squad import normalize_answer


@dataclass(frozen=True)
class Consistency:
    value: float  # percent of counted bundles whose questions are all correct
    n_bundles: int  # bundles with >= 2 questions
    all_correct: dict[str, bool]  # per counted bundle


def consistency(members: Mapping[str, Sequence[str]], correct: Mapping[str, bool | float]) -> Consistency:
    """Consistency over bundles; `members` maps bundle id -> its question ids, `correct` question id -> EM.

    A bundle member without an entry in `correct` counts as wrong; a question may be a
    member of several bundles.
    """
    ok = {b: all(bool(correct.get(q, False)) for q in qs) for b, qs in members.items() if len(set(qs)) >= 2}
    value = 100.0 * sum(ok.values()) / len(ok) if ok else float("nan")
    return Consistency(value, len(ok), ok)


def members_of(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """bundle id -> distinct member question ids (first-seen order) from (bundle id, question id) pairs."""
    out: dict[str, list[str]] = defaultdict(list)
    for bundle, qid in pairs:
        if qid not in out[bundle]:
            out[bundle].append(qid)
    return dict(out)


def joint_assignment(scores: np.ndarray) -> np.ndarray:
    """Answer index per question (-1 when there are more questions than answers).

    scores: (questions, answers), higher is better; -inf marks impossible cells.
    """
    scores = np.asarray(scores, dtype=np.float64)
    q, a = scores.shape
    out = np.full(q, -1, dtype=np.int64)
    if q == 0 or a == 0:
        return out
    finite = np.isfinite(scores)
    if not finite.any():
        rows, cols = linear_sum_assignment(np.zeros_like(scores))
    else:
        lo, hi = scores[finite].min(), scores[finite].max()
        penalty = lo - (hi - lo + 1.0) * (q + 1)  # any finite cell beats any -inf cell in total
        rows, cols = linear_sum_assignment(np.where(finite, scores, penalty), maximize=True)
    out[rows] = cols
    return out


def answer_scores(nbest: Sequence[tuple[str, float]], answers: Sequence[str]) -> np.ndarray:
    """(answers,) best n-best score whose normalised text equals each answer; -inf when absent."""
    best: dict[str, float] = {}
    for text, score in nbest:
        key = normalize_answer(text)
        if key not in best or score > best[key]:
            best[key] = score
    return np.array([best.get(normalize_answer(a), -np.inf) for a in answers], dtype=np.float64)


def joint_inference(
    members: Mapping[str, Sequence[str]],
    bundle_answers: Mapping[str, Sequence[str]],
    nbest: Mapping[str, Sequence[tuple[str, float]]],
    predictions: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """Per bundle, the answer of each member question under the bundle's best one-to-one assignment.

    members: bundle id -> its question ids; bundle_answers: bundle id -> the bundle's
    candidate answers (B_A); nbest: question id -> [(text, score)] best first; predictions:
    the per-question (argmax) answers, kept for a question the assignment leaves without an
    answer (more questions than answers).
    """
    out: dict[str, dict[str, str]] = {}
    for bundle, qids in members.items():
        answers = list(bundle_answers[bundle])
        matrix = (
            np.stack([answer_scores(nbest.get(q, ()), answers) for q in qids]) if answers else np.zeros((len(qids), 0))
        )
        out[bundle] = {
            q: (answers[a] if a >= 0 else predictions.get(q, ""))
            for q, a in zip(qids, joint_assignment(matrix), strict=True)
        }
    return out
