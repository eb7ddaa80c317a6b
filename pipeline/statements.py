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
| `how_many` | How many/much N did X V rest? | X V-ed ANS N rest. |
| `how_many` | How many/much N has X V-ed? | X has V-ed ANS N. |
| `how_many` | How many/much N were V-ed rest? | ANS N were V-ed rest. |

Fluency fixes (2026-12-01, docs/methods.md §3.1): in `wh_be` a wh-phrase before a participle or an
adjective + preposition is the subject ("What organization was led by X" -> "ANS was led by X"); a
stranded preposition takes the answer ("What county is New Rochelle in" -> "New Rochelle is in ANS",
also in `wh_did`/`where_did`/`prep_wh`, where a repeated leading preposition is dropped); "there"
leads its clause ("There was a weakness in … in ANS"); relative clauses stay whole; adverbs go after
the auxiliary ("are commonly known as"); time wh-nouns take "in ANS"; `_tidy` makes a doubled article
or preposition one and drops "the" before a name's possessive ("the Alan Turing's model").
`join_answer`/`join_suffix` fit the answer to the sentence ("in" + "In 2001", "on 4 July",
"from 2000 to 2007", "Tiffany & Co." without a second stop). A rule whose sentence would be
broken gives None instead (a gap inside a clause, "for because of", a comma, a reduced relative
clause before the participle, a question word left at the start).

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

from pipeline.flip_rules import Token, getLemma  # getLemma: lemminflect's, imported on first use


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
    """First letter upper-cased, unless the first word has a capital inside ("cpDNA", "iPhone")."""
    first = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first[1:]) else text[:1].upper() + text[1:]


def _inflect(verb: str, tag: str) -> str:
    """`verb` (a base form: after do-support the question's verb is one; `_aux_clause` lemmatises the
    others) inflected to `tag`. The base form is not lemmatised again: "did Maududi found" -> "founded",
    not "found" (the lemma of "found" as a past tense is "find")."""
    lemma = verb.lower()
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
            if tokens[i][1] in ("WDT", "WP") or tokens[i][0].lower() == "that":
                break  # a verb after a relative word is the relative clause's ("did ABC launch … that focused")
            if tokens[i][1] in tags and tokens[i - 1][0] != ",":
                return i
    for i in after[1:]:
        text, tag, _ = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else "."
        prev = tokens[i - 1][1]
        verbish = (
            (tag in ("NN", "VB", "VBP") and nxt in _CLAUSE_END or tag == "JJ" and nxt == ".")
            and prev not in ("DT", "PRP$", "POS")
            and not text.lower().endswith("ing")
        )  # "the east", "advertising"
        if verbish and getInflection(text.lower(), tag="VBD"):
            return i
    return None


def _aux_clause(q: str, tokens: Sequence[Token], aux_end: int) -> tuple[str, str, int] | None:
    """(subject, verb, char end of verb) for "... did X V ..." with the aux ending at aux_end."""
    i = _first_verb_after(tokens, aux_end)
    if i is None:
        return None
    text, tag, off = tokens[i]
    if (
        not text.isalpha()
        or len(text) < 2
        or text.lower() in _BE | {"be", "been"}
        or any(tokens[j][1] == "HYPH" for j in (i - 1, i + 1) if 0 <= j < len(tokens))
    ):
        return None  # "did the Court reason were controlled", "did the Theatre re-open": no verb to inflect
    subject = q[aux_end:off].strip()
    # after do-support the verb is a base form; a past/3rd-person form ("did X ended") is lemmatised, but
    # only when it has the regular ending: "did Maududi found" (tagged VBD) keeps "found"
    inflected = tag not in ("VB", "VBP") and re.search(r"(?:ed|[^s]s)$", text.lower())
    base = (getLemma(text.lower(), upos="VERB") or (text,))[0] if inflected else text
    return (subject, base, off + len(text)) if subject else None


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
        if question[off : off + len(text)] != text:
            raise ValueError(f"statement: token {text!r} at {off} is not in the question {question!r}")
        lead = len(text) - len(text.lstrip())
        mapped.append((text.strip(), tag, where[off + lead]))
    return mapped


def statement(question: str, tokens: Sequence[Token]) -> Statement:
    """(rule, prefix, suffix) of `rule_statement`, or the quoting `fallback` when no rule applies."""
    return rule_statement(question, tokens) or ("fallback", f'The answer to "{normalise_question(question)}" is ', ".")


