"""The spaCy index: char offsets, incremental builds, the manifest's model record."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline import io, spacy_index
from pipeline.nlp import IndexConfig, ModelNotFoundError, load_nlp, resolve_package
from pipeline.schemas import CONTEXTS, INDEX
from pipeline.spacy_index import build_index, indexed_ids, read_index

TEXTS = [
    "Marie Curie was born in Warsaw in 1867. She moved to Paris, France, in 1891 with her sister Bronisława.",
    "The Denver Broncos beat the Carolina Panthers 24–10 in Super Bowl 50. The game was played on February 7, 2016.",
    "Apple released the iPhone in 2007.  Steve Jobs presented it at Macworld in San Francisco.",
]
EXTRA = "Amazon was founded by Jeff Bezos in Bellevue, Washington, in July 1994."


class CountingNLP:
    """Wraps a spaCy pipeline and records every text given to `pipe`."""

    def __init__(self, nlp):
        self.nlp, self.texts = nlp, []
        self.pipe_names = nlp.pipe_names

    def pipe(self, texts, **kwargs):
        texts = list(texts)
        self.texts.extend(texts)
        return self.nlp.pipe(texts, **kwargs)


@pytest.fixture(scope="module")
def nlp():
    try:
        resolve_package("en_core_web_sm")
    except ModelNotFoundError as e:
        pytest.skip(str(e))
    return load_nlp(IndexConfig())


def contexts_frame(texts: list[str]) -> pl.DataFrame:
    rows = [{"context_id": io.text_id(t), "context": t, "title": "t", "lang": "en", "n_chars": len(t)} for t in texts]
    return pl.DataFrame(rows, schema=io.empty_frame(CONTEXTS).schema)


def file_state(root) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_offsets_sentences_and_entity_sentence_index(root, nlp):
    cfg = IndexConfig()
    build_index(root, contexts_frame(TEXTS), cfg, nlp=nlp)
    index = read_index(root, cfg)
    io.to_table(index, INDEX)  # fits the declaration
    by_id = {io.text_id(t): t for t in TEXTS}
    assert sorted(index["context_id"].to_list()) == sorted(by_id)
    for row in index.iter_rows(named=True):
        text = by_id[row["context_id"]]
        assert row["n_chars"] == len(text)
        sents = row["sentences"]
        assert sents[0]["start"] == 0 and sents[-1]["end"] <= len(text)
        assert all(a["end"] <= b["start"] for a, b in zip(sents, sents[1:]))
        assert row["entities"], text
        doc = nlp.nlp(text) if hasattr(nlp, "nlp") else nlp(text)
        assert [(e["start"], e["end"], e["label"]) for e in row["entities"]] == [
            (e.start_char, e.end_char, e.label_) for e in doc.ents
        ]
        for e in row["entities"]:
            assert text[e["start"] : e["end"]] == doc.char_span(e["start"], e["end"]).text
            s = sents[e["sent"]]
            assert s["start"] <= e["start"] < s["end"]
    marie = index.filter(pl.col("context_id") == io.text_id(TEXTS[0]))["entities"][0]
    assert {"text": "Marie Curie", "label": "PERSON", "sent": 0} in [
        {"text": TEXTS[0][e["start"] : e["end"]], "label": e["label"], "sent": e["sent"]} for e in marie
    ]


def test_incremental_build_parses_only_new_contexts(root, nlp, monkeypatch):
    cfg = IndexConfig()
    counting = CountingNLP(nlp)
    first = build_index(root, contexts_frame(TEXTS + TEXTS[:1]), cfg, nlp=counting)  # duplicate row parsed once
    assert (first.n_contexts, first.n_new, first.n_cached) == (3, 3, 0)
    assert sorted(counting.texts) == sorted(TEXTS)

    before = file_state(root)
    monkeypatch.setattr(spacy_index, "load_nlp", lambda cfg: pytest.fail("model loaded with nothing to parse"))
    again = build_index(root, contexts_frame(TEXTS), cfg)
    assert (again.n_new, again.n_cached) == (0, 3)
    assert file_state(root) == before, "an unchanged re-run must not touch any file"

    counting.texts.clear()
    more = build_index(root, contexts_frame(TEXTS + [EXTRA]), cfg, nlp=counting)
    assert (more.n_new, more.n_cached) == (1, 3) and counting.texts == [EXTRA]
    parts = io.partition_files(root, INDEX, {"nlp": more.partition})
    assert len(parts) == 2
    assert f"part-{io.fingerprint([io.text_id(EXTRA)])}.parquet" in {p.name for p in parts}
    assert indexed_ids(root, more.partition) == {io.text_id(t) for t in TEXTS + [EXTRA]}
    assert read_index(root, cfg, [io.text_id(EXTRA)]).height == 1


def test_manifest_records_model_name_version_and_config(root, nlp):
    cfg = IndexConfig(batch_size=16)
    stats = build_index(root, contexts_frame(TEXTS[:1]), cfg, nlp=nlp)
    manifest = json.loads((root / "index" / "_manifest.json").read_text())
    entry = manifest["partitions"][f"nlp={stats.partition}"]
    assert entry["spacy_model"] == {
        "name": "en_core_web_sm",
        "package": resolve_package("en_core_web_sm"),
        "version": "3.8.0",
    }
    assert entry["config"]["batch_size"] == 16 and entry["config"]["sentences"] == "senter"
    assert entry["pipes"] == ["senter", "ner"] and entry["rows"] == 1
    assert stats.partition.startswith("en_core_web_sm-3.8.0-")


def test_bad_contexts_frame_fails_before_work(root):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['context'\]"):
        build_index(root, pl.DataFrame({"context_id": ["x"]}), IndexConfig())
    assert not (root / "index").exists()


def test_pipeline_that_does_not_match_the_config_is_refused(root, nlp):
    with pytest.raises(ValueError, match=r"needs 'ner' and 'parser'"):
        build_index(root, contexts_frame(TEXTS[:1]), IndexConfig(sentences="parser"), nlp=nlp)


def test_forced_rebuild_never_shows_readers_a_partial_or_missing_index(root, nlp):
    """`--force` rebuilds beside the live index and swaps it in whole (issue 15).

    The old index holds 4 contexts; the rebuild writes them as two part files, with a pause
    between the parts. A reader polling all the while must see all 4 contexts every time:
    never "no data" (the old code deleted the partition first) and never 2 (half the parts).
    """
    import threading
    import time

    from pipeline.stages import STAGING, begin_index_rebuild, finish_index_rebuild

    texts = [*TEXTS, EXTRA]
    cfg = IndexConfig()
    build_index(root, contexts_frame(texts), cfg, nlp=nlp)
    want = {io.text_id(t) for t in texts}
    seen: list[object] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(frozenset(read_index(root, cfg)["context_id"].to_list()))
            except Exception as e:  # noqa: BLE001 - any failure is what the test looks for
                seen.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        time.sleep(0.2)
        staging = begin_index_rebuild(root, cfg)
        build_index(staging, contexts_frame(texts[:2]), cfg, nlp=nlp)
        time.sleep(0.3)  # the live index must still be the old one, whole
        build_index(staging, contexts_frame(texts[2:]), cfg, nlp=nlp)
        time.sleep(0.2)
        for _ in range(20):  # swap under a reader many times (each swap is one exchange)
            finish_index_rebuild(root, staging, cfg)
            staging = begin_index_rebuild(root, cfg)
            build_index(staging, contexts_frame(texts), cfg, nlp=nlp)
        finish_index_rebuild(root, staging, cfg)
        time.sleep(0.2)
    finally:
        stop.set()
        t.join()
    errors = [s for s in seen if isinstance(s, Exception)]
    assert not errors, errors[:3]
    assert len(seen) > 20
    assert all(s == want for s in seen), {len(s) for s in seen}
    assert set(read_index(root, cfg)["context_id"]) == want
    assert len(io.partition_files(root, INDEX, {"nlp": spacy_index.index_key(cfg)})) == 1  # the rebuilt index, one part
    assert not list((root / STAGING).iterdir())  # no staging folder left behind


def test_a_rebuild_killed_before_the_swap_leaves_the_old_index_and_its_leftovers_are_removed(root, nlp):
    from pipeline.stages import STAGING, begin_index_rebuild

    cfg = IndexConfig()
    build_index(root, contexts_frame(TEXTS), cfg, nlp=nlp)
    staging = begin_index_rebuild(root, cfg)
    build_index(staging, contexts_frame(TEXTS[:1]), cfg, nlp=nlp)  # ... and the build is killed here
    assert set(read_index(root, cfg)["context_id"]) == {io.text_id(t) for t in TEXTS}
    begin_index_rebuild(root, cfg)  # the next forced build
    assert [p.name for p in (root / STAGING).iterdir()] != [staging.name]
    assert not staging.exists()


def test_a_forced_rebuild_that_indexes_nothing_keeps_the_live_index(root, nlp):
    from pipeline.stages import begin_index_rebuild, finish_index_rebuild

    cfg = IndexConfig()
    build_index(root, contexts_frame(TEXTS), cfg, nlp=nlp)
    finish_index_rebuild(root, begin_index_rebuild(root, cfg), cfg)  # e.g. --force with ROPES bundles only
    assert set(read_index(root, cfg)["context_id"]) == {io.text_id(t) for t in TEXTS}


# Chunks: each its own part file, rows identical to a one-chunk build (issue 14) ----------------


MORE = [EXTRA, "The Eiffel Tower in Paris was completed in March 1889 for the World's Fair."]


def sorted_rows(root, cfg) -> pl.DataFrame:
    """Every index row, all columns, in context_id order (what two builds must agree on)."""
    return read_index(root, cfg).sort("context_id")


def test_chunks_are_whole_batches_each_written_as_its_own_part_with_the_rows_of_one_chunk(tmp_path, nlp):
    texts = [*TEXTS, *MORE]  # 5 contexts
    one = IndexConfig(batch_size=2, chunk_size=10_000)
    build_index(tmp_path / "one", contexts_frame(texts), one, nlp=nlp)
    # chunk_size 3 with batch_size 2 -> ceil(3 / 2) * 2 = 4 contexts per chunk: chunks [0:4], [4:5]
    cfg = IndexConfig(batch_size=2, chunk_size=3)
    assert cfg.contexts_per_chunk() == 4
    stats = build_index(tmp_path / "chunked", contexts_frame(texts), cfg, nlp=nlp)
    assert (stats.n_new, stats.parts) == (5, 2)
    ids = [io.text_id(t) for t in texts]
    parts = io.partition_files(tmp_path / "chunked", INDEX, {"nlp": stats.partition})
    assert {p.name for p in parts} == {
        f"part-{io.fingerprint(sorted(ids[:4]))}.parquet",
        f"part-{io.fingerprint(sorted(ids[4:]))}.parquet",
    }
    assert len(io.partition_files(tmp_path / "one", INDEX, {"nlp": stats.partition})) == 1
    assert sorted_rows(tmp_path / "chunked", cfg).equals(sorted_rows(tmp_path / "one", one))
    entry = io.partition_entry(tmp_path / "chunked", INDEX, {"nlp": stats.partition})
    assert entry["rows"] == 5 and entry["config"]["chunk_size"] == 3 and entry["pipes"] == ["senter", "ner"]


def test_a_sequential_build_of_many_chunks_reports_one_progress_stage(root, nlp):
    from pipeline.progress import set_reporter_factory

    stages: list[dict] = []

    def factory(description, total):
        stage = {"description": description, "total": total, "done": 0, "closed": False}
        stages.append(stage)

        class R:
            def advance(self, n=1):
                stage["done"] += n

            def close(self):
                stage["closed"] = True

        return R()

    previous = set_reporter_factory(factory)
    try:
        build_index(root, contexts_frame(TEXTS), IndexConfig(batch_size=1, chunk_size=1), nlp=nlp)  # 3 chunks
    finally:
        set_reporter_factory(previous)
    assert stages == [{"description": "index (en_core_web_sm)", "total": 3, "done": 3, "closed": True}]
    assert len(io.partition_files(root, INDEX, {"nlp": spacy_index.index_key(IndexConfig())})) == 3


def test_a_chunk_planned_for_another_model_version_is_refused_before_parsing(root, nlp):
    cfg = IndexConfig()
    chunk = spacy_index.IndexChunk("en_core_web_sm-9.9.9-00000000", (io.text_id(TEXTS[0]),), (TEXTS[0],))
    counting = CountingNLP(nlp)
    with pytest.raises(ValueError, match=r"nlp=en_core_web_sm-9\.9\.9-00000000 cannot be indexed here.*3\.8\.0"):
        spacy_index.index_chunks(root, [chunk], cfg, nlp=counting)
    assert counting.texts == [] and not (root / "index").exists()


def test_a_plan_skips_indexed_and_claimed_contexts_and_loads_no_model(root, nlp, monkeypatch):
    cfg = IndexConfig(batch_size=1, chunk_size=2)
    build_index(root, contexts_frame(TEXTS[:1]), cfg, nlp=nlp)
    monkeypatch.setattr(spacy_index, "load_nlp", lambda cfg: pytest.fail("planning loaded a model"))
    plan = spacy_index.plan_index(root, contexts_frame([*TEXTS, *MORE]), cfg, claimed={io.text_id(MORE[0])})
    # 5 contexts: TEXTS[0] indexed, MORE[0] claimed -> new TEXTS[1], TEXTS[2], MORE[1] in chunks of 2, 1
    assert (plan.n_contexts, plan.n_cached, plan.n_new) == (5, 2, 3)
    assert [c.texts for c in plan.chunks] == [(TEXTS[1], TEXTS[2]), (MORE[1],)]


KILLED_CHILD = r"""
import os, signal, sys
from pipeline import io
from pipeline.nlp import IndexConfig
from pipeline.spacy_index import build_index
from tests.pipeline.test_spacy_index import TEXTS, MORE, contexts_frame

