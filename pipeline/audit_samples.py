"""The miner pages of the audit site: stats and N seeded random samples per miner.

Each `*_page(root, dataset, n, seed)` reads one miner's artifact (optionally one
dataset), computes its stats from the rows themselves (not from what the miner said it
did) and picks `n` rows with `random.Random(seed)` after sorting by a stable key, so the
same seed shows the same samples on every run. Samples carry highlight segments
(`pipeline.highlight`) the templates render as `<mark class="hl hl-<kind>">`.

    python -c "from pipeline.audit_samples import near_miss_page; print(
        near_miss_page('data/artifacts', None, 3, 0)['stats'])"
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.highlight import Mark, segments
from pipeline.schemas import BUNDLES, CONTEXTS, EXAMPLES, FLIPS, NEAR_MISS, REJECTS, SYNTHETIC, ArtifactSpec

MEMBER_COLOURS = 6  # bundle members get hl-member-0 … hl-member-5 (then the colours repeat)


def frame(root: str | Path, spec: ArtifactSpec, dataset: str | None) -> pl.DataFrame | None:
    """The artifact's rows (one dataset or all), or None when it was never written."""
    if not io.partitions(root, spec):
        return None
    lf = io.scan(root, spec)
    if dataset is not None:
        lf = lf.filter(pl.col("dataset") == dataset)
    return lf.collect()


def seeded_sample(df: pl.DataFrame, n: int, seed: int, key: Iterable[str]) -> pl.DataFrame:
    """`n` rows chosen by `random.Random(seed)` after a stable sort by `key` columns."""
    df = df.sort(list(key))
    idx = random.Random(seed).sample(range(df.height), min(n, df.height))
    return df[idx]