def rule_statement(question: str, tokens: Sequence[Token]) -> Statement | None:
    """(rule, prefix, suffix) of the statement for `question` (tokens: spaCy text/tag/offset
    computed on `question` as given), or None when no rule applies or the rule's sentence
    would be broken (`_tidy`: a question word left in)."""
    tokens = normalised_tokens(question, tokens)
    q = normalise_question(question).rstrip("?.").rstrip()
    tokens = [t for t in tokens if t[2] < len(q)]
    if re.match(r"whose\b", q, re.I):  # "Whose theory was X" -> "X was ANS's"
        m = re.match(rf"({_WH_NOUN})\s+(is|was|are|were)\s+(.+)$", q, re.I)
        out = _wh_be(q, tokens, m.start(3), m.group(2).lower(), m.group(1).lower().split()[1:]) if m else None
        return _tidy(("wh_be", out[0], "'s" + out[1])) if out and out[0] else None
    out = _rules(q, tokens)
    return _tidy(out) if out else None


def _rules(q: str, tokens: Sequence[Token]) -> Statement | None:
    low = q.lower()
    m = re.match(r"(when|where)\s+(did|does|do)\s+", low)
    if m and _negated_after(tokens, m.end()):
        return None  # "When did not X V" is not a question a statement can restate
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        rule = "when_did" if m.group(1) == "when" else "where_did"
        rest = _rest(tokens, end)
        if any(t[1] == "," for t in rest):
            return None  # "Where did Moncalm slip away to attack, left largely unprotected"
        if rest and _is_prep(rest[-1]):  # "Where did X come from" -> "X came from ANS"
            if rule == "when_did":
                return None
            return rule, f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(2)])}{q[end:]} ", "."
        return rule, f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(2)])}{q[end:]} in ", "."
    m = re.match(rf"({_PREPS})\s+(?:what|which)(?:\s+[\w'-]+){{0,3}}?\s+(did|does|do)\s+", q, re.I)
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        prep, tail = m.group(1).lower(), q[end:]
        rest = _rest(tokens, end)
        if rest and _is_prep(rest[-1]):  # "From what pad did X launch from" -> drop the repeated preposition
            if rest[-1][0].lower() != prep:
                return None
            tail = q[end : rest[-1][2]].rstrip()
        return "prep_wh", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(2).lower()])}{tail} {prep} ", "."
    m = re.match(rf"({_PREPS})\s+(?:what|which)(?:\s+[\w'-]+){{0,3}}?\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m:
        out = _adjunct(q, tokens, m.start(3), m.group(2).lower(), m.group(1).lower(), strict_prep=True)
        return ("prep_wh", *out) if out else None
    m = _wh_phrase_ok(re.match(rf"{_WH_NOUN}\s+({_MODAL})\s+", q, re.I), tokens)
    if m and next((t for _, t, off in tokens if off == m.end()), "") == "VB":  # the wh-phrase is the subject
        return "wh_modal", "", f" {q[m.start(1) :]}."
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        return "wh_modal", f"{_cap(subj)} {m.group(1).lower()} {verb} ", f"{q[end:]}."
    m = _wh_phrase_ok(re.match(rf"{_WH_NOUN}\s+(did|does|do)\s+", q, re.I), tokens)
    if m and _negated_after(tokens, m.end()):  # "What kind of force does not exist" -> "ANS does not exist"
        return "wh_did", "", f" {q[m.start(1) :]}."
    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        if set(m.group(0).lower().split()[1:-1]) & _TIME_NOUNS:  # "What century did the Normans gain …" -> "… in ANS"
            rest = _rest(tokens, end)
            if rest and _is_prep(rest[-1]):
                return None
            return "wh_did", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(1).lower()])}{q[end:]} in ", "."
        out = _object_gap(q, tokens, end, f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(1).lower()])}", verb)
        return ("wh_did", *out) if out else None
    m = re.match(r"(where|when)\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m:
        rule = "wh_be_place" if m.group(1).lower() == "where" else "wh_be_time"
        out = _adjunct(q, tokens, m.start(3), m.group(2).lower(), "in", strict_prep=rule == "wh_be_time")
        return (rule, *out) if out else None
    m = re.match(rf"({_WH_NOUN})\s+(is|was|are|were)\s+(.+)$", q, re.I)
    if m and any(_is_verb(t) for t in tokens if 0 < t[2] < m.end(1)):
        m = None  # "Who wrote that it is …": the wh-phrase holds a verb, the question is wh_subject's
    if m:
        out = _wh_be(q, tokens, m.start(3), m.group(2).lower(), m.group(1).lower().split()[1:])
        return ("wh_be", *out) if out else None
    for wh in (r"(?:What|Who)", r"(?:What|Which|Whose)\s+\w+"):
        m = re.match(rf"({wh})\s+(\w+)(.*)$", q, re.I)
        verb_tag = next((t for _, t, off in tokens if off == m.start(2)), "") if m else ""
        if verb_tag in ("VBD", "VBZ") and m.group(2).lower() not in ("did", "does", "is", "was", "has", "had"):
            return "wh_subject", "", f" {m.group(2)}{m.group(3)}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(did|does|do)\s+", q, re.I)

    def noun(m: re.Match) -> str:  # "ANS of gun powder": a measure, then the mass noun; "How much money" -> "ANS"
        if m.group(1).lower() == "many":
            return f" {m.group(2)}"
        words = m.group(2).split()
        if words[0].lower() in ("money", "percentage", "percent", "time", "cash"):  # "How much percentage of the land"
            words = words[2:] if len(words) > 1 and words[1].lower() == "of" else words[1:]
            return f" of {' '.join(words)}" if words else ""
        return f" of {m.group(2)}"

    if m and (cl := _aux_clause(q, tokens, m.end())):
        subj, verb, end = cl
        rest = _rest(tokens, end)
        if rest and _is_prep(rest[-1]) and rest[-1][1] != "RB":  # "How many elements did Aristotle believe the
            # sphere to be made up of" -> "Aristotle believed the sphere to be made up of ANS elements"
            return "how_many", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(3).lower()])}{q[end:]} ", f"{noun(m)}."
        return "how_many", f"{_cap(subj)} {_inflect(verb, _DO_TAG[m.group(3).lower()])} ", f"{noun(m)}{q[end:]}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(has|have|had)\s+(.+?)\s+(\w+)$", q, re.I)
    if (
        m
        and m.group(4).lower() not in ("been", "not")
        and next((t for _, t, off in tokens if off == m.start(5)), "") == "VBN"
    ):
        return "how_many", f"{_cap(m.group(4))} {m.group(3).lower()} {m.group(5)} ", f"{noun(m)}."
    m = re.match(r"how\s+(many|much)\s+(.+?)\s+(is|was|are|were|has|have|had)\s+(\w+)(.*)$", q, re.I)
    if m and next((t for _, t, off in tokens if off == m.start(4)), "") in ("VBN", "VBG"):
        return "how_many", "", f"{noun(m)} {m.group(3).lower()} {m.group(4)}{m.group(5)}."
    return None


