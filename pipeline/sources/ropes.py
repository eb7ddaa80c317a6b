"""ROPES JSON (`data[].paragraphs[] = {background, situation, qas}`) into canonical rows.

    python -c "from pipeline.sources import SourceSpec, load_source; \
print(load_source(SourceSpec('ropes', '../shared/data/ropes/dev-v1.0.json')).summary())"

ROPES answers are free text without offsets, so the context is built here and the answer is
located in it (`pipeline.sources.locate`: whole word, exact case first, first occurrence).
Background and situation are stripped of surrounding whitespace; blank parts are left out.

`ropes_context="with-question"` (default): context = background + "\\n\\n" + situation + "\\n\\n" +
question (stripped), one context per question. The answer is searched in situation,
background, then question (exact case in all three before any case), so an answer that
occurs only in the question ("Will Tom get more or less rain?" -> "more") is kept, located
in the question part. ROPES v1.0: dev keeps all 1,688 questions; train keeps 10,918 of
10,924 (99.95%), the other 6 are rejected with `answer_only_inside_word` ("Dan" found only
inside "Danny"). The questions of one situation share the prefix background + "\\n\\n" +
situation + "\\n\\n" character for character, so an answer found there has the same offsets
in every one of their contexts. Bundles do not need a shared context: the ROPES miner groups
questions by situation (the ROPES paragraph, `pipeline.ropes_bundles.situations`), and the
bundle losses' reader (`training.data`) locates every bundle answer in each member's own
context (same offsets inside the shared prefix; an answer found in a question is looked up
in the member's own question part, and masked for that member when absent there).

`ropes_context="shared"`: context = background + "\\n\\n" + situation. One context per
situation, shared by all its questions, so the questions of a bundle share offsets. The
answer is searched in the situation first, then in the background. An answer that occurs
(as a whole word) only in the question ("Is Group A more or less likely ...?" -> "less") is
rejected with `answer_only_in_question`: ROPES v1.0 has 196 such questions in dev (of 1,688)
and 1,346 in train (of 10,924), and with them every bundle they would join. An answer
found only inside longer words ("Dan" in "Danny") is rejected with `answer_only_inside_word`
(dev 0, train 6).

Example ids are the ROPES ids; the title is `<article title>-<situation index>` (`ropes-17`).
Rejected questions get one row with field `answers`; when a question keeps at least one
answer, each unlocatable other answer gets a row with field `answers[i].text`.
"""

from __future__ import annotations

from typing import Any

from pipeline.io import text_id
from pipeline.sources.canonical import CanonicalFrames, Span, shown, text_reason
from pipeline.sources.locate import ContextPart, inside_word_only, join_parts, locate_answer


def load_ropes(obj: dict[str, Any], frames: CanonicalFrames) -> None:
    """Add every question of a ROPES-format object to `frames`."""
    split = frames.spec.split
    for i, article in enumerate(obj["data"]):
        where = f"data[{i}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            frames.reject_part(
                split, where, "paragraphs", "bad_type", f"{where}: expected an article with a 'paragraphs' list"
            )
            continue
        base_title = str(article.get("title") or "ropes")
        for j, paragraph in enumerate(article["paragraphs"]):
            add_situation(frames, split, paragraph, f"{base_title}-{j}", f"{where}.paragraphs[{j}]")


def add_situation(frames: CanonicalFrames, split: str, paragraph: Any, title: str, where: str) -> None:
    if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
        frames.reject_part(split, where, "qas", "bad_type", f"{where}: expected a paragraph object with a 'qas' list")
        return
    texts = {key: paragraph.get(key) for key in ("background", "situation")}
    problem = next((key for key, value in texts.items() if not isinstance(value, str)), None)
    named = [(key, texts[key].strip()) for key in ("background", "situation") if problem is None and texts[key].strip()]
    for k, qa in enumerate(paragraph["qas"]):
        frames.n_records += 1
        qa_where = f"{where}.qas[{k}]"
        record_id = str(qa.get("id", qa_where)) if isinstance(qa, dict) else qa_where
        if problem is not None:
            reason = "missing_field" if texts[problem] is None else "bad_type"
            shown = type(texts[problem]).__name__
            frames.reject(split, record_id, problem, reason, f"{qa_where}: {problem} must be a string, got {shown}")
        elif not named:
            frames.reject(
                split, record_id, "situation", "empty_context", f"{qa_where}: background and situation are both empty"
            )
        else:
            add_ropes_question(frames, split, qa, named, title, qa_where, k)


def add_ropes_question(
    frames: CanonicalFrames, split: str, qa: Any, named: list[tuple[str, str]], title: str, where: str, index: int
) -> None:
    if not isinstance(qa, dict):
        frames.reject(split, where, where, "bad_type", f"{where}: expected a question object, got {type(qa).__name__}")
        return
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        reason = text_reason(question, "empty_question")
        frames.reject(split, str(qa.get("id", where)), "question", reason, f"{where}: question text {shown(question)}")
        return
    if frames.spec.ropes_context == "with-question":
        # the question goes last, so that background + situation is a prefix shared by the
        # situation's questions (training/data.py relies on it to move offsets between them)
        context, parts = join_parts([*named, ("question", question.strip())])
        search = sorted(parts, key=lambda p: ("situation", "background", "question").index(p.name))
    else:
        context, parts = join_parts(named)
        search = sorted(parts, key=lambda p: ("situation", "background").index(p.name))
    qid = frames.claim_id(split, qa.get("id"), f"{text_id(context)}:{index}", where)
    if qid is None:
        return
    raw = qa.get("answers")
    if not isinstance(raw, list) or not raw:
        reason = "missing_field" if raw is None else ("bad_type" if not isinstance(raw, list) else "no_valid_answer")
        frames.reject(split, qid, "answers", reason, f"{where}: answers {shown(raw)}")
        return
    answers: list[Span] = []
    failures: list[tuple[int, str, str]] = []
    for i, answer in enumerate(raw):
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str) or not text.strip():
            failures.append((i, text_reason(text, "empty_answer"), f"answers[{i}].text = {shown(text)}"))
            continue
        found = locate_answer(text, search)
        if found is None:
            failures.append((i, *_why_not_found(text, search, question)))
        else:
            answers.append({"text": context[found.start : found.end], "start": found.start, "end": found.end})
    if not answers:
        i, reason, detail = failures[0]
        frames.reject(split, qid, "answers", reason, f"{where}: {detail}")
        return
    for i, reason, detail in failures:
        frames.reject_part(split, qid, f"answers[{i}].text", reason, f"{where}: {detail}")
    frames.add_example(
        split=split,
        example_id=qid,
        context=context,
        title=title,
        question=question,
        answers=answers,
        source_record=where,
    )


def _why_not_found(text: str, search: list[ContextPart], question: str) -> tuple[str, str]:
    if locate_answer(text, [ContextPart("question", 0, question)]) is not None:
        return "answer_only_in_question", f"answer {text!r} occurs in the question only, not in situation or background"
    if inside_word_only(text, search):
        return "answer_only_inside_word", f"answer {text!r} occurs in the context only inside longer words"
    return "answer_not_in_context", f"answer {text!r} not found in the context"
