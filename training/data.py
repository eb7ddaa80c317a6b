"""Read the mined artifacts (through `pipeline.io`) into training examples.

`load_examples(cfg.data)` joins `examples` with `contexts` and, as the config asks,
attaches near-miss negatives, adds question flips as extra examples, places the
synthetic-answer examples (`synthetic_placement`), groups examples into instance bundles,
and attaches a model's top-k spans. Every span stays a char offset into the example's own
context; `training.features` turns them into token positions.

Bundles (`_attach_bundles`) do not assume that their members share a context. ROPES's
default layout (`ropes_context: with-question`, pipeline/sources/ropes.py) gives each
question its own context, background + "\\n\\n" + situation + "\\n\\n" + question, and the
miner groups questions by situation; every bundle answer is located in every member's own
context by `locate_bundle_answer`: the same offsets where the two contexts agree up to the
answer's end (one shared context, or the shared background + situation prefix), else the
first whole-word occurrence in the member's own question part, else `NO_SPAN` (masked in
every window of that member, so that answer drops out of its normalisers).

Synthetic examples (`synthetic/`, docs/methods.md §3) are placed as the partition was
mined: its manifest records `config.placement` (pipeline/synthetic.py SyntheticConfig), and
the training reader follows it, so the artifact and its use cannot disagree. `replace` (the
paper): the augmented example, with the original gold and the inserted second gold, takes
its parent's place and the parent is not trained on. `add`: both are trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from training.config import DataConfig

Span = tuple[int, int]
# a bundle answer absent from a member's context: never inside a window (features.map_spans needs end > start)
NO_SPAN: Span = (-1, -1)
PLACEMENTS = ("replace", "add")  # pipeline/synthetic.py SyntheticConfig.placement


@dataclass(frozen=True)
class TrainExample:
    example_id: str  # id from `examples` (or the generated id of a flip / synthetic example)
    context: str  # the context text every span points into
    question: str  # question text
    answers: tuple[Span, ...]  # gold char spans (first = the one start/end targets use); empty = unanswerable
    negatives: tuple[Span, ...] = ()  # near-miss negative char spans
    bundle_id: str | None = None  # instance bundle the example belongs to
    # every distinct answer of the bundle (same order for all members), offsets into THIS example's
    # context; NO_SPAN where absent from it
    bundle_answers: tuple[Span, ...] = ()
    bundle_gold: int = -1  # index of this example's gold among `bundle_answers`
    bundle_question: int = -1  # index of this example among its bundle's questions
    topk: tuple[Span, ...] = ()  # top-k candidate spans in rank order
    topk_is_gold: tuple[bool, ...] = ()  # candidate equals a gold answer
    # provenance (`origin`: examples / flip / synthetic / bundle)
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def _artifacts():
    """polars + `pipeline.io`, imported on first use: `TrainExample` and a packed run (training.portable)
    read no Parquet, so a GPU machine without the mining stack imports this module."""
    import polars as pl

    from pipeline import io, schemas

    return pl, io, schemas


def _spans(structs: list[dict] | None) -> tuple[Span, ...]:
    return tuple((int(a["start"]), int(a["end"])) for a in (structs or []))


def _base_examples(d: DataConfig, split: str) -> list[TrainExample]:
    pl, io, schemas = _artifacts()
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
    pl, io, schemas = _artifacts()
    part = {"dataset": d.dataset, "split": d.split}
    flips = io.read(d.root, schemas.FLIPS, part)
    unknown = flips.filter(~pl.col("context_id").is_in(list(contexts)))
    if unknown.height:  # a flip without its context would be dropped without a word
        raise io.ArtifactError(
            f"flips {io.partition_key(schemas.FLIPS, part)}: {unknown.height} row(s) point to a context_id "
            f"missing from `contexts` (first: example_id={unknown['example_id'][0]!r}, field context_id)"
        )
    return [
        TrainExample(
            r["example_id"], contexts[r["context_id"]], r["question"], _spans([r["answer"]]), extra={"origin": "flip"}
        )
        for r in flips.iter_rows(named=True)
    ]


def _synthetic_examples(d: DataConfig) -> list[TrainExample]:
    _, io, schemas = _artifacts()
    syn = io.read(d.root, schemas.SYNTHETIC, {"dataset": d.dataset, "split": d.split})
    return [
        TrainExample(
            r["example_id"],
            r["context"],
            r["question"],
            _spans(r["answers"]),
            extra={"origin": "synthetic", "parent_id": r["parent_id"]},
        )
        for r in syn.iter_rows(named=True)
    ]


def synthetic_placement(d: DataConfig) -> str:
    """`replace` or `add`: the placement the `synthetic` partition of `d` was mined with.

    Read from the partition's manifest `config.placement`."""
    _, io, schemas = _artifacts()
    part = {"dataset": d.dataset, "split": d.split}
    key = io.partition_key(schemas.SYNTHETIC, part)
    entry = io.partition_entry(d.root, schemas.SYNTHETIC, part)
    if entry is None:
        raise io.ArtifactError(
            f"synthetic {key}: no such partition under {d.root} (data.synthetic is true): "
            "run the synthetic miner (cqa build-bundles) first"
        )
    placement = (entry.get("config") or {}).get("placement")
    if placement not in PLACEMENTS:
        raise io.ArtifactError(
            f"synthetic {key}: the manifest ({d.root}/synthetic/_manifest.json) records "
            f"config.placement = {placement!r}, expected one of {list(PLACEMENTS)}; "
            "re-mine the partition (pipeline/synthetic.py SyntheticConfig.placement)"
        )
    return placement


