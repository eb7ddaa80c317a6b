"""Hugging Face datasets (hub id, or a local dataset folder) in SQuAD-flattened layout.

    SourceSpec("squad11", "rajpurkar/squad", format="hub", hub_split="validation")
    SourceSpec("squad20", "rajpurkar/squad_v2", format="hub")

The dataset is opened with `datasets.load_dataset(path, hub_config, split=hub_split)`, the
same call for a hub id and for a local folder (e.g. one holding `validation.jsonl`), so the
offline tests run this exact code path. `datasets` is imported here, inside the function,
so `import pipeline` stays light.

Expected columns: `id`, `context`, `question`, `answers` = `{"text": [...], "answer_start": [...]}`,
optional `title`. A row with an empty `answers` list is unanswerable (the `squad_v2`
convention). Each row is checked exactly like a SQuAD JSON question (`squad.add_question`);
`source_record` is `<hub_split>[<row>]`.

The HotpotQA layout of the hub's `hotpot_qa` (`distractor` config) is recognised by its
columns `id, question, answer, type, level, supporting_facts{title, sent_id},
context{title, sentences}`: each row is turned into the record of the original JSON
(`supporting_facts: [[title, sent_id]]`, `context: [[title, [sentences]]]`) and read by
`pipeline.sources.hotpot`, so both inputs give the same rows and rejects.

    SourceSpec("hotpot", "hotpot_qa", format="hub", hub_config="distractor", hub_split="validation")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.io import file_sha256
from pipeline.sources.canonical import CanonicalFrames
from pipeline.sources.spec import SourceError, SourceSpec
from pipeline.sources.squad import _context_problem, add_question

REQUIRED_COLUMNS = ("id", "context", "question", "answers")
HOTPOT_COLUMNS = ("id", "question", "answer", "supporting_facts", "context")  # hub `hotpot_qa` layout


def open_hub_dataset(spec: SourceSpec) -> dict[str, list]:
    """The dataset's columns as lists, or `SourceError` naming the id, config and split."""
    where = f"hub dataset {spec.path!r} (config {spec.hub_config!r}, split {spec.hub_split!r})"
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a declared dependency
        raise SourceError(f"{where}: the 'datasets' package is not installed") from e
    try:
        ds = datasets.load_dataset(spec.path, spec.hub_config, split=spec.hub_split)
    except Exception as e:  # offline hub, unknown id, unknown split: all make the input unreadable
        raise SourceError(f"{where}: could not be loaded: {type(e).__name__}: {str(e)[:300]}") from e
    if all(c in ds.column_names for c in HOTPOT_COLUMNS):
        return ds.to_dict()
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise SourceError(
            f"{where}: missing column(s) {missing}; has {ds.column_names}; "
            f"expected the SQuAD layout {list(REQUIRED_COLUMNS)} (+ title) "
            f"or the HotpotQA layout {list(HOTPOT_COLUMNS)}"
        )
    return ds.to_dict()


def hotpot_record(row: dict[str, Any]) -> dict[str, Any]:
    """One hub `hotpot_qa` row as the original HotpotQA JSON record (fields of another shape are kept as they are,
    so `pipeline.sources.hotpot` rejects them naming the field)."""
    return {
        "_id": row.get("id"),
        "question": row.get("question"),
        "answer": row.get("answer"),
        "type": row.get("type"),
        "level": row.get("level"),
        "supporting_facts": _pairs(row.get("supporting_facts"), "title", "sent_id"),
        "context": _pairs(row.get("context"), "title", "sentences"),
    }


def _pairs(value: Any, first: str, second: str) -> Any:
    """The hub's `{first: [...], second: [...]}` (equal lengths) as the JSON's `[[first, second], ...]`;
    any other value unchanged."""
    if not isinstance(value, dict):
        return value
    a, b = value.get(first), value.get(second)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [[x, y] for x, y in zip(a, b)]
    return value


def load_hub(columns: dict[str, list], frames: CanonicalFrames) -> None:
    """Add every row of a SQuAD-layout (or HotpotQA-layout) dataset (columns as lists) to `frames`."""
    n = len(columns["id"])
    if "supporting_facts" in columns and "answers" not in columns:
        from pipeline.sources.hotpot import load_hotpot

        load_hotpot([hotpot_record({k: v[i] for k, v in columns.items()}) for i in range(n)], frames)
        return
    titles = [str(t) if t is not None else "" for t in columns.get("title", [""] * n)]
    frames.use_titles(titles)
    split_name = frames.spec.hub_split
    for i in range(n):
        where = f"{split_name}[{i}]"
        split = frames.split_for(titles[i])
        frames.n_records += 1
        if split is None:
            frames.n_filtered += 1
            continue
        context = columns["context"][i]
        qa = {"id": columns["id"][i], "question": columns["question"][i]}
        answers = _answers_list(columns["answers"][i])
        if answers is None:
            shown = repr(columns["answers"][i])[:200]
            frames.reject(
                split,
                str(qa["id"]),
                "answers",
                "bad_type",
                f"{where}: answers must be {{text: [...], answer_start: [...]}} of equal length, got {shown}",
            )
            continue
        qa["answers"] = answers
        qa["is_impossible"] = not answers
        if (problem := _context_problem(context)) is not None:
            frames.reject(split, str(qa["id"]), "context", problem[0], f"{where}: {problem[1]}")
            continue
        add_question(frames, split, qa, context, titles[i], where, i)


def _answers_list(value: Any) -> list[dict] | None:
    """HF `{"text": [...], "answer_start": [...]}` -> SQuAD `[{"text", "answer_start"}]` (None: malformed)."""
    if isinstance(value, list):
        return value
    pairs = _pairs(value, "text", "answer_start")
    return [{"text": t, "answer_start": s} for t, s in pairs] if isinstance(pairs, list) else None


def hub_fingerprint_inputs(spec: SourceSpec) -> dict[str, Any]:
    """What identifies a hub input: id, config and split; for a local folder also its files' hashes."""
    out: dict[str, Any] = {"hub_id": spec.path, "hub_config": spec.hub_config, "hub_split": spec.hub_split}
    local = Path(spec.path)
    if local.is_dir():
        out["files"] = {str(p.relative_to(local)): file_sha256(p) for p in sorted(local.rglob("*")) if p.is_file()}
    elif local.is_file():
        out["files"] = {local.name: file_sha256(local)}
    return out
