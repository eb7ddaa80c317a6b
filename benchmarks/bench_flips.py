"""Flip rules judged against the human questions of ROPES (one clear measurement per rule).

    python benchmarks/bench_flips.py                         # ROPES train + dev, default loader context
    python benchmarks/bench_flips.py --ropes-context with-question
    python benchmarks/bench_flips.py --splits train --show-misses np_swap --show-unjudged 30
    python benchmarks/bench_flips.py --data /path/to/data    # another data folder

The questions are loaded with the project's loader (`pipeline.sources`, format `ropes`) and
flipped with `pipeline.flips.flips` (default `FlipConfig`). Each flip is judged against the
human questions of its parent's situation (ROPES paragraph) by `pipeline.flips.judge_flips`.
Per rule the table reports:
- flips: flips written;
- judged: flips whose text (lower case, single spaces, no final "?") equals a human question
  of the same situation;
- answer precision: of the judged flips, the share whose answer (SQuAD-normalised) equals
  that human question's answer;
- unjudged: share of the flips that equal no human question (nobody can judge them this way);
- partner parents: flipped parents that have a natural minimal partner (same situation, same
  `\\w+` words once the public comparative words and "the" are dropped, another answer);
- partner recall: of those, the share whose flip is that partner.
Below the table: parents with a partner that no rule flipped, by skip reason.
`--show-misses RULE` prints that rule's partner misses, `--show-wrong` the judged flips with
a wrong answer, `--show-unjudged N` a seeded random sample of N unjudged flips (all splits
pooled) as a Markdown table.
Needs ../shared/data; exits with a message (status 0) when it is absent.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.flips import RULE_NAMES, FlipConfig, FlipJudgement, flips, judge_flips  # noqa: E402
from pipeline.sources import SourceSpec, load_source  # noqa: E402
from pipeline.sources.spec import ROPES_CONTEXTS  # noqa: E402


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def print_table(j: FlipJudgement) -> None:
    cols = ["flips", "judged", "answer prec.", "unjudged", "partner parents", "partner recall"]
    print(f"{'rule':<10}" + "".join(f"{c:>17}" for c in cols))
    for rule in RULE_NAMES:
        c, r = j.counts[rule], j.rates(rule)
        vals = [
            c["flips"],
            c["judged"],
            f"{pct(r['answer_precision'])} ({c['answer_right']})",
            f"{pct(r['unjudged_share'])} ({c['unjudged']})",
            c["partner_parents"],
            f"{pct(r['partner_recall'])} ({c['partner_hits']})",
        ]
        print(f"{rule:<10}" + "".join(f"{v:>17}" for v in vals))
    if j.unflipped_partner_parents:
        print("partner parents with no flip, by reason:", dict(j.unflipped_partner_parents.most_common()))


def cell(text: str) -> str:
    return text.strip().replace("|", "\\|")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="folder holding ropes/*.json")
    ap.add_argument("--splits", nargs="+", default=["train", "dev"], choices=["train", "dev"])
    ap.add_argument(
        "--ropes-context",
        default=SourceSpec("x", "x").ropes_context,
        choices=ROPES_CONTEXTS,
        help="the loader's ropes_context (default: the loader's default)",
    )
    ap.add_argument(
        "--show-misses",
        nargs="*",
        default=[],
        choices=RULE_NAMES,
        metavar="RULE",
        help="print the partner misses of these rules",
    )
    ap.add_argument("--show-wrong", action="store_true", help="print judged flips whose answer is wrong")
    ap.add_argument("--show-unjudged", type=int, default=0, metavar="N", help="print N random unjudged flips")
    ap.add_argument("--seed", type=int, default=13, help="seed of the unjudged sample")
    args = ap.parse_args()
    files = [(s, args.data / "ropes" / f"{s}-v1.0.json") for s in args.splits]
    missing = [str(p) for _, p in files if not p.exists()]
    if missing:
        print(f"skipped: ROPES not found ({', '.join(missing)}); pass --data to the folder holding ropes/")
        return 0
    unjudged: list[dict] = []
    for split, path in files:
        t0 = time.perf_counter()
        loaded = load_source(
            SourceSpec("ropes", str(path), format="ropes", split=split, ropes_context=args.ropes_context)
        )
        res = flips(loaded.examples, loaded.contexts, FlipConfig())
        j = judge_flips(res, loaded.examples)
        skips = dict(sorted((k, v) for k, v in res.counts.items() if not k.startswith("flip:")))
        print(
            f"\nROPES {split} (ropes_context={args.ropes_context}): {loaded.examples.height} questions; "
            f"skips: {skips}  [{time.perf_counter() - t0:.1f}s]"
        )
        print_table(j)
        for rule in args.show_misses:
            cases = [m for m in j.misses if m["rule"] == rule]
            print(f"\n{rule} partner misses ({split}, {len(cases)}):")
            for m in cases:
                print(f"  P: {m['parent_question'].strip()}\n  F: {m['question'].strip()}")
                for q in m["partners"]:
                    print(f"  H: {q.strip()}")
                print()
        if args.show_wrong:
            print(f"\njudged flips with a wrong answer ({split}, {len(j.wrong)}):")
            for w in j.wrong:
                print(
                    f"  [{w['rule']}] {w['question'].strip()}  flip answer {w['answer']!r}, human {w['human_answers']}"
                )
        unjudged.extend({**u, "split": split} for u in j.unjudged)
    if args.show_unjudged:
        sample = random.Random(args.seed).sample(unjudged, min(args.show_unjudged, len(unjudged)))
        print(f"\n{len(sample)} random unjudged flips (seed {args.seed}, of {len(unjudged)}):\n")
        print("| # | split | rule | question | flip | answer → flip answer |")
        print("| --- | --- | --- | --- | --- | --- |")
        for k, u in enumerate(sample, 1):
            print(
                f"| {k} | {u['split']} | {u['rule']} | {cell(u['parent_question'])} | {cell(u['question'])} "
                f"| {cell(u['parent_answer'])} → {cell(u['answer'])} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
