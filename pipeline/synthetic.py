"""Synthetic answer spans (METHODS.md §3): a second gold answer inserted into the context.

    python -m pipeline.synthetic ../shared/data/squad/v1.1/dev-v1.1.json 0.2   # share check on a file

For a configured share of the answerable examples, one declarative sentence restating the
question with a different answer of the same coarse type is inserted at a sentence
boundary; the inserted answer becomes a second gold answer.

- Gold type: the coarse type (`pipeline.coarse_types`) of the index entity overlapping the
  first gold answer most. No such entity → not eligible (`no_gold_entity`).
- Substitute answer: an entity of the same coarse type from the same context whose
  normalised text differs from every gold answer and neither contains nor is contained in
  one; else (`corpus` source) an entity text of that type from another context of the
  partition; else not eligible (`no_substitute`). Picks are seeded by example id.
- Position: a sentence start from the index (or the end of the context), seeded, never
  strictly inside a gold answer span. Original answers at or after it shift by the
  length of the inserted text; every answer span is checked against its text.
- Sentence: `pipeline.statements.statement` (rules table there; `fallback` is counted).
- Share: exactly round(share × answerable) examples are chosen among the eligible ones,
  ranked by a seeded hash of their id, so ineligible examples do not shrink the share
  (unless fewer are eligible than needed: `shortfall` in the stats).
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.coarse_types import coarse_type
from pipeline.flips import Tagger, normalize, spacy_tagger
from pipeline.io import text_id
from pipeline.rejects import reject
from pipeline.statements import statement


@dataclass(frozen=True)
class SyntheticConfig:
    share: float = 0.2                   # share of answerable examples that get an inserted sentence
    seed: int = 13                       # seeds the choice of examples, substitutes and positions
    corpus_fallback: bool = True         # take a substitute from other contexts when the own context has none
    spacy_model: str = "en_core_web_sm"  # tagger used by the statement rules

    def __post_init__(self) -> None:
        if not isinstance(self.share, (int, float)) or not 0.0 <= self.share <= 1.0:
            raise ValueError(f"SyntheticConfig.share: expected a number in [0, 1], got {self.share!r}")


@dataclass
class SyntheticResult:
    rows: list[dict[str, Any]] = field(default_factory=list)  # SYNTHETIC rows
    counts: Counter = field(default_factory=Counter)           # outcome → count
    rejects: list[dict[str, str]] = field(default_factory=list)  # REJECTS rows (example without index/context)
    answerable: int = 0                                        # denominator of the share


def _hash(seed: int, *parts: Any) -> int:
    return int(hashlib.sha1(":".join(map(str, (seed, *parts))).encode()).hexdigest()[:15], 16)


def _distinct(gold_norms: set[str], text: str) -> bool:
    n = normalize(text)
    if not n or n in gold_norms:
        return False
    toks = set(n.split())
    return all(not (toks <= set(g.split()) or set(g.split()) <= toks) for g in gold_norms)


def gold_coarse(context: str, gold: dict[str, Any], entities: Sequence[dict[str, Any]]) -> str | None:
    """Coarse type of the entity overlapping the gold span most (None when none overlaps)."""
    best, best_overlap = None, 0
    for ent in entities:
        overlap = min(ent["end"], gold["end"]) - max(ent["start"], gold["start"])
        if overlap > best_overlap:
            best, best_overlap = ent, overlap
    return coarse_type(best["label"]) if best else None


def corpus_pool(contexts: dict[str, str], index: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """coarse type → sorted (entity text, context_id) over the whole partition."""
    pool: dict[str, set[tuple[str, str]]] = {}
    for cid, rec in index.items():
        text = contexts.get(cid)
        if text is None:
            continue
        for ent in rec["entities"] or []:
            pool.setdefault(coarse_type(ent["label"]), set()).add((text[ent["start"]:ent["end"]], cid))
    return {k: sorted(v) for k, v in pool.items()}


def plan(ex: dict[str, Any], context: str, rec: dict[str, Any], pool: dict[str, list[tuple[str, str]]],
         cfg: SyntheticConfig) -> tuple[dict[str, Any] | None, str]:
    """Substitute answer and insertion point for one example, or (None, reason)."""
    gold = ex["answers"][0]
    coarse = gold_coarse(context, gold, rec["entities"] or [])
    if coarse is None:
        return None, "no_gold_entity"
    norms = {normalize(a["text"]) for a in ex["answers"]}
    own = sorted({context[e["start"]:e["end"]] for e in rec["entities"] or []
                  if coarse_type(e["label"]) == coarse and _distinct(norms, context[e["start"]:e["end"]])})
    source = "context"
    if not own and cfg.corpus_fallback:
        own = sorted({t for t, cid in pool.get(coarse, []) if cid != ex["context_id"] and _distinct(norms, t)})
        source = "corpus"
    if not own:
        return None, "no_substitute"
    substitute = own[_hash(cfg.seed, ex["example_id"], "sub") % len(own)].strip()
    spans = [(a["start"], a["end"]) for a in ex["answers"]]
    points = sorted({s["start"] for s in rec["sentences"] or []} | {0, len(context)})
    points = [p for p in points if all(not (s < p < e) for s, e in spans)]
    point = points[_hash(cfg.seed, ex["example_id"], "pos") % len(points)]
    return {"substitute": substitute, "coarse": coarse, "source": source, "point": point}, "ok"


def insert(ex: dict[str, Any], context: str, p: dict[str, Any], stmt: tuple[str, str, str]) -> dict[str, Any]:
    """The SYNTHETIC row: context with the sentence inserted, shifted answers + the new one."""
    rule, prefix, suffix = stmt
    point = p["point"]
    lead = "" if point == 0 or context[point - 1].isspace() else " "
    trail = " " if point < len(context) else ""
    text = lead + prefix + p["substitute"] + suffix + trail
    aug = context[:point] + text + context[point:]
    ins_start = point + len(lead) + len(prefix)
    inserted = {"text": p["substitute"], "start": ins_start, "end": ins_start + len(p["substitute"])}
    shifted = [
        {"text": a["text"], "start": a["start"] + (len(text) if a["start"] >= point else 0),
         "end": a["end"] + (len(text) if a["start"] >= point else 0)}
        for a in ex["answers"]
    ]
    answers = shifted + [inserted]
    for a in answers:
        if aug[a["start"]:a["end"]] != a["text"]:
            raise AssertionError(f"synthetic {ex['example_id']}: span {a} does not match {aug[a['start']:a['end']]!r}")
    return {
        "example_id": f"{ex['example_id']}~syn:{rule}", "parent_id": ex["example_id"], "context_id": text_id(aug),
        "parent_context_id": ex["context_id"], "context": aug, "question": ex["question"], "answers": answers,
        "insert_offset": point, "inserted_text": text, "inserted_answer": inserted, "rule": rule,
    }


def synthetic(examples: pl.DataFrame, contexts: pl.DataFrame, index: pl.DataFrame,
              cfg: SyntheticConfig = SyntheticConfig(), tagger: Tagger | None = None,
              source: str = "examples") -> SyntheticResult:
    """SYNTHETIC rows for `examples` (EXAMPLES), `contexts` (CONTEXTS) and their `index` (INDEX)."""
    ctx = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list()))
    idx = {r["context_id"]: r for r in index.iter_rows(named=True)}
    pool = corpus_pool(ctx, idx)
    result = SyntheticResult()
    eligible: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for ex in examples.iter_rows(named=True):
        if ex["is_impossible"] or not ex["answers"]:
            result.counts["unanswerable"] += 1
            continue
        result.answerable += 1
        context, rec = ctx.get(ex["context_id"]), idx.get(ex["context_id"])
        if context is None or rec is None:
            result.counts["not_indexed"] += 1
            result.rejects.append(reject("synthetic", source, ex["example_id"], "context_id", "not_indexed",
                                         f"context {ex['context_id']} has no {'context' if context is None else 'index'} row"))
            continue
        p, reason = plan(ex, context, rec, pool, cfg)
        if p is None:
            result.counts[reason] += 1
            continue
        eligible.append((_hash(cfg.seed, ex["example_id"], "pick"), ex, p))
    target = round(cfg.share * result.answerable)
    chosen = sorted(eligible, key=lambda t: (t[0], t[1]["example_id"]))[:target]
    result.counts["shortfall"] = max(0, target - len(chosen))
    result.counts["eligible"] = len(eligible)
    tag = tagger or spacy_tagger(cfg.spacy_model)
    tokens = tag([ex["question"] for _, ex, _ in chosen]) if chosen else []
    for (_, ex, p), toks in zip(chosen, tokens):
        row = insert(ex, ctx[ex["context_id"]], p, statement(ex["question"], toks))
        result.rows.append(row)
        result.counts[f"rule:{row['rule']}"] += 1
        result.counts[f"substitute:{p['source']}"] += 1
    result.rows.sort(key=lambda r: r["example_id"])
    return result


def synthetic_stats(result: SyntheticResult, cfg: SyntheticConfig) -> dict[str, Any]:
    """Numbers for the run report: configured vs achieved share, rules, skip reasons."""
    n = len(result.rows)
    return {
        "configured_share": cfg.share, "answerable": result.answerable, "augmented": n,
        "share": round(n / result.answerable, 4) if result.answerable else 0.0,
        "rules": {k[5:]: v for k, v in sorted(result.counts.items()) if k.startswith("rule:")},
        "substitutes": {k[11:]: v for k, v in sorted(result.counts.items()) if k.startswith("substitute:")},
        "skips": {k: v for k, v in sorted(result.counts.items()) if ":" not in k and k not in ("eligible",)},
        "eligible": result.counts.get("eligible", 0),
    }


def main(argv: Sequence[str]) -> None:
    from pipeline.nlp import IndexConfig, load_nlp
    from pipeline.sources import SourceSpec, load_source
    from pipeline.spacy_index import parse_contexts

    loaded = load_source(SourceSpec(dataset="squad", path=argv[0], split="dev"))
    cfg = SyntheticConfig(share=float(argv[1]) if len(argv) > 1 else 0.2)
    icfg = IndexConfig()
    recs = parse_contexts(load_nlp(icfg), loaded.contexts["context"].to_list(), icfg)
    index = pl.DataFrame([{"context_id": c, **r} for c, r in zip(loaded.contexts["context_id"].to_list(), recs)])
    res = synthetic(loaded.examples, loaded.contexts, index, cfg)
    print(synthetic_stats(res, cfg))


if __name__ == "__main__":
    main(sys.argv[1:])
