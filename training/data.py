"""Read the mined artifacts (through `pipeline.io`) into training examples.

`load_examples(cfg.data)` joins `examples` with `contexts` and, as the config asks,
attaches near-miss negatives, adds question flips and synthetic-answer examples as extra
examples, groups examples into instance bundles, and attaches a model's top-k spans.
Every span stays a char offset into the example's own context; `training.features`
turns them into token positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from pipeline import io, schemas
from training.config import DataConfig

Span = tuple[int, int]


@dataclass(frozen=True)
class TrainExample:
    example_id: str  # id from `examples` (or the generated id of a flip / synthetic example)
    context: str  # the context text every span points into
    question: str  # question text
    answers: tuple[Span, ...]  # gold char spans (first = the one start/end targets use); empty = unanswerable
    negatives: tuple[Span, ...] = ()  # near-miss negative char spans
    bundle_id: str | None = None  # instance bundle the example belongs to
    bundle_answers: tuple[Span, ...] = ()  # every distinct answer of the bundle (same order for all members)
    bundle_gold: int = -1  # index of this example's gold among `bundle_answers`
    bundle_question: int = -1  # index of this example among its bundle's questions
    topk: tuple[Span, ...] = ()  # top-k candidate spans in rank order
    topk_is_gold: tuple[bool, ...] = ()  # candidate equals a gold answer
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # provenance (`origin`: examples / flip / synthetic / bundle)


def _spans(structs: list[dict] | None) -> tuple[Span, ...]:
    return tuple((int(a["start"]), int(a["end"])) for a in (structs or []))


def _base_examples(d: DataConfig, split: str) -> list[TrainExample]:
    part = {"dataset": d.dataset, "split": split}
    ex = io.read(d.root, schemas.EXAMPLES, part)
    ctx = io.read(d.root, schemas.CONTEXTS, part).select("context_id", "context").unique("context_id")
    joined = ex.join(ctx, on="context_id", how="left")
    missing = joined.filter(pl.col("context").is_null())
    if missing.height:
        raise io.ArtifactError(
            f"examples {io.partition_key(schemas.EXAMPLES, part)}: {missing.height} example(s) point to a context_id "
            f"missing from `contexts` (first: example_id={missing['example_id'][0]!r}, field context_id)"
        )
    return [
        TrainExample(r["example_id"], r["context"], r["question"], _spans(r["answers"]), extra={"origin": "examples"})
        for r in joined.iter_rows(named=True)
    ]


def _flip_examples(d: DataConfig, contexts: dict[str, str]) -> list[TrainExample]:
    flips = io.read(d.root, schemas.FLIPS, {"dataset": d.dataset, "split": d.split})
    out = []
    for r in flips.iter_rows(named=True):
        if r["context_id"] in contexts:
            out.append(TrainExample(r["example_id"], contexts[r["context_id"]], r["question"], _spans([r["answer"]]), extra={"origin": "flip"}))
    return out


def _synthetic_examples(d: DataConfig) -> list[TrainExample]:
    syn = io.read(d.root, schemas.SYNTHETIC, {"dataset": d.dataset, "split": d.split})
    return [
        TrainExample(r["example_id"], r["context"], r["question"], _spans(r["answers"]), extra={"origin": "synthetic"})
        for r in syn.iter_rows(named=True)
    ]


def _attach_near_miss(d: DataConfig, examples: list[TrainExample]) -> list[TrainExample]:
    nm = io.read(d.root, schemas.NEAR_MISS, {"dataset": d.dataset, "split": d.split}).filter(pl.col("n_negatives") > 0)
    negs = {r["example_id"]: _spans(r["negatives"]) for r in nm.iter_rows(named=True)}
    return [replace(e, negatives=negs.get(e.example_id, ())) for e in examples]


def _answer_key(context: str, span: Span) -> str:
    return " ".join(context[span[0] : span[1]].lower().split())


def _attach_bundles(d: DataConfig, examples: list[TrainExample], contexts: dict[str, str]) -> list[TrainExample]:
    """Group into bundles; generated members missing from `examples` are added from the bundle rows.

    An example in several bundles of the selected kind joins the first (by bundle_id), so
    every example is seen once per epoch. Answers equal after lower-casing are one answer.
    """
    assert d.bundles is not None
    b = io.read(d.root, schemas.BUNDLES, {"dataset": d.dataset, "split": d.split}).filter(pl.col("kind") == d.bundles.kind)
    if d.bundles.mode is not None:
        b = b.filter(pl.col("mode") == d.bundles.mode)
    by_id = {e.example_id: e for e in examples}
    taken: set[str] = set()
    grouped: dict[str, TrainExample] = {}
    for (bundle_id,), rows in sorted(b.group_by("bundle_id"), key=lambda kv: kv[0][0]):
        members = [r for r in rows.sort("example_id").iter_rows(named=True) if r["example_id"] not in taken]
        if len(members) < 2 or members[0]["context_id"] not in contexts:
            continue
        context = contexts[members[0]["context_id"]]
        answers: list[Span] = []
        keys: list[str] = []
        for r in members:
            key = _answer_key(context, (r["answer"]["start"], r["answer"]["end"]))
            if key not in keys:
                keys.append(key)
                answers.append((int(r["answer"]["start"]), int(r["answer"]["end"])))
        for q, r in enumerate(members):
            base = by_id.get(r["example_id"]) or TrainExample(
                r["example_id"], context, r["question"], _spans([r["answer"]]), extra={"origin": "bundle"}
            )
            gold = keys.index(_answer_key(context, (r["answer"]["start"], r["answer"]["end"])))
            grouped[r["example_id"]] = replace(
                base, bundle_id=bundle_id, bundle_answers=tuple(answers), bundle_gold=gold, bundle_question=q
            )
            taken.add(r["example_id"])
    out = [grouped.pop(e.example_id, e) for e in examples]
    return out + list(grouped.values())


def _attach_topk(d: DataConfig, examples: list[TrainExample], k: int) -> list[TrainExample]:
    assert d.topk_model is not None
    tk = io.read(d.root, schemas.TOPK, {"dataset": d.dataset, "split": d.split, "model": d.topk_model}).sort("example_id", "rank")
    cands: dict[str, tuple[list[Span], list[bool]]] = {}
    for r in tk.filter(pl.col("rank") < k).iter_rows(named=True):
        spans, gold = cands.setdefault(r["example_id"], ([], []))
        spans.append((int(r["span"]["start"]), int(r["span"]["end"])))
        gold.append(bool(r["is_gold"]))
    out = []
    for e in examples:
        spans, gold = cands.get(e.example_id, ([], []))
        spans, gold = list(spans), list(gold)
        if d.topk_force_gold and e.answers and not any(gold):
            if len(spans) >= k:
                spans, gold = spans[:-1], gold[:-1]
            spans.append(e.answers[0])
            gold.append(True)
        out.append(replace(e, topk=tuple(spans), topk_is_gold=tuple(gold)))
    return out


def load_examples(d: DataConfig, *, split: str | None = None, max_topk: int = 20) -> list[TrainExample]:
    """Training examples of `d.dataset` / (`split` or `d.split`) with every source the config asks for."""
    split = split or d.split
    examples = _base_examples(d, split)
    is_train = split == d.split
    if is_train:
        part = {"dataset": d.dataset, "split": d.split}
        contexts = dict(io.read(d.root, schemas.CONTEXTS, part).select("context_id", "context").iter_rows())
        if d.near_miss:
            examples = _attach_near_miss(d, examples)
        if d.flips:
            examples += _flip_examples(d, contexts)
        if d.synthetic:
            examples += _synthetic_examples(d)
        if d.bundles is not None:
            examples = _attach_bundles(d, examples, contexts)
        if d.topk_model is not None:
            examples = _attach_topk(d, examples, max_topk)
    if d.filter_min_context_chars:
        examples = [e for e in examples if len(e.context) > d.filter_min_context_chars]
    if d.max_examples is not None:
        examples = examples[: d.max_examples]
    return examples
