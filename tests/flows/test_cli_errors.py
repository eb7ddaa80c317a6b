"""How `cqa` commands fail: bad build options before any work, one `error:` line, literal text.

python -m pytest -q tests/flows/test_cli_errors.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app
from flows.cli_errors import fail, failing_cleanly, one_line


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--lock-timeout", "-1", "--lock-timeout: got -1, expected seconds >= 0"),
        ("--workers", "0", "--workers: got 0, expected at least 1"),
    ],
)
@pytest.mark.parametrize("command", ["build-bundles", "build-index"])
def test_bad_build_options_fail_at_once_before_prefect(
    command: str, option: str, value: str, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.cli_process

    def no_run() -> None:  # the build's first step: supervising the run (and its Prefect server)
        raise AssertionError("the build started before its options were checked")

    monkeypatch.setattr(flows.cli_process, "supervise", no_run)
    root = tmp_path / "artifacts"
    result = CliRunner().invoke(app, [command, "--root", str(root), option, value])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output
    assert not root.exists()


def test_bracketed_words_in_a_message_are_printed_literally(capsys) -> None:
    with pytest.raises(typer.Exit):
        fail("record 3: an object with keys [version] expected; got [bold]x[/bold]")
    assert (
        capsys.readouterr().err.strip() == "error: record 3: an object with keys [version] expected; got [bold]x[/bold]"
    )


def test_a_multi_line_message_becomes_one_line() -> None:
    assert one_line("bad config x.yaml:\n  optim.lr: too small\n  seed: not an int\n") == (
        "bad config x.yaml: optim.lr: too small; seed: not an int"
    )


def test_an_unexpected_failure_is_one_line_unless_verbose(capsys) -> None:
    with pytest.raises(typer.Exit) as stopped:
        with failing_cleanly(verbose=False):
            raise KeyError("context_id")
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().err.strip() == "error: KeyError: 'context_id' (run again with -v for the traceback)"
    with pytest.raises(KeyError):
        with failing_cleanly(verbose=True):
            raise KeyError("context_id")


@pytest.mark.parametrize("command", ["sample-topk", "evaluate"])
def test_a_bad_device_fails_before_any_model_is_loaded(command: str, tmp_path: Path) -> None:
    args = ["tiny", "--root", str(tmp_path), "--device", "banana"]
    if command == "evaluate":
        args += ["--set", f"s={tmp_path / 's.json'}:squad"]
        (tmp_path / "s.json").write_text('{"version": "1.1", "data": []}')
    result = CliRunner().invoke(app, [command, *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --device: 'banana' is not a device; expected auto, cpu, cuda, cuda:N or mps"


def test_bundles_show_keeps_the_bracketed_list_of_modes() -> None:
    result = CliRunner().invoke(app, ["bundles-show", "--mode", "x"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --mode: got 'x', expected one of ['paper', 'reference-code', 'both']"
