"""Read a local JSON input and decide its format; everything that makes a whole file unusable.

`read_json` raises `SourceError` for a missing file, a directory, undecodable bytes or
invalid JSON (with the JSON line and column). `sniff_format` looks at the top-level shape:

| shape | format |
| --- | --- |
| `{"data": [{"paragraphs": [{"context": ...}]}]}` | `squad` (also XQuAD, MLQA, adversarial SQuAD) |
| `{"data": [{"paragraphs": [{"background": ..., "situation": ...}]}]}` | `ropes` |
| `[{"_id": ..., "supporting_facts": ..., "context": ...}]` | `hotpot` |

A requested format that does not fit the shape is also a `SourceError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.sources.spec import SourceError

SQUAD_LIKE = ("squad", "xquad", "mlqa")


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: file not found")
    if p.is_dir():
        raise SourceError(f"{p}: is a folder, expected a JSON file (use format 'hub' for a dataset folder)")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError as e:
        raise SourceError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from e
    except json.JSONDecodeError as e:
        raise SourceError(f"{p}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e


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
        first = next((r for r in obj if isinstance(r, dict)), None)
        if first is not None and ("supporting_facts" in first or "_id" in first):
            return "hotpot"
        if not obj:
            raise SourceError(f"{path}: top level is an empty list; expected HotpotQA records or a SQuAD-format object")
    raise SourceError(f"{path}: unknown shape: {_describe(obj)}; expected a SQuAD/ROPES-format object "
                      f"with a 'data' list or a list of HotpotQA records")


def check_format(obj: Any, path: str | Path, requested: str) -> str:
    """The format to parse with: the sniffed one, checked against an explicitly requested one."""
    found = sniff_format(obj, path)
    if requested == "auto":
        return found
    wanted = "squad" if requested in SQUAD_LIKE else requested
    if wanted != found:
        raise SourceError(f"{path}: format '{requested}' was requested but the file looks like '{found}' ({_describe(obj)})")
    return wanted


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(sorted(map(str, obj))[:8])
        return f"a JSON object with keys [{keys}]"
    if isinstance(obj, list):
        return f"a JSON list of {len(obj)} item(s)"
    return f"a JSON {type(obj).__name__}"
