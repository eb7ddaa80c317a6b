"""The answer normalisation flips, ROPES bundles and synthetic spans compare texts with."""

from __future__ import annotations

import re


def normalize(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))