def _wh_phrase_ok(m: re.Match | None, tokens: Sequence[Token]) -> re.Match | None:
    """`m` unless the words between the wh-word and the auxiliary hold a verb ("Who announced she would …":
    the wh-phrase is the subject of "announced", not of "would")."""
    if m is None:
        return None
    end = m.start(1) if m.lastindex else m.end()
    return None if any(_is_verb(t) for t in tokens if 0 < t[2] < end) else m


# -- helpers of the rules (2026-12-01 fluency fixes; docs/methods.md §3.1) --------------------------------------

_TIME_NOUNS = {"year", "years", "century", "decade", "month", "day", "date", "era", "period", "time", "season"}
_PLACE_NOUNS = {
    "city",
    "country",
    "state",
    "town",
    "county",
    "region",
    "place",
    "area",
    "location",
    "continent",
    "island",
    "province",
    "borough",
    "neighborhood",
    "neighbourhood",
    "village",
    "district",
    "nation",
}
# participles that take the answer right after them ("The museum was called ANS")
_NAMING = {
    "called",
    "named",
    "known",
    "nicknamed",
    "dubbed",
    "termed",
    "titled",
    "labeled",
    "labelled",
    "renamed",
    "considered",
    "elected",
    "appointed",
    "crowned",
    "voted",
    "styled",
    "designated",
    "deemed",
}
_DITRANSITIVE = {
    "give",
    "offer",
    "send",
    "pay",
    "tell",
    "award",
    "show",
    "grant",
    "teach",
    "promise",
    "owe",
    "lend",
    "hand",
    "bring",
    "sell",
    "buy",
    "charge",
    "cost",
    "allow",
    "deny",
}
_CATENATIVE = {
    "want",
    "try",
    "fail",
    "need",
    "hope",
    "plan",
    "decide",
    "attempt",
    "begin",
    "start",
    "continue",
    "refuse",
    "seek",
    "agree",
    "promise",
    "expect",
    "like",
    "love",
    "prefer",
    "intend",
    "manage",
    "choose",
    "wish",
    "learn",
    "help",
    "have",
}
_PREP_WORDS = {
    "in",
    "on",
    "at",
    "by",
    "from",
    "for",
    "to",
    "with",
    "into",
    "of",
    "about",
    "as",
    "under",
    "over",
    "after",
    "before",
    "through",
    "since",
    "until",
    "against",
    "between",
    "among",
    "upon",
    "onto",
    "toward",
    "towards",
    "during",
    "within",
    "without",
    "around",
    "like",
    "near",
    "behind",
    "above",
    "below",
    "across",
    "along",
    "beyond",
    "off",
    "out",
    "up",
    "down",
}
# preposition pairs that are one preposition ("because of"); any other IN IN is a stranded preposition
_PREP_PAIRS = {
    ("out", "of"),
    ("because", "of"),
    ("instead", "of"),
    ("ahead", "of"),
    ("due", "to"),
    ("according", "to"),
    ("up", "to"),
    ("prior", "to"),
    ("apart", "from"),
    ("as", "of"),
    ("such", "as"),
    ("away", "from"),
    ("next", "to"),
    ("close", "to"),
    ("as", "to"),
    ("from", "about"),
    ("up", "until"),
    ("out", "from"),
}
_NOT_NOMINAL = {"MD", "WDT", "WP", "WP$", "WRB", ",", ":", "-LRB-", "-RRB-", "``", "''", "EX"}
_NP_START = {"DT", "PDT", "PRP$", "JJ", "JJS", "JJR", "NN", "NNS", "NNP", "NNPS", "CD", "PRP"}
_ADVERB = {"RB", "RBR", "RBS"}


