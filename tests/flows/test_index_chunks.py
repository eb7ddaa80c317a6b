"""The index as chunk tasks on the flow's task runner: the rows of a one-process build (issue 14).

    python -m pytest tests/flows/test_index_chunks.py -q

The reference is built without any flow: `run_load` + `run_index` in this process, one
chunk per partition. The flow runs cut the same contexts into chunks of 2 (batch size 1),
one `index-chunk` task and one part file each, on threads and on a local Dask cluster of
2 worker processes (`--runner dask --workers 2`). Every index row, all columns, must be
equal. A third source loads the squad11 file again under another name: its contexts are
planned once (for the first partition), so the second reports them as cached.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from pipeline import io
from pipeline.build_config import load_build_config
from pipeline.nlp import IndexConfig, ModelNotFoundError, resolve_package
from pipeline.schemas import INDEX

SOURCES = [
    "squad11=data/samples/squad11_sample.json:squad",
    "ropes=data/samples/ropes_sample.json:ropes",
    "again=data/samples/squad11_sample.json:squad",
]
CHUNKED = ["index.batch_size=1", "index.chunk_size=2"]


@pytest.fixture(scope="module", autouse=True)
def _model() -> None:
    try:
        resolve_package("en_core_web_sm")
    except ModelNotFoundError as e:
        pytest.skip(str(e))


def index_rows(root: Path) -> pl.DataFrame:
    return io.read(root, INDEX).sort("context_id")


def part_names(root: Path) -> set[str]:
    return {p.name for p in io.partition_files(root, INDEX)}


def index_stages(out: dict) -> dict[str, dict]:
    return {r["dataset"]: r for r in out["stages"] if r["stage"] == "index"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Loaded and indexed in this process, no flow, one chunk (one part file) per partition."""
    from pipeline.stages import run_index, run_load

    root = tmp_path_factory.mktemp("reference")
    cfg = load_build_config(None, [], root=str(root), sources=SOURCES)
    for spec in cfg.sources:
        run_load(root, spec)
    for spec in cfg.sources:
        run_index(root, spec.dataset, spec.split, IndexConfig(chunk_size=10_000))
    return root


