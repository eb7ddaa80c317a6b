"""ROPES question mining (docs/methods.md §2, docs/methods.md §2.1): bundles of questions about one situation.

    python -m pipeline.ropes_bundles ../shared/data/ropes/dev-v1.0.json   # counts per mode

Only questions of one situation are compared, so the cost is the sum over situations of
(questions in the situation)², near-linear in the corpus. A situation is one ROPES
paragraph: the loader's source record up to `.qas[k]` (`data[0].paragraphs[12]`) within
one source file, so it does not depend on how the context was built (`ropes_context`);
rows whose source record is not of that form (other loaders, hand-made rows) fall back to
their context_id. Inside a situation the questions keep their source order (`qas[k]`;
else example_id), the order the public code sees them in.

Modes:
- `reference-code`: Dua et al.'s released mining (dDua/contrastive-estimation,
  `data/utils.py::get_contrast_qa` with `transitive_closure`, called per paragraph by
  `data/data_process_ropes.py` with `fixed_group_size=2`), reimplemented here:
  1. question = stripped question with "?" appended when it does not end with one; answer
     = the first answer's text (`reference_question`).
  2. tokens: lower-cased whitespace tokens minus `REFERENCE_COMPARATIVES` and "the";
     answer tokens: lower-cased whitespace tokens minus "the".
  3. score(i, j) = set-F1 of the question tokens + 1 when neither answer's token set
     contains the other's (`reference_score`, same float arithmetic as the public code so
     that ties tie the same way).
  4. a question whose best score is ≥ 1 + `set_f1` (1.6) is linked to every question
     reaching that best score (ties all kept), links listed question by question in
     source order (`reference_links`); the others are singletons.
  5. closure (`reference_closure`): walk the link list keeping one running group; the next
     link joins it when they share a question and no answer (lower-cased) of the
     non-shared members of one equals one of the other; otherwise the running group is
     closed and the link starts the next one. Only neighbouring links merge.
  6. groups are de-duplicated; a group of `max_size` + 1 (4) is cut into its first
     `max_size` − 1 and the rest (2 + 2), a larger one into its first `max_size` (3) and
     the rest (`reference_split`). "First" is in the iteration order of a Python set of
     the positions, as in the public code (for 4 positions: by position mod 8, so
     {3, 6, 7, 8} is cut into {8, 3} and {6, 7}); see docs/methods.md §2.1.
  Singletons are counted, not written. With `pairs` (default for this mode, as the public
  code trained on 2×2 bundles) a group of 3 is written as its three 2-question bundles
  (the pair set is unchanged). Identical groups (possible after the cut) are written once.
  A group whose answers clash once normalised ("second" / "the second", joined by the
  closure; 1 group in ROPES train) is written as its pairs with different answers.
- `paper`: bag of words (lower-cased `\\w+` tokens), Jaccard ≥ 0.8, answers differ
  (normalised text). The paper does not say how pairs become bundles; here they are
  paired by similarity (`pair_by_similarity`): greedy best-pair-first matching (edges in
  descending Jaccard, ties by source position; an edge is taken when neither end is
  matched yet), then every still unmatched question that has an edge joins the bundle of
  its most similar partner that has room (`max_size`, default no limit) and no member
  with the same answer. Greedy, not an exact maximum-weight matching: networkx is not a
  dependency; on ROPES the greedy order keeps every exact minimal pair together.
  The answers of a bundle are unique (normalised text, asserted).
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl

from pipeline.config_model import Checked, constrained
from pipeline.io import empty_frame, fingerprint
from pipeline.normalize import normalize
from pipeline.progress import track
from pipeline.rejects import reject, rejects_frame
from pipeline.schemas import BUNDLES, bundle_row

Mode = Literal["paper", "reference-code"]
MODES: tuple[str, ...] = get_args(Mode)

# The single-word entries of `sup_replacements` (keys and values) in the public code's
# scripts/comparison_type.py (commit 2263373); its multi-word entries ("more likely",
# "closer to", "far from", …) can never equal a whitespace token, so they drop nothing.
REFERENCE_COMPARATIVES: frozenset[str] = frozenset(
    {
        "first",
        "last",
        "second",
        "more",
        "less",
        "fewer",
        "most",
        "least",
        "older",
        "younger",
        "largest",
        "smallest",
        "larger",
        "smaller",
        "earlier",
        "later",
        "shorter",
        "longer",
        "further",
        "closer",
        "highest",
        "lowest",
        "higher",
        "lower",
        "drier",
        "wetter",
        "harder",
        "easier",
    }
)
_REF_STOP = REFERENCE_COMPARATIVES | {"the"}


@dataclass(frozen=True)
class BundleConfig(Checked):
    mode: Mode = "paper"  # `paper` or `reference-code` (see module doc)
    jaccard: float = constrained(0.8, gt=0, le=1)  # paper mode: minimum bag-of-words Jaccard
    set_f1: float = constrained(0.6, gt=0, le=1)  # reference-code mode: best score must reach 1 + set_f1 (public: 1.6)
    # paper: bundle size limit (None: none); reference: max_group_size (None: 3)
    max_size: int | None = constrained(None, ge=2)
    pairs: bool | None = None  # write groups of 3+ as all their 2-question bundles (None: True for reference-code)

    @property
    def size_limit(self) -> int:
        if self.max_size is not None:
            return self.max_size
        return 3 if self.mode == "reference-code" else 10**9

    @property
    def as_pairs(self) -> bool:
        return self.pairs if self.pairs is not None else self.mode == "reference-code"


@dataclass(frozen=True)
class RopesBundlesConfig(Checked):
    """The `ropes_bundles` section of a build config: BundleConfig fields shared by the modes."""

    modes: tuple[Mode, ...] = constrained(MODES, min_length=1)  # mining modes to run, each written with its `mode`
    jaccard: float = constrained(0.8, gt=0, le=1)  # paper mode: minimum bag-of-words Jaccard
    set_f1: float = constrained(0.6, gt=0, le=1)  # reference-code mode: minimum token-set F1
    max_size: int | None = constrained(None, ge=2)  # split clusters above this size (None: per mode, see BundleConfig)
    pairs: bool | None = None  # write clusters as 2×2 bundles (None: per mode)

    def bundle_configs(self) -> list[BundleConfig]:
        shared = {"jaccard": self.jaccard, "set_f1": self.set_f1, "max_size": self.max_size, "pairs": self.pairs}
        return [BundleConfig(mode=m, **shared) for m in self.modes]


# --- reference-code mode ---------------------------------------------------------------


def reference_question(question: str) -> str:
    """The question as the public driver passes it on: stripped, "?" appended when missing."""
    q = question.strip()
    return q if q.endswith("?") else q + "?"


def question_tokens(question: str, mode: str) -> frozenset[str]:
    if mode == "paper":
        return frozenset(re.findall(r"\w+", question.lower()))
    return frozenset(t for t in reference_question(question).lower().split() if t not in _REF_STOP)


def answer_tokens(answer: str) -> frozenset[str]:
    """Reference-code answer tokens: lower-cased whitespace tokens minus "the"."""
    return frozenset(t for t in answer.lower().split() if t != "the")


def _set_f1(a: frozenset[str], b: frozenset[str]) -> float:
    """F1 of two token sets as the public code computes it: p = |a∩b|/|a|, r = |a∩b|/|b|, 2rp/(p+r).

    Kept in that float arithmetic on purpose: two pairs with the same F1 in exact arithmetic
    can differ in the last bit, and the public code keeps only exact ties of the best score.
    An empty set (the public code divides by zero there) scores 0."""
    common = len(a & b)
    if common == 0:
        return 0.0
    p, r = common / float(len(a)), common / float(len(b))
    return 2 * r * p / (p + r)


def similarity(a: frozenset[str], b: frozenset[str], mode: str) -> float:
    if mode == "paper":
        union = len(a | b)
        return len(a & b) / union if union else 0.0
    return _set_f1(a, b)


def reference_score(q_i: frozenset[str], q_j: frozenset[str], a_i: frozenset[str], a_j: frozenset[str]) -> float:
    """Public score of a question pair: token-set F1 + 1 when the answers differ (0..2): neither answer's
    token set contains the other's; an answer with no token left (the public code divides by zero there)
    never differs."""
    differ = bool(a_i) and bool(a_j) and not (a_i <= a_j or a_j <= a_i)
    return (1 if differ else 0) + _set_f1(q_i, q_j)


def reference_links(
    questions: Sequence[str], answers: Sequence[str], set_f1: float = 0.6
) -> tuple[list[tuple[int, int]], list[int]]:
    """(links, singletons): every question's best-scoring partner(s), in the public code's order.

    For i in source order: if i's best score (over j ≠ i) is ≥ 1 + set_f1, one link
    (min, max) per j reaching exactly that score, j ascending (a mutual best pair is listed
    twice, once from each side); else i is a singleton."""
    qt = [question_tokens(q, "reference-code") for q in questions]
    at = [answer_tokens(a) for a in answers]
    n = len(questions)
    links: list[tuple[int, int]] = []
    singletons: list[int] = []
    for i in range(n):
        row = [reference_score(qt[i], qt[j], at[i], at[j]) if j != i else 0.0 for j in range(n)]
        best = max(row) if row else 0.0
        if best >= 1 + set_f1:
            links.extend((min(i, j), max(i, j)) for j in range(n) if j != i and row[j] == best)
        else:
            singletons.append(i)
    return links, singletons


def reference_closure(links: Sequence[tuple[int, int]], answer_key: Sequence[str]) -> list[set[int]]:
    """The public `transitive_closure`, restated: merge only a link into the running group before it.

    A link joins the running group when they share a question and, once the answers of the
    shared questions are set aside, no answer of the group equals an answer of the link;
    otherwise the group is closed and the link starts a new one."""
    out: list[set[int]] = []
    run: set[int] | None = None
    for link in links:
        members = set(link)
        if run is None:
            run = members
            continue
        shared = run & members
        shared_answers = {answer_key[m] for m in shared}
        rest_run = {answer_key[m] for m in run} - shared_answers
        rest_link = {answer_key[m] for m in members} - shared_answers
        if shared and not (rest_run & rest_link):
            run = run | members
        else:
            out.append(run)
            run = members
    if run is not None:
        out.append(run)
    return out


def reference_split(
    groups: Sequence[set[int] | Sequence[int]], max_size: int = 3, fixed_size: int = 2
) -> list[list[int]]:
    """De-duplicate the groups and cut those above `max_size` once, as the public code does.

    Size ≤ max_size: kept. Size max_size + 1: first max_size − 1 members and the rest.
    Larger: first max_size members and the rest (the rest is not cut again). "First" in
    `set_order`. Returned groups are sorted by position; output order: groups in order
    of their sorted members, each cut group's rest after all of them."""
    unique = sorted({frozenset(g) for g in groups}, key=lambda g: sorted(g))
    kept: list[list[int]] = []
    tails: list[list[int]] = []
    for g in unique:
        members = set_order(g)
        if len(members) <= max(fixed_size, max_size):
            kept.append(sorted(members))
        elif len(members) == max_size + 1:
            kept.append(sorted(members[: max_size - 1]))
            tails.append(sorted(members[max_size - 1 :]))
        else:
            kept.append(sorted(members[:max_size]))
            tails.append(sorted(members[max_size:]))
    return kept + tails


