"""The build-bundles flow on the sample inputs, under Prefect's test harness."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.build_bundles import build_bundles_flow
from pipeline import io
from pipeline.build_config import load_build_config
from pipeline.schemas import CONTEXTS, EXAMPLES, INDEX, NEAR_MISS, REJECTS
from tests.flows.conftest import parquet_state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(prefect_harness, samples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("artifacts")
    config = str(samples / "build.yaml")
    first = build_bundles_flow(config=config, root=str(root))
    state = parquet_state(root)
    second = build_bundles_flow(config=config, root=str(root))
    return {"root": root, "config": config, "first": first, "second": second, "state": state}


def test_every_source_is_loaded_indexed_and_mined(built: dict) -> None:
    root = built["root"]
    cfg = load_build_config(built["config"], root=root)
    datasets = {p["dataset"] for p in io.partitions(root, EXAMPLES)}
    assert datasets == {s.dataset for s in cfg.sources}
    examples = io.read(root, EXAMPLES)
    contexts = io.read(root, CONTEXTS)
    index = io.read(root, INDEX)
    # build-bundles indexes exactly the datasets a selected miner reads the index of (near_miss,
    # synthetic); xquad_de is mined by neither, so it is loaded but costs no spaCy pass.
    from flows.build_index import index_read

    read = {ds for ds in datasets if index_read(cfg, ds)}
    assert read and read != datasets
    needed = contexts.filter(pl.col("dataset").is_in(sorted(read)))
    assert set(needed["context_id"]) <= set(index["context_id"])  # every context a miner reads is indexed
    skipped = contexts.filter(~pl.col("dataset").is_in(sorted(read)))
    assert skipped.height > 0 and not set(skipped["context_id"]) & set(index["context_id"])
    assert not [r for r in built["first"]["stages"] if r["stage"] == "index" and r["dataset"] not in read]
    mined = io.read(root, NEAR_MISS)
    rejects = io.read(root, REJECTS)
    for ds in {s.dataset for s in cfg.sources}:
        n_examples = examples.filter(pl.col("dataset") == ds).height
        n_mined = mined.filter(pl.col("dataset") == ds).height
        n_rejected = rejects.filter((pl.col("dataset") == ds) & (pl.col("stage") == "near_miss")).height
        if ds in cfg.miner_datasets["near_miss"]:
            assert n_mined + n_rejected == n_examples, ds  # every example accounted for
        else:
            assert n_mined == 0, f"near_miss is not configured for {ds}"
    assert (mined["n_negatives"] == mined["negatives"].list.len()).all()
    assert mined.filter(pl.col("n_negatives") > 0).height > 0


def test_broken_records_reach_rejects(built: dict) -> None:
    rejects = io.read(built["root"], REJECTS)
    broken = rejects.filter((pl.col("dataset") == "broken") & (pl.col("stage") == "load"))
    assert broken.height > 0
    load_rows = [r for r in built["first"]["stages"] if r["stage"] == "load" and r["dataset"] == "broken"]
    assert sum(r["rejects"] for r in load_rows) == broken.height
    assert broken["source_file"].str.ends_with("broken_sample.json").all()


def test_report_and_prefect_artifacts(built: dict) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    report = Path(built["first"]["report"])
    assert report.parent == built["root"] / "reports" and report.name.startswith("build-bundles-")
    text = report.read_text()
    for heading in ("## Time per stage", "## Stages by partition", "## Rejects by reason"):
        assert heading in text
    assert "near_miss" in text and "broken" in text
    with get_client(sync_client=True) as client:
        keys = ["build-bundles-stages", "build-bundles-report"]
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    assert {a.key for a in found} == set(keys)
    table = next(a for a in found if a.key == "build-bundles-stages")
    assert "near_miss" in str(table.data)


def test_second_run_skips_everything_and_rewrites_no_parquet(built: dict) -> None:
    stages = built["second"]["stages"]
    assert stages and all(r["skipped"] for r in stages), [r for r in stages if not r["skipped"]]
    assert parquet_state(built["root"]) == built["state"]
    first = {(r["stage"], r["dataset"], r["split"]): r["rows"] for r in built["first"]["stages"]}
    second = {(r["stage"], r["dataset"], r["split"]): r["rows"] for r in stages}
    assert first == second


def test_a_second_run_on_the_same_root_waits_then_gives_up(prefect_harness, samples: Path, tmp_path: Path) -> None:
    from pipeline.run_lock import RunLocked, run_lock

    with run_lock(tmp_path, timeout_s=0, what="test holder"):
        with pytest.raises(RunLocked, match="another run holds the lock"):
            build_bundles_flow(config=str(samples / "build.yaml"), root=str(tmp_path), lock_timeout_s=0)
    assert not (tmp_path / "examples").exists()  # nothing was done
