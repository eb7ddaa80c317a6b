"""ROPES bundle mining on the real data: the figures to compare with Dua et al.'s public code.

    python benchmarks/bench_ropes_bundles.py                                  # ROPES train, both contexts
    python benchmarks/bench_ropes_bundles.py --public-groups /tmp/groups.json # + pair-set Jaccard
    python benchmarks/bench_ropes_bundles.py --split dev --data /path/to/data

For each `ropes_context` of the loader (`with-question`, the default, and `shared`) and each
mode, mined with `pairs: false` so groups are counted as formed:
- groups by size (reference-code: as the public driver forms them, singletons and repeated
  groups included; paper: the written bundles);
- questions covered (in a group of ≥ 2) and questions in more than one group;
- natural minimal pairs (two questions of one situation whose reference-code token sets,
  i.e. lower-cased whitespace tokens with "?" appended, minus the public comparative words
  and "the", are equal, and whose answers differ), how many of them share a bundle, and
  (paper mode) how many of them reach the paper's Jaccard at all (the most it can pair);
- with `--public-groups`: Jaccard of the sets of question pairs (two question ids in one
  group) against the public code's output, and the pairs only one side has.

The public code's figures on ROPES train (its driver, `data/data_process_ropes.py`):
5,907 groups (550 singletons, 5,304 of 2, 53 of 3), 10,374 questions covered, 286 questions
in more than one group. `--public-groups` reads a JSON list whose items are lists of
question ids or objects with an `ids` list (one item per group the public code returned);
that file is produced outside this repository by running the public code.
Needs the data folder; exits with a message (status 0) when it is absent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.flips import normalize  # noqa: E402
from pipeline.ropes_bundles import MODES, BundleConfig, question_tokens, ropes_bundles, similarity, situations  # noqa: E402
from pipeline.sources import SourceSpec, load_source  # noqa: E402

PUBLIC_TRAIN = {"groups": 5907, "singletons": 550, "of 2": 5304, "of 3": 53, "covered": 10374, "in >1 group": 286}


def natural_pairs(examples: pl.DataFrame) -> set[frozenset[str]]:
    """Unordered id pairs: same situation, equal reference-code token sets, different answers."""
    keyed = examples.join(situations(examples), on="example_id")
    out: set[frozenset[str]] = set()
    for _, g in keyed.group_by(["situation"]):
        rows = [
            (eid, question_tokens(q, "reference-code"), normalize(ans[0]["text"]))
            for eid, q, ans in g.select("example_id", "question", "answers").iter_rows()
            if ans
        ]
        for (e1, t1, a1), (e2, t2, a2) in itertools.combinations(rows, 2):
            if t1 == t2 and a1 != a2:
                out.add(frozenset((e1, e2)))
    return out


def pair_set(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}


def read_public(path: Path) -> list[list[str]]:
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a JSON list of groups")
    out = []
    for k, item in enumerate(data):
        ids = item.get("ids") if isinstance(item, dict) else item
        if not isinstance(ids, list):
            raise SystemExit(f"{path}: item {k}: expected a list of ids or an object with an 'ids' list")
        out.append([str(i) for i in ids])
    return out


def report(examples: pl.DataFrame, mode: str, natural: set[frozenset[str]], public: list[list[str]] | None) -> dict:
    t0 = time.perf_counter()
    df, stats = ropes_bundles(examples, BundleConfig(mode=mode, pairs=False))
    groups = [g["example_id"].to_list() for _, g in df.group_by("bundle_id")]
    hist = {int(k): v for k, v in stats["cluster_histogram"].items()}
    member = Counter(e for g in groups for e in g)
    pairs = pair_set(groups)
    out = {
        "groups": sum(hist.values()),
        "by size": dict(sorted(hist.items())),
        "written bundles": len(groups),
        "covered": len(member),
        "in >1 group": sum(1 for v in member.values() if v > 1),
        "natural pairs in one bundle": f"{len(natural & pairs)} of {len(natural)}",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if mode == "paper":
        text = dict(zip(examples["example_id"].to_list(), examples["question"].to_list()))
        cfg = BundleConfig(mode="paper")
        edges = sum(
            1
            for a, b in (tuple(p) for p in natural)
            if similarity(question_tokens(text[a], "paper"), question_tokens(text[b], "paper"), "paper") >= cfg.jaccard
        )
        out["natural pairs with paper Jaccard ≥ threshold"] = edges
    if mode == "reference-code":
        out["repeated groups"] = stats.get("duplicate_groups", 0)
    if public is not None:
        pub = pair_set(public)
        known = set(examples["example_id"].to_list())
        out["jaccard vs public"] = round(len(pub & pairs) / len(pub | pairs), 4) if pub | pairs else None
        out["public-only pairs"] = len(pub - pairs)
        out["public-only pairs with a question not loaded"] = sum(1 for p in pub - pairs if not p <= known)
        out["ours-only pairs"] = len(pairs - pub)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--split", default="train", choices=["train", "dev"])
    ap.add_argument("--public-groups", type=Path, default=None, help="JSON groups written by the public code")
    ap.add_argument("--contexts", nargs="+", default=["with-question", "shared"])
    args = ap.parse_args()
    path = args.data / "ropes" / f"{args.split}-v1.0.json"
    if not path.exists():
        print(f"ROPES not found at {path}; nothing measured")
        return
    public = read_public(args.public_groups) if args.public_groups else None
    if args.split == "train":
        print("public code, ROPES train:", PUBLIC_TRAIN)
    for ctx in args.contexts:
        loaded = load_source(SourceSpec(dataset="ropes", path=str(path), split=args.split, ropes_context=ctx))
        ex = loaded.examples
        natural = natural_pairs(ex)
        print(f"\nropes_context={ctx}: {ex.height} questions loaded, {loaded.summary()}")
        for mode in MODES:
            print(f"  {mode}: {report(ex, mode, natural, public)}")


if __name__ == "__main__":
    main()
