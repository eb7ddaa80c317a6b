"""Inside a Prefect flow run, `track` counts reach a Prefect progress artifact (the real API, test harness)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_tracked_loop_in_a_task_writes_a_progress_artifact(prefect_harness) -> None:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from flows.progress import reporting
    from pipeline.progress import track

    @task
    def count(n: int) -> int:
        return sum(1 for _ in track(range(n), "demo stage", n))

    @flow
    def demo() -> int:
        return count(40)

    with reporting(prefect=True):
        assert demo() == 40
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])))
    mine = [a for a in found if a.key == "progress-demo-stage"]
    assert mine, [a.key for a in found]
    assert float(mine[-1].data) == 100.0 and "40/40" in (mine[-1].description or "")
