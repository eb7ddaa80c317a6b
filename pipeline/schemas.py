"""Every Parquet artifact of the project, declared once.

Each `ArtifactSpec` names the artifact, its Arrow schema (with one line of documentation
per column), its hive partition columns and its schema version. `pipeline.io` is the only
code that reads or writes artifacts, and it always goes through these declarations: a
writer validates against the schema, a reader checks the version recorded in the
artifact's `_manifest.json` and fails with a clear message when it differs.

The README's artifact reference is generated from these declarations
(`python -m pipeline.schemas` prints it), so the docs cannot drift from the code.

Spans are character offsets into the row's context: start inclusive, end exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# Reusable nested types --------------------------------------------------------------

SPAN = pa.struct([("text", pa.string()), ("start", pa.int32()), ("end", pa.int32())])
LABELLED_SPAN = pa.struct([("text", pa.string()), ("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
SENTENCE = pa.struct([("start", pa.int32()), ("end", pa.int32())])
ENTITY = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()), ("sent", pa.int32())])


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = False


@dataclass(frozen=True)
class ArtifactSpec:
    """Declaration of one artifact: `<root>/<name>/<p1>=<v1>/<p2>=<v2>/part-*.parquet`."""

    name: str
    version: int
    doc: str
    partition_by: tuple[str, ...]
    columns: tuple[Column, ...]
    partition_docs: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> pa.Schema:
        """Schema of the Parquet files (partition columns live in the path, not the file)."""
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> Column:
    return Column(name, type_, doc, nullable)


_DS_SPLIT = ("dataset", "split")
_DS_SPLIT_DOCS = {
    "dataset": "source name given on the command line or in the flow parameters (e.g. `squad11`)",
    "split": "split name (`train`, `dev`, `eval`, ...; the PROTOCOL article split gives `train`/`eval`)",
}

EXAMPLES = ArtifactSpec(
    name="examples",
    version=1,
    doc="One row per question of a source, in canonical form.",
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("example_id", pa.string(), "source question id where one exists, else `<context_id>:<n>`"),
        _c(
            "context_id",
            pa.string(),
            "content hash of the context text (see `contexts`; ROPES: one context per question by default)",
        ),
        _c("title", pa.string(), "article / page title (empty string when the source has none)"),
        _c("question", pa.string(), "question text as in the source"),
        _c("answers", pa.list_(SPAN), "gold answers: text + char offsets into the context; empty when unanswerable"),
        _c("is_impossible", pa.bool_(), "true for SQuAD 2.0 unanswerable questions"),
        _c(
            "plausible_answers",
            pa.list_(SPAN),
            "SQuAD 2.0 plausible (wrong) answers of unanswerable questions; else empty",
        ),
        _c("lang", pa.string(), "ISO 639-1 language code of question and context"),
        _c(
            "question_type",
            pa.string(),
            "source question type where given (HotpotQA `comparison`/`bridge`), else null",
            True,
        ),
        _c("source_file", pa.string(), "file (or hub id) the record came from"),
        _c("source_record", pa.string(), "where in the source: e.g. `data[3].paragraphs[2].qas[5]`"),
    ),
)

CONTEXTS = ArtifactSpec(
    name="contexts",
    version=1,
    doc="One row per unique context text of a dataset split.",
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("context_id", pa.string(), "content hash: first 16 hex digits of sha1(context text, utf-8)"),
        _c("context", pa.string(), "the context text every span points into"),
        _c("title", pa.string(), "article / page title"),
        _c("lang", pa.string(), "ISO 639-1 language code"),
        _c("n_chars", pa.int32(), "length of the context in characters"),
    ),
)

REJECTS = ArtifactSpec(
    name="rejects",
    version=1,
    doc="Every record a stage dropped, with the reason. Nothing is dropped silently.",
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("stage", pa.string(), "stage that rejected it: `load`, `near_miss`, `bundles`, `flips`, `synthetic`, ..."),
        _c("source_file", pa.string(), "input file (or hub id / artifact) the record came from"),
        _c("record_id", pa.string(), "question id where known, else the record's position in the file"),
        _c("field", pa.string(), "the field that was wrong (e.g. `answers[0].answer_start`)"),
        _c("reason", pa.string(), "short machine-readable reason (e.g. `offset_mismatch`)"),
        _c("detail", pa.string(), "human-readable detail, truncated to 300 characters"),
    ),
)

INDEX = ArtifactSpec(
    name="index",
    version=1,
    doc=(
        "spaCy sentences and entities for every unique context, keyed by the spaCy model and "
        "config. Written incrementally: one part file per chunk of new contexts (`index.chunk_size`)."
    ),
    partition_by=("nlp",),
    partition_docs={
        "nlp": "`<model name>-<model version>-<8 hex of the index config>`: one partition per spaCy set-up"
    },
    columns=(
        _c("context_id", pa.string(), "context hash (join with `contexts`)"),
        _c("n_chars", pa.int32(), "length of the context text that was parsed"),
        _c("sentences", pa.list_(SENTENCE), "sentence spans in document order"),
        _c(
            "entities",
            pa.list_(ENTITY),
            "named entities: span, spaCy label, index of the sentence holding the entity start",
        ),
    ),
)

NEAR_MISS = ArtifactSpec(
    name="near_miss",
    version=1,
    doc=(
        "Near-miss negatives (docs/methods.md §1): one row per example; up to 4 entities of the gold "
        "answer's coarse type from the gold's sentence, with different text."
    ),
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("example_id", pa.string(), "example (join with `examples`)"),
        _c("context_id", pa.string(), "context hash"),
        _c("status", pa.string(), "`ok` (≥1 negative), `no_negative`, `no_gold_entity`, `no_sentence`, `unanswerable`"),
        _c("gold", SPAN, "the gold answer used (the first answer of the example)", True),
        _c("gold_label", pa.string(), "spaCy label of the entity overlapping the gold span", True),
        _c("gold_coarse", pa.string(), "coarse type of that label (table in pipeline/coarse_types.py)", True),
        _c("sentence", SENTENCE, "span of the sentence that holds the gold answer", True),
        _c("negatives", pa.list_(LABELLED_SPAN), "same-sentence, same-coarse-type entities with different text (≤ 4)"),
        _c("n_negatives", pa.int8(), "number of negatives"),
    ),
)

BUNDLES = ArtifactSpec(
    name="bundles",
    version=1,
    doc=(
        "Instance bundles (docs/methods.md §2), long form: one row per bundle member. A bundle is an "
        "unordered set (each member is the anchor in turn), so a flip pair is one bundle, not two."
    ),
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("bundle_id", pa.string(), "stable id of the bundle"),
        _c("kind", pa.string(), "`ropes-mined`, `flip` or `topk`"),
        _c("mode", pa.string(), "mining mode (`paper`, `reference-code`) or rule family"),
        _c("example_id", pa.string(), "member example (original or generated)"),
        _c(
            "context_id",
            pa.string(),
            "hash of this member's own context: one for all members of a `flip` bundle "
            "(the flip keeps its parent's context) and of a ROPES bundle loaded with `ropes_context: shared`; "
            "with ROPES's default per-question contexts each member has its own",
        ),
        _c("question", pa.string(), "member question text"),
        _c("answer", SPAN, "member's gold answer: text + char offsets into its own context (`context_id`)"),
        _c("role", pa.string(), "`original` or `generated`"),
        _c("rule", pa.string(), "rule that generated the member (null for originals)", True),
        _c("parent_id", pa.string(), "example the generated member came from (null for originals)", True),
    ),
)


def bundle_row(bundle_id: str, kind: str, mode: str, member: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The BUNDLES row of one member: `member` an EXAMPLES row (an `original`) or a generated row with its
    `rule` and `parent_id` (a FLIPS row: `generated`), `answer` its gold span."""
    return {
        "bundle_id": bundle_id,
        "kind": kind,
        "mode": mode,
        "example_id": member["example_id"],
        "context_id": member["context_id"],
        "question": member["question"],
        "answer": {"text": answer["text"], "start": answer["start"], "end": answer["end"]},
        "role": "original" if member.get("parent_id") is None else "generated",
        "rule": member.get("rule"),
        "parent_id": member.get("parent_id"),
    }