def _rows_of(
    root: str | Path, spec: ArtifactSpec, id_column: str, columns: Iterable[str], keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(dataset, split, id) -> the row's `columns` (and its key columns), for the given keys only."""
    keys = set(keys)
    if not keys:
        return {}
    rows = (
        io.scan(root, spec)
        .filter(pl.col(id_column).is_in(sorted({k[2] for k in keys})))
        .select("dataset", "split", id_column, *columns)
        .collect()
    )
    out = {(r["dataset"], r["split"], r[id_column]): r for r in rows.iter_rows(named=True)}
    return {k: r for k, r in out.items() if k in keys}


def context_texts(root: str | Path, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """(dataset, split, context_id) -> context text, for the given keys only."""
    return {k: r["context"] for k, r in _rows_of(root, CONTEXTS, "context_id", ["context"], keys).items()}


def questions(root: str | Path, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(dataset, split, example_id) -> {question, answers, title} for the given keys."""
    return _rows_of(root, EXAMPLES, "example_id", ["question", "answers", "title"], keys)


def _context(texts: Mapping, row: Mapping[str, Any]) -> str:
    key = (row["dataset"], row["split"], row["context_id"])
    if key not in texts:
        raise io.ArtifactError(
            f"audit: context {row['context_id']} of {row['dataset']}/{row['split']} "
            f"(example {row.get('example_id')}) is not in `contexts`"
        )
    return texts[key]


def counts(series: pl.Series) -> list[tuple[Any, int]]:
    """(value, count) pairs sorted by value."""
    vc = series.value_counts().sort(series.name)
    return [(v, int(c)) for v, c in vc.iter_rows()]


def by_partition(df: pl.DataFrame, fn) -> list[dict[str, Any]]:
    """`fn(rows)` per (dataset, split), as {dataset, split, **fn(rows)}."""
    out = []
    for (d, s), g in sorted(df.group_by(["dataset", "split"]), key=lambda t: t[0]):
        out.append({"dataset": d, "split": s, **fn(g)})
    return out


# near_miss -------------------------------------------------------------------------


def near_miss_page(root: str | Path, dataset: str | None, n: int, seed: int) -> dict[str, Any] | None:
    df = frame(root, NEAR_MISS, dataset)
    if df is None:
        return None
    stats = by_partition(
        df,
        lambda g: {
            "rows": g.height,
            "with_negative": round(float((g["n_negatives"] > 0).mean()), 4) if g.height else 0.0,
            "negatives_per_example": round(float(g["n_negatives"].cast(pl.Float64).mean()), 3) if g.height else 0.0,
            "histogram": counts(g["n_negatives"]),
            "status": counts(g["status"]),
        },
    )
    ok = df.filter(pl.col("n_negatives") > 0)
    picked = seeded_sample(ok, n, seed, ["dataset", "split", "example_id"])
    texts = context_texts(root, [(r["dataset"], r["split"], r["context_id"]) for r in picked.iter_rows(named=True)])
    qs = questions(root, [(r["dataset"], r["split"], r["example_id"]) for r in picked.iter_rows(named=True)])
    samples = []
    for r in picked.iter_rows(named=True):
        text = _context(texts, r)
        marks = [Mark(r["sentence"]["start"], r["sentence"]["end"], "sentence")] if r["sentence"] else []
        marks.append(Mark(r["gold"]["start"], r["gold"]["end"], "gold", f"gold ({r['gold_label']})"))
        marks += [Mark(x["start"], x["end"], "negative", f"negative ({x['label']})") for x in r["negatives"]]
        q = qs.get((r["dataset"], r["split"], r["example_id"]), {})
        samples.append(
            {**r, "question": q.get("question", "(question not found in examples)"), "segments": segments(text, marks)}
        )
    return {"stats": stats, "samples": samples, "pool": ok.height, "total": df.height}


# bundles (ROPES-mined and flip bundles) --------------------------------------------


def bundles_page(root: str | Path, dataset: str | None, n: int, seed: int) -> dict[str, Any] | None:
    df = frame(root, BUNDLES, dataset)
    if df is None:
        return None
    sizes = df.group_by("dataset", "split", "kind", "mode", "bundle_id").len("size")
    stats = []
    for (kind, mode), g in sorted(sizes.group_by(["kind", "mode"]), key=lambda t: t[0]):
        stats.append(
            {
                "kind": kind,
                "mode": mode,
                "bundles": g.height,
                "members": int(g["size"].sum()),
                "histogram": counts(g["size"]),
            }
        )
    ids = sizes.select("dataset", "split", "bundle_id").unique()
    picked = seeded_sample(ids, n, seed, ["dataset", "split", "bundle_id"])
    members = df.join(picked, on=["dataset", "split", "bundle_id"], how="semi")
    texts = context_texts(root, [(r["dataset"], r["split"], r["context_id"]) for r in members.iter_rows(named=True)])
    samples = []
    for d, s, bid in picked.iter_rows():
        g = members.filter((pl.col("dataset") == d) & (pl.col("split") == s) & (pl.col("bundle_id") == bid))
        rows = [{**r, "colour": i % MEMBER_COLOURS} for i, r in enumerate(g.iter_rows(named=True))]
        contexts = []
        for cid in dict.fromkeys(r["context_id"] for r in rows):
            mine = [r for r in rows if r["context_id"] == cid]
            text = _context(texts, mine[0])
            marks = [
                Mark(r["answer"]["start"], r["answer"]["end"], f"member-{r['colour']}", r["question"]) for r in mine
            ]
            contexts.append(
                {"context_id": cid, "members": [r["colour"] for r in mine], "segments": segments(text, marks)}
            )
        samples.append(
            {
                "bundle_id": bid,
                "dataset": d,
                "split": s,
                "kind": rows[0]["kind"],
                "mode": rows[0]["mode"],
                "members": rows,
                "contexts": contexts,
            }
        )
    return {"stats": stats, "samples": samples, "total": ids.height}


# flips -----------------------------------------------------------------------------


def flips_page(root: str | Path, dataset: str | None, n: int, seed: int) -> dict[str, Any] | None:
    df = frame(root, FLIPS, dataset)
    if df is None:
        return None
    stats = by_partition(
        df, lambda g: {"rows": g.height, "parents": g["parent_id"].n_unique(), "rules": counts(g["rule"])}
    )
    skips = _manifest_stats(root, FLIPS, dataset, "skips")
    judged = [
        {"dataset": s["dataset"], "split": s["split"], "rules": flip_judgement(root, df, s["dataset"], s["split"])}
        for s in stats
    ]
    picked = seeded_sample(df, n, seed, ["dataset", "split", "example_id"])
    texts = context_texts(root, [(r["dataset"], r["split"], r["context_id"]) for r in picked.iter_rows(named=True)])
    samples = []
    for r in picked.iter_rows(named=True):
        marks = [
            Mark(r["parent_answer"]["start"], r["parent_answer"]["end"], "parent", "parent's answer"),
            Mark(r["answer"]["start"], r["answer"]["end"], "flip", "flip's answer"),
        ]
        samples.append({**r, "segments": segments(_context(texts, r), marks)})
    return {"stats": stats, "skips": skips, "judged": judged, "samples": samples, "total": df.height}


def flip_judgement(root: str | Path, flips: pl.DataFrame, dataset: str, split: str) -> list[dict[str, Any]]:
    """Per rule, `pipeline.flips.judge_flips` against the human questions of the same situation:
    answer precision over the flips whose text a human also wrote (`judged`), partner recall,
    and the share no human question matches (unjudged). Rates are None where nothing was judged."""
    from pipeline.flips import FlipResult, judge_flips

    part = {"dataset": dataset, "split": split}
    rows = flips.filter((pl.col("dataset") == dataset) & (pl.col("split") == split)).drop("dataset", "split").to_dicts()
    examples = io.read(root, EXAMPLES, part).drop("dataset", "split")
    rejects = []
    if io.partition_entry(root, REJECTS, part):
        rejects = (
            io.read(root, REJECTS, part).filter(pl.col("stage") == "flips").select("record_id", "reason").to_dicts()
        )
    judgement = judge_flips(FlipResult(rows=rows, rejects=rejects), examples)
    out = []
    for rule, c in judgement.counts.items():
        if c["flips"]:
            rates = judgement.rates(rule)
            out.append(
                {
                    "rule": rule,
                    **{k: int(c[k]) for k in ("flips", "judged", "answer_right", "partner_parents", "partner_hits")},
                    **{k: None if v is None else round(v, 3) for k, v in rates.items()},
                }
            )
    return out


def _manifest_stats(root: str | Path, spec: ArtifactSpec, dataset: str | None, key: str) -> list[dict[str, Any]]:
    """`stats[key]` the writer recorded per partition (counts of what it skipped, ...)."""
    out = []
    for part, entry in sorted(io.read_manifest(root, spec)["partitions"].items()):
        values = dict(p.split("=", 1) for p in part.split("/"))
        if dataset is None or values.get("dataset") == dataset:
            out.append({**values, key: sorted(((entry.get("stats") or {}).get(key) or {}).items())})
    return out


# synthetic -------------------------------------------------------------------------


def synthetic_page(root: str | Path, dataset: str | None, n: int, seed: int) -> dict[str, Any] | None:
    df = frame(root, SYNTHETIC, dataset)
    if df is None:
        return None

    def shares(g: pl.DataFrame) -> dict[str, Any]:
        return {"rows": g.height, "rules": [(k, c, round(c / g.height, 3)) for k, c in counts(g["rule"])]}

    stats = by_partition(df, shares)
    skips = _manifest_stats(root, SYNTHETIC, dataset, "skips")
    picked = seeded_sample(df, n, seed, ["dataset", "split", "example_id"])
    samples = []
    for r in picked.iter_rows(named=True):
        text, a = r["context"], r["insert_offset"]
        marks = [Mark(a, a + len(r["inserted_text"]), "inserted", f"inserted by rule {r['rule']}")]
        marks += [
            Mark(x["start"], x["end"], "gold", "original gold answer")
            for x in r["answers"]
            if x != r["inserted_answer"]
        ]
        ia = r["inserted_answer"]
        marks.append(Mark(ia["start"], ia["end"], "inserted-answer", "inserted (second gold) answer"))
        samples.append({**r, "segments": segments(text, marks)})
    return {"stats": stats, "skips": skips, "samples": samples, "total": df.height}