def _rest(tokens: Sequence[Token], start: int, end: int | None = None) -> list[Token]:
    """Tokens from char `start` (to `end`), without punctuation at the end."""
    out = [t for t in tokens if t[2] >= start and (end is None or t[2] < end)]
    while out and out[-1][1] in (".", ",", ":"):
        out.pop()
    return out


def _text(q: str, toks: Sequence[Token]) -> str:
    return q[toks[0][2] : toks[-1][2] + len(toks[-1][0])] if toks else ""


def _is_prep(tok: Token) -> bool:
    return tok[1] in ("IN", "RP", "TO", "RB") and tok[0].lower() in _PREP_WORDS


def _is_verb(tok: Token) -> bool:
    return tok[1].startswith("VB") or tok[1] == "MD"


def _nominal(toks: Sequence[Token]) -> bool:
    """A subject noun phrase: no finite verb or modal, no relative or question word, no comma; not led by a
    preposition/adverb, nor "there". Participles may modify ("the oldest known rock", "seafloor spreading"); the
    small tagger's slips are tolerated: a VB first ("ctenophore"), a capitalised WP inside ("a Doctor Who Prom")."""

    def bad(i: int, t: Token) -> bool:
        if t[1] in ("MD", "VBZ", "VBP", "VBD") or t[1] == "VB" and i > 0 or t[0].lower() in ("that", "there", "being"):
            return True
        return t[1] in _NOT_NOMINAL and not (i > 0 and t[1] == "WP" and t[0][:1].isupper())

    lead_ok = toks and (toks[0][1] not in ("IN", "TO", "RB", "RBR") or toks[0][0].lower() == "not" and len(toks) > 1)
    # "not" leads: the negation attack's "not British settlers"
    return bool(lead_ok) and not any(bad(i, t) for i, t in enumerate(toks))


def _gap_inside(toks: Sequence[Token]) -> bool:
    """The answer's gap lies inside `toks` (so they are not a noun phrase the answer can stand beside):
    a stranded preposition before another ("at risk for because of"), an adjective or -ing form right
    after a name or pronoun ("Tesla afraid someone…", "the BBC hoping that…"), a comma."""
    for a, b in zip(toks, toks[1:]):
        if a[1] in ("IN", "TO") and b[1] in ("IN", "TO") and (a[0].lower(), b[0].lower()) not in _PREP_PAIRS:
            return True
        if a[1] in ("NNP", "NNPS", "PRP") and b[1] == "JJ" or a[1] in ("NNP", "PRP") and b[1] == "VBG":
            return True
    return any(
        t[1] == ":" or t[1] == "," and not (0 < i < len(toks) - 1 and toks[i - 1][1] == toks[i + 1][1] == "NNP")
        for i, t in enumerate(toks)
    )  # "Lima, Ohio" is one name