def set_order(positions: set[int] | frozenset[int] | Sequence[int]) -> list[int]:
    """The positions in the iteration order of a Python set filled in ascending order.

    Deliberately Python's set order, not a sorted one: the public code cuts a group by
    `list(set)`, whose order for small ints is by value modulo the hash-table size. (There
    the set is filled in an order that depends on string hashing, which can matter only
    when two positions collide in the table; ascending fill makes this one deterministic.)"""
    out: set[int] = set()
    for p in sorted(positions):
        out.add(p)
    return list(out)


def reference_groups(
    questions: Sequence[str], answers: Sequence[str], set_f1: float = 0.6, max_size: int = 3
) -> list[list[int]]:
    """All groups of one paragraph as the public driver forms them, singletons included.

    May contain the same group twice (when a cut produces a group that already existed),
    as the public output does."""
    links, singletons = reference_links(questions, answers, set_f1)
    keys = [a.lower() for a in answers]
    return reference_split(reference_closure(links, keys) + [{i} for i in singletons], max_size=max_size)


# --- paper mode ------------------------------------------------------------------------


def pair_by_similarity(
    n: int, edges: dict[tuple[int, int], float], answer_key: Sequence[str], max_size: int
) -> list[list[int]]:
    """Bundles from scored edges (i < j, answers differ): greedy best-pair-first, then attach leftovers.

    1. Edges in descending score, ties by (i, j): take an edge when neither end is taken.
    2. Each still unmatched question with edges (in descending best score, ties by
       position) joins the bundle of its most similar partner (ties by position) that has
       fewer than `max_size` members and no member with the same answer key."""
    order = sorted(edges.items(), key=lambda kv: (-kv[1], kv[0]))
    home: dict[int, int] = {}
    bundles: list[list[int]] = []
    for (i, j), _ in order:
        if i not in home and j not in home and max_size >= 2:
            home[i] = home[j] = len(bundles)
            bundles.append([i, j])
    partners: dict[int, list[tuple[float, int]]] = {}
    for (i, j), s in edges.items():
        partners.setdefault(i, []).append((s, j))
        partners.setdefault(j, []).append((s, i))
    left = sorted((m for m in partners if m not in home), key=lambda m: (-max(s for s, _ in partners[m]), m))
    for m in left:
        for _, p in sorted(partners[m], key=lambda sp: (-sp[0], sp[1])):
            if p not in home:
                continue
            b = bundles[home[p]]
            if len(b) < max_size and all(answer_key[o] != answer_key[m] for o in b):
                b.append(m)
                home[m] = home[p]
                break
    return [sorted(b) for b in bundles]


