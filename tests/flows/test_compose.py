"""docker-compose.yml and Dockerfile (no Docker engine here: checked by parsing them)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_services_and_work_pools() -> None:
    services = _compose()["services"]
    assert {"postgres", "prefect-server", "mining-worker", "gpu-worker", "deploy"} <= set(services)
    assert "prefect server start" in _command(services["prefect-server"])
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "--pool mining" in _command(services["mining-worker"]) and "--type process" in _command(
        services["mining-worker"]
    )
    assert "--pool gpu" in _command(services["gpu-worker"])
    assert "python -m flows.deployments --register" in _command(services["deploy"])
    for name in ("mining-worker", "gpu-worker", "deploy"):
        assert services[name]["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api", name
        assert services[name]["depends_on"]["prefect-server"]["condition"] == "service_healthy", name


def test_gpu_reservation_health_checks_and_loopback_ports() -> None:
    services = _compose()["services"]
    devices = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    for name in ("postgres", "prefect-server", "mining-worker", "gpu-worker"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_dockerfile_pins_torch_before_the_project() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.index('TORCH_SPEC="torch==2.13.0"') < text.index('pip install -e ".[models,dask]"')
    for folder in ("pipeline", "training", "flows", "data/samples"):
        assert f"COPY {folder}" in text


def _worker_pools(services: dict) -> dict[str, str]:
    """work pool → the service whose command starts a worker on it."""
    return {
        m.group(1): name for name, s in services.items() if (m := re.search(r"worker start --pool (\S+)", _command(s)))
    }


def test_every_deployment_pool_has_a_worker_and_the_deploy_service_registers_them() -> None:
    from flows.deployments import DEPLOYMENTS, GPU_POOL, MINING_POOL

    services = _compose()["services"]
    workers = _worker_pools(services)
    assert {d.pool for d in DEPLOYMENTS} == set(workers) == {MINING_POOL, GPU_POOL}
    deploy = _command(services["deploy"])
    assert set(re.findall(r"work-pool create (\S+) --type process", deploy)) == set(workers)
    assert "python -m flows.deployments --register" in deploy
    for d in DEPLOYMENTS:  # the flow's code is in the image the pool's worker runs
        assert Path(REPO / d.entrypoint.split(":")[0]).is_file(), d.entrypoint
    gpu = services[workers[GPU_POOL]]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert {d.flow.name for d in DEPLOYMENTS if d.pool == GPU_POOL} == {
        "train",
        "sample-topk",
        "evaluate",
        "experiment",
    }
    assert {d.flow.name for d in DEPLOYMENTS if d.pool == MINING_POOL} == {"build-bundles", "build-index"}


def test_workers_mount_the_data_and_runs_folders_and_check_their_own_health() -> None:
    services = _compose()["services"]
    workers = _worker_pools(services)
    for pool, name in workers.items():
        s = services[name]
        assert "./data:/app/data" in s["volumes"], name
        assert "--with-healthcheck" in _command(s) and "8080/health" in " ".join(s["healthcheck"]["test"]), name
        assert s["environment"]["PREFECT_WORKER_WEBSERVER_HOST"] == "127.0.0.1", name
        assert not s.get("ports"), f"{name} publishes ports"
    assert "./runs:/app/runs" in services[workers["gpu"]]["volumes"]
    assert not services["postgres"].get("ports")


def test_database_password_comes_from_the_env_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "prefect:prefect@" not in text and "POSTGRES_PASSWORD: prefect" not in text
    services = _compose()["services"]
    # no default in compose
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD:?" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    example = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(example)
    # URL-safe
    assert example["POSTGRES_PASSWORD"].isascii() and example["POSTGRES_PASSWORD"].replace("-", "").isalnum()
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