FLIPS = ArtifactSpec(
    name="flips",
    version=1,
    doc="Heuristic question flips (docs/methods.md §2): one generated example per row.",
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("example_id", pa.string(), "`<parent_id>~flip:<rule>`: stable across re-mining"),
        _c("parent_id", pa.string(), "original example"),
        _c(
            "context_id",
            pa.string(),
            "context hash (same as the parent; a ROPES `with-question` context ends with the parent's question, "
            "not the flip's)",
        ),
        _c("rule", pa.string(), "`antonym`, `negation` or `np_swap`"),
        _c("question", pa.string(), "flipped question"),
        _c("parent_question", pa.string(), "original question"),
        _c("options", pa.list_(pa.string()), "the two answer options found in the question"),
        _c("answer", SPAN, "gold answer of the flipped question (the other option) with context offsets"),
        _c("parent_answer", SPAN, "gold answer of the original question"),
    ),
)

SYNTHETIC = ArtifactSpec(
    name="synthetic",
    version=1,
    doc="Synthetic answer spans (docs/methods.md §3): augmented contexts with one inserted sentence.",
    partition_by=_DS_SPLIT,
    partition_docs=_DS_SPLIT_DOCS,
    columns=(
        _c("example_id", pa.string(), "`<parent_id>~syn:<rule>`"),
        _c("parent_id", pa.string(), "original example"),
        _c("context_id", pa.string(), "hash of the augmented context"),
        _c("parent_context_id", pa.string(), "hash of the original context"),
        _c("context", pa.string(), "augmented context text"),
        _c("question", pa.string(), "question (unchanged)"),
        _c("answers", pa.list_(SPAN), "original answers (offsets shifted) followed by the inserted answer"),
        _c("insert_offset", pa.int32(), "char offset in the original context where the sentence was inserted"),
        _c("inserted_text", pa.string(), "the inserted text, including its separating space"),
        _c("inserted_answer", SPAN, "the inserted (second gold) answer, offsets into the augmented context"),
        _c("rule", pa.string(), "generator rule that wrote the sentence"),
    ),
)