# --- per situation ---------------------------------------------------------------------


def mine_group(rows: Sequence[dict[str, Any]], cfg: BundleConfig) -> tuple[list[list[int]], Counter]:
    """Bundles (lists of row positions, rows in source order) for the answerable questions of one situation."""
    stats: Counter = Counter()
    questions = [r["question"] for r in rows]
    answers = [r["answers"][0]["text"] for r in rows]
    keys = [normalize(a) for a in answers]
    out: list[list[int]] = []
    if cfg.mode == "reference-code":
        seen: set[tuple[int, ...]] = set()
        for g in reference_groups(questions, answers, cfg.set_f1, cfg.size_limit):
            stats[f"cluster:{len(g)}"] += 1
            if len(g) < 2:
                continue
            if tuple(g) in seen:
                stats["duplicate_groups"] += 1
                continue
            seen.add(tuple(g))
            if len({keys[i] for i in g}) != len(g):
                # the closure can join "second" and "the second" (different lower-cased text, the
                # same answer): written as its pairs whose answers differ, the other pairs dropped
                stats["groups_with_normalised_answer_clash"] += 1
                good = [list(p) for p in itertools.combinations(g, 2) if keys[p[0]] != keys[p[1]]]
                stats["pairs_dropped_same_answer"] += len(g) * (len(g) - 1) // 2 - len(good)
                out.extend(good)
            elif cfg.as_pairs and len(g) > 2:
                out.extend([list(p) for p in itertools.combinations(g, 2)])
            else:
                out.append(g)
        # two-question bundles from different groups can coincide after the pairs expansion
        uniq = list(dict.fromkeys(tuple(b) for b in out))
        stats["duplicate_pairs"] += len(out) - len(uniq)
        return [list(b) for b in uniq], stats
    toks = [question_tokens(q, "paper") for q in questions]
    edges = {
        (i, j): similarity(toks[i], toks[j], "paper")
        for i, j in itertools.combinations(range(len(rows)), 2)
        if keys[i] != keys[j] and similarity(toks[i], toks[j], "paper") >= cfg.jaccard
    }
    linked = {m for e in edges for m in e}
    out = pair_by_similarity(len(rows), edges, keys, cfg.size_limit)
    stats["unpaired_after_split"] += len(linked) - sum(len(b) for b in out)
    for b in out:
        stats[f"cluster:{len(b)}"] += 1
        assert len({keys[i] for i in b}) == len(b), f"answers not unique in bundle {[rows[i]['example_id'] for i in b]}"
    if cfg.as_pairs:
        out = [list(p) for b in out for p in itertools.combinations(b, 2)]
    return out, stats


