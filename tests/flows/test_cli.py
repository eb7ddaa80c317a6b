"""`cqa` command line: help of every command, a build on the samples, clear errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app
from pipeline import io
from pipeline.schemas import NEAR_MISS, REJECTS

runner = CliRunner()


def _text(result) -> str:
    return " ".join((result.output or "").split())


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_the_mining_commands_are_registered() -> None:
    assert {"build-index", "build-bundles", "show", "rejects"} <= set(_commands())


@pytest.mark.parametrize("command", [None, *_commands()])
def test_help_of_every_command(command: str | None) -> None:
    result = runner.invoke(app, [command, "--help"] if command else ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_build_bundles_help_lists_its_options() -> None:
    text = _text(runner.invoke(app, ["build-bundles", "--help"]))
    for option in ("--config", "--root", "--source", "--force", "--set"):
        assert option in text


def test_unknown_config_key_fails_before_any_work(tmp_path: Path) -> None:
    config = tmp_path / "build.yaml"
    config.write_text("sources: []\nnearmiss: {max_negatives: 2}\n")
    root = tmp_path / "artifacts"
    result = runner.invoke(app, ["build-bundles", "--config", str(config), "--root", str(root)])
    assert result.exit_code == 2
    assert "nearmiss: unknown key; expected one of" in _text(result) and "near_miss" in _text(result)
    assert not root.exists()


def test_bad_override_value_names_the_field(samples: Path, tmp_path: Path) -> None:
    args = [
        "build-bundles",
        "--config",
        str(samples / "build.yaml"),
        "--root",
        str(tmp_path),
        "--set",
        "index.batch_size=many",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "index.batch_size" in _text(result) and "expected an integer" in _text(result)


def test_missing_source_file_names_the_path(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["build-bundles", "--source", f"gone={tmp_path}/nope.json", "--root", str(tmp_path / "a")]
    )
    assert result.exit_code == 2
    assert "nope.json" in _text(result) and "sources.0.path" in _text(result)


@pytest.mark.slow
def test_unreadable_sample_gives_a_clear_error(prefect_harness, samples: Path, tmp_path: Path) -> None:
    path = samples / "unreadable_sample.json"
    result = runner.invoke(app, ["build-bundles", "--source", f"bad={path}", "--root", str(tmp_path)])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]  # Prefect's own log of the failed task may precede it
    assert last.startswith("error:") and "unreadable_sample.json" in last and "not valid JSON" in last


@pytest.mark.slow
def test_build_bundles_then_show_and_rejects(prefect_harness, samples: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    args = [
        "build-bundles",
        "--config",
        str(samples / "build.yaml"),
        "--root",
        str(root),
        "--set",
        "near_miss.max_negatives=2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "report:" in result.output
    mined = io.read(root, NEAR_MISS)
    assert mined.height > 0 and mined["n_negatives"].max() <= 2
    shown = runner.invoke(app, ["show", "near_miss", "--root", str(root), "--head", "2"])
    assert shown.exit_code == 0, shown.output
    assert "dataset=squad11/split=dev" in _text(shown)
    rej = runner.invoke(app, ["rejects", "--root", str(root), "--dataset", "broken"])
    assert rej.exit_code == 0, rej.output
    n = io.read(root, REJECTS).filter(pl.col("dataset") == "broken").height
    assert f"rejects ({n} records)" in _text(rej)


def test_show_unknown_artifact_lists_the_valid_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", "nearmiss", "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert "near_miss" in _text(result)


def test_cli_defaults_match_the_flow_and_config_defaults() -> None:
    from flows import cli_mining
    from flows.build_index import DEFAULT_CONFIG
    from pipeline.build_config import DEFAULT_ROOT

    assert str(cli_mining.DEFAULT_CONFIG) == DEFAULT_CONFIG and str(cli_mining.DEFAULT_ROOT) == DEFAULT_ROOT


def test_build_bundles_with_no_lock_wait_stops_while_another_build_holds_the_root(
    prefect_harness, samples: Path, tmp_path: Path
) -> None:
    from pipeline.run_lock import run_lock

    root = tmp_path / "artifacts"
    args = ["build-bundles", "--config", str(samples / "build.yaml"), "--root", str(root), "--lock-timeout", "0"]
    with run_lock(root, timeout_s=0, what="a test holding the root"):
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "lock" in _text(result).lower()
    assert not list(root.glob("*/**/*.parquet"))  # nothing written
