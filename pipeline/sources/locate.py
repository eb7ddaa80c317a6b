"""Find a free-text answer (ROPES, HotpotQA: no offsets in the source) in a built context.

The context is made of named parts (ROPES: situation, background, question; HotpotQA:
one part per supporting paragraph). `locate_answer` searches them in the order given:

1. whole-word, exact case, first occurrence, part by part;
2. whole-word, ignoring case, part by part (the span's text is then the context's
   spelling, e.g. answer "company X" found as "Company X");
3. nothing else: a match inside a longer word ("less" in "colourless", "Dan" in "Danny")
   is never taken, because it would make a wrong gold span. `inside_word_only` tells the
   caller that such a match exists, for the reject detail.

"Whole word" means no letter, digit or underscore right before or after the match
(`str.isalnum()` or "_", the same characters as `\\w` in Python regexes).
A match is taken only when the text it covers reads as the answer (equal, or equal after
`lower()` or `casefold()`), so a wrong extent is never stored: it is no match instead.
Leading and trailing whitespace of the answer is ignored (ROPES has " Alkali soil").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ContextPart:
    name: str  # e.g. "situation", "background", "question", or a paragraph title
    start: int  # char offset of the part in the full context
    text: str  # the part's text (context[start:start + len(text)])


@dataclass(frozen=True)
class Located:
    start: int  # char offset in the full context
    end: int  # exclusive end
    part: str  # name of the part it was found in


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def find_whole_word(needle: str, haystack: str) -> int:
    """Offset of the first occurrence of `needle` with no word character on either side, or -1."""
    i = haystack.find(needle)
    while i != -1:
        j = i + len(needle)
        if (i == 0 or not _is_word_char(haystack[i - 1])) and (j == len(haystack) or not _is_word_char(haystack[j])):
            return i
        i = haystack.find(needle, i + 1)
    return -1


def _find_any_case(needle: str, haystack: str) -> tuple[int, int] | None:
    """(start, end) in `haystack` of a whole-word match ignoring case, or None.

    When `haystack.lower()` has the haystack's length, every character lowered to exactly
    one character, so offsets in the lowered text are offsets in the haystack; the match
    there has the length of the lowered NEEDLE, which may differ from the needle's own
    ("İSTANBUL" lowers to "i̇stanbul", 9 characters, and matches the context's "i̇stanbul").
    """
    lowered = haystack.lower()
    if len(lowered) == len(haystack):  # lower() kept every offset: search the lowered text
        low_needle = needle.lower()
        i = find_whole_word(low_needle, lowered)
        return (i, i + len(low_needle)) if i != -1 else None
    m = re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack, re.IGNORECASE)  # rare: offsets shift
    return (m.start(), m.end()) if m else None


def locate_answer(answer: str, parts: list[ContextPart]) -> Located | None:
    """First whole-word occurrence of `answer` in `parts` (exact case before any case), or None."""
    needle = answer.strip()
    if not needle:
        return None
    for part in parts:
        if (i := find_whole_word(needle, part.text)) != -1:
            return Located(part.start + i, part.start + i + len(needle), part.name)
    for part in parts:
        found = _find_any_case(needle, part.text)
        if found is not None and reads_as(part.text[found[0] : found[1]], needle):
            return Located(part.start + found[0], part.start + found[1], part.name)
    return None


def reads_as(text: str, answer: str) -> bool:
    """True when `text` (a span of the context) is `answer` up to case."""
    return text == answer or text.lower() == answer.lower() or text.casefold() == answer.casefold()


def inside_word_only(answer: str, parts: list[ContextPart]) -> bool:
    """True when `answer` occurs in some part, but only inside longer words."""
    needle = answer.strip().lower()
    return bool(needle) and any(needle in part.text.lower() for part in parts)


def join_parts(named_texts: list[tuple[str, str]], sep: str = "\n\n") -> tuple[str, list[ContextPart]]:
    """Concatenate texts with `sep`; return the context and where each part starts."""
    parts: list[ContextPart] = []
    pieces: list[str] = []
    offset = 0
    for name, text in named_texts:
        if pieces:
            pieces.append(sep)
            offset += len(sep)
        parts.append(ContextPart(name, offset, text))
        pieces.append(text)
        offset += len(text)
    return "".join(pieces), parts
