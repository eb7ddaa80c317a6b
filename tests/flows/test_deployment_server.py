"""A real local Prefect server + the project's served deployments + `prefect deployment run`.

    python -m pytest tests/flows/test_deployment_server.py -m server -q

Exactly the README's commands: `prefect server start`, `python -m flows.deployments`,
`prefect deployment run build-bundles/default --param root=... --watch`. Every process is
started in its own process group and killed at the end, whatever happens.
"""

from __future__ import annotations

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
        procs.append(subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=server_log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                      start_new_session=True))
        _wait_for(f"{api}/health", procs[0], server_log, "prefect server")
        serve_log = tmp / "serve.log"
        procs.append(subprocess.Popen([sys.executable, "-m", "flows.deployments"], stdout=serve_log.open("w"),
                                      stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True))
        _wait_for(f"{api}/deployments/name/build-bundles/default", procs[1], serve_log, "flows.deployments")
        yield {"env": env, "api": api, "tmp": tmp, "serve_log": serve_log}
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_deployment_run_completes_and_writes_artifacts(served: dict) -> None:
    root = served["tmp"] / "artifacts"
    cmd = [PREFECT, "deployment", "run", "build-bundles/default", "--param", f"root={root}", "--watch", "--watch-timeout", "400"]
    run = subprocess.run(cmd, env=served["env"], cwd=REPO, capture_output=True, text=True, timeout=480)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output + "\n--- serve log ---\n" + served["serve_log"].read_text()[-4000:]
    assert "Completed" in output, output
    assert {p["dataset"] for p in io.partitions(root, EXAMPLES)} >= {"squad11", "broken"}
    assert io.read(root, NEAR_MISS).height > 0 and io.partitions(root, INDEX)
    assert list((root / "reports").glob("build-bundles-*.md"))


def test_build_bundles_deployment_has_the_remining_schedule(served: dict) -> None:
    deployment = httpx.get(f"{served['api']}/deployments/name/build-bundles/default", timeout=10).json()
    crons = [s["schedule"].get("cron") for s in deployment.get("schedules", [])]
    expected = os.environ.get("CQA_REMINE_CRON", "0 3 * * *").strip()
    assert crons == ([expected] if expected else [])


def test_deployments_register_on_a_process_work_pool(served: dict) -> None:
    env = served["env"]
    create = subprocess.run([PREFECT, "work-pool", "create", "mining", "--type", "process", "--overwrite"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert create.returncode == 0, create.stdout + create.stderr
    reg = subprocess.run([sys.executable, "-m", "flows.deployments", "--pool", "mining"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert reg.returncode == 0, reg.stdout + reg.stderr
    for name in ("build-bundles/default", "build-index/default"):
        deployment = httpx.get(f"{served['api']}/deployments/name/{name}", timeout=10).json()
        assert deployment["work_pool_name"] == "mining", deployment
