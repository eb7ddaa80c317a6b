"""pipeline/io.py: atomic replace, kill safety, version check, manifest entries."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from pipeline import io
from pipeline.schemas import CONTEXTS

REPO = Path(__file__).resolve().parents[2]
PART = {"dataset": "d", "split": "dev"}


def _contexts(n: int, version: int) -> pl.DataFrame:
    """CONTEXTS rows whose `title` is the version number, so a read shows which write it saw."""
    frame = pl.DataFrame(
        {
            "context_id": [f"{i:016x}" for i in range(n)],
            "context": [f"context {i} of version {version}" for i in range(n)],
            "title": [str(version)] * n,
            "lang": ["en"] * n,
            "n_chars": [20] * n,
        }
    )
    return pl.from_arrow(io.to_table(frame, CONTEXTS))


def test_write_partition_replaces_the_whole_partition(root: Path) -> None:
    io.write_partition(root, CONTEXTS, _contexts(3, 1), PART)
    io.write_partition(root, CONTEXTS, _contexts(2, 2), PART)
    df = io.read(root, CONTEXTS)
    assert df.height == 2 and set(df["title"]) == {"2"}
    assert df["dataset"].unique().to_list() == ["d"]
    leftovers = [p.name for p in io.partition_dir(root, CONTEXTS, PART).parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_named_part_is_added_beside_the_others_and_a_whole_write_replaces_them_all(root: Path) -> None:
    target = io.partition_dir(root, CONTEXTS, PART)
    io.write_partition(root, CONTEXTS, _contexts(3, 1), PART, part_name="a")
    io.write_partition(root, CONTEXTS, _contexts(2, 2), PART, part_name="b")
    io.write_partition(root, CONTEXTS, _contexts(1, 3), PART, part_name="a")  # "a" again: replaced, "b" stays
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == [
        "part-a.parquet",
        "part-b.parquet",
    ]
    assert sorted(io.read(root, CONTEXTS, PART)["title"]) == ["2", "2", "3"]
    assert io.partition_entry(root, CONTEXTS, PART)["rows"] == 3  # the entry counts every part: 1 + 2
    io.write_partition(root, CONTEXTS, _contexts(4, 4), PART)  # no part name: the partition is replaced
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == ["part-0.parquet"]
    assert io.partition_entry(root, CONTEXTS, PART)["rows"] == 4


def _kill_before_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(src, dst):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(io.os, "replace", killed)


def test_a_write_killed_before_its_rename_leaves_the_old_partition(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io.write_partition(root, CONTEXTS, _contexts(3, 1), PART)
    with monkeypatch.context() as m:
        _kill_before_replace(m)
        with pytest.raises(KeyboardInterrupt):
            io.write_partition(root, CONTEXTS, _contexts(2, 2), PART)
    target = io.partition_dir(root, CONTEXTS, PART)
    leftovers = [p.name for p in target.iterdir() if p.name.startswith(".")]
    assert leftovers and not any(n.endswith(".parquet") for n in leftovers)  # the temporary file stays hidden
    df = io.read(root, CONTEXTS, PART)
    assert df.height == 3 and set(df["title"]) == {"1"}
    io.write_partition(root, CONTEXTS, _contexts(2, 2), PART)  # the next write removes the leftover
    assert sorted(p.name for p in target.iterdir()) == ["part-0.parquet"]


def test_temporary_files_are_invisible_to_polars_globs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io.write_partition(root, CONTEXTS, _contexts(3, 1), PART)
    _kill_before_replace(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        io.write_partition(root, CONTEXTS, _contexts(2, 2), PART)
    seen = pl.scan_parquet(str(io.artifact_dir(root, CONTEXTS) / "**" / "*.parquet")).collect()
    assert seen.height == 3 and set(seen["title"]) == {"1"}


WRITER = """
import sys
from pipeline import io
from pipeline.schemas import CONTEXTS
from tests.pipeline.test_io import _contexts, PART
root, n = sys.argv[1], int(sys.argv[2])
frames = [_contexts(n, v) for v in (1, 2)]
print("ready", flush=True)
v = 0
while True:
    v += 1
    io.write_partition(root, CONTEXTS, frames[v % 2], PART)
