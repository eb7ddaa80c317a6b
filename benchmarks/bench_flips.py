"""Flip rules checked against ROPES' natural minimal pairs (human-written contrast questions).

    python benchmarks/bench_flips.py                       # ROPES train + dev from ../shared/data
    python benchmarks/bench_flips.py --data /path/to/data  # another data folder

A natural pair is two answerable questions of the same situation whose word sequences
differ by a small edit (the summed size of the differing stretches, counted on the longer
side, is at most `--max-edit` words: "higher" / "lower", "has" / "does not have",
"patient A … patient B" / "patient B … patient A"), that offer the same answer options
(so "Monday or Friday" / "Monday or Saturday" is not a contrast pair) and whose answers differ.

For every question the flip rules are applied (`pipeline.flips`, first applicable rule).
Per rule the table reports:
- flips: flips written (all questions);
- of pair q: flips whose parent belongs to a natural pair;
- q match: the flip equals (normalised text) one of the parent's natural partners;
- q+a match: … and the flip's answer equals that partner's answer (normalised);
- precision: q+a match / of pair q — how often a flip of a pair question reproduces the
  human contrast question and its answer;
- ans acc: q+a match / q match — answer right when the question is reproduced;
- no counterpart: flips (all) whose text equals no question of the situation.
Needs ../shared/data; exits with a message (status 0) when it is absent.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.flips import RULE_NAMES, FlipConfig, find_options, flips, normalize  # noqa: E402
from pipeline.sources import SourceSpec, load_source  # noqa: E402


def words(text: str) -> list[str]:
    return re.findall(r"\w+(?:'\w+)?", text.lower())


def option_set(question: str) -> frozenset[str]:
    """Normalised answer options of the question (empty when it has none)."""
    found = find_options(question)
    return frozenset(normalize(question[s:e]) for s, e in found[1]) if found else frozenset()


def edit_size(a: list[str], b: list[str]) -> int:
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def natural_pairs(examples: pl.DataFrame, max_edit: int) -> dict[str, set[str]]:
    """example_id → ids of its natural partners (same situation, small edit, different answer)."""
    partners: dict[str, set[str]] = defaultdict(set)
    for _, g in examples.group_by("context_id"):
        rows = [(r["example_id"], words(r["question"]), normalize(r["answers"][0]["text"]), option_set(r["question"]))
                for r in g.iter_rows(named=True) if r["answers"]]
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                (ia, wa, aa, oa), (ib, wb, ab, ob) = rows[i], rows[j]
                if aa != ab and oa == ob and wa != wb and 0 < edit_size(wa, wb) <= max_edit:
                    partners[ia].add(ib)
                    partners[ib].add(ia)
    return partners


def evaluate(examples: pl.DataFrame, contexts: pl.DataFrame, max_edit: int) -> tuple[dict[str, Counter], int, Counter]:
    partners = natural_pairs(examples, max_edit)
    by_id = {r["example_id"]: r for r in examples.iter_rows(named=True)}
    texts_in_situation: dict[str, set[str]] = defaultdict(set)
    for r in by_id.values():
        texts_in_situation[r["context_id"]].add(normalize(r["question"]))
    res = flips(examples, contexts, FlipConfig())
    table: dict[str, Counter] = {rule: Counter() for rule in RULE_NAMES}
    for row in res.rows:
        c = table[row["rule"]]
        c["flips"] += 1
        flipped = normalize(row["question"])
        if flipped not in texts_in_situation[row["context_id"]]:
            c["no counterpart"] += 1
        mates = partners.get(row["parent_id"], set())
        if not mates:
            continue
        c["of pair q"] += 1
        hits = [m for m in mates if normalize(by_id[m]["question"]) == flipped]
        if hits:
            c["q match"] += 1
            if any(normalize(by_id[m]["answers"][0]["text"]) == normalize(row["answer"]["text"]) for m in hits):
                c["q+a match"] += 1
    return table, sum(1 for v in partners.values() if v), res.counts


def print_table(table: dict[str, Counter]) -> None:
    cols = ["flips", "of pair q", "q match", "q+a match", "precision", "ans acc", "no counterpart"]
    print(f"{'rule':<10}" + "".join(f"{c:>16}" for c in cols))
    total = Counter()
    for rule, c in [*table.items(), ("all", None)]:
        c = c if c is not None else total
        if rule != "all":
            total.update(c)
        prec = f"{c['q+a match'] / c['of pair q']:.1%}" if c["of pair q"] else "-"
        acc = f"{c['q+a match'] / c['q match']:.1%}" if c["q match"] else "-"
        vals = [c["flips"], c["of pair q"], c["q match"], c["q+a match"], prec, acc, c["no counterpart"]]
        print(f"{rule:<10}" + "".join(f"{v:>16}" for v in vals))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="folder holding ropes/*.json")
    ap.add_argument("--max-edit", type=int, default=3, help="largest word edit between natural pair questions")
    args = ap.parse_args()
    files = [(s, args.data / "ropes" / f"{s}-v1.0.json") for s in ("train", "dev")]
    missing = [str(p) for _, p in files if not p.exists()]
    if missing:
        print(f"skipped: ROPES not found ({', '.join(missing)}); pass --data to the folder holding ropes/")
        return 0
    for split, path in files:
        t0 = time.perf_counter()
        loaded = load_source(SourceSpec("ropes", str(path), format="ropes", split=split))
        table, n_pair_q, counts = evaluate(loaded.examples, loaded.contexts, args.max_edit)
        print(f"\nROPES {split}: {loaded.examples.height} questions, {n_pair_q} in natural pairs "
              f"(max edit {args.max_edit} words); skips: {dict(sorted((k, v) for k, v in counts.items() if not k.startswith('flip:')))}"
              f"  [{time.perf_counter() - t0:.1f}s]")
        print_table(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
