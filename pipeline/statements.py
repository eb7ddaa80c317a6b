"""Question → declarative statement with a given answer: the rule-based sentence writer of
synthetic answer spans (docs/methods.md §3; the paper used a language model).

    python -m pipeline.statements "When did the war begin?" "1990"

Rules, tried in order (the question's trailing "?" removed; X = subject, V = verb;
past/present forms by lemminflect, the verb found by its spaCy tag):

| rule | question | statement |
| --- | --- | --- |
| `when_did` / `where_did` | When/Where did (does, do) X V rest? | X V-ed (V-s, V) rest in ANS. |
| `prep_wh` | In/On/At… what/which N did X V rest? (… was X rest?) | X V-ed rest in ANS. (X was rest in ANS.) |
| `wh_modal` | What/Who/Which N can/could/will… X V rest? | X can V ANS rest. |
| `wh_did` | What/Who/Which N did (does, do) X V rest? | X V-ed (V-s, V) ANS rest. |
| `wh_be_place` | Where is/was X? | X is/was in ANS. |
| `wh_be_time` | When is/was X (V-ed)? | X is/was (V-ed) in ANS. |
| `wh_be` | What/Who/Which N is/was/are/were rest? | Rest is/was ANS. |
| `wh_subject` | Who/What/Which N V-ed/V-s rest? | ANS V-ed/V-s rest. |
| `how_many` | How many/much N did X V rest? / N has X V-ed? / N were V-ed rest? | X V-ed ANS N rest. / X has V-ed ANS N. / ANS N were V-ed rest. |

`rule_statement` returns None for a question no rule rewrites: synthetic answer spans
then leave the example out (docs/methods.md §3.1), as a quoted restatement would plant the
question verbatim beside the fake answer. `statement` adds the `fallback` rule
(`The answer to "question" is ANS.`) for callers that need a sentence for every question.

Before the rules the question is normalised (`normalise_question`: surrounding whitespace
stripped, inner whitespace runs made one space), and token offsets computed on the raw
question are mapped onto the normalised text (whitespace-only tokens dropped), so a leading
space or a double space cannot shift the spans the rules cut.

Each function returns (prefix, suffix): the statement is prefix + ANS + suffix, so the
inserted answer's offset is known exactly (never searched for).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence


Token = tuple[str, str, int]


def getLemma(word: str, upos: str) -> tuple[str, ...]:
    """lemminflect's getLemma, imported on first use (lemminflect imports spaCy, which probes torch)."""
    import lemminflect

    return lemminflect.getLemma(word, upos=upos)


def getInflection(lemma: str, tag: str) -> tuple[str, ...]:
    """lemminflect's getInflection, imported on first use."""
    import lemminflect

    return lemminflect.getInflection(lemma, tag=tag)
Statement = tuple[str, str, str]  # (rule, prefix, suffix)

_AUX_WORDS = r"did|does|do|is|was|are|were|has|have|had|can|could|might|will|would|should|may"
_WH_NOUN = rf"(?:What|Who|Whom|Which|Whose)(?:\s+(?!(?:{_AUX_WORDS})\b)[\w'-]+){{0,4}}?"
_MODAL = r"can|could|might|will|would|should|may|must"
_BE = {"is", "was", "are", "were"}
_DO_TAG = {"did": "VBD", "does": "VBZ", "do": "VBP"}
_PREPS = r"In|On|At|During|To|By|From|For|Since|Until|Of|With|Into|Under|Over"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _inflect(verb: str, tag: str) -> str:
    lemma = (getLemma(verb.lower(), upos="VERB") or (verb.lower(),))[0]
    if tag == "VBP":
        return lemma
    form = getInflection(lemma, tag=tag)
    return form[0] if form else verb


_CLAUSE_END = ("IN", "TO", ".", "CD", "DT", "PRP$", "RB")


def _first_verb_after(tokens: Sequence[Token], start: int) -> int | None:
    """Index of the verb of "did X V ...": the first VB/VBP token after the subject, else
    (the small tagger often reads questions' verbs as nouns) the first noun-or-verb token
    after the subject's first word that ends the clause (followed by a preposition, a
    determiner, a number, punctuation or nothing) and that lemminflect knows as a verb."""
    after = [i for i, (_, _, off) in enumerate(tokens) if off >= start]
    for tags in (("VB", "VBP"), ("VBD",)):  # VBD: "did X ended" (ungrammatical questions)
        for i in after[1:]:
            if tokens[i][1] in tags and tokens[i - 1][0] != ",":
                return i
    for i in after[1:]:
        text, tag, _ = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else "."
        verbish = tag in ("NN", "VB", "VBP") and nxt in _CLAUSE_END or tag == "JJ" and nxt == "."
        if verbish and getInflection(text.lower(), tag="VBD"):
            return i
    return None


def _aux_clause(q: str, tokens: Sequence[Token], aux_end: int) -> tuple[str, str, int] | None:
    """(subject, verb, char end of verb) for "... did X V ..." with the aux ending at aux_end."""
    i = _first_verb_after(tokens, aux_end)
    if i is None:
        return None
    text, _, off = tokens[i]
    subject = q[aux_end:off].strip()
    return (subject, text, off + len(text)) if subject else None


def _passive_split(q: str, tokens: Sequence[Token], start: int) -> tuple[str, str]:
    """(subject, " V-ed rest") when a participle follows the subject starting at `start`
    ("the colony was founded" order), else (everything, "")."""
    for text, tag, off in tokens:
        if off > start and tag in ("VBN", "VBD") and q[start:off].strip():
            return q[start:off].strip(), " " + q[off:]
    return q[start:], ""


