"""The `index` artifact: spaCy sentences and entities per unique context, built incrementally.

One partition per spaCy set-up (`nlp=<model>-<version>-<8 hex>`, see `pipeline.nlp`).
A build parses only the contexts whose `context_id` is not in the partition yet. It cuts
them, in order, into chunks of `IndexConfig.chunk_size` contexts (rounded up to whole
`batch_size` batches, so spaCy sees exactly the batches of a one-chunk build and the rows
are the same) and writes each chunk as its own part file, named after the fingerprint of
its ids and written atomically (`io.write_partition` with a `part_name`). Chunks are independent: `build_index`
parses them one after another in this process; the build flows run each as a task on
their task runner (`flows.build_index`: a Dask cluster parses them in parallel). A build
killed midway leaves only complete part files, and the next build parses only the
contexts they do not hold. A re-run over unchanged contexts loads no model and touches no
file (not even the manifest).

    cqa build-index                         # load sources, then index every new context
    python benchmarks/bench_index.py        # throughput vs raw nlp.pipe, re-run writes nothing
    python benchmarks/bench_index_workers.py  # 1 vs 2 Dask workers on SQuAD 1.1 dev
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.config_model import to_plain
from pipeline.nlp import IndexConfig, index_key, load_nlp, model_info
from pipeline.progress import track
from pipeline.schemas import INDEX


@dataclass
class IndexStats:
    partition: str  # partition value (`nlp=` key) written or reused
    n_contexts: int  # unique contexts asked for
    n_new: int  # contexts parsed in this run
    n_cached: int  # contexts already in the partition (not parsed again)
    seconds: float  # wall time of the build
    path: str  # partition folder
    parts: int = 0  # part files written (one per chunk of new contexts)


@dataclass(frozen=True)
class IndexChunk:
    """The contexts one task parses and writes as one part file of partition `nlp=<key>`."""

    key: str  # partition value the part belongs to (model version included)
    ids: tuple[str, ...]  # context_ids, in the order they are parsed
    texts: tuple[str, ...]  # their texts (what travels to a worker: chunk_size texts, no frame)

    @property
    def part_name(self) -> str:
        return io.fingerprint(sorted(self.ids))


@dataclass
class IndexPlan:
    """What a build of one contexts frame has to do: its new contexts, cut into chunks."""

    partition: str  # `nlp=` value
    n_contexts: int  # unique contexts asked for
    n_cached: int  # already indexed (or claimed by an earlier plan of the same run)
    chunks: list[IndexChunk]  # the new contexts, in order
    path: str  # partition folder

    @property
    def n_new(self) -> int:
        return sum(len(c.ids) for c in self.chunks)


def _doc_record(doc: Any) -> dict[str, Any]:
    sents = [{"start": s.start_char, "end": s.end_char} for s in doc.sents]
    starts = [s["start"] for s in sents]
    ents = [
        {
            "start": e.start_char,
            "end": e.end_char,
            "label": e.label_,
            "sent": max(bisect_right(starts, e.start_char) - 1, 0),
        }
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
        raise ValueError(
            f"build_index: contexts frame has {nulls[0]} null context_id and {nulls[1]} null context value(s)"
        )


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


def plan_index(root: str | Path, contexts: pl.DataFrame, cfg: IndexConfig, claimed: Iterable[str] = ()) -> IndexPlan:
    """The chunks of `contexts` not indexed under `cfg` in `root` yet (loads no model).

    `claimed`: context_ids that another plan of the same run will index (a context shared by
    two datasets is parsed once). Chunks follow the frame's order (first occurrence of each id).
    """
    _check_contexts(contexts)
    info = model_info(cfg)  # fails on a missing model before any work
    key = cfg.key(info["version"])
    unique = contexts.select("context_id", "context").unique("context_id", keep="first", maintain_order=True)
    skip = indexed_ids(root, key) | set(claimed)
    new = unique.filter(~pl.col("context_id").is_in(list(skip))) if skip else unique
    ids, texts, n = new["context_id"].to_list(), new["context"].to_list(), cfg.contexts_per_chunk()
    chunks = [IndexChunk(key, tuple(ids[i : i + n]), tuple(texts[i : i + n])) for i in range(0, len(ids), n)]
    return IndexPlan(
        partition=key,
        n_contexts=unique.height,
        n_cached=unique.height - new.height,
        chunks=chunks,
        path=str(io.partition_dir(root, INDEX, {"nlp": key})),
    )


def index_chunks(
    root: str | Path, chunks: list[IndexChunk], cfg: IndexConfig, nlp: Any = None, progress: bool = True
) -> list[dict[str, Any]]:
    """Parse the chunks one after another, writing each as its part file as soon as it is parsed.

    `progress`: report one step per parsed context to the installed reporter, as one stage
    over all the chunks (a flow running chunks as tasks reports per finished chunk instead).
    Returns one `{"part", "contexts", "parse_s", "parse_cpu_s"}` dict per chunk (wall and this
    thread's CPU seconds of the spaCy pass; the CPU figure misses `n_process` > 1 children).
    """
    if not chunks:
        return []
    info = model_info(cfg)
    key = cfg.key(info["version"])
    for c in chunks:  # a worker with another model version would write under the wrong key
        if c.key != key:
            raise ValueError(
                f"build_index: chunk of partition nlp={c.key} cannot be indexed here: "
                f"this process has {info['package']} {info['version']} (nlp={key}); "
                "install the same spaCy model version on every worker"
            )
    nlp = nlp if nlp is not None else load_nlp(cfg)
    _check_nlp(nlp, cfg)
    docs: Iterator[Any] = (
        doc for c in chunks for doc in nlp.pipe(c.texts, batch_size=cfg.batch_size, n_process=cfg.n_process)
    )
    if progress:
        docs = track(docs, f"index ({cfg.model})", total=sum(len(c.ids) for c in chunks))
    out: list[dict[str, Any]] = []
    pending, records, t_parse, c_parse = iter(chunks), [], time.perf_counter(), time.thread_time()
    chunk = next(pending)
    for doc in docs:
        records.append(_doc_record(doc))
        if len(records) == len(chunk.ids):
            parse_s, cpu_s = time.perf_counter() - t_parse, time.thread_time() - c_parse
            _write_chunk(root, chunk, records, cfg, info, list(nlp.pipe_names))
            out.append(
                {
                    "part": chunk.part_name,
                    "contexts": len(chunk.ids),
                    "parse_s": round(parse_s, 3),
                    "parse_cpu_s": round(cpu_s, 3),
                }
            )
            chunk, records, t_parse, c_parse = next(pending, None), [], time.perf_counter(), time.thread_time()
    if chunk is not None or records:
        raise RuntimeError(
            f"build_index: spaCy returned fewer docs than texts ({len(out)} of {len(chunks)} chunks complete)"
        )
    return out


def _write_chunk(
    root: str | Path,
    chunk: IndexChunk,
    records: list[dict[str, Any]],
    cfg: IndexConfig,
    info: dict[str, str],
    pipes: list[str],
) -> None:
    frame = pl.DataFrame({"context_id": list(chunk.ids)}).hstack(pl.DataFrame(records, schema=_RECORD_SCHEMA))
    # the manifest entry holds what every part shares; which chunk finished last (parallel
    # tasks finish in any order) is not recorded, so the entry is the same for any runner
    io.write_partition(
        root,
        INDEX,
        frame,
        {"nlp": chunk.key},
        part_name=chunk.part_name,
        config=to_plain(cfg),
        extra={"spacy_model": info, "pipes": pipes},
    )


def build_index(root: str | Path, contexts: pl.DataFrame, cfg: IndexConfig, nlp: Any = None) -> IndexStats:
    """Parse the contexts not yet indexed under `cfg`, in this process, one part file per chunk."""
    t0 = time.perf_counter()
    plan = plan_index(root, contexts, cfg)
    parts = index_chunks(root, plan.chunks, cfg, nlp=nlp)
    return IndexStats(
        partition=plan.partition,
        n_contexts=plan.n_contexts,
        n_new=plan.n_new,
        n_cached=plan.n_cached,
        seconds=time.perf_counter() - t0,
        path=plan.path,
        parts=len(parts),
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
