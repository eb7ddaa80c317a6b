"""The three question-flip rules of docs/methods.md §2, as pure string functions.

Each rule takes the question, the character spans of its two answer options (found by
`pipeline.flips.find_options`) and, for `negation`, the question's spaCy tokens
(text, fine-grained tag, char offset). It returns the flipped question, or None when the
rule does not apply. `pipeline.flips` tries them in `RULES` order; the first that applies
writes the flip.

1. `antonym`: the first word of the `ANTONYMS` table (in table order) found outside the
   options is replaced by its antonym, keeping its case (`Higher` → `Lower`).
2. `negation`: the first verb before the options is negated with lemminflect, the tag
   choosing the form: played (VBD) → did not play, plays (VBZ) → does not play,
   is/are/was → is not/…, has + noun → does not have, has + participle → has not,
   can/should/will (MD) → can not/should not/will not; an auxiliary inverted with its
   subject is negated at the main verb ("What day did X go up" → "… did X not go up").
   Not applied when the options are
   themselves a comparative pair ("more or less"): negating those is ambiguous.
3. `np_swap`: for "X <verb> more or less … than Y" questions (options an antonym pair and a
   "than" after them), X and Y are swapped. Y runs from "than" to the end; X starts after
   the first auxiliary and is the prefix most like Y (most shared words, then closest length).

    python -c "from pipeline.flip_rules import antonym; print(antonym('Who is taller, A or B?', []))"
"""

from __future__ import annotations

import re
from collections.abc import Sequence


Span = tuple[int, int]
Token = tuple[str, str, int]  # (text, fine-grained tag, char offset)


def getLemma(word: str, upos: str) -> tuple[str, ...]:
    """lemminflect's getLemma, imported on first use (lemminflect imports spaCy, which probes torch)."""
    import lemminflect

    return lemminflect.getLemma(word, upos=upos)

# Symmetric antonym pairs; `fewer` maps to `more` (asymmetric, as in docs/methods.md).
_PAIRS = [
    ("more", "less"), ("most", "least"), ("older", "younger"), ("oldest", "youngest"),
    ("earlier", "later"), ("earliest", "latest"), ("larger", "smaller"), ("largest", "smallest"),
    ("bigger", "smaller"), ("biggest", "smallest"), ("higher", "lower"), ("highest", "lowest"),
    ("first", "last"), ("shorter", "longer"), ("shortest", "longest"), ("closer", "further"),
    ("closest", "furthest"), ("nearer", "farther"), ("harder", "easier"), ("hardest", "easiest"),
    ("faster", "slower"), ("fastest", "slowest"), ("stronger", "weaker"), ("strongest", "weakest"),
    ("warmer", "cooler"), ("hotter", "colder"), ("hottest", "coldest"), ("heavier", "lighter"),
    ("heaviest", "lightest"), ("wider", "narrower"), ("deeper", "shallower"), ("thicker", "thinner"),
    ("better", "worse"), ("best", "worst"), ("richer", "poorer"), ("louder", "quieter"),
    ("brighter", "dimmer"), ("increase", "decrease"), ("increases", "decreases"),
    ("increased", "decreased"), ("increasing", "decreasing"), ("gain", "lose"),
    ("before", "after"), ("greater", "smaller"), ("safer", "riskier"), ("cheaper", "costlier"),
    ("accelerate", "decelerate"), ("positive", "negative"), ("raise", "lower"),
    ("taller", "shorter"), ("tallest", "shortest"), ("likely", "unlikely"), ("slowly", "quickly"),
    ("warmest", "coolest"), ("denser", "lighter"), ("cooler", "warmer"), ("colder", "warmer"),
]
ANTONYMS: dict[str, str] = {}
for _a, _b in _PAIRS:
    ANTONYMS.setdefault(_a, _b)
    ANTONYMS.setdefault(_b, _a)
ANTONYMS["fewer"] = "more"
ANTONYMS["fewest"] = "most"
COMPARATIVE_WORDS: frozenset[str] = frozenset(ANTONYMS)

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_MODALS = {"can", "could", "should", "will", "would", "may", "might", "must", "shall"}
_BE = {"is", "are", "was", "were", "am"}
_HAVE = {"has": "does", "have": "do", "had": "did"}
_DO = {"does", "do", "did"}
_AUX = _MODALS | _BE | set(_HAVE) | _DO
_DO_FOR_TAG = {"VBZ": "does", "VBP": "do", "VBD": "did"}


