"""Combine every metric of the papers for one run on one evaluation set.

`evaluate_predictions(examples, predictions)` takes the `examples` artifact rows of an
evaluation set and the decoded `Prediction` per example id (`training.decoding`) and returns

- `summary`: {metric: value in percent}: em, f1 (official v1.1, or v2.0 when the set has
  unanswerable questions: then also has_ans_*/no_ans_* and best_em/best_f1 with their
  thresholds, using null_score - best span score as the no-answer score, as HF does),
  top{k}_em for k = 1, 3, 5, 10, and with `bundles` given, per bundle kind and mining mode
  (`consistency[bundles:<kind>/<mode>]`, ...): consistency, joint_em, joint_consistency
  (Hungarian joint inference over each bundle's answers), n_bundles, n_bundled;
- `predictions`: a frame with the `predictions` artifact's columns (one row per example);
- `metrics`: a long frame with the `metrics` artifact's columns (without the `eval_set`
  partition), each question-level metric with a 95% bootstrap interval, for the whole set,
  per language (`lang=xx`) and per named slice (e.g. `near_miss`); bundle metrics have the
  slice `bundles:<kind>/<mode>` and no interval;
- `by_language`: EM/F1/top-k per language with a macro average row.

    python -c "from training.evaluation import evaluate_predictions; help(evaluate_predictions)"
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from training.decoding import Prediction
from training.metrics.bootstrap import bootstrap_ci, paired_bootstrap
from training.metrics.squad import scores_v1, scores_v2, squad_v2
from training.metrics.topk import TOP_KS, topk_hits

if TYPE_CHECKING:
    import polars as pl

# polars, pipeline.io, scipy (bundle metrics) and the slices are imported where frames are built:
# `question_metrics` runs on a GPU machine without them (training.portable).

VERSIONS = ("auto", "v1", "v2")


def _golds(examples: pl.DataFrame) -> dict[str, list[str]]:
    return {
        r["example_id"]: [a["text"] for a in r["answers"]]
        for r in examples.select("example_id", "answers").iter_rows(named=True)
    }


def _question_scores(
    golds: Mapping[str, list[str]], texts: Mapping[str, str], v2: bool, preds: Mapping[str, Prediction]
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per-question em, f1 and the v2 summary keys (empty for v1)."""
    if not v2:
        s = scores_v1(golds, texts)
        return s.em, s.f1, {}
    s = scores_v2(golds, texts)
    summary = squad_v2(golds, texts)
    spans = {q: (p.nbest[0].text if p.nbest else "") for q, p in preds.items()}
    na = {q: _no_answer_score(p) for q, p in preds.items()}
    best = squad_v2(golds, {q: spans.get(q, "") for q in golds}, na_probs={q: na.get(q, np.inf) for q in golds})
    extra = {
        k.replace("HasAns_exact", "has_ans_em")
        .replace("HasAns_f1", "has_ans_f1")
        .replace("NoAns_exact", "no_ans_em")
        .replace("NoAns_f1", "no_ans_f1"): v
        for k, v in summary.items()
        if k.startswith(("HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"))
    }
    extra.update(
        best_em=best["best_exact"],
        best_em_thresh=best["best_exact_thresh"],
        best_f1=best["best_f1"],
        best_f1_thresh=best["best_f1_thresh"],
    )
    return s.em, s.f1, extra


def _no_answer_score(p: Prediction) -> float:
    """null score - best span score (HF's `scores_diff_json`); +inf without spans, -inf without a null score."""
    if not p.nbest:
        return float("inf")
    return float("-inf") if p.null_score is None else p.null_score - p.nbest[0].score


def _metric_rows(
    run: str, name: str, slice_name: str, values: Sequence[float], n_resamples: int, seed: int
) -> dict[str, Any]:
    ci = bootstrap_ci(np.asarray(values, dtype=np.float64) * 100.0, n_resamples=n_resamples, seed=seed)
    return {
        "run": run,
        "metric": name,
        "slice": slice_name,
        "value": ci.estimate,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "n": ci.n,
    }


def _predictions_frame(
    ids: Sequence[str], preds: Mapping[str, Prediction], em: Mapping[str, float], f1: Mapping[str, float]
) -> pl.DataFrame:
    import polars as pl

    from pipeline import io, schemas

    rows = []
    for q in ids:
        p = preds.get(q, Prediction("", None, None, float("-inf"), None))
        rows.append(
            {
                "example_id": q,
                "prediction": p.text,
                "start": p.start,
                "end": p.end,
                "score": p.score,
                "null_score": p.null_score,
                "em": em[q],
                "f1": f1[q],
            }
        )
    return pl.DataFrame(rows, schema=io.empty_frame(schemas.PREDICTIONS).schema)


