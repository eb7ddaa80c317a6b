"""Evaluation metrics: official SQuAD EM/F1, bundle consistency and joint inference, top-k EM,
bootstrap intervals, near-miss slice and per-language tables. See each module's docstring."""

from importlib import import_module

# Each name from its module, imported on first use (PEP 562): `training.metrics.squad` then
# needs neither scipy (bundles) nor polars (slices), which a GPU machine may lack (training.portable).
_MODULE_OF = {
    **dict.fromkeys(("Interval", "bootstrap_ci", "paired_bootstrap"), "bootstrap"),
    **dict.fromkeys(
        ("Consistency", "answer_scores", "consistency", "joint_assignment", "joint_inference", "members_of"), "bundles"
    ),
    **dict.fromkeys(("near_miss_slice", "slice_reason", "table_by_group"), "slices"),
    **dict.fromkeys(
        (
            "QuestionScores",
            "best_threshold",
            "exact_match",
            "f1_v1",
            "f1_v2",
            "normalize_answer",
            "scores_v1",
            "scores_v2",
            "squad_v1",
            "squad_v2",
        ),
        "squad",
    ),
    **dict.fromkeys(("TOP_KS", "first_correct_rank", "topk_em", "topk_hits"), "topk"),
}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'training.metrics' has no attribute {name!r}")
    value = getattr(import_module(f"training.metrics.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "TOP_KS",
    "Consistency",
    "Interval",
    "QuestionScores",
    "answer_scores",
    "best_threshold",
    "bootstrap_ci",
    "consistency",
    "exact_match",
    "f1_v1",
    "f1_v2",
    "first_correct_rank",
    "joint_assignment",
    "joint_inference",
    "members_of",
    "near_miss_slice",
    "normalize_answer",
    "paired_bootstrap",
    "scores_v1",
    "scores_v2",
    "slice_reason",
    "squad_v1",
    "squad_v2",
    "table_by_group",
    "topk_em",
    "topk_hits",
]
