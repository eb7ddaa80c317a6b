"""SQuAD-format JSON (SQuAD 1.1 / 2.0, XQuAD, MLQA, adversarial SQuAD) into canonical rows.

    python -c "from pipeline.sources import SourceSpec, load_source; \
print(load_source(SourceSpec('squad11', '../shared/data/squad/v1.1/dev-v1.1.json')).summary())"

Checks, per record (a failing record becomes a `rejects` row; the rest of the file loads):

| problem | rejects `field` | `reason` | what is dropped |
| --- | --- | --- | --- |
| article / paragraph / question not an object | `data[i]...` | `bad_type` | that record |
| paragraph without `context` / `qas` | `context` / `qas` | `missing_field` | its questions (every one gets a row) |
| context empty or blank | `context` | `empty_context` | its questions (one row each) |
| question without `question` / `answers` | `question` / `answers` | `missing_field` | the question |
| blank question text, or one with no letter or digit | `question` | `empty_question` | the question |
| id a boolean / float / list / object, or empty | `id` | `bad_type` / `empty_id` | the question |
| id used before in the split | `id` | `duplicate_id` | the later question |
| `context[s:s+len(text)] != text` | `answers[i].answer_start` | `offset_mismatch` | that answer |
| answer text empty | `answers[i].text` | `empty_answer` | that answer |
| answerable question with no valid answer left | `answers` | `no_valid_answer` | the question |
| `is_impossible` true but `answers` not empty | `answers` | `answers_on_impossible` | the question |

`plausible_answers` (SQuAD 2.0) are checked like answers; a bad one is dropped alone, and a
`plausible_answers` that is not a list (`"foo"`) gets a `bad_type` row and is dropped (the
question stays). The checks every format shares (lone surrogates, context length, ...) are
in `pipeline.sources.canonical`.
An answerable question missing `is_impossible` is answerable (SQuAD 1.1). A missing `id`
becomes `<context_id>:<n>` (n = position in its paragraph). A missing title is "".
"""

from __future__ import annotations

from typing import Any

from pipeline.io import text_id
from pipeline.sources.canonical import CanonicalFrames, Span, shown, span, text_reason


def load_squad(obj: dict[str, Any], frames: CanonicalFrames) -> None:
    """Add every question of a SQuAD-format object (`{"data": [...]}`) to `frames`."""
    data = obj["data"]
    titles = [_title(article) for article in data]
    frames.use_titles([t for t, article in zip(titles, data) if isinstance(article, dict)])
    for i, article in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(article, dict):  # no title, so no split of its own: filed under spec.split
            frames.reject_part(
                frames.spec.split,
                where,
                where,
                "bad_type",
                f"{where}: expected an article object, got {_kind(article)}",
            )
            continue
        split = frames.split_for(titles[i])
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list):
            if split is not None:
                reason = "missing_field" if paragraphs is None else "bad_type"
                frames.reject_part(
                    split,
                    where,
                    "paragraphs",
                    reason,
                    f"{where} ({titles[i]!r}): 'paragraphs' must be a list, got {_kind(paragraphs)}",
                )
            continue
        for j, paragraph in enumerate(paragraphs):
            add_paragraph(frames, split, paragraph, titles[i], f"{where}.paragraphs[{j}]")


def add_paragraph(frames: CanonicalFrames, split: str | None, paragraph: Any, title: str, where: str) -> None:
    """One paragraph: check the context once, then every question. `split` None: filtered out."""
    qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
    if split is None:
        n = len(qas) if isinstance(qas, list) else 0
        frames.n_records += n
        frames.n_filtered += n
        return
    if not isinstance(paragraph, dict):
        frames.reject_part(
            split, where, where, "bad_type", f"{where}: expected a paragraph object, got {_kind(paragraph)}"
        )
        return
    if not isinstance(qas, list):
        frames.reject_part(
            split,
            where,
            "qas",
            "missing_field" if qas is None else "bad_type",
            f"{where}: 'qas' must be a list, got {_kind(qas)}",
        )
        return
    context = paragraph.get("context")
    problem = _context_problem(context)
    for k, qa in enumerate(qas):
        frames.n_records += 1
        qa_where = f"{where}.qas[{k}]"
        if problem is not None:
            reason, detail = problem
            record_id = str(qa.get("id", qa_where)) if isinstance(qa, dict) else qa_where
            frames.reject(split, record_id, "context", reason, f"{qa_where}: {detail}")
            continue
        add_question(frames, split, qa, context, title, qa_where, k)


