"""Near-miss hard negatives (docs/methods.md §1): same sentence, same coarse type, other text.

For each answerable example, with its FIRST gold answer:

1. sentence: the index sentence holding the gold start (leading whitespace of the gold
   skipped). None → status `no_sentence`.
2. gold entity: among the context's entities overlapping the gold span, the one with the
   same span if there is one, else the largest character overlap (ties: the length
   closest to the gold's, then the earliest). None → status `no_gold_entity`.
   Its label gives the gold coarse type (`pipeline.coarse_types`).
3. negatives: the other entities whose start lies in that sentence, with the same coarse
   type, not overlapping the gold span, and whose normalised text is non-empty and differs
   from the normalised text of EVERY gold answer of the example and of the gold entity
   (so no negative is a correct answer under the official metric). Deduplicated by
   normalised text, in document order, at most `max_negatives`. Status `ok` when at least
   one is left, else `no_negative`.

Normalisation is the official SQuAD one: lower-case, drop punctuation, drop the articles
a/an/the, collapse whitespace. Unanswerable examples get status `unanswerable`.
Every example gets exactly one row, except those that cannot be processed at all, which
go to the rejects frame instead (`context_not_indexed`, `context_missing`,
`gold_offset_mismatch`): rows + rejects = examples.

Speed: a tight loop over per-context entity lists (normalisation cached); all 10,570
SQuAD 1.1 dev questions take ≈1.5 s on a loaded 2-core machine (the integration test
prints the time). Run as part of the mining flow, or alone on artifacts already built:

    cqa build-bundles                       # load -> index -> near_miss (and other miners)
    cqa show near_miss --head 3
"""

from __future__ import annotations

import re
import string
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import polars as pl
import pyarrow as pa

from pipeline.coarse_types import coarse_type
from pipeline.config_model import Checked, constrained
from pipeline.progress import track
from pipeline.rejects import reject, rejects_frame
from pipeline.schemas import NEAR_MISS

STAGE = "near_miss"
_DROP_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class NearMissConfig(Checked):
    max_negatives: int = constrained(4, ge=1)  # keep at most this many negatives per example


