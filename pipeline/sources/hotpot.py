"""HotpotQA distractor-format JSON into canonical rows.

    python -c "from pipeline.sources import SourceSpec, load_source; \
print(load_source(SourceSpec('hotpot', 'data/samples/hotpot_sample.json')).summary())"

Input: a list of `{_id, question, answer, type, level, supporting_facts: [[title, sent_idx]],
context: [[title, [sentences]]]}`.

Context: the supporting paragraphs only (the titles named in `supporting_facts`), in the
order they appear in `context` (file order), each written as `"<title>: " + "".join(sentences).strip()`
(HotpotQA sentences after the first carry their own leading space), joined with "\\n\\n". The title prefix
keeps the entity name of a paragraph in the text, which comparison answers often are.
Comparison questions keep both their paragraphs; the eight distractors are dropped.

The answer is located with `pipeline.sources.locate` (whole word, exact case first, first
occurrence over the paragraphs in order). Rejects:

| case | `field` | `reason` |
| --- | --- | --- |
| answer "yes" / "no" (not extractive) | `answer` | `yes_no_answer` |
| answer not found as a whole word | `answer` | `answer_not_in_context` |
| a supporting title with no paragraph in `context` | `supporting_facts` | `supporting_paragraph_missing` |
| a missing / mistyped field | the field | `missing_field` / `bad_type` |

`example_id` = `_id`, `question_type` = `type` (`comparison` / `bridge`), title = the
supporting titles joined with " | ".
"""

from __future__ import annotations

from typing import Any

from pipeline.sources.canonical import CanonicalFrames, shown, text_reason
from pipeline.sources.locate import inside_word_only, join_parts, locate_answer

YES_NO = {"yes", "no"}
TITLE_SEP = " | "


def load_hotpot(records: list[Any], frames: CanonicalFrames) -> None:
    """Add every HotpotQA record to `frames`."""
    split = frames.spec.split
    for i, record in enumerate(records):
        frames.n_records += 1
        where = f"[{i}]"
        problem = _record_problem(record)
        if problem is not None:
            record_id = str(record.get("_id", where)) if isinstance(record, dict) else where
            frames.reject(split, record_id, problem[0], problem[1], f"{where}: {problem[2]}")
            continue
        qid = frames.claim_id(split, record["_id"], where, where, field="_id")
        if qid is not None:
            add_hotpot_question(frames, split, record, qid, where)


def add_hotpot_question(frames: CanonicalFrames, split: str, record: dict, qid: str, where: str) -> None:
    answer = record["answer"].strip()
    if answer.lower() in YES_NO:
        frames.reject(split, qid, "answer", "yes_no_answer", f"{where}: answer {answer!r} is not a span of the context")
        return
    supporting = list(dict.fromkeys(str(fact[0]) for fact in record["supporting_facts"]))
    paragraphs = {str(title): sentences for title, sentences in record["context"]}
    missing = [t for t in supporting if t not in paragraphs]
    if missing:
        frames.reject(
            split,
            qid,
            "supporting_facts",
            "supporting_paragraph_missing",
            f"{where}: no paragraph in 'context' for {missing}",
        )
        return
    titles = [str(title) for title, _ in record["context"] if str(title) in supporting]
    titles = list(dict.fromkeys(titles))
    context, parts = join_parts([(t, f"{t}: " + "".join(paragraphs[t]).strip()) for t in titles])
    found = locate_answer(answer, parts)
    if found is None:
        how = "only inside longer words" if inside_word_only(answer, parts) else "nowhere"
        frames.reject(
            split,
            qid,
            "answer",
            "answer_not_in_context",
            f"{where}: answer {answer!r} occurs {how} in the supporting paragraphs {titles}",
        )
        return
    frames.add_example(
        split=split,
        example_id=qid,
        context=context,
        title=TITLE_SEP.join(titles),
        question=record["question"],
        answers=[{"text": context[found.start : found.end], "start": found.start, "end": found.end}],
        question_type=str(record["type"]) if record.get("type") is not None else None,
        source_record=where,
    )


def _record_problem(record: Any) -> tuple[str, str, str] | None:
    """(field, reason, detail) of the first structural problem of a record, or None."""
    if not isinstance(record, dict):
        return "record", "bad_type", f"expected an object, got {type(record).__name__}"
    for key in ("_id", "question", "answer", "supporting_facts", "context"):
        if record.get(key) is None:
            return key, "missing_field", f"record has no '{key}'"
    for key in ("question", "answer"):
        if not isinstance(record[key], str) or not record[key].strip():
            return key, text_reason(record[key], f"empty_{key}"), f"{key} {shown(record[key])}"
    facts, context = record["supporting_facts"], record["context"]
    if not isinstance(facts, list) or not facts or not all(isinstance(f, list) and f for f in facts):
        return "supporting_facts", "bad_type", "expected a non-empty list of [title, sentence index]"
    if not isinstance(context, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[1], list) and all(isinstance(s, str) for s in p[1])
        for p in context
    ):
        return "context", "bad_type", "expected a list of [title, [sentences]]"
    return None
