"""A real local Prefect server + the project's served deployments + `prefect deployment run`.

    python -m pytest tests/flows/test_deployment_server.py -m server -q

Exactly the README's commands: `prefect server start`, `python -m flows.deployments`,
`prefect deployment run build-bundles/default --param root=... --watch`, and
`prefect deployment run experiment/default --param profile=cpu-smoke ...` (the tiny-model study). Every process is
started in its own process group and killed at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline import io
from pipeline.schemas import EXAMPLES, INDEX, NEAR_MISS

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
STARTUP_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def _wait_for(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{what} not ready after {STARTUP_TIMEOUT_S} s ({url}):\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A Prefect server on a free loopback port and `python -m flows.deployments` serving against it."""
    tmp = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    procs: list[subprocess.Popen] = []
    try:
        server_log = tmp / "server.log"
        procs.append(
            subprocess.Popen(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                stdout=server_log.open("w"),
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        )
        _wait_for(f"{api}/health", procs[0], server_log, "prefect server")
        serve_log = tmp / "serve.log"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "flows.deployments"],
                stdout=serve_log.open("w"),
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        )
        _wait_for(f"{api}/deployments/name/experiment/default", procs[1], serve_log, "flows.deployments")
        yield {"env": env, "api": api, "tmp": tmp, "serve_log": serve_log}
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_deployment_run_completes_and_writes_artifacts(served: dict) -> None:
    root = served["tmp"] / "artifacts"
    cmd = [
        PREFECT,
        "deployment",
        "run",
        "build-bundles/default",
        "--param",
        f"root={root}",
        "--watch",
        "--watch-timeout",
        "400",
    ]
    run = subprocess.run(cmd, env=served["env"], cwd=REPO, capture_output=True, text=True, timeout=480)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + "\n--- serve log ---\n" + served["serve_log"].read_text()[-4000:]
    assert "Completed" in output, output
    assert {p["dataset"] for p in io.partitions(root, EXAMPLES)} >= {"squad11", "broken"}
    assert io.read(root, NEAR_MISS).height > 0 and io.partitions(root, INDEX)
    assert list((root / "reports").glob("build-bundles-*.md"))


def test_every_flow_is_deployed_with_its_schedule_concurrency_and_typed_parameters(served: dict) -> None:
    from flows.deployments import DEPLOYMENTS

    expected_cron = os.environ.get("CQA_REMINE_CRON", "0 3 * * *").strip()
    names = set()
    for d in DEPLOYMENTS:
        name = f"{d.flow.name}/{d.name}"
        deployment = httpx.get(f"{served['api']}/deployments/name/{name}", timeout=10).json()
        assert deployment.get("id"), f"{name} is not served: {deployment}"
        crons = [s["schedule"].get("cron") for s in deployment.get("schedules", [])]
        assert crons == ([expected_cron] if d.scheduled and expected_cron else []), name
        limit = (deployment.get("global_concurrency_limit") or {}).get("limit")
        assert limit == (1 if d.serial else None), f"{name}: concurrency limit {limit}"
        names.add(name)
    assert {
        "build-index/default",
        "build-bundles/default",
        "build-bundles/nightly",
        "sample-topk/default",
        "train/default",
        "evaluate/default",
        "experiment/default",
    } <= names
    schema = httpx.get(f"{served['api']}/deployments/name/experiment/default", timeout=10).json()[
        "parameter_openapi_schema"
    ]
    props = schema["properties"]
    assert props["profile"]["type"] == "string" and props["force"]["type"] == "boolean"
    assert any(t.get("type") == "array" for t in props["overrides"].get("anyOf", [props["overrides"]]))


def test_experiment_deployment_runs_cpu_smoke_to_its_report(served: dict) -> None:
    workdir = served["tmp"] / "experiment"
    cmd = [
        PREFECT,
        "deployment",
        "run",
        "experiment/default",
        "--param",
        "profile=cpu-smoke",
        "--param",
        f'overrides=["workdir={workdir}", "seeds=[13, 14]"]',
        "--watch",
        "--watch-timeout",
        "560",
    ]
    run = subprocess.run(cmd, env=served["env"], cwd=REPO, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "Completed" in output, (
        output + "\n--- serve log ---\n" + served["serve_log"].read_text()[-4000:]
    )
    report = workdir / "report" / "report.md"
    assert "## Result: each method minus the control `hinge-control`, over 2 seed(s)" in report.read_text(
        encoding="utf-8"
    )
    state = json.loads((workdir / "experiment_state.json").read_text())
    # mine + per seed (train:mle, sample-topk, 3 continuations) + evaluate + report; 2 seeds keep the served run short
    assert all(s["status"] == "done" for s in state.values()) and len(state) == 1 + 2 * 5 + 2


def test_deployments_register_on_their_process_work_pools(served: dict) -> None:
    from flows.deployments import DEPLOYMENTS, GPU_POOL, MINING_POOL

    env = served["env"]
    for pool in (MINING_POOL, GPU_POOL):
        create = subprocess.run(
            [PREFECT, "work-pool", "create", pool, "--type", "process", "--overwrite"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert create.returncode == 0, create.stdout + create.stderr
    reg = subprocess.run(
        [sys.executable, "-m", "flows.deployments", "--register"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert reg.returncode == 0, reg.stdout + reg.stderr
    for d in DEPLOYMENTS:
        deployment = httpx.get(f"{served['api']}/deployments/name/{d.flow.name}/{d.name}", timeout=10).json()
        assert deployment["work_pool_name"] == d.pool, deployment
    one = subprocess.run(
        [sys.executable, "-m", "flows.deployments", "--pool", MINING_POOL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    deployment = httpx.get(f"{served['api']}/deployments/name/train/default", timeout=10).json()
    assert deployment["work_pool_name"] == MINING_POOL  # --pool puts every deployment on one pool