def _negated_after(tokens: Sequence[Token], start: int) -> bool:
    """ "not" right after the auxiliary negates the verb ("does not exist"), not an adjective of the subject
    (the negation attack's "did not Protestant nobles form")."""
    after = [t for t in tokens if t[2] >= start]
    return len(after) > 1 and after[0][0].lower() in ("not", "n't") and after[1][1] in ("VB", "VBP")


def _split_adverbs(toks: Sequence[Token]) -> tuple[list[Token], list[Token]]:
    """(subject, adverbs): adverbs at the end of a subject go after the verb ("Ctenophora are commonly known")."""
    toks = list(toks)
    k = len(toks)
    while k > 1 and toks[k - 1][1] in _ADVERB:
        k -= 1
    return toks[:k], toks[k:]


def _be_phrase(q: str, subj: Sequence[Token], be: str, adv: Sequence[Token], pred: str) -> str:
    return " ".join(x for x in (_cap(_text(q, subj)), be, _text(q, adv), pred) if x)


def _participle(rt: Sequence[Token]) -> int | None:
    """Index in `rt` of the participle (or final adjective) that follows the subject ("the colony was founded"):
    the last VBN/VBD whose preceding tokens (less adverbs) are a noun phrase, else a final JJ."""
    for v in range(len(rt) - 1, 0, -1):
        if rt[v][1] in ("VBN", "VBD") and _nominal(_split_adverbs(rt[:v])[0]):
            return v
    if (
        len(rt) > 1
        and rt[-1][1] == "JJ"
        and _nominal(_split_adverbs(rt[:-1])[0])
        and _split_adverbs(rt[:-1])[0][-1][1] != "VBG"
    ):
        return len(rt) - 1
    for v in range(len(rt) - 2, 0, -1):  # progressive: "this sport becoming more popular" -> "is becoming"
        if rt[v][1] == "VBG" and rt[v - 1][1].startswith("NN") and _nominal(rt[:v]):
            return v
    for v in range(1, len(rt) - 1):  # "the plague present in Islamic countries" -> "the plague was present in …"
        if rt[v][1] == "JJ" and rt[v - 1][1].startswith("NN") and rt[v + 1][1] == "IN" and _nominal(rt[:v]):
            return v
    return None


def _adjunct(
    q: str, tokens: Sequence[Token], start: int, be: str, prep: str, strict_prep: bool
) -> tuple[str, str] | None:
    """Where/When/Prep-what + be: the answer is an adjunct after the clause ("X was founded in ANS").

    A preposition stranded at the end replaces `prep` ("Where are teachers recruited from" -> "… from ANS");
    with `strict_prep` (prep_wh, when) it must be the same preposition and is dropped ("From what pad was
    Apollo 5 launched from"), else None. "there" leads the clause ("There was a weakness in … in ANS")."""
    rt = _rest(tokens, start)
    if not rt:
        return None
    if rt[-1][1] in ("IN", "RP", "TO") and _is_prep(rt[-1]) and len(rt) > 1:
        if strict_prep and rt[-1][0].lower() != prep:
            return None
        if not strict_prep and rt[-1][0].lower() not in ("from", "to", "into", "toward", "towards"):
            return None  # "Where was Ralph earl of": no place preposition to put the answer after
        prep, rt = rt[-1][0].lower(), rt[:-1]
    if rt[0][0].lower() == "there":
        if len(rt) < 2 or _gap_inside(rt[1:]):
            return None
        return f"There {be} {_text(q, rt[1:])} {prep} ", "."
    v = _participle(rt)
    if v is not None:
        subj, adv = _split_adverbs(rt[:v])
        if any(subj[i][1] in ("DT", "PRP$") and subj[i - 1][1].startswith("NN") for i in range(1, len(subj))):
            return None  # "Where are the streams the Rhine captured": a relative clause, not a subject + participle
        return _be_phrase(q, subj, be, adv, _text(q, rt[v:])) + f" {prep} ", "."
    if not _nominal(rt) or _gap_inside(rt):
        return None
    return f"{_cap(_text(q, rt))} {be} {prep} ", "."


