"""Read a local JSON input and decide its format; everything that makes a whole file unusable.

`read_json` raises `SourceError` for a missing or unreadable file, a folder, an empty file,
undecodable bytes, invalid JSON (with the JSON line and column) and JSON nested deeper than
Python's recursion limit. A UTF-8 byte-order mark is skipped. An integer literal of more than
`MAX_INT_DIGITS` digits (no offset or id needs one; Python refuses to convert more than 4,300)
is read as an `OversizedNumber`, which no field accepts, so its record is rejected naming the
field instead of the whole file failing. `sniff_format` looks at the top-level shape:

| shape | format |
| --- | --- |
| `{"data": [{"paragraphs": [{"context": ...}]}]}` | `squad` (also XQuAD, MLQA, adversarial SQuAD) |
| `{"data": [{"paragraphs": [{"background": ..., "situation": ...}]}]}` | `ropes` |
| `[{"_id": ..., "supporting_facts": ..., "context": ...}]` | `hotpot` |

A requested format that does not fit the shape is also a `SourceError`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipeline.sources.spec import SOURCE_FORMATS, SourceError

MAX_INT_DIGITS = 100


class OversizedNumber:
    """An integer literal too long to be an offset or an id (kept as its digits; no field accepts it)."""

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {len(self.digits.lstrip('-'))} digits>"


def _parse_int(digits: str) -> int | OversizedNumber:
    return int(digits) if len(digits) <= MAX_INT_DIGITS else OversizedNumber(digits)


def check_file(p: Path) -> None:
    """`SourceError` unless `p` is an existing regular file (a folder is named as a folder)."""
    if p.is_dir():
        raise SourceError(f"{p}: is a folder, expected a JSON file (use format 'hub' for a dataset folder)")
    if not p.exists():
        raise SourceError(f"{p}: file not found")
    if not p.is_file():
        raise SourceError(f"{p}: not a regular file")


def read_json(path: str | Path) -> Any:
    p = Path(path)
    check_file(p)
    try:
        with open(p, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise SourceError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from e
    except OSError as e:
        raise SourceError(f"{p}: cannot be read: {e.strerror or e}") from e
    if not text.strip():
        raise SourceError(f"{p}: the file is empty; expected a JSON document")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise SourceError(f"{p}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    except RecursionError as e:
        raise SourceError(
            f"{p}: JSON nested too deeply to read (more than about {sys.getrecursionlimit()} levels)"
        ) from e


def _first_paragraph(data: list) -> dict | None:
    for article in data:
        if isinstance(article, dict) and isinstance(article.get("paragraphs"), list):
            for paragraph in article["paragraphs"]:
                if isinstance(paragraph, dict):
                    return paragraph
    return None


def sniff_format(obj: Any, path: str | Path) -> str:
    """`squad`, `ropes` or `hotpot` from the top-level shape, or `SourceError`."""
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        paragraph = _first_paragraph(obj["data"])
        if paragraph is not None and ("situation" in paragraph or "background" in paragraph):
            return "ropes"
        return "squad"
    if isinstance(obj, list):
        # any record will do: a damaged first record is rejected by the reader, not taken for another format
        if any(isinstance(r, dict) and ("supporting_facts" in r or "_id" in r) for r in obj):
            return "hotpot"
        if not obj:
            raise SourceError(f"{path}: top level is an empty list; expected HotpotQA records or a SQuAD-format object")
    raise SourceError(
        f"{path}: unknown shape: {_describe(obj)}; expected a SQuAD/ROPES-format object "
        f"with a 'data' list or a list of HotpotQA records"
    )


def check_format(obj: Any, path: str | Path, requested: str) -> str:
    """The format to parse with: the sniffed one, checked against an explicitly requested one."""
    found = sniff_format(obj, path)
    if requested == "auto":
        return found
    wanted = SOURCE_FORMATS[requested].parser
    if wanted != found:
        raise SourceError(
            f"{path}: format '{requested}' was requested but the file looks like '{found}' ({_describe(obj)})"
        )
    return wanted


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(sorted(map(str, obj))[:8])
        return f"a JSON object with keys [{keys}]"
    if isinstance(obj, list):
        return f"a JSON list of {len(obj)} item(s)"
    return f"a JSON {type(obj).__name__}"