def keep_case(template: str, word: str) -> str:
    """`word` written in the case pattern of `template` (upper, title or lower)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _outside(start: int, end: int, options: Sequence[Span]) -> bool:
    return all(end <= s or start >= e for s, e in options)


def antonym(question: str, options: Sequence[Span]) -> str | None:
    """Rule 1: swap a comparative/superlative outside the options with its antonym.

    First match wins in table order (more/less before increase/decrease, so "decreasing
    less in A or B" becomes "decreasing more ..."); within a word, the leftmost occurrence.
    """
    words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(question)]
    for key, target in ANTONYMS.items():
        for word, start, end in words:
            if word.lower() == key and _outside(start, end, options):
                return question[:start] + keep_case(word, target) + question[end:]
    return None


def options_are_comparatives(question: str, options: Sequence[Span]) -> bool:
    return bool(options) and all(question[s:e].strip().lower() in COMPARATIVE_WORDS for s, e in options)


_SUBJECT_START = ("DT", "NN", "NNS", "NNP", "NNPS", "PRP", "PRP$", "CD", "WP$")


def _negated(tokens: Sequence[Token], i: int, limit: int) -> tuple[int, str] | None:
    """(token index, replacement text) negating the verb tokens[i], or None.

    An auxiliary followed by its subject ("What day did demand go up") is negated at the
    main verb after the subject ("… did demand not go up"); that verb must come before
    `limit` (the options), else the rule does not apply."""
    text, tag, _ = tokens[i]
    low = text.lower()
    nxt_tag = tokens[i + 1][1] if i + 1 < len(tokens) else ""
    if (low in _DO or low in _MODALS or tag == "MD") and nxt_tag in _SUBJECT_START:
        for j in range(i + 2, len(tokens)):
            if tokens[j][2] >= limit:
                return None
            if tokens[j][1] in ("VB", "VBN", "VBG"):
                return j, "not " + tokens[j][0]
        return None
    return (i, rep) if (rep := _negated_finite(tokens, i)) else None


def _negated_finite(tokens: Sequence[Token], i: int) -> str | None:
    """Negated form of the finite verb tokens[i] (not inverted with its subject)."""
    text, tag, _ = tokens[i]
    low = text.lower()
    nxt_tag = tokens[i + 1][1] if i + 1 < len(tokens) else ""
    if low in _MODALS or tag == "MD":
        return f"{text} not"
    if low in _BE:
        return f"{text} not"
    if low in _HAVE:
        if nxt_tag == "VBN":  # perfect aux: "has won" -> "has not won"
            return f"{text} not"
        return keep_case(text, _HAVE[low]) + " not have"
    if low in _DO:
        return f"{text} not"
    if tag in _DO_FOR_TAG:
        lemma = getLemma(low, upos="VERB")
        if not lemma:
            return None
        return keep_case(text, _DO_FOR_TAG[tag]) + " not " + lemma[0]
    return None


def negation(question: str, options: Sequence[Span], tokens: Sequence[Token]) -> str | None:
    """Rule 2: negate the first finite verb before the options (lemminflect + spaCy tags)."""
    if options_are_comparatives(question, options) or re.search(r"\bnot\b|n't\b", question):
        return None
    first_option = min((s for s, _ in options), default=len(question))
    for i, (text, tag, off) in enumerate(tokens):
        if off >= first_option:
            break
        finite = tag in ("VBZ", "VBP", "VBD", "MD") or text.lower() in _AUX
        if not finite:
            continue
        if i == 0 and not (text.lower() in _DO | _MODALS and i + 1 < len(tokens) and tokens[1][1] in _SUBJECT_START):
            return None  # an opening "Is"/"Has" (or "Will A or B ...?") has no place for the "not"
        found = _negated(tokens, i, first_option)
        if found is None:
            return None
        j, rep = found
        t_text, _, t_off = tokens[j]
        return question[:t_off] + rep + question[t_off + len(t_text):]
    return None


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _similarity(a: list[str], b: list[str]) -> tuple[int, int]:
    """(shared words, -length difference): "patient A" beats "patient" against "patient B"."""
    return len(set(a) & set(b)), -abs(len(a) - len(b))


def np_swap(question: str, options: Sequence[Span]) -> str | None:
    """Rule 3: swap X and Y in "<aux> X <verb> more or less ... than Y?"."""
    if not options_are_comparatives(question, options):
        return None
    opt_start, opt_end = min(s for s, _ in options), max(e for _, e in options)
    than = re.search(r"\bthan\s+", question[opt_end:])
    if not than:
        return None
    y_start = opt_end + than.end()
    y_end = len(question.rstrip().rstrip("?").rstrip())
    if y_end <= y_start:
        return None
    aux = next((m for m in _WORD.finditer(question[:opt_start]) if m.group(0).lower() in _AUX), None)
    if aux is None:
        return None
    x_start = aux.end() + len(question[aux.end():]) - len(question[aux.end():].lstrip())
    y_words = _words(question[y_start:y_end])
    best: tuple[tuple[int, int], int] | None = None
    for m in _WORD.finditer(question[x_start:opt_start]):
        end = x_start + m.end()
        score = _similarity(_words(question[x_start:end]), y_words)
        if best is None or score > best[0]:
            best = (score, end)
    if best is None:
        return None
    x_end = best[1]
    x, y = question[x_start:x_end], question[y_start:y_end]
    if x.lower() == y.lower():
        return None
    return question[:x_start] + y + question[x_end:y_start] + x + question[y_end:]