_QAS = re.compile(r"^(.*)\.qas\[(\d+)\]$")


def situations(examples: pl.DataFrame) -> pl.DataFrame:
    """example_id → situation key and source position (see module doc)."""
    rows = []
    for eid, cid, sfile, srec in examples.select(
        "example_id", "context_id", "source_file", "source_record"
    ).iter_rows():
        m = _QAS.match(srec or "")
        if m:
            rows.append((eid, f"{sfile}::{m.group(1)}", int(m.group(2))))
        else:
            rows.append((eid, f"context::{cid}", -1))
    return pl.DataFrame(
        rows, schema={"example_id": pl.String, "situation": pl.String, "position": pl.Int64}, orient="row"
    )


def rows_by_situation(examples: pl.DataFrame, bundles: pl.DataFrame, keys: set[str]) -> dict[str, pl.DataFrame]:
    """situation key → the `bundles` rows of that situation, for each of `keys` (empty frame when none).

    The shape `ropes_bundles(reuse=…)` takes; a row's situation is that of its example_id."""
    sit = situations(examples).select("example_id", "situation")
    keyed = bundles.join(sit, on="example_id", how="inner")
    keyed = keyed.filter(pl.col("situation").is_in(list(keys)))
    out = {key: g.drop("situation") for (key,), g in keyed.group_by(["situation"])}
    out.update({key: bundles.clear() for key in keys - set(out)})
    return out