def _wh_be(q: str, tokens: Sequence[Token], start: int, be: str, wh_words: Sequence[str]) -> tuple[str, str] | None:
    """What/Who/Which N + be + rest: the answer is the wh-phrase (docs/methods.md §3.1 lists the forms)."""
    rt = _rest(tokens, start)
    if not rt:
        return None
    time = bool(set(wh_words) & _TIME_NOUNS)
    place = bool(set(wh_words) & _PLACE_NOUNS)
    rest = _text(q, rt)
    if rt[0][0].lower() == "there":  # "Which century was there a program …" -> "There was a program … in ANS"
        if not (time or place) or len(rt) < 2 or _gap_inside(rt[1:]):
            return None
        return f"There {be} {_text(q, rt[1:])} in ", "."
    lead = next((i for i, t in enumerate(rt) if t[1] not in _ADVERB), len(rt))
    if lead < len(rt) and (
        rt[lead][1] == "VBN"
        or rt[lead][1] == "TO"
        or rt[lead][1] == "VBG"
        and wh_words
        or rt[lead][1] == "JJ"
        and lead + 1 < len(rt)
        and rt[lead + 1][1] in ("IN", "TO")
        or rt[lead][1] == "IN"
        and rt[lead][0].lower() in _PREP_WORDS - {"of", "as"}
    ):
        # the wh-phrase is the subject: "What organization was led by X" -> "ANS was led by X"
        return "", f" {be} {rest}."
    relative = any(t[1] in ("WDT", "WP") or t[0].lower() == "that" for t in rt)
    if len(rt) > 1 and _is_prep(rt[-1]) and rt[-1][1] != "RB" and not relative:
        # stranded preposition: "What county is New Rochelle in" -> "New Rochelle is in ANS"
        if len(rt) > 2 and rt[-2][1] in ("JJ", "VBN", "VBD"):
            subj, adv = _split_adverbs(rt[:-2])
            pred = _text(q, rt[-2:])
        else:
            subj, adv = _split_adverbs(rt[:-1])
            pred = rt[-1][0]
            # two noun phrases: "What is the Bielany Forest the last remnant of" -> "… Forest is the last remnant of"
            k = next(
                (i for i in range(1, len(subj)) if subj[i][1] in ("DT", "PRP$") and subj[i - 1][1].startswith("NN")),
                None,
            )
            if k is not None and not adv:
                subj, pred = subj[:k], f"{_text(q, subj[k:])} {pred}"
        if not _nominal(subj) or _gap_inside(subj):
            return None
        return _be_phrase(q, subj, be, adv, pred) + " ", "."
    if len(rt) > 1 and rt[-1][1] == "VBG" and _nominal(rt[:-1]) and not _gap_inside(rt[:-1]):
        subj, adv = _split_adverbs(rt[:-1])  # progressive, object gap: "What are apicoplasts missing"
        return _be_phrase(q, subj, be, adv, rt[-1][0]) + " ", "."
    named = next((i for i, t in enumerate(rt) if i > 0 and t[1] == "VBN" and t[0].lower() in _NAMING), None)
    if (
        named is not None
        and named + 1 < len(rt)
        and (
            rt[named + 1][1] in ("WDT", "WP")
            or rt[named + 1][0].lower() == "that"
            or rt[named + 1][1] == "IN"
            and named + 2 < len(rt)
            and rt[named + 2][1] == "WDT"
        )
    ):
        # "What is the region called that is …" -> "The region that is … is called ANS"
        subj, adv = _split_adverbs(rt[:named])
        return (
            f"{_cap(_text(q, subj))} {_text(q, rt[named + 1 :])} "
            f"{' '.join([be, _text(q, adv), rt[named][0]]).replace('  ', ' ')} ",
            ".",
        )
    if named is not None and named == len(rt) - 1 and named > 0:
        # "What is the section of the Rhine Gorge recognized by UNESCO called" -> "… recognized by UNESCO is called ANS"
        subj, adv = _split_adverbs(rt[:named])
        if not _gap_inside(subj) and not any(t[1] in ("MD", "VBZ", "VBP", "VBD", "WDT", "WP") for t in subj):
            return _be_phrase(q, subj, be, adv, rt[named][0]) + " ", "."
    v = _participle(rt) if not relative else None
    if v is not None and rt[v][1] in ("VBN", "VBD"):
        subj, adv = _split_adverbs(rt[:v])
        after = rt[v + 1 :]
        head = _be_phrase(q, subj, be, adv, rt[v][0])
        if not after:
            if time or place:  # "What year was the tower made" -> "The tower was made in ANS"
                return head + " in ", "."
            if rt[v][0].lower() in _NAMING:  # "What was the museum called" -> "The museum was called ANS"
                return head + " ", "."
            return None
        if (
            _is_prep(after[0])
            and after[0][1] in ("IN", "TO")
            and (len(after) == 1 or after[1][1] in ("IN", "TO", "WRB", "RB"))
        ):
            tail = _text(q, after[1:])  # "What was Henry IV known as before taking the throne"
            return f"{head} {after[0][0]} ", f" {tail}." if tail else "."
        if len(after) == 2 and after[0][1] == "TO" and after[1][1] == "VB":
            return f"{head} {_text(q, after)} ", "."  # "What are dart frogs known to secrete"
        if len(after) > 1 and after[0][0].lower() == "to" and after[1][0].lower() == "be":
            tail = _text(q, after[2:])  # "What are teachers considered to be in Germany"
            return f"{head} to be ", f" {tail}." if tail else "."
        if rt[v - 1][1] not in ("NN", "NNS"):
            return None
        # a participle right after a noun is a reduced relative clause: the whole rest is the subject
    if rt[0][1] not in _NP_START or _gap_inside(rt):
        return None
    for i, t in enumerate(rt):  # a finite verb before any relative word: the gap is inside a clause, not after a
        if t[1] in ("WDT", "WP") or t[0].lower() == "that":  # noun phrase; a zero relative ("the program the
            break  # university runs") is one
        if i > 1 and rt[i - 2][1] in ("NN", "NNS") and rt[i - 1][1] in ("DT", "PRP", "NNP", "NNPS"):
            break
        if t[1] in ("MD", "VBZ", "VBP", "VBD"):
            return None
    if time:  # "What year was the first Super Bowl" -> "The first Super Bowl was in ANS"
        return f"{_cap(rest)} {be} in ", "."
    return f"{_cap(rest)} {be} ", "."


