"""build-bundles with `audit` set: the report gets histogram PNGs beside it and links the audit site."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import pytest

pytestmark = pytest.mark.slow


def test_build_bundles_writes_plots_and_the_audit_site(prefect_harness, samples: Path, tmp_path: Path) -> None:
    from flows.build_bundles import build_bundles_flow

    root = tmp_path / "artifacts"
    out = build_bundles_flow(
        config=str(samples / "build.yaml"), root=str(root), overrides=["audit.n=3", "miners=[near_miss, ropes_bundles]"]
    )
    report = Path(out["report"])
    text = report.read_text(encoding="utf-8")
    stem = report.with_suffix("").name
    for png in (f"{stem}-negatives.png", f"{stem}-bundle-sizes.png"):
        assert f"]({png})" in text
        assert mpimg.imread(report.parent / png).shape[0] > 100
    index = root / "audit" / "index.html"
    assert "## Audit site" in text and index.resolve().as_uri() in text
    assert (
        index.exists() and (root / "audit" / "near_miss.html").exists() and (root / "audit" / "bundles.html").exists()
    )
    assert not (root / "audit" / "flips.html").exists()  # flips did not run: no page for an artifact that is not there


def test_the_flow_reports_index_and_miner_progress_as_prefect_artifacts(
    prefect_harness, samples: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.build_bundles import build_bundles_flow
    from pipeline.progress import set_reporter_factory

    previous = set_reporter_factory(None)  # as in a worker process: nothing installed before the flow starts
    try:
        state = build_bundles_flow(
            config=str(samples / "build.yaml"),
            root=str(tmp_path / "a"),
            sources=[f"squad11={samples / 'squad11_sample.json'}:squad"],
            overrides=["miners=[near_miss]"],
            return_state=True,
        )
    finally:
        set_reporter_factory(previous)
    keys = ["progress-index-en-core-web-sm", "progress-near-miss"]
    with get_client(
        sync_client=True
    ) as client:  # this run's artifacts only: the harness's API is shared by the session
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=keys),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert {a.key for a in found} == set(keys)
    done = {a.key: a for a in found if float(a.data) == 100.0}
    assert set(done) == set(keys), [(a.key, a.data, a.description) for a in found]
    assert done["progress-near-miss"].description == "near_miss: 28/28"  # the 28 questions of the SQuAD sample
