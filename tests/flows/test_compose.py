"""docker-compose.yml and Dockerfile (no Docker engine here: checked by parsing them)."""

from __future__ import annotations

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
    assert "--pool mining" in _command(services["mining-worker"]) and "--type process" in _command(services["mining-worker"])
    assert "--pool gpu" in _command(services["gpu-worker"])
    assert "python -m flows.deployments --pool mining" in _command(services["deploy"])
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