def _object_gap(q: str, tokens: Sequence[Token], end: int, head: str, verb: str) -> tuple[str, str] | None:
    """Where the answer goes after "X V-ed" (wh_did): after a stranded final preposition ("led to ANS"), after
    a particle ("called on ANS to stop"), after a final "to V" ("reminded the peasants to obey ANS"), after
    the first object of a two-object verb ("offered Tesla ANS"), else right after the verb."""
    rt = _rest(tokens, end)
    rest = q[end:]
    if rt and _is_prep(rt[-1]) and rt[-1][1] != "RB":
        return f"{head}{rest} ", "."
    for a, b in zip(rt, rt[1:]):  # "purchase a stake in in 1951" -> "purchased a stake in ANS in 1951"
        if _is_prep(a) and a[1] != "RB" and b[1] in ("IN", "TO") and (a[0].lower(), b[0].lower()) not in _PREP_PAIRS:
            cut = a[2] + len(a[0])
            return f"{head}{q[end:cut]} ", f"{q[cut:]}."
    if len(rt) > 1 and rt[-2][1] == "TO" and rt[-1][1] == "VB":
        return f"{head}{rest} ", "."
    if len(rt) > 1 and rt[0][1] == "TO" and rt[1][1] == "VB" and verb.lower() in _CATENATIVE:  # "failed to do ANS in …"
        cut = rt[1][2] + len(rt[1][0])
        return f"{head}{q[end:cut]} ", f"{q[cut:]}."
    if rt and rt[0][1] == "RP":
        tail = q[rt[0][2] + len(rt[0][0]) :]
        return f"{head} {rt[0][0]} ", f"{tail}."
    if rt and verb.lower() in _DITRANSITIVE and rt[0][1] in ("PRP", "NNP", "NNPS", "DT", "PRP$"):
        k = 0
        while k < len(rt) and rt[k][1] in ("DT", "PRP$", "JJ", "NN", "NNS", "NNP", "NNPS", "POS", "CD", "PRP"):
            k += 1
        if k < len(rt) and rt[k][1] not in ("IN", "TO", "RB"):
            return None
        tail = q[rt[k - 1][2] + len(rt[k - 1][0]) :]
        return f"{head} {_text(q, rt[:k])} ", f"{tail}."
    return f"{head} ", f"{rest}."


