"""Synthetic answer spans on the real data: do inserted answers have the gold's type, which rules write them.

    # SQuAD 2.0 half (train articles) + SQuAD 1.1 dev sample
    nice -n 15 python benchmarks/bench_synthetic.py
    # smaller / print 30 random sentences
    python benchmarks/bench_synthetic.py --max-contexts 300 --show 30

For each set: the contexts are indexed with spaCy (`pipeline.spacy_index.parse_contexts`,
the build's index settings), `pipeline.synthetic.synthetic` runs with the build's settings
(share 0.2, seed 13), and the benchmark prints
- augmented / answerable, the skip counts (`no_statement`, `no_substitute`, …);
- label agreement by construction: inserted answers whose source entity has the gold
  entity's spaCy label (the rest are counted coarse-type fallbacks);
- label agreement re-tagged: spaCy NER run again on each inserted sentence alone; the
  label of the entity overlapping the inserted answer most equals the gold entity's
  label (no entity found counts as a miss);
- share of sentences per rule, and quoting-fallback sentences (must be 0);
- `--show N`: N random inserted sentences (seeded) for reading.
Runs on one core (OMP_NUM_THREADS=1); `--max-contexts` bounds the spaCy time (the
default keeps the run under ~10 minutes on a shared core). Exits with a message (status 0)
when the data folder is absent.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import polars as pl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.nlp import IndexConfig, load_nlp  # noqa: E402
from pipeline.sources import SourceSpec, load_source  # noqa: E402
from pipeline.spacy_index import parse_contexts  # noqa: E402
from pipeline.synthetic import SyntheticConfig, gold_entity, synthetic, synthetic_stats  # noqa: E402


def overlap_label(doc, start: int, end: int) -> str | None:
    """spaCy label of the entity of `doc` that overlaps [start, end) most (None: no overlap)."""
    best, overlap = None, 0
    for ent in doc.ents:
        o = min(ent.end_char, end) - max(ent.start_char, start)
        if o > overlap:
            best, overlap = ent.label_, o
    return best


def measure(
    name: str, examples: pl.DataFrame, contexts: pl.DataFrame, nlp, icfg: IndexConfig, cfg: SyntheticConfig, show: int
) -> None:
    t0 = time.perf_counter()
    recs = parse_contexts(nlp, contexts["context"].to_list(), icfg)
    index = pl.DataFrame([{"context_id": c, **r} for c, r in zip(contexts["context_id"].to_list(), recs)])
    t_index = time.perf_counter() - t0
    res = synthetic(examples, contexts, index, cfg)
    stats = synthetic_stats(res, cfg)
    n = len(res.rows)
    print(
        f"\n== {name}: {contexts.height} contexts, {examples.height} questions "
        f"(index {t_index:.0f} s, mining {time.perf_counter() - t0 - t_index:.0f} s)"
    )
    print(f"augmented {n} of {stats['answerable']} answerable (share {stats['share']}), eligible {stats['eligible']}")
    print("skips:", stats["skips"])
    print("substitute source:", stats["substitutes"], " type match:", stats["type_match"])
    if not n:
        return
    by_id = {r["example_id"]: r for r in examples.iter_rows(named=True)}
    ents = {r["context_id"]: r["entities"] or [] for r in index.iter_rows(named=True)}
    gold_label = {}
    for row in res.rows:
        ex = by_id[row["parent_id"]]
        gold_label[row["example_id"]] = gold_entity(ex["answers"][0], ents[ex["context_id"]])["label"]
    construction = stats["type_match"].get("label", 0)
    print(f"label agreement by construction: {construction}/{n} = {construction / n:.1%}")
    sentences = [row["inserted_text"].strip() for row in res.rows]
    retag = Counter()
    for row, sent, doc in zip(res.rows, sentences, nlp.pipe(sentences, batch_size=64)):
        lead = len(row["inserted_text"]) - len(row["inserted_text"].lstrip())
        s = row["inserted_answer"]["start"] - row["insert_offset"] - lead
        e = s + len(row["inserted_answer"]["text"])
        best = overlap_label(doc, s, e)
        retag["same" if best == gold_label[row["example_id"]] else ("none" if best is None else "other")] += 1
    print(
        f"label agreement re-tagged (NER on the inserted sentence): {retag['same']}/{n} = {retag['same'] / n:.1%} "
        f"(other label {retag['other']}, no entity {retag['none']})"
    )
    in_ctx = Counter()
    for row, doc in zip(res.rows, nlp.pipe([row["context"] for row in res.rows], batch_size=32)):
        s, e = row["inserted_answer"]["start"], row["inserted_answer"]["end"]
        best = overlap_label(doc, s, e)
        in_ctx["same" if best == gold_label[row["example_id"]] else ("none" if best is None else "other")] += 1
    print(
        f"label agreement re-tagged (NER on the augmented context): {in_ctx['same']}/{n} = {in_ctx['same'] / n:.1%} "
        f"(other label {in_ctx['other']}, no entity {in_ctx['none']})"
    )
    rules = Counter(row["rule"] for row in res.rows)
    print("rules:", {k: f"{v} ({v / n:.0%})" for k, v in rules.most_common()})
    print("quoting-fallback sentences:", sum(1 for s in sentences if s.startswith("The answer to")))
    for row in random.Random(0).sample(res.rows, min(show, n)):
        print(
            f"- [{row['rule']}] Q: {row['question'].strip()} | gold {by_id[row['parent_id']]['answers'][0]['text']!r} "
            f"({gold_label[row['example_id']]}) | S: {row['inserted_text'].strip()}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--max-contexts", type=int, default=700, help="contexts per set (first ones, by sorted context_id)")
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--sets", nargs="+", default=["squad20-train", "squad11-dev"])
    args = ap.parse_args()
    files = {
        "squad20-train": ("squad20", args.data / "squad" / "v2.0" / "dev-v2.0.cs224n-dev-half.json", "protocol"),
        "squad11-dev": ("squad11", args.data / "squad" / "v1.1" / "dev-v1.1.json", None),
    }
    icfg = IndexConfig()
    nlp = None
    cfg = SyntheticConfig(share=0.2, seed=13)
    for name in args.sets:
        dataset, path, split = files[name]
        if not path.exists():
            print(f"{path} not found; {name} not measured")
            continue
        loaded = load_source(SourceSpec(dataset=dataset, path=str(path), format="squad", article_split=split))
        examples, contexts = loaded.examples, loaded.contexts
        if split == "protocol":
            examples = examples.filter(pl.col("split") == "train")
            contexts = contexts.filter(pl.col("context_id").is_in(examples["context_id"].unique().to_list()))
        contexts = contexts.sort("context_id").head(args.max_contexts)
        examples = examples.filter(pl.col("context_id").is_in(contexts["context_id"].to_list()))
        nlp = nlp or load_nlp(icfg)
        measure(name, examples, contexts, nlp, icfg, cfg, args.show)


if __name__ == "__main__":
    main()
