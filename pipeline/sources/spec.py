"""What to load: `SourceSpec` (one input source) and `SourceError` (an unreadable input).

A spec comes from the command line (`SourceSpec.from_arg("squad11=../shared/data/squad/v1.1/dev-v1.1.json")`),
from a YAML file (`pipeline.sources.load_sources_config`), or from code. It is checked when
it is built, so a bad value fails before any file is read, naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pipeline.config_model import Checked, constrained, to_plain


@dataclass(frozen=True)
class Format:
    """One source format: the parser module `pipeline.sources.<parser>` whose `load_<parser>` reads it."""

    # squad | hub | ropes | hotpot (a local JSON file's shape must be this parser's: input_file.sniff_format)
    parser: str
    titles: bool = True  # its records carry article titles (`article_split` needs them)


# The one table of source formats: a new alias of a parser is one entry; a new parser is one
# entry, its module with `load_<parser>(obj, frames)`, and its JSON shape in `sniff_format`.
SOURCE_FORMATS: dict[str, Format] = {
    "squad": Format("squad"),
    "hub": Format("hub"),
    "ropes": Format("ropes", titles=False),
    "hotpot": Format("hotpot", titles=False),
    "xquad": Format("squad"),
    "mlqa": Format("squad"),
}
FORMATS = ("auto", *SOURCE_FORMATS)
RopesContext = Literal["with-question", "shared"]
ROPES_CONTEXTS = get_args(RopesContext)

_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_FORMAT_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")  # `file.json:csv` -> "csv" looks like a format
_LANG_DOTTED = re.compile(r"\.([a-z]{2})\.jsonl?$")  # xquad.de.json
_LANG_MLQA = re.compile(r"context-([a-z]{2})-question-([a-z]{2})\.json$")  # dev-context-de-question-de.json


class SourceError(ValueError):
    """The whole input cannot be read: missing file, invalid JSON, wrong top-level shape.

    The message names the file and the position (JSON line/column) or the reason.
    """


class SourcesFailed(SourceError):
    """A build finished every source it could read, but these could not be read.

    `failures` maps each failed source (`dataset` name and path) to its `SourceError`
    message; `result` is what the flow would have returned (root, report path, stage rows),
    so a caller can still show the stages that ran.
    """

    def __init__(self, failures: list[tuple[str, str]], result: dict | None = None) -> None:
        self.failures = failures
        self.result = result or {}
        names = ", ".join(name for name, _ in failures)
        lines = "; ".join(message for _, message in failures)
        report = f" (report: {self.result['report']})" if self.result.get("report") else ""
        super().__init__(f"{len(failures)} source(s) could not be read and were left out: {names}: {lines}{report}")


def _partition_name(value: str, where: str) -> None:
    if not _PARTITION_VALUE.match(value):
        raise ValueError(
            f"{where}: got {value!r}, expected a name of letters, digits, '_', '-', '.' (it becomes a partition folder)"
        )


def _path(value: str, where: str) -> None:
    if not value:
        raise ValueError(f"{where}: got {value!r}, expected a file path or hub id")


def _format(value: str, where: str) -> None:
    if value not in FORMATS:
        raise ValueError(f"{where}: got {value!r}, expected one of {list(FORMATS)}")


def _lang(value: str, where: str) -> None:
    if not re.fullmatch(r"[a-z]{2,3}", value):
        raise ValueError(f"{where}: got {value!r}, expected an ISO 639-1 code like 'de'")


@dataclass(frozen=True)
class SourceSpec(Checked):
    dataset: str = constrained(check=_partition_name)  # artifact dataset name, e.g. "squad11"
    path: str = constrained(check=_path)  # local file, or a hub dataset id when format == "hub"
    format: str = constrained("auto", check=_format)  # auto|squad|hub|ropes|hotpot|xquad|mlqa (auto: sniff the JSON)
    split: str = constrained(
        "dev", check=_partition_name
    )  # split written to the artifacts (ignored with article_split)
    lang: str | None = constrained(None, check=_lang)  # default: from the file name (xquad.de.json -> de), else "en"
    article_split: Literal["protocol"] | None = None  # "protocol": PROTOCOL.md rule -> splits "train"/"eval"
    restrict_titles: tuple[str, ...] | None = None  # keep only these article titles (others are counted, not rejected)
    hub_config: str | None = None  # datasets.load_dataset(path, hub_config, split=hub_split)
    hub_split: str = "validation"  # split of the hub dataset to read
    # ROPES context: "with-question" (per question, default) or "shared" (per situation)
    ropes_context: RopesContext = "with-question"

    @classmethod
    def from_arg(cls, text: str) -> "SourceSpec":
        """Parse the CLI form `NAME=PATH[:FORMAT]`, e.g. `squad11=../shared/data/squad/v1.1/dev-v1.1.json`.

        `:FORMAT` is taken only when it names a known format, so `squad=rajpurkar/squad:hub`
        reads the hub dataset and a path that merely contains a colon stays a path. A tail
        that looks like a format name (letters, digits, `_`, `-`; no `.` or `/`) but is not one,
        as in `file.json:csv`, is an error naming the unknown format, unless the whole text is
        an existing file.
        """
        name, sep, rest = text.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise ValueError(f"source argument {text!r}: expected NAME=PATH[:FORMAT] (formats: {', '.join(FORMATS)})")
        path, fmt = rest.strip(), "auto"
        head, colon, tail = path.rpartition(":")
        if colon and head and tail in FORMATS:
            path, fmt = head, tail
        elif colon and head and _FORMAT_WORD.match(tail) and not Path(path).exists():
            raise ValueError(
                f"source argument {text!r}: unknown format {tail!r} after the last ':' "
                f"(formats: {', '.join(FORMATS)}); path would be {head!r}"
            )
        return cls(dataset=name.strip(), path=path, format=fmt)

    def resolved_lang(self) -> str:
        """`lang` if given, else the language named in the file name, else "en"."""
        if self.lang:
            return self.lang
        if self.format == "hub":
            return "en"
        name = Path(self.path).name
        if m := _LANG_MLQA.search(name):
            return m.group(1)  # MLQA names the context language first; spans point into the context
        if m := _LANG_DOTTED.search(name):
            return m.group(1)
        return "en"

    def output_splits(self) -> tuple[str, ...]:
        """The split partitions this source writes (the PROTOCOL article split writes two)."""
        return ("train", "eval") if self.article_split == "protocol" else (self.split,)

    def as_dict(self) -> dict[str, object]:
        """Fields as plain values (for manifests and fingerprints)."""
        return to_plain(self)
