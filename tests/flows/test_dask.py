"""Scale-out: `build-bundles` on a local Dask cluster writes the same artifacts as the threaded run.

    python -m pytest tests/flows/test_dask.py -q

The Dask run uses `flows.build_bundles.with_task_runner(..., "dask")` (prefect-dask, a
LocalCluster of worker processes), exactly what `cqa build-bundles --runner dask` does.
Every Parquet file must be byte-identical, and every manifest entry equal except for what
records when and how fast it was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flows.test_reliability import SOURCES, artifact_rows

pytest.importorskip("prefect_dask")

# Manifest fields that record when / how fast something was written, not what. `inputs` and
# `inputs_fingerprint` are here too: a miner fingerprints an upstream partition by its manifest
# entry where the writer recorded no content hash (pipeline/stages.miner_inputs, io.data_fingerprint),
# so two builds of identical data may record different ones; the data itself is compared byte for byte.
VOLATILE = {"created_at", "timings_s", "seconds", "parse_s", "inputs", "inputs_fingerprint"}


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    return value


def manifests(root: Path) -> dict[str, object]:
    """Every manifest under `root` without its volatile fields."""
    return {m.parent.name: _strip(json.loads(m.read_text())) for m in sorted(root.glob("*/_manifest.json"))}


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def parquet_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet")) if "reports" not in p.parts
    }


@pytest.mark.slow
def test_dask_build_equals_threaded_build(prefect_harness, tmp_path: Path) -> None:
    from flows.build_bundles import build_bundles_flow, with_task_runner

    roots = {}
    for runner in ("threads", "dask"):
        root = tmp_path / runner
        out = with_task_runner(build_bundles_flow, runner, workers=2)(root=str(root), sources=SOURCES)
        assert {r["stage"] for r in out["stages"]} >= {"load", "index", "near_miss", "ropes_bundles", "flips"}
        roots[runner] = root
    threads, dask = roots["threads"], roots["dask"]
    # every mined artifact kind of both datasets is compared (the samples have no rejects since
    # ROPES keeps every question by default, so `rejects` is not among them)
    written = {tuple(p.split("/")[:2]) for p in parquet_bytes(threads)}
    for kind in ("bundles", "contexts", "examples", "flips", "near_miss"):
        assert {(kind, "dataset=squad11"), (kind, "dataset=ropes")} <= written, kind
    assert ("synthetic", "dataset=squad11") in written and sum(k == "index" for k, _ in written) == 1
    assert artifact_rows(dask) == artifact_rows(threads)
    assert parquet_bytes(dask) == parquet_bytes(threads)
    assert not differences(manifests(threads), manifests(dask))


def test_task_runner_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.build_bundles import task_runner

    assert isinstance(task_runner(), ThreadPoolTaskRunner)
    monkeypatch.setenv("CQA_TASK_RUNNER", "dask")
    assert isinstance(task_runner(workers=2), DaskTaskRunner)
    monkeypatch.setenv("CQA_DASK_ADDRESS", "tcp://scheduler:8786")
    assert task_runner().address == "tcp://scheduler:8786"
    assert isinstance(task_runner("threads"), ThreadPoolTaskRunner)  # an explicit runner wins
    monkeypatch.setenv("CQA_TASK_RUNNER", "spark")
    with pytest.raises(
        ValueError, match=r"got 'spark', expected one of \['threads', 'dask'\] \(setting CQA_TASK_RUNNER\)"
    ):
        task_runner()
