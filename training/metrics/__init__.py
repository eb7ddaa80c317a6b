"""Evaluation metrics: official SQuAD EM/F1, bundle consistency and joint inference, top-k EM,
bootstrap intervals, near-miss slice and per-language tables. See each module's docstring."""

from training.metrics.bootstrap import Interval, bootstrap_ci, paired_bootstrap
from training.metrics.bundles import Consistency, answer_scores, consistency, joint_assignment, joint_inference, members_of
from training.metrics.slices import near_miss_slice, slice_reason, table_by_group
from training.metrics.squad import (
    QuestionScores,
    best_threshold,
    exact_match,
    f1_v1,
    f1_v2,
    normalize_answer,
    scores_v1,
    scores_v2,
    squad_v1,
    squad_v2,
)
from training.metrics.topk import TOP_KS, first_correct_rank, topk_em, topk_hits

__all__ = [
    "TOP_KS", "Consistency", "Interval", "QuestionScores", "answer_scores", "best_threshold", "bootstrap_ci",
    "consistency", "exact_match", "f1_v1", "f1_v2", "first_correct_rank", "joint_assignment", "joint_inference", "members_of",
    "near_miss_slice", "normalize_answer", "paired_bootstrap", "scores_v1", "scores_v2", "slice_reason",
    "squad_v1", "squad_v2", "table_by_group", "topk_em", "topk_hits",
]