def normalise_question(question: str) -> str:
    """The question with surrounding whitespace stripped and inner whitespace runs made one space."""
    return " ".join(question.split())


def normalised_tokens(question: str, tokens: Sequence[Token]) -> list[Token]:
    """`tokens` (offsets into `question`) with offsets into `normalise_question(question)`.

    Whitespace-only tokens are dropped; a token whose text does not sit at its offset in
    `question` is an error (tokens of another text)."""
    where = [-1] * (len(question) + 1)
    out_pos, pending_space = 0, False
    for i, ch in enumerate(question):
        if ch.isspace():
            pending_space = out_pos > 0
            continue
        if pending_space:
            out_pos += 1
            pending_space = False
        where[i] = out_pos
        out_pos += 1
    mapped = []
    for text, tag, off in tokens:
        if not text.strip():
            continue
        if question[off:off + len(text)] != text:
            raise ValueError(f"statement: token {text!r} at {off} is not in the question {question!r}")
        lead = len(text) - len(text.lstrip())
        mapped.append((text.strip(), tag, where[off + lead]))
    return mapped


def statement(question: str, tokens: Sequence[Token]) -> Statement:
    """(rule, prefix, suffix) of `rule_statement`, or the quoting `fallback` when no rule applies."""
    return rule_statement(question, tokens) or ("fallback", f'The answer to "{normalise_question(question)}" is ', ".")


def rule_statement(question: str, tokens: Sequence[Token]) -> Statement | None:
    """(rule, prefix, suffix) of the statement for `question` (tokens: spaCy text/tag/offset
    computed on `question` as given), or None when no rule applies."""
    tokens = normalised_tokens(question, tokens)
    q = normalise_question(question).rstrip("?.").rstrip()
    low = q.lower()
    m = re.match(r"(when|where)\s+(did|does|do)\s+", low)
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        rule = "when_did" if m.group(1) == "when" else "where_did"
        return rule, f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(2)])}{q[end:]} in ", "."
    m = re.match(rf"({_PREPS})\s+(?:what|which)(?:\s+[\w'-]+){{0,3}}?\s+(did|does|do)\s+", q, re.I)
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        return "prep_wh", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(2).lower()])}{q[end:]} {m.group(1).lower()} ", "."
    m = re.match(rf"({_PREPS})\s+(?:what|which)(?:\s+[\w'-]+){{0,3}}?\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m:
        subj, rest = _passive_split(q, tokens, m.start(3))
        return "prep_wh", f"{_cap(subj)} {m.group(2).lower()}{rest} {m.group(1).lower()} ", "."
    m = re.match(rf"{_WH_NOUN}\s+({_MODAL})\s+", q, re.I)
    if m and next((t for _, t, off in tokens if off == m.end()), "") == "VB":  # the wh-phrase is the subject
        return "wh_modal", "", f" {q[m.start(1):]}."
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        return "wh_modal", f"{_cap(subj)} {m.group(1).lower()} {verb} ", f"{q[end:]}."
    m = re.match(rf"{_WH_NOUN}\s+(did|does|do)\s+", q, re.I)
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        rest = q[end:]
        return "wh_did", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(1).lower()])} ", f"{rest}."
    m = re.match(r"(where|when)\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m:
        subj, rest = _passive_split(q, tokens, m.start(3))
        rule = "wh_be_place" if m.group(1).lower() == "where" else "wh_be_time"
        return rule, f"{_cap(subj)} {m.group(2).lower()}{rest} in ", "."
    m = re.match(rf"{_WH_NOUN}\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m:
        subj, rest = _passive_split(q, tokens, m.start(2))
        if rest:  # "What was X known as before Y" -> "X was known as ANS before Y"
            words = rest.split()
            k = 2 if len(words) > 1 and re.fullmatch(r"as|by|in|on|at|for|to|with|from|of", words[1]) else 1
            tail = " ".join(words[k:])
            return "wh_be", f"{_cap(subj)} {m.group(1).lower()} {' '.join(words[:k])} ", f" {tail}." if tail else "."
        return "wh_be", f"{_cap(m.group(2))} {m.group(1).lower()} ", "."
    for wh in (r"(?:What|Who)", r"(?:What|Which|Whose)\s+\w+"):
        m = re.match(rf"({wh})\s+(\w+)(.*)$", q, re.I)
        verb_tag = next((t for _, t, off in tokens if off == m.start(2)), "") if m else ""
        if verb_tag in ("VBD", "VBZ") and m.group(2).lower() not in ("did", "does", "is", "was", "has", "had"):
            return "wh_subject", "", f" {m.group(2)}{m.group(3)}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(did|does|do)\s+", q, re.I)
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        return "how_many", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(3).lower()])} ", f" {m.group(2)}{q[end:]}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(has|have|had)\s+(.+?)\s+(\w+)$", q, re.I)
    if m and next((t for _, t, off in tokens if off == m.start(5)), "") == "VBN":
        return "how_many", f"{_cap(m.group(4))} {m.group(3).lower()} {m.group(5)} ", f" {m.group(2)}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(is|was|are|were|has|have|had)\s+(\w+)(.*)$", q, re.I)
    if m and next((t for _, t, off in tokens if off == m.start(4)), "") in ("VBN", "VBG"):
        return "how_many", "", f" {m.group(2)} {m.group(3).lower()} {m.group(4)}{m.group(5)}."
    return None


if __name__ == "__main__":
    from pipeline.flips import spacy_tagger

    q, ans = sys.argv[1], sys.argv[2]
    rule, pre, suf = statement(q, spacy_tagger("en_core_web_sm")([q])[0])
    print(rule, "|", pre + ans + suf)