@lru_cache(maxsize=1 << 16)
def normalize_text(text: str) -> str:
    """Official SQuAD answer normalisation: lower, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_DROP_PUNCT)).split())


class Entity(NamedTuple):
    start: int  # char offset into the context (inclusive)
    end: int  # char offset (exclusive)
    label: str  # spaCy label
    sent: int  # index of the sentence holding `start`
    coarse: str  # coarse type of `label`
    text: str  # context[start:end]


class ParsedContext(NamedTuple):
    text: str  # the context
    sent_starts: list[int]  # sentence start offsets, ascending
    sent_ends: list[int]  # matching end offsets
    entities: list[Entity]  # in document order


def context_entities(text: str, entities: list[dict]) -> list[Entity]:
    """INDEX entity structs of one context as `Entity` tuples (coarse type and text filled in)."""
    return [
        Entity(e["start"], e["end"], e["label"], e["sent"], coarse_type(e["label"]), text[e["start"] : e["end"]])
        for e in entities
    ]


def _parsed(text: str, sentences: list[dict], entities: list[dict]) -> ParsedContext:
    starts, ends = [s["start"] for s in sentences], [s["end"] for s in sentences]
    return ParsedContext(text, starts, ends, context_entities(text, entities))


def _sentence_of(ctx: ParsedContext, pos: int) -> int | None:
    i = bisect_right(ctx.sent_starts, pos) - 1
    return i if i >= 0 and pos < ctx.sent_ends[i] else None


def gold_entity(entities: list[Entity], start: int, end: int) -> Entity | None:
    """The entity with the gold span, else the one overlapping it most (ties: closest length, earliest)."""
    best, best_key = None, None
    for e in entities:
        overlap = min(e.end, end) - max(e.start, start)
        if overlap <= 0:
            continue
        if e.start == start and e.end == end:
            return e
        key = (-overlap, abs((e.end - e.start) - (end - start)), e.start)
        if best_key is None or key < best_key:
            best, best_key = e, key
    return best


def _negatives(
    ctx: ParsedContext, sent: int, gold: Entity, start: int, end: int, banned: set[str], k: int
) -> list[dict]:
    out, seen = [], set(banned)
    for e in ctx.entities:
        if e.sent != sent or e.coarse != gold.coarse or e is gold:
            continue
        if e.end > start and e.start < end:  # overlaps the gold span
            continue
        norm = normalize_text(e.text)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        out.append({"text": e.text, "start": e.start, "end": e.end, "label": e.label})
        if len(out) == k:
            break
    return out


def _row(example_id: str, context_id: str, status: str, **fields: Any) -> dict[str, Any]:
    row = {
        "example_id": example_id,
        "context_id": context_id,
        "status": status,
        "gold": None,
        "gold_label": None,
        "gold_coarse": None,
        "sentence": None,
        "negatives": [],
    }
    row.update(fields)
    row["n_negatives"] = len(row["negatives"])
    return row


def mine_example(
    example_id: str, context_id: str, answers: list[dict], ctx: ParsedContext, cfg: NearMissConfig
) -> dict[str, Any]:
    """The near-miss row of one answerable example (answers non-empty, offsets checked)."""
    first = answers[0]
    start, end = first["start"], first["end"]
    gold = {"text": first["text"], "start": start, "end": end}
    ent = gold_entity(ctx.entities, start, end)
    label = {"gold_label": ent.label, "gold_coarse": ent.coarse} if ent else {}
    lead = len(first["text"]) - len(first["text"].lstrip())
    sent = _sentence_of(ctx, start + lead)
    if sent is None:
        return _row(example_id, context_id, "no_sentence", gold=gold, **label)
    sentence = {"start": ctx.sent_starts[sent], "end": ctx.sent_ends[sent]}
    if ent is None:
        return _row(example_id, context_id, "no_gold_entity", gold=gold, sentence=sentence)
    banned = {normalize_text(a["text"]) for a in answers} | {normalize_text(ent.text)}
    negs = _negatives(ctx, sent, ent, start, end, banned, cfg.max_negatives)
    return _row(
        example_id, context_id, "ok" if negs else "no_negative", gold=gold, sentence=sentence, negatives=negs, **label
    )


def _unusable(
    cid: str, answers: list[dict], texts: dict[str, str], parsed: dict[str, ParsedContext]
) -> tuple[str, str, str] | None:
    """(field, reason, detail) when the example cannot be mined at all, else None."""
    if cid not in texts:
        return "context_id", "context_missing", f"context {cid} is not in the contexts frame"
    if cid not in parsed:
        return "context_id", "context_not_indexed", f"context {cid} has no row in the index"
    if answers:
        a, text = answers[0], texts[cid]
        if text[a["start"] : a["end"]] != a["text"]:
            found = text[a["start"] : a["end"]]
            return (
                "answers[0]",
                "gold_offset_mismatch",
                f"context[{a['start']}:{a['end']}] is {found!r}, answer text is {a['text']!r}",
            )
    return None


def _check_columns(frame: pl.DataFrame, name: str, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"near_miss: the {name} frame lacks column(s) {missing}; it has {frame.columns}")


def near_miss(
    examples: pl.DataFrame, contexts: pl.DataFrame, index: pl.DataFrame, cfg: NearMissConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(NEAR_MISS rows, one per processable example; REJECTS rows for the others)."""
    _check_columns(examples, "examples", ("example_id", "context_id", "answers", "is_impossible"))
    _check_columns(contexts, "contexts", ("context_id", "context"))
    _check_columns(index, "index", ("context_id", "sentences", "entities"))
    texts = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list()))
    needed = set(examples["context_id"].to_list())
    idx = index.filter(pl.col("context_id").is_in(list(needed)))
    parsed = {
        cid: _parsed(texts[cid], sents, ents)
        for cid, sents, ents in zip(idx["context_id"].to_list(), idx["sentences"].to_list(), idx["entities"].to_list())
        if cid in texts
    }
    sources = examples["source_file"].to_list() if "source_file" in examples.columns else ["examples"] * examples.height
    rows, rejects = [], []
    for eid, cid, answers, impossible, src in track(
        zip(
            examples["example_id"].to_list(),
            examples["context_id"].to_list(),
            examples["answers"].to_list(),
            examples["is_impossible"].to_list(),
            sources,
        ),
        "near_miss",
        examples.height,
    ):
        problem = _unusable(cid, answers, texts, parsed)
        if problem:
            rejects.append(reject(STAGE, src, eid, *problem))
        elif impossible or not answers:
            rows.append(_row(eid, cid, "unanswerable"))
        else:
            rows.append(mine_example(eid, cid, answers, parsed[cid], cfg))
    return _rows_frame(rows), rejects_frame(rejects)


def mine_near_miss(
    examples: pl.DataFrame, contexts: pl.DataFrame, index: pl.DataFrame, cfg: NearMissConfig
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """The registered miner (`pipeline.miners`): `near_miss` rows, rejects and `near_miss_stats`."""
    rows, rejects = near_miss(examples, contexts, index, cfg)
    return rows, rejects, near_miss_stats(rows)


def near_miss_stats(rows: pl.DataFrame) -> dict[str, Any]:
    """Negatives per example: share with ≥1, mean, histogram of counts, status counts."""
    if rows.height == 0:
        return {"with_negative": 0.0, "negatives_per_example": 0.0, "histogram": {}, "status": {}}
    counts = rows.group_by("n_negatives").len().sort("n_negatives")
    status = rows.group_by("status").len().sort("status")
    return {
        "with_negative": round(float((rows["n_negatives"] > 0).mean()), 4),
        "negatives_per_example": round(float(rows["n_negatives"].cast(pl.Float64).mean()), 3),
        "histogram": {str(k): int(v) for k, v in zip(counts["n_negatives"].to_list(), counts["len"].to_list())},
        "status": dict(zip(status["status"].to_list(), status["len"].to_list())),
    }


def _rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    columns = {c: [r[c] for r in rows] for c in NEAR_MISS.column_names}
    return pl.from_arrow(pa.Table.from_pydict(columns, schema=NEAR_MISS.schema))
