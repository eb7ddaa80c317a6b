"""Combine every metric of the papers for one run on one evaluation set.

`evaluate_predictions(examples, predictions)` takes the `examples` artifact rows of an
evaluation set and the decoded `Prediction` per example id (`training.decoding`) and returns

- `summary`: {metric: value in percent}: em, f1 (official v1.1, or v2.0 when the set has
  unanswerable questions: then also has_ans_*/no_ans_* and best_em/best_f1 with their
  thresholds, using null_score - best span score as the no-answer score, as HF does),
  top{k}_em for k = 1, 3, 5, 10, and with `bundles` given: consistency, joint_em,
  joint_consistency (Hungarian joint inference over each bundle's answers);
- `predictions`: a frame with the `predictions` artifact's columns (one row per example);
- `metrics`: a long frame with the `metrics` artifact's columns (without the `eval_set`
  partition), each question-level metric with a 95% bootstrap interval, for the whole set,
  per language (`lang=xx`) and per named slice (e.g. `near_miss`);
- `by_language`: EM/F1/top-k per language with a macro average row.

    python -c "from training.evaluation import evaluate_predictions; help(evaluate_predictions)"
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from pipeline import io, schemas
from training.decoding import Prediction
from training.metrics.bootstrap import bootstrap_ci
from training.metrics.bundles import consistency, joint_inference
from training.metrics.slices import table_by_group
from training.metrics.squad import scores_v1, scores_v2, squad_v2
from training.metrics.topk import TOP_KS, topk_hits

VERSIONS = ("auto", "v1", "v2")


def _golds(examples: pl.DataFrame) -> dict[str, list[str]]:
    return {r["example_id"]: [a["text"] for a in r["answers"]]
            for r in examples.select("example_id", "answers").iter_rows(named=True)}


def _question_scores(golds: Mapping[str, list[str]], texts: Mapping[str, str], v2: bool,
                     preds: Mapping[str, Prediction]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per-question em, f1 and the v2 summary keys (empty for v1)."""
    if not v2:
        s = scores_v1(golds, texts)
        return s.em, s.f1, {}
    s = scores_v2(golds, texts)
    summary = squad_v2(golds, texts)
    spans = {q: (p.nbest[0].text if p.nbest else "") for q, p in preds.items()}
    na = {q: _no_answer_score(p) for q, p in preds.items()}
    best = squad_v2(golds, {q: spans.get(q, "") for q in golds}, na_probs={q: na.get(q, np.inf) for q in golds})
    extra = {k.replace("HasAns_exact", "has_ans_em").replace("HasAns_f1", "has_ans_f1")
             .replace("NoAns_exact", "no_ans_em").replace("NoAns_f1", "no_ans_f1"): v
             for k, v in summary.items() if k.startswith(("HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"))}
    extra.update(best_em=best["best_exact"], best_em_thresh=best["best_exact_thresh"],
                 best_f1=best["best_f1"], best_f1_thresh=best["best_f1_thresh"])
    return s.em, s.f1, extra


def _no_answer_score(p: Prediction) -> float:
    """null score - best span score (HF's `scores_diff_json`); +inf without spans, -inf without a null score."""
    if not p.nbest:
        return float("inf")
    return float("-inf") if p.null_score is None else p.null_score - p.nbest[0].score


def _metric_rows(run: str, name: str, slice_name: str, values: Sequence[float], n_resamples: int,
                 seed: int) -> dict[str, Any]:
    ci = bootstrap_ci(np.asarray(values, dtype=np.float64) * 100.0, n_resamples=n_resamples, seed=seed)
    return {"run": run, "metric": name, "slice": slice_name, "value": ci.estimate, "ci_low": ci.low,
            "ci_high": ci.high, "n": ci.n}


def _predictions_frame(ids: Sequence[str], preds: Mapping[str, Prediction], em: Mapping[str, float],
                       f1: Mapping[str, float]) -> pl.DataFrame:
    rows = []
    for q in ids:
        p = preds.get(q, Prediction("", None, None, float("-inf"), None))
        rows.append({"example_id": q, "prediction": p.text, "start": p.start, "end": p.end, "score": p.score,
                     "null_score": p.null_score, "em": em[q], "f1": f1[q]})
    return pl.DataFrame(rows, schema=io.empty_frame(schemas.PREDICTIONS).schema)