def add_question(
    frames: CanonicalFrames, split: str, qa: Any, context: str, title: str, where: str, index: int
) -> None:
    """Check one SQuAD question record and add it, or reject it with the first problem found."""
    if not isinstance(qa, dict):
        frames.reject(split, where, where, "bad_type", f"{where}: expected a question object, got {_kind(qa)}")
        return
    qid = frames.claim_id(split, qa.get("id"), f"{text_id(context)}:{index}", where)
    if qid is None:
        return
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        what = "no 'question'" if question is None else f"question text {shown(question)}"
        frames.reject(split, qid, "question", text_reason(question, "empty_question"), f"{where}: {what}")
        return
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        frames.reject(
            split,
            qid,
            "is_impossible",
            "bad_type",
            f"{where}: is_impossible must be true/false, got {shown(impossible)}",
        )
        return
    raw_answers = qa.get("answers", [] if impossible else None)
    if not isinstance(raw_answers, list):
        if raw_answers is None:
            frames.reject(split, qid, "answers", "missing_field", f"{where}: answerable question has no 'answers'")
        else:
            frames.reject(
                split, qid, "answers", "bad_type", f"{where}: 'answers' must be a list, got {_kind(raw_answers)}"
            )
        return
    if impossible and raw_answers:
        frames.reject(
            split,
            qid,
            "answers",
            "answers_on_impossible",
            f"{where}: is_impossible is true but {len(raw_answers)} answer(s) are given",
        )
        return
    answers = checked_spans(frames, split, qid, "answers", raw_answers, context, where)
    if not impossible and not answers:
        given = (
            f"none of its {len(raw_answers)} answer(s) is valid"
            if raw_answers
            else "'answers' is empty and is_impossible is not true"
        )
        frames.reject(split, qid, "answers", "no_valid_answer", f"{where}: {given}")
        return
    raw_plausible = qa.get("plausible_answers")
    if raw_plausible is not None and not isinstance(raw_plausible, list):
        frames.reject_part(
            split,
            qid,
            "plausible_answers",
            "bad_type",
            f"{where}: 'plausible_answers' must be a list, got {_kind(raw_plausible)} {shown(raw_plausible)}; dropped",
        )
    raw_plausible = raw_plausible if isinstance(raw_plausible, list) else []
    plausible = checked_spans(frames, split, qid, "plausible_answers", raw_plausible, context, where)
    frames.add_example(
        split=split,
        example_id=qid,
        context=context,
        title=title,
        question=question,
        answers=answers,
        is_impossible=impossible,
        plausible_answers=plausible,
        source_record=where,
    )


def checked_spans(
    frames: CanonicalFrames, split: str, qid: str, name: str, raw: list, context: str, where: str
) -> list[Span]:
    """The answers of `raw` whose offsets point at their text; each other one gets a rejects row."""
    out: list[Span] = []
    for i, answer in enumerate(raw):
        if type(answer) is dict:  # fast path: a well-formed answer whose offset points at its text
            text, start = answer.get("text"), answer.get("answer_start")
            if (
                type(text) is str
                and type(start) is int
                and start >= 0
                and text.strip()
                and context.startswith(text, start)
            ):
                out.append(span(text, start))
                continue
        field = f"{name}[{i}]"
        if not isinstance(answer, dict):
            frames.reject_part(
                split, qid, field, "bad_type", f"{where}: {field} must be an object, got {_kind(answer)}"
            )
            continue
        text, start = answer.get("text"), answer.get("answer_start")
        for key, value, kind in (("text", text, str), ("answer_start", start, int)):
            if not isinstance(value, kind) or isinstance(value, bool):
                reason = "missing_field" if value is None else "bad_type"
                frames.reject_part(split, qid, f"{field}.{key}", reason, f"{where}: {field}.{key} = {shown(value)}")
                break
        else:
            if not text.strip():
                frames.reject_part(split, qid, f"{field}.text", "empty_answer", f"{where}: {field} has empty text")
            elif start < 0 or context[start : start + len(text)] != text:
                found = context[max(start, 0) : max(start, 0) + len(text)]
                frames.reject_part(
                    split,
                    qid,
                    f"{field}.answer_start",
                    "offset_mismatch",
                    f"{where}: {field} {shown(text)} at {start}, the context there reads {shown(found)}",
                )
            else:
                out.append(span(text, start))
    return out


def _title(article: Any) -> str:
    title = article.get("title") if isinstance(article, dict) else None
    return "" if title is None else str(title)


def _kind(value: Any) -> str:
    return type(value).__name__


def _context_problem(context: Any) -> tuple[str, str] | None:
    if context is None:
        return "missing_field", "paragraph has no 'context'"
    if not isinstance(context, str):
        return "bad_type", f"context must be a string, got {_kind(context)}"
    if not context.strip():
        return "empty_context", "context is empty"
    return None
