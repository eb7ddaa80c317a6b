"""The `index` artifact: spaCy sentences and entities per unique context, built incrementally.

One partition per spaCy set-up (`nlp=<model>-<version>-<8 hex>`, see `pipeline.nlp`).
A build parses only the contexts whose `context_id` is not in the partition yet and adds
them as ONE new part file named after the fingerprint of their ids; a re-run over
unchanged contexts loads no model and touches no file (not even the manifest).

    cqa build-index                         # load sources, then index every new context
    python benchmarks/bench_index.py        # throughput vs raw nlp.pipe, re-run writes nothing
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.nlp import IndexConfig, index_key, load_nlp, model_info
from pipeline.progress import track
from pipeline.schemas import INDEX


@dataclass
class IndexStats:
    partition: str      # partition value (`nlp=` key) written or reused
    n_contexts: int     # unique contexts asked for
    n_new: int          # contexts parsed in this run
    n_cached: int       # contexts already in the partition (not parsed again)
    seconds: float      # wall time of the build
    path: str           # partition folder


def _doc_record(doc: Any) -> dict[str, Any]:
    sents = [{"start": s.start_char, "end": s.end_char} for s in doc.sents]
    starts = [s["start"] for s in sents]
    ents = [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "sent": max(bisect_right(starts, e.start_char) - 1, 0)}
        for e in doc.ents
    ]
    return {"n_chars": len(doc.text), "sentences": sents, "entities": ents}


def parse_contexts(nlp: Any, texts: list[str], cfg: IndexConfig) -> list[dict[str, Any]]:
    """Sentences and entities (char offsets, spaCy label, sentence index) of each text, in order.

    Reports one step per parsed text to the installed progress reporter (`pipeline.progress`).
    """
    docs = nlp.pipe(texts, batch_size=cfg.batch_size, n_process=cfg.n_process)
    return [_doc_record(doc) for doc in track(docs, f"index ({cfg.model})", total=len(texts))]


def _check_contexts(contexts: pl.DataFrame) -> None:
    missing = [c for c in ("context_id", "context") if c not in contexts.columns]
    if missing:
        raise ValueError(f"build_index: the contexts frame lacks column(s) {missing}; it has {contexts.columns}")
    nulls = contexts.select(pl.col("context_id").is_null().sum(), pl.col("context").is_null().sum()).row(0)
    if any(nulls):
        raise ValueError(f"build_index: contexts frame has {nulls[0]} null context_id and {nulls[1]} null context value(s)")


def _check_nlp(nlp: Any, cfg: IndexConfig) -> None:
    """A pipeline passed in must have the components `cfg` promises (its key names them)."""
    pipes = list(nlp.pipe_names)
    if "ner" not in pipes or cfg.sentences not in pipes:
        raise ValueError(
            f"build_index: the given nlp has pipes {pipes}; "
            f"IndexConfig(sentences={cfg.sentences!r}) needs 'ner' and {cfg.sentences!r}"
        )


def indexed_ids(root: str | Path, key: str) -> set[str]:
    """context_ids already in partition `nlp=<key>` (empty when it does not exist)."""
    def ids() -> set[str]:
        if not io.partition_files(root, INDEX, {"nlp": key}):
            return set()
        return set(io.scan(root, INDEX, {"nlp": key}).select("context_id").collect()["context_id"].to_list())

    return io.retry_vanished(ids)  # a forced rebuild may swap the partition between listing and reading


def build_index(root: str | Path, contexts: pl.DataFrame, cfg: IndexConfig, nlp: Any = None) -> IndexStats:
    """Parse the contexts not yet indexed under `cfg` and append them as one part file."""
    t0 = time.perf_counter()
    _check_contexts(contexts)
    info = model_info(cfg)  # fails on a missing model before any work
    key = cfg.key(info["version"])
    unique = contexts.select("context_id", "context").unique("context_id", keep="first", maintain_order=True)
    cached = indexed_ids(root, key)
    new = unique.filter(~pl.col("context_id").is_in(list(cached))) if cached else unique
    path = io.partition_dir(root, INDEX, {"nlp": key})
    if new.height:
        nlp = nlp if nlp is not None else load_nlp(cfg)
        _check_nlp(nlp, cfg)
        ids = new["context_id"].to_list()
        t_parse = time.perf_counter()
        records = parse_contexts(nlp, new["context"].to_list(), cfg)
        parse_s = time.perf_counter() - t_parse
        frame = pl.DataFrame({"context_id": ids}).hstack(pl.DataFrame(records, schema=_RECORD_SCHEMA))
        io.append_part(
            root, INDEX, frame, {"nlp": key}, io.fingerprint(sorted(ids)),
            config=cfg.as_dict(),
            extra={
                "spacy_model": info,
                "pipes": list(nlp.pipe_names),
                "last_part": {"contexts": len(ids), "parse_s": round(parse_s, 3)},
            },
        )
    return IndexStats(
        partition=key, n_contexts=unique.height, n_new=new.height, n_cached=unique.height - new.height,
        seconds=time.perf_counter() - t0, path=str(path),
    )


_RECORD_SCHEMA = pl.from_arrow(INDEX.schema.empty_table()).drop("context_id").schema


def read_index(root: str | Path, cfg: IndexConfig, context_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """INDEX rows for `context_ids` (all when None) from the partition of `cfg`; one row per context."""
    wanted = list(context_ids) if context_ids is not None else None

    def rows() -> pl.DataFrame:
        lf = io.scan(root, INDEX, {"nlp": index_key(cfg)}).select(INDEX.column_names)
        return (lf if wanted is None else lf.filter(pl.col("context_id").is_in(wanted))).collect()

    # a forced rebuild may swap the partition between listing and reading: read again, whole
    return io.retry_vanished(rows).unique("context_id", keep="first", maintain_order=True)
