"""ROPES question mining (METHODS.md §2): bundles of questions about one situation.

    python -m pipeline.ropes_bundles ../shared/data/ropes/dev-v1.0.json   # counts per mode

Only questions that share a context (one ROPES situation) are compared, so the cost is
the sum over situations of (questions in the situation)², near-linear in the corpus.

Modes:
- `paper`: bag of words (lower-cased `\\w+` tokens), Jaccard ≥ 0.8, answers differ
  (normalised text). The paper does not say how pairs become bundles; here a bundle is a
  connected component of the pair graph, packed so that every answer is unique.
- `reference-code`: lower-cased whitespace tokens minus the comparative words
  (`flip_rules.COMPARATIVE_WORDS`) and "the", set-F1 ≥ 0.6, answers differ in the
  public code's sense (neither answer's token set contains the other's), transitive
  closure (connected components), components above 3 split. With `pairs` (the default
  for this mode, as the public code trained on 2×2 bundles) each cluster is written as all
  its 2-question bundles.

Splitting / packing (`pack`): members in source order go round-robin into
ceil(n / max_size) bundles; a member whose answer is already in its target bundle goes
to the next bundle with room and no such answer, else opens a new bundle. Bundles left
with one member are merged into another bundle with room and no answer clash, else the
member is dropped (counted as `unpaired_after_split`). So every answer is unique within
its bundle (asserted) and no bundle exceeds `max_size`.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.flip_rules import COMPARATIVE_WORDS
from pipeline.flips import normalize
from pipeline.io import empty_frame, fingerprint
from pipeline.rejects import reject
from pipeline.schemas import BUNDLES

MODES = ("paper", "reference-code")


@dataclass(frozen=True)
class BundleConfig:
    mode: str = "paper"              # `paper` or `reference-code` (see module doc)
    jaccard: float = 0.8             # paper mode: minimum bag-of-words Jaccard
    set_f1: float = 0.6              # reference-code mode: minimum token-set F1
    max_size: int | None = None      # split components above this size (None: paper 0 = no limit, reference 3)
    pairs: bool | None = None        # write clusters as all 2×2 bundles (None: True for reference-code)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"BundleConfig.mode: got {self.mode!r}, expected one of {list(MODES)}")
        if not 0 < self.jaccard <= 1 or not 0 < self.set_f1 <= 1:
            raise ValueError("BundleConfig.jaccard / set_f1: expected a number in (0, 1]")
        if self.max_size is not None and self.max_size < 2:
            raise ValueError(f"BundleConfig.max_size: got {self.max_size}, expected ≥ 2 or None")

    @property
    def size_limit(self) -> int:
        if self.max_size is not None:
            return self.max_size
        return 3 if self.mode == "reference-code" else 10**9

    @property
    def as_pairs(self) -> bool:
        return self.pairs if self.pairs is not None else self.mode == "reference-code"


_STOP = COMPARATIVE_WORDS | {"the"}


def question_tokens(question: str, mode: str) -> frozenset[str]:
    if mode == "paper":
        return frozenset(re.findall(r"\w+", question.lower()))
    return frozenset(t for t in question.lower().split() if t not in _STOP)


def similarity(a: frozenset[str], b: frozenset[str], mode: str) -> float:
    inter = len(a & b)
    if mode == "paper":
        union = len(a | b)
        return inter / union if union else 0.0
    return 2 * inter / (len(a) + len(b)) if a or b else 0.0


def answers_differ(a: str, b: str, mode: str) -> bool:
    if mode == "paper":
        return normalize(a) != normalize(b)
    ta, tb = set(a.lower().split()), set(b.lower().split())
    return not (ta <= tb or tb <= ta)


def _components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in edges:
        parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def pack(members: Sequence[int], answer_key: Sequence[str], max_size: int) -> tuple[list[list[int]], int]:
    """Split one cluster into bundles of ≤ max_size with unique answers; returns (bundles, dropped)."""
    k = max(1, math.ceil(len(members) / max_size))
    bundles: list[list[int]] = [[] for _ in range(k)]
    for pos, m in enumerate(members):
        order = [(pos + d) % len(bundles) for d in range(len(bundles))]
        slot = next((b for b in order if len(bundles[b]) < max_size
                     and all(answer_key[o] != answer_key[m] for o in bundles[b])), None)
        if slot is None:
            bundles.append([])
            slot = len(bundles) - 1
        bundles[slot].append(m)
    dropped = 0
    singles = [b for b in bundles if len(b) == 1]
    kept = [b for b in bundles if len(b) > 1]
    for (m,) in singles:
        home = next((b for b in kept if len(b) < max_size and all(answer_key[o] != answer_key[m] for o in b)), None)
        if home is None:
            dropped += 1
        else:
            home.append(m)
    return kept, dropped


def mine_group(rows: Sequence[dict[str, Any]], cfg: BundleConfig) -> tuple[list[list[int]], Counter]:
    """Bundles (lists of row positions) for the answerable questions of one situation."""
    stats: Counter = Counter()
    toks = [question_tokens(r["question"], cfg.mode) for r in rows]
    answers = [r["answers"][0]["text"] for r in rows]
    threshold = cfg.jaccard if cfg.mode == "paper" else cfg.set_f1
    edges = [
        (i, j) for i, j in itertools.combinations(range(len(rows)), 2)
        if similarity(toks[i], toks[j], cfg.mode) >= threshold and answers_differ(answers[i], answers[j], cfg.mode)
    ]
    keys = [normalize(a) for a in answers]
    out: list[list[int]] = []
    for comp in _components(len(rows), edges):
        bundles, dropped = pack(sorted(comp), keys, cfg.size_limit)
        stats["unpaired_after_split"] += dropped
        for b in bundles:
            stats[f"cluster:{len(b)}"] += 1
            if cfg.as_pairs and len(b) > 2:
                out.extend([list(p) for p in itertools.combinations(sorted(b), 2)])
            else:
                out.append(sorted(b))
    for b in out:
        assert len({keys[i] for i in b}) == len(b), f"answers not unique in bundle {[rows[i]['example_id'] for i in b]}"
    return out, stats


def group_fingerprints(examples: pl.DataFrame, cfg: BundleConfig) -> dict[str, str]:
    """context_id → fingerprint of its questions, answers and the config (for re-mining)."""
    cols = examples.select("context_id", "example_id", "question", "answers").sort("context_id", "example_id")
    out: dict[str, list[Any]] = {}
    for cid, eid, q, ans in cols.iter_rows():
        out.setdefault(cid, []).append([eid, q, [a["text"] for a in ans or []]])
    conf = {"mode": cfg.mode, "jaccard": cfg.jaccard, "set_f1": cfg.set_f1, "max": cfg.size_limit, "pairs": cfg.as_pairs}
    return {cid: fingerprint({"cfg": conf, "rows": rows}) for cid, rows in out.items()}


def _bundle_rows(rows: Sequence[dict[str, Any]], members: Sequence[int], mode: str) -> list[dict[str, Any]]:
    ids = [rows[i]["example_id"] for i in members]
    bundle_id = "ropes-" + fingerprint({"mode": mode, "members": sorted(ids)})
    out = []
    for i in members:
        r = rows[i]
        a = r["answers"][0]
        out.append({
            "bundle_id": bundle_id, "kind": "ropes-mined", "mode": mode, "example_id": r["example_id"],
            "context_id": r["context_id"], "question": r["question"],
            "answer": {"text": a["text"], "start": a["start"], "end": a["end"]},
            "role": "original", "rule": None, "parent_id": None,
        })
    return out


def ropes_bundles(examples: pl.DataFrame, cfg: BundleConfig = BundleConfig(),
                  reuse: dict[str, pl.DataFrame] | None = None, source: str = "examples") -> tuple[pl.DataFrame, dict[str, Any]]:
    """BUNDLES rows (kind `ropes-mined`) for `examples` (EXAMPLES columns) and the stats.

    `reuse` maps context_id → rows of a previous run for groups whose fingerprint did not
    change; those groups are not mined again. Stats: questions, bundles, size histogram,
    cluster histogram (clusters before the 2×2 expansion; mined groups only), groups
    mined/reused, skip counts, and `rejects` (REJECTS rows for unanswerable questions).
    """
    reuse = reuse or {}
    stats: Counter = Counter()
    rejects = []
    rows_out: list[dict[str, Any]] = []
    kept_frames: list[pl.DataFrame] = []
    for (cid,), group in examples.sort("example_id").group_by(["context_id"], maintain_order=True):
        if cid in reuse:
            kept_frames.append(reuse[cid])
            stats["groups_reused"] += 1
            continue
        stats["groups_mined"] += 1
        rows = []
        for r in group.iter_rows(named=True):
            if not r["answers"]:
                rejects.append(reject("bundles", source, r["example_id"], "answers", "no_answer", r["question"]))
                continue
            rows.append(r)
        bundles, counts = mine_group(rows, cfg)
        stats.update(counts)
        for b in bundles:
            rows_out.extend(_bundle_rows(rows, b, cfg.mode))
    frames = [pl.DataFrame(rows_out, schema=empty_frame(BUNDLES).schema)] if rows_out else []
    frames += [f.select(empty_frame(BUNDLES).columns) for f in kept_frames]
    df = pl.concat(frames, how="vertical") if frames else empty_frame(BUNDLES)
    df = df.sort("bundle_id", "example_id")
    sizes = df.group_by("bundle_id").len()["len"].to_list() if df.height else []
    in_bundle = df["example_id"].n_unique() if df.height else 0
    answered = examples.height - len(rejects)
    report = {
        "mode": cfg.mode, "questions": examples.height, "bundles": len(sizes),
        "questions_in_bundles": in_bundle, "questions_without_partner": answered - in_bundle,
        "size_histogram": {str(k): v for k, v in sorted(Counter(sizes).items())},
        "cluster_histogram": {k[8:]: int(v) for k, v in sorted(stats.items()) if k.startswith("cluster:")},
        **{k: int(v) for k, v in stats.items() if not k.startswith("cluster:")}, "rejects": rejects,
    }
    return df, report


def check_unique_answers(bundles: pl.DataFrame) -> list[str]:
    """Bundle ids in which two members share a (normalised) answer; empty when all is well."""
    bad = []
    for (bid,), g in bundles.group_by(["bundle_id"]):
        keys = [normalize(a["text"]) for a in g["answer"].to_list()]
        if len(set(keys)) != len(keys):
            bad.append(bid)
    return bad


def main(argv: Sequence[str]) -> None:
    from pipeline.sources import SourceSpec, load_source

    loaded = load_source(SourceSpec(dataset="ropes", path=argv[0], split="dev"))
    for mode in MODES:
        df, stats = ropes_bundles(loaded.examples, BundleConfig(mode=mode))
        stats.pop("rejects")
        print(mode, stats, "answer clashes:", len(check_unique_answers(df)))


if __name__ == "__main__":
    main(sys.argv[1:])
