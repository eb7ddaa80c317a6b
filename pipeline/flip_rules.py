"""The three question-flip rules of docs/methods.md §2, as pure string functions.

Each rule takes the question, the character spans of its two answer options (found by
`pipeline.flips.find_options`) and, for `negation` (optionally `antonym`, `np_swap`), the
question's spaCy tokens (text, fine-grained tag, char offset). It returns the flipped question, or None when the
rule does not apply. `pipeline.flips` tries them in `RULES` order; the first that applies
writes the flip.

1. `antonym`: the first phrase of the `PHRASE_ANTONYMS` table ("more likely" → "less likely",
   "closer to" → "farther from", …), else the first word of the `ANTONYMS` table (in table
   order), found outside the options is replaced by its antonym, keeping the case of its
   first letter (`Higher` → `Lower`).
2. `negation`: the first verb before the options is negated with lemminflect, the tag
   choosing the form: played (VBD) → did not play, plays (VBZ) → does not play,
   is/are/was → is not/…, has + noun → does not have, has + participle → has not,
   can/should/will (MD) → can not/should not/will not; an auxiliary inverted with its
   subject is negated at the main verb ("What day did X go up" → "… did X not go up").
   Not applied when the options are
   themselves a comparative pair ("more or less"): negating those is ambiguous.
3. `np_swap`: for "… X … more or less … than Y" questions (options a contrast pair, single
   words or phrases such as "more friction or less friction", and a "than" after them),
   the two compared things are swapped. Y is the text after "than" (to the end). What
   differs between the two sides is swapped, not whole phrases: the pair of cores (a
   stretch of Y, a stretch of the question outside the options and before "than") whose
   surrounding words agree best (`_best_cores`: most words shared just before + just after
   the cores, then fewest words of Y left out, then most equal lengths, then longer, then
   later), so "the temperature in the Trine forest … than in the Jimpy forest" swaps
   Trine/Jimpy, "in case A … than in case B" swaps A/B, "Barb's boat … than Stephanie's"
   swaps Barb/Stephanie and "in Namib Desert … than in Grasslands in Botswana" swaps the
   two places whole. Words are compared case-insensitively (but "A" is not "a"), and a
   transposed-letter typo ("objcet"/"object") counts as the same word. A core holds no
   auxiliary and neither starts nor ends with a frame word (the, in, of, 's, his, …); a
   Y core ends at shared words, the end of Y, an auxiliary or a frame word ("than plant A
   in the future"), and so does an X core unless Y ends there. Words of Y after the core
   that open a phrase ("'s temperature", "in the future") are not counted as left out.
   When no core pair shares a word with its surroundings (the fallback), Y runs from
   "than" to the first auxiliary or frame word; X is the capitalised name after the last
   preposition before "than" when Y is capitalised too ("on Monday than Tuesday"), else
   the stretch from after the first auxiliary to the next auxiliary, tagged verb, frame
   or comparison word ("Would elands be … than wild boars?" → "Would wild boars be …
   than elands?"); a pronoun ("Is it more or less likely …") is not swapped.
   When the options are a contrast pair, `pipeline.flips.flip_question` tries np_swap first.

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
    ("more", "less"),
    ("most", "least"),
    ("older", "younger"),
    ("oldest", "youngest"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("bigger", "smaller"),
    ("biggest", "smallest"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("first", "last"),
    ("shorter", "longer"),
    ("shortest", "longest"),
    ("closer", "further"),
    ("closest", "furthest"),
    ("nearer", "farther"),
    ("harder", "easier"),
    ("hardest", "easiest"),
    ("faster", "slower"),
    ("fastest", "slowest"),
    ("stronger", "weaker"),
    ("strongest", "weakest"),
    ("warmer", "cooler"),
    ("hotter", "colder"),
    ("hottest", "coldest"),
    ("heavier", "lighter"),
    ("heaviest", "lightest"),
    ("wider", "narrower"),
    ("deeper", "shallower"),
    ("thicker", "thinner"),
    ("better", "worse"),
    ("best", "worst"),
    ("richer", "poorer"),
    ("louder", "quieter"),
    ("brighter", "dimmer"),
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("increased", "decreased"),
    ("increasing", "decreasing"),
    ("gain", "lose"),
    ("before", "after"),
    ("greater", "smaller"),
    ("safer", "riskier"),
    ("cheaper", "costlier"),
    ("accelerate", "decelerate"),
    ("positive", "negative"),
    ("raise", "lower"),
    ("taller", "shorter"),
    ("tallest", "shortest"),
    ("likely", "unlikely"),
    ("slowly", "quickly"),
    ("warmest", "coolest"),
    ("denser", "lighter"),
    ("cooler", "warmer"),
    ("colder", "warmer"),
    ("drier", "wetter"),
]
ANTONYMS: dict[str, str] = {}
for _a, _b in _PAIRS:
    ANTONYMS.setdefault(_a, _b)
    ANTONYMS.setdefault(_b, _a)
ANTONYMS["fewer"] = "more"
ANTONYMS["fewest"] = "most"
COMPARATIVE_WORDS: frozenset[str] = frozenset(ANTONYMS)

# Phrases a word-level table gets wrong, tried before `ANTONYMS` (as the public code's
# `sup_replacements` tries its multi-word keys first; our own table, see docs/methods.md §2.1):
# "closer to" would become "further to" word by word, and "less likely consume more food"
# should flip "likely", not "more".
_PHRASE_PAIRS = [
    ("more likely", "less likely"),
    ("most likely", "least likely"),
    ("closer to", "farther from"),
    ("close to", "far from"),
]
PHRASE_ANTONYMS: dict[str, str] = {}
for _a, _b in _PHRASE_PAIRS:
    PHRASE_ANTONYMS.setdefault(_a, _b)
    PHRASE_ANTONYMS.setdefault(_b, _a)
PHRASE_ANTONYMS["further from"] = "closer to"

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


def _phrase_spans(question: str, phrase: str) -> list[tuple[int, int]]:
    pat = r"(?<![\w'])" + r"\s+".join(map(re.escape, phrase.split())) + r"(?![\w'])"
    return [(m.start(), m.end()) for m in re.finditer(pat, question, re.I)]


def _with_article(question: str, start: int, replacement: str) -> tuple[int, str]:
    """(start, text) replacing question[start:…] by `replacement`, the article before it
    agreeing ("a decrease" → "an increase", "an increase" → "a decrease")."""
    m = re.search(r"\b(an?)\s+$", question[:start], re.I)
    if not m:
        return start, replacement
    article = "an" if replacement[:1].lower() in "aeiou" else "a"
    return m.start(1), keep_case(m.group(1), article) + question[m.end(1) : start] + replacement


def antonym(question: str, options: Sequence[Span], tokens: Sequence[Token] | None = None) -> str | None:
    """Rule 1: swap a comparative/superlative outside the options with its antonym.

    Phrases (`PHRASE_ANTONYMS`) first, then words; first match wins in table order (more/less
    before increase/decrease, so "decreasing less in A or B" becomes "decreasing more ...");
    within an entry, the leftmost occurrence. "more" → "less" also before plural nouns: ROPES'
    writers' partners say "less" there more often than "fewer" (measured, docs/methods.md §2.1).
    Skipped: the word right after comparative options ("more or less likely" is not made
    "more or less unlikely") and, with `tokens`, "likely" as an adverb ("would D likely
    increase"; "unlikely" is no adverb). An article before the word is made to agree."""
    after_options = None
    if options_are_comparatives(question, options):
        end = max(e for _, e in options)
        after_options = end + len(question[end:]) - len(question[end:].lstrip())
    adverbs = {off for text, tag, off in tokens or () if tag.startswith("RB") and text.lower() == "likely"}
    for key, target in PHRASE_ANTONYMS.items():
        for start, end in _phrase_spans(question, key):
            if _outside(start, end, options) and start != after_options:
                at, text = _with_article(question, start, keep_case(question[start:end].split()[0], target))
                return question[:at] + text + question[end:]
    words = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(question)]
    for key, target in ANTONYMS.items():
        for word, start, end in words:
            if (
                word.lower() == key
                and _outside(start, end, options)
                and start != after_options
                and start not in adverbs
            ):
                at, text = _with_article(question, start, keep_case(word, target))
                return question[:at] + text + question[end:]
    return None