def evaluate_predictions(
    examples: pl.DataFrame,
    predictions: Mapping[str, Prediction],
    run: str = "run",
    version: str = "auto",
    bundles: pl.DataFrame | None = None,
    slices: Mapping[str, Collection[str]] | None = None,
    ks: Sequence[int] = TOP_KS,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric for one run; see the module docstring for the returned keys."""
    import polars as pl

    from training.metrics.slices import table_by_group

    golds = _golds(examples)
    ids = list(golds)
    per_q, extra, texts = question_metrics(golds, predictions, version, ks)
    em, f1 = per_q["em"], per_q["f1"]

    groups: dict[str, list[str]] = {"all": ids}
    lang = dict(zip(examples["example_id"].to_list(), examples["lang"].to_list(), strict=True))
    if len(set(lang.values())) > 1:
        groups.update({f"lang={g}": [q for q in ids if lang[q] == g] for g in sorted(set(lang.values()))})
    for name, members in (slices or {}).items():
        keep = set(members)
        groups[name] = [q for q in ids if q in keep]
    rows = [
        _metric_rows(run, m, g, [vals[q] for q in qs], n_resamples, seed)
        for g, qs in groups.items()
        if qs
        for m, vals in per_q.items()
    ]

    summary = summarize(per_q, extra)
    if bundles is not None and len(bundles):
        for group, values in _bundle_metrics(bundles, golds, predictions, texts, em).items():
            summary.update({f"{key}[{group}]": v for key, v in values.items()})
            for key, n_key in (
                ("consistency", "n_bundles"),
                ("joint_consistency", "n_bundles"),
                ("joint_em", "n_bundled"),
            ):
                rows.append(
                    {
                        "run": run,
                        "metric": key,
                        "slice": group,
                        "value": values[key],
                        "ci_low": None,
                        "ci_high": None,
                        "n": int(values[n_key]),
                    }
                )
    metrics = pl.DataFrame(
        rows,
        schema={
            "run": pl.String,
            "metric": pl.String,
            "slice": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n": pl.Int32,
        },
    )
    return {
        "summary": summary,
        "predictions": _predictions_frame(ids, predictions, em, f1),
        "metrics": metrics,
        "by_language": table_by_group(lang, per_q),
    }


def question_metrics(
    golds: Mapping[str, list[str]],
    predictions: Mapping[str, Prediction],
    version: str = "auto",
    ks: Sequence[int] = TOP_KS,
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, str]]:
    """(per-question em / f1 / top{k}_em in [0, 1], the SQuAD 2.0 summary keys, the scored texts); no frames.

    `golds`: gold answer texts per question id (empty list = unanswerable). `evaluate_predictions`
    and the packed run's evaluation (training.portable, no polars there) both score through it.
    """
    if version not in VERSIONS:
        raise ValueError(f"evaluate_predictions: version={version!r}, expected one of {VERSIONS}")
    ids = list(golds)
    v2 = version == "v2" or (version == "auto" and any(not a for a in golds.values()))
    texts = {q: predictions[q].text for q in ids if q in predictions}
    if v2:
        texts = {q: texts.get(q, "") for q in ids}
    em, f1, extra = _question_scores(golds, texts, v2, predictions)
    cands = {q: [c.text for c in predictions[q].nbest] if q in predictions else [] for q in ids}
    _, hits = topk_hits(cands, golds, ks)
    per_q: dict[str, dict[str, float]] = {"em": em, "f1": f1}
    per_q.update(
        {f"top{k}_em": dict(zip(ids, hits[:, i].astype(float).tolist(), strict=True)) for i, k in enumerate(ks)}
    )
    return per_q, extra, texts


def summarize(per_q: Mapping[str, Mapping[str, float]], extra: Mapping[str, float]) -> dict[str, float]:
    """`summary` of `evaluate_predictions`: each per-question metric's mean in percent, plus the v2 keys."""
    summary = {m: 100.0 * float(np.mean(list(vals.values()))) for m, vals in per_q.items()}
    summary.update(extra)
    return summary


ATTACK_METRICS = ("unattacked_em", "unattacked_f1", "drop_em", "drop_f1")


def attack_drop_rows(
    run: str,
    attacked: pl.DataFrame,
    unattacked: pl.DataFrame,
    base_id: Callable[[str], str],
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """`unattacked_em/f1` and `drop_em/f1` (unattacked − attacked) metric rows on the same questions.

    attacked / unattacked: `predictions` rows (with per-question `em`, `f1`) of the attacked
    set and of the same examples unattacked; `base_id` maps an attacked id to its original
    id. The drop's interval is a paired bootstrap (both scores of a question resampled
    together). Raises ValueError when an attacked question has no unattacked row.
    """
    import polars as pl

    att = attacked.select(pl.col("example_id").map_elements(base_id, return_dtype=pl.String).alias("base"), "em", "f1")
    joined = att.join(
        unattacked.select(pl.col("example_id").alias("base"), "em", "f1"), on="base", how="left", suffix="_clean"
    )
    missing = joined.filter(pl.col("em_clean").is_null())["base"].to_list()
    if missing:
        raise ValueError(
            f"attack_drop_rows: {len(missing)} attacked question(s) have no unattacked prediction, e.g. {missing[0]!r}"
        )
    rows = []
    for m in ("em", "f1"):
        clean, hit = joined[f"{m}_clean"].to_numpy() * 100.0, joined[m].to_numpy() * 100.0
        ci = bootstrap_ci(clean, n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                "run": run,
                "metric": f"unattacked_{m}",
                "slice": "all",
                "value": ci.estimate,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": ci.n,
            }
        )
        d = paired_bootstrap(clean, hit, n_resamples=n_resamples, seed=seed)
        rows.append(
            {
                "run": run,
                "metric": f"drop_{m}",
                "slice": "all",
                "value": d.estimate,
                "ci_low": d.low,
                "ci_high": d.high,
                "n": d.n,
            }
        )
    return rows


BUNDLE_METRICS = ("consistency", "joint_consistency", "joint_em")


def bundle_slice(kind: str, mode: str | None) -> str:
    """`slice` value of the bundle metrics of one bundle kind and mining mode: `bundles:ropes-mined/paper`."""
    return f"bundles:{kind}/{mode or '-'}"


def _bundle_metrics(
    bundles: pl.DataFrame,
    golds: Mapping[str, list[str]],
    predictions: Mapping[str, Prediction],
    texts: Mapping[str, str],
    em: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """Per (kind, mode) of the bundles: consistency before/after joint inference, joint EM, counts.

    Each (kind, mode) is scored on its own, and a question may be in several bundles of it:
    consistency counts every bundle with >= 2 of the set's questions; `joint_em` averages
    over (bundle, member) pairs, each member scored by its own bundle's assignment.
    """
    import polars as pl

    from training.metrics.bundles import consistency, joint_inference, members_of

    rows = bundles.filter(pl.col("example_id").is_in(list(golds))).select(
        "bundle_id", "kind", "mode", "example_id", "answer"
    )
    out: dict[str, dict[str, float]] = {}
    for (kind, mode), group in rows.group_by("kind", "mode", maintain_order=True):
        members = members_of(list(zip(group["bundle_id"].to_list(), group["example_id"].to_list(), strict=True)))
        answers: dict[str, list[str]] = {}
        for r in group.iter_rows(named=True):
            texts_b = answers.setdefault(r["bundle_id"], [])
            if r["answer"]["text"] not in texts_b:
                texts_b.append(r["answer"]["text"])
        qids = {q for qs in members.values() for q in qs}
        nbest = {q: [(c.text, c.score) for c in predictions[q].nbest] for q in qids if q in predictions}
        joint = joint_inference(members, answers, nbest, {q: texts.get(q, "") for q in qids})
        joint_correct: dict[str, dict[str, float]] = {
            b: scores_v1({q: golds[q] or [""] for q in assigned}, assigned).em for b, assigned in joint.items()
        }
        before = consistency(members, em)
        after_ok = {b: all(joint_correct[b].get(q, 0.0) for q in members[b]) for b in before.all_correct}
        pair_em = [joint_correct[b][q] for b in members for q in members[b]]
        out[bundle_slice(kind, mode)] = {
            "consistency": before.value,
            "joint_consistency": 100.0 * sum(after_ok.values()) / len(after_ok) if after_ok else float("nan"),
            "joint_em": 100.0 * float(np.mean(pair_em)) if pair_em else float("nan"),
            "n_bundles": float(before.n_bundles),
            "n_bundled": float(len(pair_em)),
        }
    return out