@pytest.fixture(scope="module")
def threaded(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from flows.build_index import build_index_flow
    from pipeline.progress import set_reporter_factory

    stages: list[dict] = []

    def record(description: str, total: int):
        stage = {"description": description, "total": total, "advances": [], "closed": False}
        stages.append(stage)

        class R:
            def advance(self, n: int = 1) -> None:
                stage["advances"].append(n)

            def close(self) -> None:
                stage["closed"] = True

        return R()

    root = tmp_path_factory.mktemp("threads")
    previous = set_reporter_factory(record)
    try:
        out = build_index_flow(config=None, root=str(root), sources=SOURCES, overrides=CHUNKED)
    finally:
        set_reporter_factory(previous)
    return {"root": root, "out": out, "progress": stages}


@pytest.mark.slow
def test_chunk_tasks_on_threads_write_the_rows_of_the_one_process_build(reference: Path, threaded: dict) -> None:
    root, stages = threaded["root"], index_stages(threaded["out"])
    assert index_rows(root).equals(index_rows(reference))  # every column of every row
    squad, ropes, again = stages["squad11"], stages["ropes"], stages["again"]
    assert squad["stats"]["new"] == squad["rows"] == 6  # the sample's 6 unique contexts, all new
    # chunks of 2 contexts: ceil(new / 2) part files per partition, each named by its ids
    assert squad["stats"]["parts"] == math.ceil(squad["stats"]["new"] / 2)
    assert ropes["stats"]["parts"] == math.ceil(ropes["stats"]["new"] / 2)
    assert len(part_names(root)) == squad["stats"]["parts"] + ropes["stats"]["parts"]
    assert len(part_names(reference)) == 2  # one per partition that had new contexts
    # the same file loaded twice: planned once, for the first partition
    assert (again["stats"]["new"], again["stats"]["cached"], again["stats"]["parts"]) == (0, again["rows"], 0)
    assert again["skipped"] and again["rows"] == squad["rows"]
    assert squad["stats"]["workers"] == 1  # threads: one process
    entry = io.partition_entry(root, INDEX, {"nlp": squad["stats"]["partition"]})
    assert entry["rows"] == index_rows(reference).height and entry["config"]["chunk_size"] == 2


@pytest.mark.slow
def test_one_progress_stage_advances_by_each_finished_chunk(threaded: dict) -> None:
    stages = index_stages(threaded["out"])
    new = sum(r["stats"]["new"] for r in stages.values())
    index = [s for s in threaded["progress"] if s["description"].startswith("index")]
    assert len(index) == 1 and index[0]["total"] == new and index[0]["closed"]
    # one advance per finished chunk, by its size: per partition new // 2 chunks of 2, and one of 1 when new is odd
    chunks = [size for r in stages.values() for size in [2] * (r["stats"]["new"] // 2) + [1] * (r["stats"]["new"] % 2)]
    assert sorted(index[0]["advances"]) == sorted(chunks) and sum(chunks) == new


@pytest.mark.slow
def test_an_unchanged_rerun_plans_nothing_and_a_forced_one_swaps_in_the_same_parts(
    prefect_harness, threaded: dict
) -> None:
    from flows.build_index import build_index_flow

    root = threaded["root"]
    names, rows = part_names(root), index_rows(root)
    again = index_stages(build_index_flow(config=None, root=str(root), sources=SOURCES, overrides=CHUNKED))
    assert all(r["skipped"] and r["stats"]["parts"] == 0 for r in again.values())
    forced = index_stages(build_index_flow(config=None, root=str(root), sources=SOURCES, overrides=CHUNKED, force=True))
    assert sum(r["stats"]["parts"] for r in forced.values()) == len(names)
    assert part_names(root) == names and index_rows(root).equals(rows)  # rebuilt under .staging, swapped in whole
    assert not list((root / ".staging").iterdir())


@pytest.mark.slow
def test_a_failed_chunk_does_not_lose_the_others_and_the_rerun_parses_only_it(
    prefect_harness, tmp_path: Path, reference: Path, monkeypatch
) -> None:
    import flows.build_index as build_index_module
    from flows.build_index import build_index_flow

    real = build_index_module.run_index_chunk
    failed: list[tuple[str, ...]] = []

    def flaky(out_root, chunk, cfg):
        if not failed:  # the first chunk to start fails (a worker lost, a full disk ...)
            failed.append(chunk.ids)
            raise OSError("simulated worker failure")
        return real(out_root, chunk, cfg)

    monkeypatch.setattr(build_index_module, "run_index_chunk", flaky)
    monkeypatch.setattr(build_index_module, "MAX_IN_FLIGHT", 1)  # one chunk at a time: the window refills
    with pytest.raises(OSError, match="simulated worker failure"):
        build_index_flow(config=None, root=str(tmp_path), sources=SOURCES[:1], overrides=CHUNKED)
    have = set(io.read(tmp_path, INDEX)["context_id"])
    assert have and not have & set(failed[0])  # every other chunk was written, complete and readable
    monkeypatch.setattr(build_index_module, "run_index_chunk", real)
    out = index_stages(build_index_flow(config=None, root=str(tmp_path), sources=SOURCES[:1], overrides=CHUNKED))
    assert (out["squad11"]["stats"]["new"], out["squad11"]["stats"]["parts"]) == (len(failed[0]), 1)
    assert index_rows(tmp_path).equals(
        index_rows(reference).filter(pl.col("context_id").is_in(list(have | set(failed[0]))))
    )


def test_a_process_loads_the_model_once_for_all_its_chunks(tmp_path: Path, monkeypatch) -> None:
    from pipeline import stages
    from pipeline.spacy_index import plan_index
    from tests.pipeline.test_spacy_index import MORE, TEXTS, contexts_frame

    loads: list[IndexConfig] = []
    real = stages.load_nlp

    def counting(cfg):
        loads.append(cfg)
        return real(cfg)

    stages.shared_nlp.cache_clear()
    monkeypatch.setattr(stages, "load_nlp", counting)
    cfg = IndexConfig(batch_size=1, chunk_size=2)
    plan = plan_index(tmp_path, contexts_frame([*TEXTS, *MORE]), cfg)
    results = [stages.run_index_chunk(tmp_path, c, cfg) for c in plan.chunks]
    assert [r["contexts"] for r in results] == [2, 2, 1] and len(loads) == 1
    assert len({r["worker"] for r in results}) == 1
    stages.shared_nlp.cache_clear()


@pytest.mark.slow
def test_chunk_tasks_on_a_dask_cluster_write_the_same_rows_and_parts(
    prefect_harness, tmp_path: Path, reference: Path, threaded: dict
) -> None:
    pytest.importorskip("prefect_dask")
    from flows.build_bundles import with_task_runner
    from flows.build_index import build_index_flow

    out = with_task_runner(build_index_flow, "dask", workers=2)(
        config=None, root=str(tmp_path), sources=SOURCES, overrides=CHUNKED
    )
    assert index_rows(tmp_path).equals(index_rows(reference))
    assert part_names(tmp_path) == part_names(threaded["root"])  # the same chunks, whichever process parsed them
    stages = index_stages(out)
    assert 1 <= stages["squad11"]["stats"]["workers"] <= 2
    assert (
        io.partition_entry(tmp_path, INDEX, {"nlp": stages["squad11"]["stats"]["partition"]})["rows"]
        == index_rows(reference).height
    )


@pytest.mark.slow
def test_an_existing_dask_cluster_named_by_cqa_dask_address_parses_the_chunks(
    prefect_harness, tmp_path: Path, reference: Path, monkeypatch
) -> None:
    """What the README documents: `CQA_DASK_ADDRESS=tcp://... cqa build-index --runner dask`."""
    pytest.importorskip("prefect_dask")
    from distributed import LocalCluster

    from flows.build_bundles import with_task_runner
    from flows.build_index import build_index_flow

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.setenv("CQA_DASK_ADDRESS", cluster.scheduler_address)
        out = with_task_runner(build_index_flow, "dask")(
            config=None, root=str(tmp_path), sources=SOURCES[:2], overrides=CHUNKED
        )
    assert index_rows(tmp_path).equals(index_rows(reference))
    assert 1 <= index_stages(out)["squad11"]["stats"]["workers"] <= 2