def antonym_phrases(a: str, b: str) -> bool:
    """True when option texts `a` and `b` are a contrast pair: equal but for antonyms or
    comparatives ("more"/"less", "closer"/"farther", "more friction"/"less friction", "more
    quickly"/"more slowly") or a `PHRASE_ANTONYMS` pair ("closer to"/"farther from")."""
    wa, wb = a.lower().split(), b.lower().split()
    if not wa or len(wa) != len(wb) or len(wa) > 3:
        return False
    if PHRASE_ANTONYMS.get(" ".join(wa)) == " ".join(wb) or PHRASE_ANTONYMS.get(" ".join(wb)) == " ".join(wa):
        return True
    diff = [(x, y) for x, y in zip(wa, wb) if x != y]
    return bool(diff) and all(
        ANTONYMS.get(x) == y or ANTONYMS.get(y) == x or (x in COMPARATIVE_WORDS and y in COMPARATIVE_WORDS)
        for x, y in diff
    )


def options_are_comparatives(question: str, options: Sequence[Span]) -> bool:
    """The two options are themselves a contrast pair ("more or less", "more likely or less likely")."""
    if len(options) != 2:
        return False
    a, b = (question[s:e].strip() for s, e in options)
    return antonym_phrases(a, b)


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
    if low in _MODALS or tag == "MD" or low in _BE or low in _DO:
        return f"{text} not"
    if low in _HAVE:
        if nxt_tag == "VBN":  # perfect aux: "has won" -> "has not won"
            return f"{text} not"
        return keep_case(text, _HAVE[low]) + " not have"
    if tag in _DO_FOR_TAG:
        lemma = getLemma(low, upos="VERB")
        if not lemma:
            return None
        return keep_case(text, _DO_FOR_TAG[tag]) + " not " + lemma[0]
    return None