def _place_synthetic(examples: list[TrainExample], synthetic: list[TrainExample], placement: str) -> list[TrainExample]:
    """`add`: the synthetic examples after the others. `replace`: each one where its parent was, the parent dropped."""
    _, io, _ = _artifacts()
    if placement == "add":
        return examples + synthetic
    by_parent: dict[str, list[TrainExample]] = {}
    for e in synthetic:
        by_parent.setdefault(e.extra["parent_id"], []).append(e)
    missing = sorted(set(by_parent) - {e.example_id for e in examples})
    if missing:
        raise io.ArtifactError(
            f"synthetic: {len(missing)} row(s) name a parent_id that is not among the training examples "
            f"(first: parent_id={missing[0]!r}); placement 'replace' cannot drop it"
        )
    out: list[TrainExample] = []
    for e in examples:
        out.extend(by_parent.get(e.example_id, [e]))
    return out


def _attach_near_miss(d: DataConfig, examples: list[TrainExample]) -> list[TrainExample]:
    pl, io, schemas = _artifacts()
    nm = io.read(d.root, schemas.NEAR_MISS, {"dataset": d.dataset, "split": d.split}).filter(pl.col("n_negatives") > 0)
    negs = {r["example_id"]: _spans(r["negatives"]) for r in nm.iter_rows(named=True)}
    return [replace(e, negatives=negs.get(e.example_id, ())) for e in examples]


def _answer_key(context: str, span: Span) -> str:
    return " ".join(context[span[0] : span[1]].lower().split())


def question_part(context: str, question: str) -> int | None:
    """Char offset of the member's own question when its context ends with it (ROPES `with-question`), else None.

    The question must be the whole context or follow a "\\n\\n" separator, as pipeline/sources/ropes.py joins it."""
    q = question.strip()
    if not q or not context.endswith(q):
        return None
    start = len(context) - len(q)
    return start if start == 0 or context[:start].endswith("\n\n") else None


def locate_bundle_answer(source_context: str, span: Span, context: str, question: str) -> Span:
    """The bundle answer at `span` of `source_context` (its own member's context), in another member's `context`.

    1. The same offsets when the two contexts are equal up to the answer's end: one shared
       context, or (ROPES `with-question`) the background + situation prefix all questions
       of a situation share.
    2. Else the first whole-word occurrence (exact case, then any case; pipeline.sources.locate)
       in the member's own question part (`question_part`): an answer ROPES gives only in
       the question ("more" of "Will Tom get more or less rain?").
    3. Else `NO_SPAN`: the answer is not in this member's context.
    """
    # here, not at the top: pipeline.sources imports polars, which a GPU machine lacks (training.portable)
    from pipeline.sources.locate import ContextPart, locate_answer

    start, end = span
    if end <= len(context) and source_context[:end] == context[:end]:
        return span
    q_start = question_part(context, question)
    if q_start is not None:
        found = locate_answer(source_context[start:end], [ContextPart("question", q_start, context[q_start:])])
        if found is not None:
            return (found.start, found.end)
    return NO_SPAN


