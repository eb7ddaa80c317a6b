"""Benchmark of the spaCy index on SQuAD 1.1 dev contexts (../shared/data).

    python benchmarks/bench_index.py                 # all 2,067 unique contexts
    python benchmarks/bench_index.py --limit 300     # quick run

In one process, with the model loaded once and warmed up:
1. raw `nlp.pipe` over the texts (same pipes, batch size and processes), timed before AND
   after the cold build (A-B-A), so drift on a shared machine hits both sides equally;
2. a cold `build_index` into a fresh temporary root; prints contexts/s, chars/s and the
   ratio build/raw (goal ≥ 0.9), in wall time and, with one process, in CPU time (which
   other jobs on a shared machine barely disturb);
3. a second, unchanged `build_index`: asserts that no file under the root was written
   (same set of files, same mtimes and sizes) and prints its time;
4. sentence boundaries of `senter` vs `parser` (and their entities) on a 200-context sample.
Skips with a message (exit code 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from pipeline import io  # noqa: E402
from pipeline.nlp import IndexConfig, load_nlp  # noqa: E402
from pipeline.spacy_index import build_index  # noqa: E402

SQUAD_DEV = Path("squad/v1.1/dev-v1.1.json")


def squad_contexts(data: Path, limit: int | None) -> pl.DataFrame:
    """Unique contexts of SQuAD 1.1 dev, in file order, as a CONTEXTS-like frame."""
    with open(data / SQUAD_DEV, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    texts = list(dict.fromkeys(p["context"] for a in articles for p in a["paragraphs"]))[:limit]
    return pl.DataFrame({"context_id": [io.text_id(t) for t in texts], "context": texts})


def time_raw(nlp, texts: list[str], cfg: IndexConfig) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of iterating `nlp.pipe` over the texts."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(texts, batch_size=cfg.batch_size, n_process=cfg.n_process):
        pass
    return time.perf_counter() - t0, time.process_time() - c0


def file_state(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def boundary_agreement(texts: list[str], senter_nlp, parser_nlp, cfg: IndexConfig) -> dict[str, float]:
    """Sentence starts (excluding 0) and entities of the two set-ups, compared per context."""
    same_sents = same_ents = shared = union = ents_shared = ents_union = parser_total = 0
    pairs = zip(senter_nlp.pipe(texts, batch_size=cfg.batch_size), parser_nlp.pipe(texts, batch_size=cfg.batch_size))
    for a, b in pairs:
        sa = {s.start_char for s in a.sents} - {0}
        sb = {s.start_char for s in b.sents} - {0}
        ea = {(e.start_char, e.end_char, e.label_) for e in a.ents}
        eb = {(e.start_char, e.end_char, e.label_) for e in b.ents}
        same_sents += sa == sb
        same_ents += ea == eb
        shared, union, parser_total = shared + len(sa & sb), union + len(sa | sb), parser_total + len(sb)
        ents_shared, ents_union = ents_shared + len(ea & eb), ents_union + len(ea | eb)
    n = len(texts)
    return {
        "boundary_jaccard": shared / max(union, 1),
        "parser_boundaries_kept": shared / max(parser_total, 1),
        "identical_segmentation": same_sents / n,
        "entity_jaccard": ents_shared / max(ents_union, 1),
        "identical_entities": same_ents / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="folder holding squad/v1.1/")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N unique contexts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n-process", type=int, default=1)
    ap.add_argument("--agreement-sample", type=int, default=200, help="contexts for the senter-vs-parser check")
    args = ap.parse_args()
    if not (args.data / SQUAD_DEV).exists():
        print(f"SKIP: {args.data / SQUAD_DEV} not found (pass --data pointing at the shared data folder)")
        return 0

    cfg = IndexConfig(batch_size=args.batch_size, n_process=args.n_process)
    contexts = squad_contexts(args.data, args.limit)
    texts = contexts["context"].to_list()
    n, chars = len(texts), sum(map(len, texts))
    nlp = load_nlp(cfg)
    time_raw(nlp, texts[:64], cfg)  # warm-up
    print(f"{n} contexts, {chars:,} chars; pipes {nlp.pipe_names}; batch {cfg.batch_size}, processes {cfg.n_process}")

    raw_before = time_raw(nlp, texts, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        c0 = time.process_time()
        stats = build_index(root, contexts, cfg, nlp=nlp)
        build_cpu = time.process_time() - c0
        raw_after = time_raw(nlp, texts, cfg)
        assert stats.n_new == n, stats
        raw, raw_cpu = (raw_before[0] + raw_after[0]) / 2, (raw_before[1] + raw_after[1]) / 2
        print(
            f"raw nlp.pipe   : {n / raw:8.1f} contexts/s {chars / raw:10,.0f} chars/s  "
            f"(wall {raw_before[0]:.1f}s, {raw_after[0]:.1f}s; CPU {raw_before[1]:.1f}s, {raw_after[1]:.1f}s)"
        )
        print(
            f"build_index    : {n / stats.seconds:8.1f} contexts/s {chars / stats.seconds:10,.0f} chars/s  "
            f"(wall {stats.seconds:.1f}s; CPU {build_cpu:.1f}s)"
        )
        print(f"ratio build/raw: wall {raw / stats.seconds:.3f}  (goal >= 0.9)")
        if cfg.n_process == 1:  # CPU time is robust to other load on a shared machine
            print(f"ratio build/raw: CPU  {raw_cpu / build_cpu:.3f}")

        before = file_state(root)
        again = build_index(root, contexts, cfg, nlp=nlp)
        after = file_state(root)
        assert again.n_new == 0 and again.n_cached == n, again
        assert before == after, f"unchanged re-run touched files: {sorted(set(before.items()) ^ set(after.items()))}"
        print(f"unchanged re-run: {again.seconds:.3f}s, parsed 0, files touched 0 of {len(after)}")

    sample = texts[: args.agreement_sample]
    if not sample:
        return 0
    agree = boundary_agreement(sample, nlp, load_nlp(IndexConfig(sentences="parser")), cfg)
    print(f"senter vs parser on {len(sample)} contexts: " + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