_CONDITION = re.compile(r"\s*(?:if|given|assuming|suppose|supposing)\b", re.I)


def negation(question: str, options: Sequence[Span], tokens: Sequence[Token]) -> str | None:
    """Rule 2: negate the first finite verb before the options (lemminflect + spaCy tags).

    Not inside a leading condition ("If the students touch the particles, would …"): a
    negated condition does not make the other option the answer; the main clause (after
    the last comma that a finite verb before the options follows) is negated instead, and
    nothing when there is none."""
    if options_are_comparatives(question, options) or re.search(r"\bnot\b|n't\b", question):
        return None
    first_option = min((s for s, _ in options), default=len(question))
    clause = 0  # offset where the negatable clause starts
    if _CONDITION.match(question):
        finite_at = [
            off
            for text, tag, off in tokens
            if off < first_option and (tag in ("VBZ", "VBP", "VBD", "MD") or text.lower() in _AUX)
        ]
        commas = [m.start() for m in re.finditer(",", question[:first_option])]
        closing = [c for c in commas if any(off > c for off in finite_at)]
        if not closing:
            return None  # no comma closes the condition before a verb of the main clause
        clause = closing[-1] + 1
    start = next((k for k, t in enumerate(tokens) if t[2] >= clause), len(tokens))
    for i, (text, tag, off) in enumerate(tokens):
        if off < clause:
            continue
        if off >= first_option:
            break
        finite = tag in ("VBZ", "VBP", "VBD", "MD") or text.lower() in _AUX
        if not finite:
            continue
        if i == start and not (
            text.lower() in _DO | _MODALS and i + 1 < len(tokens) and tokens[i + 1][1] in _SUBJECT_START
        ):
            return None  # an opening "Is"/"Has" (or "Will A or B ...?") has no place for the "not"
        found = _negated(tokens, i, first_option)
        if found is None:
            return None
        j, rep = found
        t_text, _, t_off = tokens[j]
        return question[:t_off] + rep + question[t_off + len(t_text) :]
    return None


