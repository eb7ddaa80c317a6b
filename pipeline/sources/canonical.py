"""The canonical `examples` / `contexts` / `rejects` frames every source format is turned into.

Format readers (`squad.py`, `hub.py`, `ropes.py`, `hotpot.py`) walk their input and call
`CanonicalFrames.add_example` / `reject`; the rows are kept column-wise in Python lists and
become three Polars frames once, at the end (no per-row DataFrame work). Each frame has the
declared columns of `pipeline.schemas` plus a `split` column.

Rules applied here, the same for every format:
- `context_id = pipeline.io.text_id(context)`; a context is stored once per split, with the
  title of the first example that used it. Contexts no kept example uses are not stored.
- `example_id` must be unique within a split: readers `claim_id` first; a later record with
  the same id is rejected (`duplicate_id`), the first one is kept.
- The split of a record comes from its article title: `spec.split` normally, or the
  PROTOCOL.md article rule (`article_split="protocol"`); titles outside `restrict_titles`
  are counted in `n_filtered` (a choice of the run, not a defect of the record). A reject
  with no title to go by (an article that is not even an object) is filed under `spec.split`.
- Checked in `add_example` for every format (each failure is a rejects row, `field` in
  parentheses): a lone surrogate code point (`"\\udfff"` in the JSON; not text, cannot be
  stored) in the id, question, title, question type or context (`invalid_unicode`); a question with no
  letter or digit, e.g. only punctuation or a zero-width space (`question`, `empty_question`);
  a context longer than `MAX_CONTEXT_CHARS` (`context`, `context_too_long`).
- Ids (`example_id_of`): a string or an integer (written as its digits, `42` -> "42"); a
  boolean, float, list or object id is `bad_type`, an empty or blank one `empty_id`.
- Rejects rows are always storable: a lone surrogate in a record id or detail is written
  as its escape (`\\udfff`).
"""

from __future__ import annotations

import reprlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from pipeline.io import text_id
from pipeline.rejects import reject as reject_row
from pipeline.schemas import CONTEXTS, EXAMPLES, REJECTS, ArtifactSpec
from pipeline.sources.protocol import protocol_split
from pipeline.sources.spec import SourceSpec

STAGE = "load"
Span = dict[str, object]  # {"text": str, "start": int, "end": int}

# A QA context is a paragraph or a few (SQuAD <= 4k characters, ROPES and HotpotQA a few k);
# one of 100k characters is a concatenated file, not a context: no reader window covers it,
# and spaCy would need about 1 GB per 100k characters to index it (its E088 limit is 1M).
MAX_CONTEXT_CHARS = 100_000

_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlevel = 120, 60, 3


def shown(value: Any) -> str:
    """A short repr of any JSON value for a rejects detail (bounded depth and length, never recursion)."""
    return _SHOW.repr(value)


