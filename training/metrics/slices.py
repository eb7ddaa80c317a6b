"""Evaluation slices: the near-miss slice (docs/methods.md §1) and per-group tables (per language).

Near-miss slice: the dev examples where the BASELINE model's prediction
1. lies inside the sentence holding the gold answer (the first gold, leading whitespace
   skipped, sentences from the `index` artifact),
2. has the gold's coarse entity type: the entity chosen for the prediction span and the
   entity chosen for the gold span (both with `pipeline.near_miss.gold_entity`: same span,
   else largest overlap) map to the same `pipeline.coarse_types.coarse_type`, and
3. differs in text from every gold answer (official normalisation).
`near_miss_slice` returns one row per example with the reason it is in or out, so the slice
can be audited; the slice is then scored for every run.

`table_by_group` averages per-question scores per group (language) plus a macro average row.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from pipeline.coarse_types import coarse_type
from pipeline.near_miss import Entity, gold_entity
from training.metrics.squad import normalize_answer

IN_SLICE = "near_miss"


class SpanPrediction(Protocol):
    text: str
    start: int | None
    end: int | None


def _entities(text: str, rows: Sequence[Mapping]) -> list[Entity]:
    return [
        Entity(
            e["start"],
            e["end"],
            e["label"],
            e["sent"],
            coarse_type(e["label"]) or "",
            normalize_answer(text[e["start"] : e["end"]]),
        )
        for e in rows
    ]


def _sentence(sentences: Sequence[Mapping], pos: int) -> tuple[int, int] | None:
    i = bisect_right([s["start"] for s in sentences], pos) - 1
    if i >= 0 and pos < sentences[i]["end"]:
        return sentences[i]["start"], sentences[i]["end"]
    return None


def slice_reason(
    context: str,
    answers: Sequence[Mapping],
    sentences: Sequence[Mapping],
    entities: Sequence[Mapping],
    pred: SpanPrediction | None,
) -> str:
    """`near_miss` when the example is in the slice, else why not."""
    if not answers:
        return "unanswerable"
    if pred is None or pred.start is None or pred.end is None or not pred.text:
        return "no_prediction"
    if any(normalize_answer(pred.text) == normalize_answer(a["text"]) for a in answers):
        return "same_text"
    gold = answers[0]
    lead = len(gold["text"]) - len(gold["text"].lstrip())
    sent = _sentence(sentences, gold["start"] + lead)
    if sent is None:
        return "no_sentence"
    if pred.start < sent[0] or pred.end > sent[1]:
        return "outside_sentence"
    ents = _entities(context, entities)
    gold_ent = gold_entity(ents, gold["start"], gold["end"])
    if gold_ent is None:
        return "no_gold_entity"
    pred_ent = gold_entity(ents, pred.start, pred.end)
    if pred_ent is None or pred_ent.coarse != gold_ent.coarse:
        return "other_type"
    return IN_SLICE


def near_miss_slice(
    examples: pl.DataFrame, contexts: pl.DataFrame, index: pl.DataFrame, baseline: Mapping[str, SpanPrediction]
) -> pl.DataFrame:
    """(example_id, reason, in_slice) per example; `examples`/`contexts`/`index` as the artifacts."""
    for name, frame, cols in (
        ("examples", examples, ("example_id", "context_id", "answers")),
        ("contexts", contexts, ("context_id", "context")),
        ("index", index, ("context_id", "sentences", "entities")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"near_miss_slice: {name} frame lacks column(s) {missing}")
    text = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list(), strict=True))
    parsed = {r["context_id"]: r for r in index.select("context_id", "sentences", "entities").iter_rows(named=True)}
    ids, reasons = [], []
    for ex in examples.select("example_id", "context_id", "answers").iter_rows(named=True):
        ids.append(ex["example_id"])
        ctx = parsed.get(ex["context_id"])
        if ctx is None or ex["context_id"] not in text:
            reasons.append("context_not_indexed")
            continue
        reasons.append(
            slice_reason(
                text[ex["context_id"]], ex["answers"], ctx["sentences"], ctx["entities"], baseline.get(ex["example_id"])
            )
        )
    return pl.DataFrame(
        {"example_id": ids, "reason": reasons}, schema={"example_id": pl.String, "reason": pl.String}
    ).with_columns(in_slice=pl.col("reason") == IN_SLICE)


def table_by_group(
    group_of: Mapping[str, str], scores: Mapping[str, Mapping[str, float]], macro_row: str = "avg"
) -> pl.DataFrame:
    """Per group: n and the mean (in percent) of each per-question score; plus a macro average row.

    group_of: question id -> group (e.g. language); scores: metric name -> {question id: score in [0, 1]}.
    Questions missing from a metric's mapping count as 0 for it.
    """
    groups = sorted(set(group_of.values()))
    rows = []
    for g in groups:
        qids = [q for q, gg in group_of.items() if gg == g]
        row: dict[str, float | str | int] = {"group": g, "n": len(qids)}
        for name, values in scores.items():
            row[name] = 100.0 * sum(values.get(q, 0.0) for q in qids) / len(qids)
        rows.append(row)
    if len(rows) > 1 and macro_row:
        avg: dict[str, float | str | int] = {"group": macro_row, "n": sum(int(r["n"]) for r in rows)}
        for name in scores:
            avg[name] = sum(float(r[name]) for r in rows) / len(rows)
        rows.append(avg)
    schema = {"group": pl.String, "n": pl.Int64, **{name: pl.Float64 for name in scores}}
    return pl.DataFrame(rows, schema=schema)


def near_miss_slice_metrics(
    slice_rows: pl.DataFrame, predictions: Mapping[str, pl.DataFrame], n_resamples: int = 1000, seed: int = 0
) -> pl.DataFrame:
    """EM/F1 (percent, 95% bootstrap interval) of every run on the near-miss slice.

    `slice_rows` comes from `near_miss_slice` (the baseline run defines the slice);
    `predictions` maps run id -> its `predictions` rows (`example_id`, `em`, `f1`). Rows have
    the METRICS columns with `slice="near_miss"`; an empty slice gives no rows.
    """
    from training.metrics.bootstrap import bootstrap_ci

    ids = slice_rows.filter(pl.col("in_slice"))["example_id"]
    rows = []
    for run, preds in predictions.items():
        chosen = preds.filter(pl.col("example_id").is_in(ids.implode()))
        if not chosen.height:
            continue
        for metric in ("em", "f1"):
            ci = bootstrap_ci(chosen[metric].cast(pl.Float64).to_numpy() * 100.0, n_resamples=n_resamples, seed=seed)
            rows.append(
                {
                    "run": run,
                    "metric": metric,
                    "slice": IN_SLICE,
                    "value": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n": chosen.height,
                }
            )
    schema = {
        "run": pl.String,
        "metric": pl.String,
        "slice": pl.String,
        "value": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "n": pl.Int32,
    }
    return pl.DataFrame(rows, schema=schema)