_TOKEN = re.compile(r"'s(?!\w)|\w+")
_FINITE_TAGS = ("VB", "VBD", "VBP", "VBZ", "MD")
# Words a core never starts or ends with (they belong to the surrounding frame).
_FRAME_WORDS = frozenset(
    {
        "'s",
        "the",
        "a",
        "an",
        "in",
        "on",
        "at",
        "of",
        "to",
        "for",
        "with",
        "by",
        "from",
        "and",
        "or",
        "than",
        "that",
        "if",
        "as",
        "into",
        "during",
        "after",
        "before",
        "his",
        "her",
        "their",
        "its",
    }
)
_MAX_CORE = 5
_CORE_STOP = _AUX | {"be", "been", "being"}  # never inside a core
_COMPARISON_WORDS = COMPARATIVE_WORDS | {w for p in PHRASE_ANTONYMS for w in p.split()}  # end a fallback X


def _same(a: str, b: str) -> bool:
    """Word equality for aligning the two sides: case-insensitive, and a word of 5+ letters
    with two neighbouring letters transposed ("objcet" / "object") counts as the same word."""
    if len(a) == 1 or len(b) == 1:
        return a == b  # "A" (a name) is not "a" (an article)
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    return (
        min(len(a), len(b)) >= 5
        and len(a) == len(b)
        and sorted(a) == sorted(b)
        and sum(x != y for x, y in zip(a, b)) <= 2
    )


def _side(question: str, start: int, end: int, verbs: set[int]) -> list[tuple[str, int, int, bool, bool]]:
    """(text, start, end, is an auxiliary, tagged as a finite verb) of the tokens in question[start:end]."""
    return [
        (m.group(0), start + m.start(), start + m.end(), m.group(0).lower() in _CORE_STOP, start + m.start() in verbs)
        for m in _TOKEN.finditer(question[start:end])
    ]


_PRONOUNS = frozenset({"it", "they", "he", "she", "this", "that", "there", "these", "those", "we", "you", "i"})


def _frame(text: str) -> bool:
    return text.lower() in _FRAME_WORDS and text != "A"  # "A" is a name ("patient A"), "a" an article


def _core_ok(toks: Sequence[tuple]) -> bool:
    return not any(t[3] for t in toks) and not _frame(toks[0][0]) and not _frame(toks[-1][0])


def _best_cores(region: list, y: list) -> tuple[tuple, int, int, int, int] | None:
    """Best (key, i, i2, j, j2): core region[i:i2] against core y[j:j2] (see module doc).

    key = (words shared just before + just after the cores, -words of Y left over,
    -|length difference|, summed length, start); at least one shared word. A Y core ends at
    shared words, the end of Y, an auxiliary or a frame word ("than patient B does", "than
    plant A in the future"); unless Y ends there, so does an X core (or at a tagged verb)."""
    n, m = len(region), len(y)
    left = [[0] * (m + 1) for _ in range(n + 1)]  # words shared just before region[i] and y[j]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if _same(region[i - 1][0], y[j - 1][0]):
                left[i][j] = left[i - 1][j - 1] + 1
    right = [[0] * (m + 1) for _ in range(n + 1)]  # words shared from region[i] and y[j] on
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if _same(region[i][0], y[j][0]):
                right[i][j] = right[i + 1][j + 1] + 1
    best: tuple | None = None
    for i in range(n):
        for i2 in range(i + 1, min(n, i + _MAX_CORE) + 1):
            xs = region[i:i2]
            if not _core_ok(xs):
                continue
            for j in range(m):
                for j2 in range(j + 1, min(m, j + _MAX_CORE) + 1):
                    ys = y[j:j2]
                    if not _core_ok(ys) or _same(xs[0][0], ys[0][0]) or _same(xs[-1][0], ys[-1][0]):
                        continue  # a shared edge word belongs to the frame, not the core
                    r = right[i2][j2]
                    y_end = j2 + r == m
                    if r == 0 and not y_end and not (y[j2][3] or _frame(y[j2][0])):
                        continue  # the Y core stops mid-phrase
                    if (
                        r == 0
                        and i2 < n
                        and not y_end
                        and not (region[i2][3] or region[i2][4] or _frame(region[i2][0]))
                    ):
                        continue  # so does the X core ("Namib" of "Namib Desert")
                    # words of Y neither core nor shared: those before, and those after unless
                    # they open a phrase of their own ("'s temperature", "in the future")
                    rest = j2 + r
                    loose = j - left[i][j] + (m - rest if rest < m and not _frame(y[rest][0]) else 0)
                    key = (left[i][j] + r, -loose, -abs(len(xs) - len(ys)), len(xs) + len(ys), region[i][1])
                    if key[0] >= 1 and (best is None or key > best[0]):
                        best = (key, i, i2, j, j2)
    return best