"""


@pytest.mark.slow
def test_a_killed_writer_leaves_a_complete_partition(root: Path) -> None:
    n = 200_000
    io.write_partition(root, CONTEXTS, _contexts(n, 0), PART)
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    target = io.partition_dir(root, CONTEXTS, PART)
    mid_write = 0
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(n)], stdout=subprocess.PIPE, cwd=REPO, env=env
        )
        try:
            assert proc.stdout.readline().strip() == b"ready"
            threading.Event().wait(rng.uniform(0.2, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        mid_write += any(p.name.startswith(".") for p in target.iterdir())
        df = io.read(root, CONTEXTS, PART)
        assert df.height == n and df["title"].n_unique() == 1, "a killed write left a mixed or partial partition"
        globbed = pl.scan_parquet(str(io.artifact_dir(root, CONTEXTS) / "**" / "*.parquet")).collect()
        assert globbed.height == n and globbed["title"].n_unique() == 1
    assert mid_write, "no kill landed inside a write: the test did not test anything"
    io.write_partition(root, CONTEXTS, _contexts(5, 3), PART)  # the next write cleans up what the kills left
    assert [p.name for p in target.parent.iterdir()] == ["split=dev"]
    assert [p.name for p in target.iterdir()] == ["part-0.parquet"]


def test_reading_another_schema_version_fails_clearly(root: Path) -> None:
    io.write_partition(root, CONTEXTS, _contexts(2, 1), PART)
    newer = dataclasses.replace(CONTEXTS, version=CONTEXTS.version + 1)
    with pytest.raises(io.ArtifactError, match=r"artifact 'contexts' .* schema version 1, this code reads version 2"):
        io.read(root, newer)
    assert not io.is_up_to_date(root, newer, PART, "anything")


def test_manifest_records_inputs_config_rows_and_versions(root: Path) -> None:
    inputs, config = {"source": "abc"}, {"format": "squad"}
    io.write_partition(root, CONTEXTS, _contexts(4, 1), PART, config=config, inputs=inputs, timings={"load": 1.23456})
    man = json.loads((io.artifact_dir(root, CONTEXTS) / io.MANIFEST).read_text())
    assert man["schema_version"] == CONTEXTS.version and man["columns"] == CONTEXTS.column_names
    entry = man["partitions"]["dataset=d/split=dev"]
    assert entry["rows"] == 4 and entry["config"] == config and entry["inputs"] == inputs
    assert entry["timings_s"] == {"load": 1.2346} and "polars" in entry["libraries"] and entry["created_at"]
    fp = io.inputs_fingerprint(inputs, config)
    assert entry["inputs_fingerprint"] == fp
    assert io.is_up_to_date(root, CONTEXTS, PART, fp)
    assert not io.is_up_to_date(root, CONTEXTS, PART, io.inputs_fingerprint({"source": "abd"}, config))
    assert not io.is_up_to_date(root, CONTEXTS, {"dataset": "other", "split": "dev"}, fp)


def test_parallel_writers_of_different_partitions_keep_every_entry(root: Path) -> None:
    threads = [
        threading.Thread(
            target=io.write_partition, args=(root, CONTEXTS, _contexts(3, i), {"dataset": f"d{i}", "split": "dev"})
        )
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(io.partitions(root, CONTEXTS)) == 8
    assert io.read(root, CONTEXTS).height == 24


def test_a_frame_that_does_not_fit_names_the_column(root: Path) -> None:
    with pytest.raises(io.ArtifactError, match=r"missing columns \['n_chars'\]"):
        io.write_partition(root, CONTEXTS, _contexts(2, 1).drop("n_chars"), PART)
    bad = _contexts(2, 1).with_columns(pl.lit(None, dtype=pl.String).alias("context"))
    with pytest.raises(io.ArtifactError, match="column 'context': 2 null"):
        io.write_partition(root, CONTEXTS, bad, PART)
    assert not io.artifact_dir(root, CONTEXTS).joinpath("dataset=d").exists()


# Span gate and partition swap (issue 15) ------------------------------------------------------


def _span_frames(text: str, start: int, end: int):
    from pipeline.schemas import EXAMPLES

    context = "Marie Curie was born in Warsaw."
    ctx = pl.DataFrame(
        [{"context_id": io.text_id(context), "context": context, "title": "t", "lang": "en", "n_chars": len(context)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    ex = pl.DataFrame(
        [
            {
                "example_id": "q1",
                "context_id": io.text_id(context),
                "title": "t",
                "question": "Where?",
                "answers": [{"text": text, "start": start, "end": end}],
                "is_impossible": False,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "f",
                "source_record": "r",
            }
        ],
        schema=io.empty_frame(EXAMPLES).schema,
    )
    return ex, ctx


def test_check_spans_passes_a_span_that_reads_its_text() -> None:
    from pipeline.schemas import EXAMPLES

    ex, ctx = _span_frames("Warsaw", 24, 30)  # "Marie Curie was born in " is 24 characters
    io.check_spans(EXAMPLES, ex, ctx, "d/s")


@pytest.mark.parametrize(
    "text,start,end", [("Warsaw", 23, 29), ("Warsaw", 24, 29), ("Warsa", 24, 30), ("Warsaw", -1, 5)]
)
def test_check_spans_names_artifact_record_and_column_of_a_wrong_span(text: str, start: int, end: int) -> None:
    from pipeline.schemas import EXAMPLES

    ex, ctx = _span_frames(text, start, end)
    with pytest.raises(
        io.ArtifactError, match=r"artifact 'examples' d/s: 1 span\(s\) in column 'answers'.*example_id 'q1'"
    ):
        io.check_spans(EXAMPLES, ex, ctx, "d/s")


def test_check_spans_fails_when_the_context_is_missing() -> None:
    from pipeline.schemas import EXAMPLES

    ex, ctx = _span_frames("Warsaw", 24, 30)
    with pytest.raises(io.ArtifactError, match="no context"):
        io.check_spans(EXAMPLES, ex, ctx.with_columns(pl.lit("other").alias("context_id")), "d/s")
    with pytest.raises(io.ArtifactError, match="without the contexts"):
        io.check_spans(EXAMPLES, ex, None, "d/s")


def test_swap_partition_without_an_atomic_exchange_still_ends_with_the_new_partition(root, monkeypatch) -> None:
    monkeypatch.setattr(io, "_exchange_dirs", lambda a, b: False)  # e.g. macOS: rename aside, then in
    staging = root / ".staging" / "x"
    io.write_partition(root, CONTEXTS, _contexts(3, 1), PART)
    io.write_partition(staging, CONTEXTS, _contexts(2, 2), PART, config={"new": True})
    io.swap_partition(staging, root, CONTEXTS, PART)
    assert io.read(root, CONTEXTS, PART).height == 2
    assert io.partition_entry(root, CONTEXTS, PART)["config"] == {"new": True}
    assert not io.partition_dir(staging, CONTEXTS, PART).exists()
    assert [p.name for p in io.partition_dir(root, CONTEXTS, PART).parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("text", ['{"partitions": {', "[1, 2]", '{"partitions": []}', "\xff\xfe not utf-8"])
def test_a_corrupt_manifest_is_a_named_error_not_a_json_traceback(root: Path, text: str) -> None:
    io.write_partition(root, CONTEXTS, _contexts(2, 1), PART)
    path = io.artifact_dir(root, CONTEXTS) / io.MANIFEST
    path.write_text(text, encoding="latin-1")
    with pytest.raises(io.ArtifactError, match=r"_manifest.json: the manifest of artifact 'contexts' .*rebuild"):
        io.read_manifest(root, CONTEXTS)
    with pytest.raises(io.ArtifactError, match=r"manifest of artifact 'contexts'"):
        io.write_partition(root, CONTEXTS, _contexts(2, 2), PART)  # a writer does not overwrite what it cannot read
