"""Coarse entity types for near-miss negatives (docs/methods.md §1).

A near-miss negative must have the same coarse type as the gold answer, so that a
question asking "who" gets people as negatives and "how many" gets numbers. The
OntoNotes labels of the spaCy English models are grouped as follows:

| coarse type | spaCy labels |
| --- | --- |
| `PERSON` | PERSON |
| `ORG` | ORG, NORP |
| `PLACE` | GPE, LOC, FAC |
| `TIME` | DATE, TIME |
| `NUMBER` | CARDINAL, QUANTITY, MONEY, PERCENT, ORDINAL |
| `NAMED_THING` | EVENT, WORK_OF_ART, LAW, PRODUCT, LANGUAGE |

A label outside this table (a model with another label set) is its own coarse type, so
such entities only match entities with the same label.

    python -m pipeline.coarse_types    # prints the table above as markdown
"""

from __future__ import annotations

COARSE_GROUPS: dict[str, tuple[str, ...]] = {
    "PERSON": ("PERSON",),
    "ORG": ("ORG", "NORP"),
    "PLACE": ("GPE", "LOC", "FAC"),
    "TIME": ("DATE", "TIME"),
    "NUMBER": ("CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL"),
    "NAMED_THING": ("EVENT", "WORK_OF_ART", "LAW", "PRODUCT", "LANGUAGE"),
}

COARSE_TYPES: dict[str, str] = {label: coarse for coarse, labels in COARSE_GROUPS.items() for label in labels}


def coarse_type(label: str | None) -> str | None:
    """Coarse type of a spaCy entity label; an unknown label is its own type; None stays None."""
    if label is None:
        return None
    return COARSE_TYPES.get(label, label)


def table_markdown() -> str:
    """The coarse-type table as markdown (for the README)."""
    rows = [f"| `{coarse}` | {', '.join(labels)} |" for coarse, labels in COARSE_GROUPS.items()]
    return "\n".join(["| coarse type | spaCy labels |", "| --- | --- |", *rows])


if __name__ == "__main__":
    print(table_markdown())
