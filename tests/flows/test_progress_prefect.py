"""Inside a Prefect flow run, `track` counts reach a Prefect progress artifact (the real API, test harness)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_tracked_loop_in_a_task_writes_a_progress_artifact(prefect_harness) -> None:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.progress import reporting
    from pipeline.progress import track

    @task
    def count(n: int) -> int:
        return sum(1 for _ in track(range(n), "demo stage", n))

    @flow
    def demo() -> int:
        return count(40)

    with reporting(prefect=True):
        state = demo(return_state=True)
    assert state.result() == 40
    with get_client(sync_client=True) as client:  # this run's artifact only: the harness's API is shared by the session
        mine = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["progress-demo-stage"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            )
        )
    assert mine
    assert float(mine[-1].data) == 100.0 and "40/40" in (mine[-1].description or "")
