"""Split a context into segments for highlighting: each character knows which spans cover it.

The audit page (`pipeline.audit`) renders a context with its gold answer, near-miss
negatives, bundle members' answers and an inserted synthetic sentence marked in
different colours. Spans may nest or overlap (the inserted sentence holds the inserted
answer; a negative can touch the gold), so the text is cut at every span boundary and
each piece carries the kinds of all spans that cover it:

    >>> [(s.text, s.kinds) for s in segments("Paris in 1900", [Mark(0, 5, "gold"), Mark(0, 13, "sentence")])]
    [('Paris', ('gold', 'sentence')), (' in 1900', ('sentence',))]

Offsets are character offsets, start inclusive, end exclusive (as in every artifact).
A span outside the text or with end < start is an error naming it, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    start: int
    end: int
    kind: str  # css-safe name: `gold`, `negative`, `inserted`, `member-0`, ...
    note: str = ""  # tooltip text (e.g. the spaCy label of a negative)


@dataclass(frozen=True)
class Segment:
    text: str
    kinds: tuple[str, ...]  # kinds of the marks covering this piece, in the order given
    notes: tuple[str, ...] = ()


def segments(text: str, marks: Sequence[Mark]) -> list[Segment]:
    """Pieces of `text` cut at every mark boundary; concatenated they give `text` back."""
    for m in marks:
        if not (0 <= m.start <= m.end <= len(text)):
            raise ValueError(
                f"highlight: span {m.kind} [{m.start}, {m.end}) lies outside a text of {len(text)} characters"
            )
    cuts = sorted({0, len(text), *(m.start for m in marks), *(m.end for m in marks)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:]):
        if a == b:
            continue
        cover = [m for m in marks if m.start <= a and b <= m.end and m.start < m.end]
        kinds = tuple(dict.fromkeys(m.kind for m in cover))
        notes = tuple(m.note for m in cover if m.note)
        out.append(Segment(text[a:b], kinds, notes))
    return out or [Segment(text, ())]