TOPK = ArtifactSpec(
    name="topk",
    version=1,
    doc="A trained model's k best spans per question (sample-topk flow).",
    partition_by=("dataset", "split", "model"),
    partition_docs={**_DS_SPLIT_DOCS, "model": "model id (run id or folder name) that produced the spans"},
    columns=(
        _c("example_id", pa.string(), "example"),
        _c("context_id", pa.string(), "context hash"),
        _c("rank", pa.int16(), "0-based rank by score"),
        _c("span", SPAN, "predicted span: text + char offsets"),
        _c("score", pa.float32(), "span score (start logit + end logit)"),
        _c("is_gold", pa.bool_(), "span text equals a gold answer (normalised)"),
        _c("overlaps_gold", pa.bool_(), "span is a sub- or super-string of a gold answer (but not equal)"),
    ),
)

PREDICTIONS = ArtifactSpec(
    name="predictions",
    version=1,
    doc="One prediction per (run, evaluation set, example).",
    partition_by=("eval_set", "run"),
    partition_docs={"eval_set": "evaluation set name", "run": "run id of the checkpoint"},
    columns=(
        _c("example_id", pa.string(), "example"),
        _c("prediction", pa.string(), "predicted answer text (empty string = no answer)"),
        _c("start", pa.int32(), "char offset of the prediction (null for no answer)", True),
        _c("end", pa.int32(), "char end offset (null for no answer)", True),
        _c("score", pa.float32(), "best span score"),
        _c("null_score", pa.float32(), "no-answer score (min CLS score over windows)", True),
        _c("em", pa.float32(), "exact match against the golds (official normalisation)"),
        _c("f1", pa.float32(), "token F1 against the golds"),
    ),
)

METRICS = ArtifactSpec(
    name="metrics",
    version=1,
    doc="Metric values per run and evaluation set, long form.",
    partition_by=("eval_set",),
    partition_docs={"eval_set": "evaluation set name"},
    columns=(
        _c("run", pa.string(), "run id"),
        _c("metric", pa.string(), "`em`, `f1`, `has_ans_f1`, `consistency`, `top3_em`, ..."),
        _c("slice", pa.string(), "`all` or a slice name (`near_miss`, `lang=de`, ...)"),
        _c("value", pa.float64(), "metric value in percent"),
        _c("ci_low", pa.float64(), "95% bootstrap interval, lower end", True),
        _c("ci_high", pa.float64(), "95% bootstrap interval, upper end", True),
        _c("n", pa.int32(), "number of questions (or bundles) the value is over"),
    ),
)

ARTIFACTS: dict[str, ArtifactSpec] = {
    spec.name: spec
    for spec in (EXAMPLES, CONTEXTS, REJECTS, INDEX, NEAR_MISS, BUNDLES, FLIPS, SYNTHETIC, TOPK, PREDICTIONS, METRICS)
}


def _type_str(t: pa.DataType) -> str:
    return str(t).replace("<item: ", "<").replace("not null", "").replace("  ", " ")


def reference_markdown() -> str:
    """The README's artifact reference, generated from the declarations above."""
    out: list[str] = []
    for spec in ARTIFACTS.values():
        parts = "/".join(f"{p}=…" for p in spec.partition_by)
        out.append(f"### `{spec.name}` (v{spec.version}) — `{spec.name}/{parts}/part-*.parquet`\n")
        out.append(spec.doc + "\n")
        out.append("| column | type | meaning |\n| --- | --- | --- |")
        for p in spec.partition_by:
            out.append(f"| `{p}` | string (partition) | {spec.partition_docs.get(p, '')} |")
        for c in spec.columns:
            null = ", nullable" if c.nullable else ""
            out.append(f"| `{c.name}` | `{_type_str(c.type)}`{null} | {c.doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown())