# a question word that starts the sentence or a "how many/much" left in; "what"/"when" inside a clause are
# English ("X set up what became …", "X gained ground when …")
_WH_LEFT = re.compile(r"^\s*(?:what|which|who|whom|whose|where|when|why|how)\b|\bhow (?:many|much)\b", re.I)
# "the Alan Turing's": an article before a possessive of two or more capitalised words, none of them a word
# that names an institution or a country ("the Ottoman Empire's", "the United States'" keep theirs)
_INSTITUTION = (
    "Empire|Republic|Kingdom|States|Union|Church|University|College|Company|Party|Army|Navy|Court|"
    "Council|Dynasty|Museum|Society|Brotherhood|Nations|Bank|Government|Parliament|Senate|Assembly|"
    "Crown|Commission|Institute|Association|League|Corporation|Group|Club|Team|Order|Federation|Library"
)
_PROPER_POSSESSIVE = re.compile(
    rf"\b(?:[Tt]he|[Aa]n?) ((?!(?:{_INSTITUTION})\b)[A-Z][\w.-]*"
    rf"(?:\s(?!(?:{_INSTITUTION})\b)[A-Z][\w.-]*)+'s)(?=\s+[a-z])"
)


def _tidy(stmt: Statement) -> Statement | None:
    """A doubled article ("the the case") made one, an article before a proper name's possessive dropped
    ("The Alan Turing's model" -> "Alan Turing's model"); None when a question word is left in."""
    rule, prefix, suffix = stmt

    def fix(s: str, start: bool) -> str:
        s = re.sub(r"\b([Tt]he|[Aa]n?) (?:the|a|an|The|A|An)\b", r"\1", s)
        s = re.sub(r"\s*,\s*\.$", ".", s)  # "…, formerly believed to be plagued by intractability,."
        s = _PROPER_POSSESSIVE.sub(lambda m: m.group(1), s)
        s = re.sub(
            r"\b(\w+) \1\b", lambda m: m.group(1) if m.group(1).lower() in _PREP_WORDS | {"the", "a"} else m.group(0), s
        )
        return _cap(s) if start else s

    prefix, suffix = fix(prefix, True), fix(suffix, not prefix)
    if _WH_LEFT.search(prefix) or _WH_LEFT.search(suffix.lstrip(" ")) and not prefix:
        return None
    return rule, prefix, suffix


_DAY_DATE = re.compile(
    r"^(?:(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2}\b|\d{1,2}(?:st|nd|rd|th)?\s+(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)\b|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b)"
)


def join_suffix(answer: str, suffix: str) -> str:
    """`suffix` without its leading full stop when the answer ends with one ("Tiffany & Co." + "." -> no "..")."""
    return suffix[1:] if answer.endswith(".") and suffix.startswith(".") else suffix


def join_answer(prefix: str, answer: str) -> tuple[str, str]:
    """(prefix, answer) fitted to each other where the answer's form breaks the sentence:
    an answer that brings its own preposition replaces the prefix's ("founded in" + "In 2001" ->
    "founded " + "in 2001"); a day date takes "on" ("in" + "4 July 1990" -> "on 4 July 1990"); an
    answer that starts the sentence starts with a capital."""
    m = re.search(r"(?:^|\s)(\w+) $", prefix)
    first = answer.split(" ", 1)[0]
    if m and m.group(1).lower() in _PREP_WORDS and first.lower() in _PREP_WORDS and " " in answer:
        prefix, answer = prefix[: m.start(1)], first.lower() + answer[len(first) :]
    elif m and m.group(1) == "in" and _DAY_DATE.match(answer):
        prefix = prefix[: m.start(1)] + "on "
    elif m and m.group(1) == "in" and re.fullmatch(r"\d{3,4}s?\s+(?:to|until)\s+\d{2,4}s?", answer):
        prefix = prefix[: m.start(1)] + "from "  # "took place in" + "2000 to 2007" -> "from 2000 to 2007"
    if not prefix.strip():
        answer = _cap(answer)
    elif re.match(
        r"(?:One|Two|Three|Four|Five|Six|Seven|Eight|Nine|Ten|Eleven|Twelve|Twenty|Thirty|Forty|Fifty|"
        r"Hundreds|Thousands|Millions|Several|Some|About|Approximately|Around|Over|Nearly|Almost|More|Less)\b",
        answer,
    ):
        answer = answer[0].lower() + answer[1:]  # "identified Four factors" -> "identified four factors"
    return prefix, answer


if __name__ == "__main__":
    from pipeline.flips import spacy_tagger

    q, ans = sys.argv[1], sys.argv[2]
    rule, pre, suf = statement(q, spacy_tagger("en_core_web_sm")([q])[0])
    print(rule, "|", pre + ans + suf)