def _attach_bundles(d: DataConfig, examples: list[TrainExample], contexts: dict[str, str]) -> list[TrainExample]:
    """Group into bundles; generated members missing from `examples` are added from the bundle rows.

    An example in several bundles of the selected kind joins the first (by bundle_id), so
    every example is seen once per epoch. Answers equal after lower-casing are one answer.
    Members need not share a context: each member's `bundle_answers` are offsets into its
    own context (`locate_bundle_answer`, `NO_SPAN` where an answer is absent from it).
    """
    pl, io, schemas = _artifacts()
    assert d.bundles is not None
    part = {"dataset": d.dataset, "split": d.split}
    b = io.read(d.root, schemas.BUNDLES, part).filter(pl.col("kind") == d.bundles.kind)
    if d.bundles.mode is not None:
        b = b.filter(pl.col("mode") == d.bundles.mode)
    unknown = b.filter(~pl.col("context_id").is_in(list(contexts)))
    if unknown.height:
        raise io.ArtifactError(
            f"bundles {io.partition_key(schemas.BUNDLES, part)}: {unknown.height} row(s) point to a context_id "
            f"missing from `contexts` (first: bundle_id={unknown['bundle_id'][0]!r}, "
            f"example_id={unknown['example_id'][0]!r}, field context_id)"
        )
    by_id = {e.example_id: e for e in examples}
    taken: set[str] = set()
    grouped: dict[str, TrainExample] = {}
    for (bundle_id,), rows in sorted(b.group_by("bundle_id"), key=lambda kv: kv[0][0]):
        members = [r for r in rows.sort("example_id").iter_rows(named=True) if r["example_id"] not in taken]
        if len(members) < 2:
            continue
        # each distinct answer (lower-cased text) once, at the first member that has it: (its context, its span)
        answers: list[tuple[str, Span]] = []
        keys: list[str] = []
        for r in members:
            own = contexts[r["context_id"]]
            span = (int(r["answer"]["start"]), int(r["answer"]["end"]))
            key = _answer_key(own, span)
            if key not in keys:
                keys.append(key)
                answers.append((own, span))
        for q, r in enumerate(members):
            own = contexts[r["context_id"]]
            base = by_id.get(r["example_id"]) or TrainExample(
                r["example_id"], own, r["question"], _spans([r["answer"]]), extra={"origin": "bundle"}
            )
            spans = [locate_bundle_answer(src, span, base.context, base.question) for src, span in answers]
            gold = keys.index(_answer_key(own, (r["answer"]["start"], r["answer"]["end"])))
            if base.context == own:
                spans[gold] = (int(r["answer"]["start"]), int(r["answer"]["end"]))  # its own gold: its own offsets
            if spans[gold] == NO_SPAN or _answer_key(base.context, spans[gold]) != keys[gold]:
                raise io.ArtifactError(
                    f"bundles {io.partition_key(schemas.BUNDLES, part)}: bundle {bundle_id!r}, example_id "
                    f"{r['example_id']!r}: its own answer {r['answer']['text']!r} is not at its offsets "
                    "in the context it trains on (field answer)"
                )
            grouped[r["example_id"]] = replace(
                base, bundle_id=bundle_id, bundle_answers=tuple(spans), bundle_gold=gold, bundle_question=q
            )
            taken.add(r["example_id"])
    out = [grouped.pop(e.example_id, e) for e in examples]
    return out + list(grouped.values())


def _attach_topk(d: DataConfig, examples: list[TrainExample], k: int) -> list[TrainExample]:
    pl, io, schemas = _artifacts()
    assert d.topk_model is not None
    tk = io.read(d.root, schemas.TOPK, {"dataset": d.dataset, "split": d.split, "model": d.topk_model}).sort(
        "example_id", "rank"
    )
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
    """Training examples of `d.dataset` / (`split` or `d.split`) with every source the config asks for.

    A `data.root` that is a pack (`cqa pack`, training.portable) is read from its gzipped JSON, without Parquet."""
    from training.portable import is_pack, load_packed_examples

    if is_pack(d.root):
        return load_packed_examples(d, split=split, max_topk=max_topk)
    _, io, schemas = _artifacts()
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
            examples = _place_synthetic(examples, _synthetic_examples(d), synthetic_placement(d))
        if d.bundles is not None:
            examples = _attach_bundles(d, examples, contexts)
        if d.topk_model is not None:
            examples = _attach_topk(d, examples, max_topk)
    if d.filter_min_context_chars:
        examples = [e for e in examples if len(e.context) > d.filter_min_context_chars]
    if d.max_examples is not None:
        examples = examples[: d.max_examples]
    return examples