def _fallback_cores(regions: list[list], y: list) -> tuple[int, int, int, int, int] | None:
    """(region, i, i2, j, j2) when no core pair shares a word with its surroundings.

    Y = from "than" up to the first auxiliary or frame word after its first word. X = the
    last stretch after a preposition right before "than" when it and Y are both capitalised
    names ("on Monday than Thursday"); else from after the first auxiliary up to the next
    auxiliary, tagged verb, frame or comparison word ("Does Brad more likely have" → "Brad";
    at least one word). Neither may be a pronoun."""
    j2 = next((k for k in range(1, len(y)) if y[k][3] or _frame(y[k][0])), len(y))
    if not y or not _core_ok(y[:j2]) or y[0][0].lower() in _PRONOUNS:
        return None
    after = regions[1]
    cut = max((k for k, t in enumerate(after) if _frame(t[0])), default=None)
    if cut is not None and cut + 1 < len(after) and after[cut + 1][0][:1].isupper() and y[0][0][:1].isupper():
        if _core_ok(after[cut + 1 :]):
            return 1, cut + 1, len(after), 0, j2
    region = regions[0]
    aux = next((k for k, t in enumerate(region) if t[3]), None)
    if aux is None or aux + 1 >= len(region):
        return None
    stop = lambda t: t[3] or t[4] or _frame(t[0]) or t[0].lower() in _COMPARISON_WORDS  # noqa: E731
    i2 = next((k for k in range(aux + 2, len(region)) if stop(region[k])), len(region))
    if not _core_ok(region[aux + 1 : i2]) or region[aux + 1][0].lower() in _PRONOUNS:
        return None
    return 0, aux + 1, i2, 0, j2


def np_swap(question: str, options: Sequence[Span], tokens: Sequence[Token] | None = None) -> str | None:
    """Rule 3: swap the compared things X and Y in "… X … more or less … than Y?".

    `tokens` (spaCy: text, tag, offset) mark verbs, which never sit inside a swapped core;
    without them only auxiliaries are known."""
    if not options_are_comparatives(question, options):
        return None
    opt_start, opt_end = min(s for s, _ in options), max(e for _, e in options)
    than = re.search(r"\bthan\s+", question[opt_end:])
    if not than:
        return None
    than_start, y_start = opt_end + than.start(), opt_end + than.end()
    y_end = len(question.rstrip().rstrip("?").rstrip())
    if y_end <= y_start:
        return None
    verbs = {off for _, tag, off in tokens or () if tag in _FINITE_TAGS}
    y = _side(question, y_start, y_end, verbs)
    regions = [_side(question, 0, opt_start, verbs), _side(question, opt_end, than_start, verbs)]
    found = [(c, k) for k, region in enumerate(regions) if region and (c := _best_cores(region, y))]
    if found:
        (_, i, i2, j, j2), k = max(found, key=lambda f: (f[0][0], f[1]))  # tie: the side nearer "than"
        region = regions[k]
    else:
        cores = _fallback_cores(regions, y)
        if cores is None:
            return None
        k, i, i2, j, j2 = cores
        region = regions[k]
    xs, xe = region[i][1], region[i2 - 1][2]
    ys, ye = y[j][1], y[j2 - 1][2]
    if question[xs:xe].lower() == question[ys:ye].lower():
        return None
    return question[:xs] + question[ys:ye] + question[xe:ys] + question[xs:xe] + question[ye:]