def printable(text: str) -> str:
    """`text`, with any lone surrogate written as its escape (`\\udfff`), so it can be stored as UTF-8."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def surrogate_at(text: str) -> int:
    """Index of the first lone surrogate code point in `text`, or -1 (valid text has none)."""
    if text.isascii():
        return -1
    try:
        text.encode("utf-8")
        return -1
    except UnicodeEncodeError as e:
        return e.start


def text_reason(value: Any, empty: str) -> str:
    """The rejects reason of a text field that is not a non-blank string: missing, not a string, or `empty`."""
    return "missing_field" if value is None else ("bad_type" if not isinstance(value, str) else empty)


def example_id_of(raw: Any, fallback: str) -> tuple[str | None, tuple[str, str] | None]:
    """`(id, None)`, or `(None, (reason, detail))` when the id cannot be used. `raw` None -> `fallback`."""
    if raw is None:
        return fallback, None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None, ("bad_type", f"id must be a string (or an integer), got {type(raw).__name__} {shown(raw)}")
    qid = str(raw)
    if not qid.strip():
        return None, ("empty_id", f"id {raw!r} is empty")
    return qid, None


def frame_schema(spec: ArtifactSpec) -> pa.Schema:
    """The artifact's Arrow schema plus a `split` string column (the loader's frames carry their split)."""
    return spec.schema.append(pa.field("split", pa.string(), nullable=False))


def _frame(columns: dict[str, list], spec: ArtifactSpec) -> pl.DataFrame:
    """Column lists -> frame, through Arrow (nested span lists convert in C, not row by row)."""
    return pl.from_arrow(pa.Table.from_pydict(columns, schema=frame_schema(spec)))


@dataclass
class LoadResult:
    examples: pl.DataFrame  # EXAMPLES columns + "split"
    contexts: pl.DataFrame  # CONTEXTS columns + "split" (unique per split by context_id)
    rejects: pl.DataFrame  # REJECTS columns + "split"
    dataset: str = ""  # the spec's dataset name
    n_records: int = 0  # questions found in the input: examples.height + n_rejected_questions + n_filtered
    n_rejected_questions: int = 0  # rejects rows that dropped a whole question (not one answer, not an empty paragraph)
    n_filtered: int = 0  # questions left out because their title is not in restrict_titles

    def summary(self) -> str:
        """`squad11: 10570 examples, 2067 contexts, 0 rejected` plus reasons, splits and filtered counts."""
        line = (
            f"{self.dataset}: {self.examples.height} examples, {self.contexts.height} contexts, "
            f"{self.rejects.height} rejected"
        )
        if self.rejects.height:
            counts = Counter(self.rejects["reason"].to_list()).most_common()
            line += " (" + ", ".join(f"{reason}: {n}" for reason, n in counts) + ")"
        splits = Counter(self.examples["split"].to_list())
        if len(splits) > 1:
            line += "; splits " + ", ".join(f"{s}={n}" for s, n in sorted(splits.items()))
        if self.n_filtered:
            line += f"; {self.n_filtered} questions outside restrict_titles left out"
        return line


class CanonicalFrames:
    """Collects canonical rows for one source, column-wise."""

    def __init__(self, spec: SourceSpec, source_file: str) -> None:
        self.spec = spec
        self.source_file = source_file
        self.lang = spec.resolved_lang()
        self.n_records = 0
        self.n_filtered = 0
        self.n_rejected_questions = 0
        self._restrict = frozenset(spec.restrict_titles) if spec.restrict_titles is not None else None
        self._protocol: dict[str, str] | None = None
        self._ex: dict[str, list] = {name: [] for name in frame_schema(EXAMPLES).names}
        self._ctx: dict[str, list] = {name: [] for name in frame_schema(CONTEXTS).names}
        self._rej: dict[str, list] = {name: [] for name in frame_schema(REJECTS).names}
        self._seen_ids: set[tuple[str, str]] = set()
        self._seen_contexts: set[tuple[str, str]] = set()
        self._last_context: str | None = None
        self._last_context_id = ""
        self._last_context_problem: tuple[str, str, str] | None = None

    # Splits ---------------------------------------------------------------------------

    def use_titles(self, titles: list[str]) -> None:
        """Give every article title of the input (needed before `split_for` with the protocol split)."""
        if self.spec.article_split == "protocol":
            self._protocol = protocol_split(titles)

    def split_for(self, title: str) -> str | None:
        """Split of a record with this title, or None when `restrict_titles` leaves it out."""
        if self._restrict is not None and title not in self._restrict:
            return None
        if self.spec.article_split == "protocol":
            if self._protocol is None:
                raise RuntimeError(
                    "CanonicalFrames.use_titles must be called before split_for with article_split='protocol'"
                )
            return self._protocol[title]
        return self.spec.split

    # Rows -----------------------------------------------------------------------------

    def reject(self, split: str, record_id: str, field: str, reason: str, detail: str = "") -> None:
        """One rejects row for a dropped question (counted in `n_rejected_questions`)."""
        self.n_rejected_questions += 1
        self.reject_part(split, record_id, field, reason, detail)

    def reject_part(self, split: str, record_id: str, field: str, reason: str, detail: str = "") -> None:
        """One rejects row for a dropped part (an answer, a bad optional field) or an article/paragraph
        without questions: no question is counted as rejected."""
        row = reject_row(
            STAGE, printable(self.source_file), printable(record_id), printable(field), reason, printable(detail)
        )
        row["split"] = split
        for name, value in row.items():
            self._rej[name].append(value)

    def claim_id(self, split: str, raw_id: Any, fallback: str, source_record: str, field: str = "id") -> str | None:
        """The record's example id (`example_id_of`), reserved in a split; None, after its rejects row,
        for an unusable id (under `field`) or one claimed before (`duplicate_id`).

        Readers claim the id before checking the rest of the record, so a duplicate is
        reported once, as a duplicate, whatever else is wrong with it.
        """
        example_id, bad_id = example_id_of(raw_id, fallback)
        if example_id is None:
            self.reject(split, source_record, field, bad_id[0], f"{source_record}: {bad_id[1]}")
            return None
        if (split, example_id) in self._seen_ids:
            self.reject(
                split,
                example_id,
                "id",
                "duplicate_id",
                f"{source_record}: id {example_id!r} already used by an earlier question in split '{split}'",
            )
            return None
        self._seen_ids.add((split, example_id))
        return example_id

    def add_example(
        self,
        *,
        split: str,
        example_id: str,
        context: str,
        title: str,
        question: str,
        answers: list[Span],
        is_impossible: bool = False,
        plausible_answers: list[Span] | None = None,
        question_type: str | None = None,
        source_record: str,
    ) -> bool:
        """Add one example whose id was claimed (and its context, the first time in this split).

        Returns False when a check of the module docstring rejects it instead (one rejects row).
        """
        if context is not self._last_context:  # consecutive questions usually share the context object
            self._last_context, self._last_context_id = context, text_id(context)
            self._last_context_problem = _context_text_problem(context)
        problem = self._last_context_problem or _text_problems(example_id, question, title, question_type)
        if problem is not None:
            self.reject(split, example_id, problem[0], problem[1], f"{source_record}: {problem[2]}")
            return False
        context_id = self._last_context_id
        if (split, context_id) not in self._seen_contexts:
            self._seen_contexts.add((split, context_id))
            for name, value in (
                ("context_id", context_id),
                ("context", context),
                ("title", title),
                ("lang", self.lang),
                ("n_chars", len(context)),
                ("split", split),
            ):
                self._ctx[name].append(value)
        row = {
            "example_id": example_id,
            "context_id": context_id,
            "title": title,
            "question": question,
            "answers": answers,
            "is_impossible": is_impossible,
            "plausible_answers": plausible_answers or [],
            "lang": self.lang,
            "question_type": question_type,
            "source_file": self.source_file,
            "source_record": source_record,
            "split": split,
        }
        for name, value in row.items():
            self._ex[name].append(value)
        return True

    def result(self) -> LoadResult:
        return LoadResult(
            examples=_frame(self._ex, EXAMPLES),
            contexts=_frame(self._ctx, CONTEXTS),
            rejects=_frame(self._rej, REJECTS),
            dataset=self.spec.dataset,
            n_records=self.n_records,
            n_filtered=self.n_filtered,
            n_rejected_questions=self.n_rejected_questions,
        )


def span(text: str, start: int) -> Span:
    """A SPAN value: text plus char offsets (end exclusive)."""
    return {"text": text, "start": start, "end": start + len(text)}


def _context_text_problem(context: str) -> tuple[str, str, str] | None:
    if (at := surrogate_at(context)) != -1:
        return (
            "context",
            "invalid_unicode",
            f"context holds a lone surrogate U+{ord(context[at]):04X} at char {at} (not text)",
        )
    if len(context) > MAX_CONTEXT_CHARS:
        return (
            "context",
            "context_too_long",
            f"context has {len(context):,} characters; the limit is {MAX_CONTEXT_CHARS:,}",
        )
    return None


def _text_problems(
    example_id: str, question: str, title: str, question_type: str | None
) -> tuple[str, str, str] | None:
    """(field, reason, detail) of the first unusable text field of an example, or None."""
    for field, value in (("id", example_id), ("question", question), ("title", title), ("type", question_type or "")):
        if (at := surrogate_at(value)) != -1:
            return (
                field,
                "invalid_unicode",
                f"{field} holds a lone surrogate U+{ord(value[at]):04X} at char {at} (not text)",
            )
    if not any(c.isalnum() for c in question):
        return "question", "empty_question", f"question {question!r} has no letter or digit"
    return None