real, calls = io._write_parquet, []

def write_then_die(table, path):
    calls.append(path)
    if len(calls) == 3:  # the third part: its temporary file is written, then the process is killed
        real_replace, io.os.replace = io.os.replace, lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    real(table, path)

io._write_parquet = write_then_die
build_index(sys.argv[1], contexts_frame([*TEXTS, *MORE]), IndexConfig(batch_size=1, chunk_size=1))
"""


def test_a_killed_build_leaves_only_complete_parts_and_the_next_build_parses_the_rest(tmp_path, nlp):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    texts = [*TEXTS, *MORE]
    cfg = IndexConfig(batch_size=1, chunk_size=1)  # one context per part
    root = tmp_path / "killed"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, str(root)], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    key = spacy_index.index_key(cfg)
    part_dir = io.partition_dir(root, INDEX, {"nlp": key})
    parts = io.partition_files(root, INDEX, {"nlp": key})
    assert len(parts) == 2 and len(list(part_dir.glob(".*.tmp"))) == 1  # two parts, the third died as a hidden tmp
    assert set(read_index(root, cfg)["context_id"]) == {io.text_id(t) for t in texts[:2]}  # complete parts, readable

    counting = CountingNLP(nlp)
    again = build_index(root, contexts_frame(texts), cfg, nlp=counting)
    assert (again.n_new, again.n_cached) == (3, 2) and counting.texts == texts[2:]
    assert not list(part_dir.glob(".*.tmp"))  # the leftover was removed by the next write
    build_index(tmp_path / "clean", contexts_frame(texts), IndexConfig(chunk_size=10_000), nlp=nlp)
    assert sorted_rows(root, cfg).equals(sorted_rows(tmp_path / "clean", cfg))
    assert io.partition_entry(root, INDEX, {"nlp": key})["rows"] == 5