def evaluate_predictions(examples: pl.DataFrame, predictions: Mapping[str, Prediction], run: str = "run",
                         version: str = "auto", bundles: pl.DataFrame | None = None,
                         slices: Mapping[str, Collection[str]] | None = None, ks: Sequence[int] = TOP_KS,
                         n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every metric for one run; see the module docstring for the returned keys."""
    if version not in VERSIONS:
        raise ValueError(f"evaluate_predictions: version={version!r}, expected one of {VERSIONS}")
    golds = _golds(examples)
    ids = list(golds)
    v2 = version == "v2" or (version == "auto" and any(not a for a in golds.values()))
    texts = {q: predictions[q].text for q in ids if q in predictions}
    if v2:
        texts = {q: texts.get(q, "") for q in ids}
    em, f1, extra = _question_scores(golds, texts, v2, predictions)
    cands = {q: [c.text for c in predictions[q].nbest] if q in predictions else [] for q in ids}
    _, hits = topk_hits(cands, golds, ks)
    per_q: dict[str, dict[str, float]] = {"em": em, "f1": f1}
    per_q.update({f"top{k}_em": dict(zip(ids, hits[:, i].astype(float).tolist(), strict=True))
                  for i, k in enumerate(ks)})

    groups: dict[str, list[str]] = {"all": ids}
    lang = dict(zip(examples["example_id"].to_list(), examples["lang"].to_list(), strict=True))
    if len(set(lang.values())) > 1:
        groups.update({f"lang={g}": [q for q in ids if lang[q] == g] for g in sorted(set(lang.values()))})
    for name, members in (slices or {}).items():
        keep = set(members)
        groups[name] = [q for q in ids if q in keep]
    rows = [_metric_rows(run, m, g, [vals[q] for q in qs], n_resamples, seed)
            for g, qs in groups.items() if qs for m, vals in per_q.items()]

    summary = {m: 100.0 * float(np.mean(list(vals.values()))) for m, vals in per_q.items()}
    summary.update(extra)
    if bundles is not None and len(bundles):
        bundle_summary = _bundle_metrics(bundles, golds, predictions, texts, em)
        summary.update(bundle_summary)
        for key, n_key in (("consistency", "n_bundles"), ("joint_consistency", "n_bundles"), ("joint_em", "n_bundled")):
            rows.append({"run": run, "metric": key, "slice": "all", "value": bundle_summary[key], "ci_low": None,
                         "ci_high": None, "n": int(bundle_summary[n_key])})
    metrics = pl.DataFrame(rows, schema={"run": pl.String, "metric": pl.String, "slice": pl.String,
                                         "value": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                                         "n": pl.Int32})
    return {"summary": summary, "predictions": _predictions_frame(ids, predictions, em, f1), "metrics": metrics,
            "by_language": table_by_group(lang, per_q)}


def _bundle_metrics(bundles: pl.DataFrame, golds: Mapping[str, list[str]], predictions: Mapping[str, Prediction],
                    texts: Mapping[str, str], em: Mapping[str, float]) -> dict[str, float]:
    """Consistency before/after joint inference and EM of the bundled questions after it."""
    rows = bundles.filter(pl.col("example_id").is_in(list(golds))).select("bundle_id", "example_id", "answer")
    bundle_of = dict(zip(rows["example_id"].to_list(), rows["bundle_id"].to_list(), strict=True))
    answers: dict[str, list[str]] = {}
    for r in rows.iter_rows(named=True):
        answers.setdefault(r["bundle_id"], [])
        if r["answer"]["text"] not in answers[r["bundle_id"]]:
            answers[r["bundle_id"]].append(r["answer"]["text"])
    nbest = {q: [(c.text, c.score) for c in predictions[q].nbest] for q in bundle_of if q in predictions}
    joint = joint_inference(bundle_of, answers, nbest, {q: texts.get(q, "") for q in bundle_of})
    joint_em = scores_v1({q: golds[q] or [""] for q in bundle_of}, joint).em
    before, after = consistency(bundle_of, em), consistency(bundle_of, joint_em)
    return {"consistency": before.value, "joint_consistency": after.value, "n_bundles": float(before.n_bundles),
            "joint_em": 100.0 * float(np.mean(list(joint_em.values()))) if joint_em else float("nan"),
            "n_bundled": float(len(bundle_of))}