def _grouped(examples: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    keyed = examples.join(situations(examples), on="example_id", how="left")
    keyed = keyed.sort("situation", "position", "example_id")
    return [(key, g) for (key,), g in keyed.group_by(["situation"], maintain_order=True)]


def group_fingerprints(examples: pl.DataFrame, cfg: BundleConfig) -> dict[str, str]:
    """situation key → fingerprint of its questions, answers, order and the config (for re-mining)."""
    conf = {
        "mode": cfg.mode,
        "jaccard": cfg.jaccard,
        "set_f1": cfg.set_f1,
        "max": cfg.size_limit,
        "pairs": cfg.as_pairs,
        "algorithm": 2,
    }
    out = {}
    for key, g in _grouped(examples):
        rows = [
            [eid, q, [a["text"] for a in ans or []]]
            for eid, q, ans in g.select("example_id", "question", "answers").iter_rows()
        ]
        out[key] = fingerprint({"cfg": conf, "rows": rows})
    return out


def _bundle_rows(rows: Sequence[dict[str, Any]], members: Sequence[int], mode: str) -> list[dict[str, Any]]:
    ids = [rows[i]["example_id"] for i in members]
    bundle_id = "ropes-" + fingerprint({"mode": mode, "members": sorted(ids)})
    return [bundle_row(bundle_id, "ropes-mined", mode, rows[i], rows[i]["answers"][0]) for i in members]


def ropes_bundles(
    examples: pl.DataFrame,
    cfg: BundleConfig = BundleConfig(),
    reuse: dict[str, pl.DataFrame] | None = None,
    source: str = "examples",
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """BUNDLES rows (kind `ropes-mined`) for `examples` (EXAMPLES columns) and the stats.

    `reuse` maps situation key (`situations`) → rows of a previous run for situations whose
    fingerprint did not change; those are not mined again. Stats: questions, bundles, size
    histogram, cluster histogram (groups before the 2×2 expansion, singletons included in
    reference-code mode; mined situations only), situations mined/reused, skip counts, and
    `rejects` (REJECTS rows for unanswerable questions).
    """
    reuse = reuse or {}
    stats: Counter = Counter()
    rejects = []
    rows_out: list[dict[str, Any]] = []
    kept_frames: list[pl.DataFrame] = []
    groups = _grouped(examples)
    for key, group in track(groups, f"ropes_bundles ({cfg.mode})", len(groups)):
        if key in reuse:
            kept_frames.append(reuse[key])
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
        "mode": cfg.mode,
        "questions": examples.height,
        "bundles": len(sizes),
        "questions_in_bundles": in_bundle,
        "questions_without_partner": answered - in_bundle,
        "size_histogram": {str(k): v for k, v in sorted(Counter(sizes).items())},
        "cluster_histogram": {
            k[8:]: int(v) for k, v in sorted(stats.items(), key=lambda kv: kv[0]) if k.startswith("cluster:")
        },
        **{k: int(v) for k, v in stats.items() if not k.startswith("cluster:")},
        "rejects": rejects,
    }
    return df, report


def situation_groups(examples: pl.DataFrame, partition: str, cfg: RopesBundlesConfig) -> dict[str, str]:
    """Reuse per situation and mode (`<mode>::<situation>` -> `group_fingerprints`), for `pipeline.miners`."""
    return {
        f"{bc.mode}::{key}": fp for bc in cfg.bundle_configs() for key, fp in group_fingerprints(examples, bc).items()
    }


def mine_ropes_bundles(
    examples: pl.DataFrame, partition: str, cfg: RopesBundlesConfig, previous: Any
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """The registered miner (`pipeline.miners`): every mode's `ropes-mined` bundles of one partition.

    Situations of a mode whose fingerprint is unchanged (`previous.unchanged`) keep their
    previous rows (`previous.rows["bundles"]`); a question without an answer is one reject,
    however many modes run."""
    old = previous.rows.get(BUNDLES.name)
    frames, stats, rejects = [], {}, {}
    for bc in cfg.bundle_configs():
        same = {k.split("::", 1)[1] for k in previous.unchanged if k.startswith(f"{bc.mode}::")}
        reuse = (
            rows_by_situation(examples, old.filter(pl.col("mode") == bc.mode), same) if old is not None and same else {}
        )
        df, st = ropes_bundles(examples, bc, reuse=reuse, source=partition)
        rejects.update((r["record_id"], r) for r in st.pop("rejects"))
        frames.append(df)
        stats[bc.mode] = st
    rows = pl.concat(frames, how="vertical").sort("kind", "bundle_id", "example_id")
    return rows, rejects_frame(list(rejects.values())), {"modes": stats, "rows": rows.height}


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
