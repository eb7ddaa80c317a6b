"""Training faults end with one `error:` line naming the file and what to do; a broken newest
checkpoint never makes `--resume` restart from step 0 or delete the good ones (issue 15).

    python -m pytest -q tests/training/test_faults.py

One tiny run (9 steps, a checkpoint every 3, all kept) is trained once; each test copies
its folder, damages one thing and runs `cqa train` on the copy through the CLI.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from flows.cli import app
from tests.training.conftest import tiny_overrides
from training.checkpoint import LATEST, TRAIN_STATE, step_folders
from training.config import ConfigError, load_config
from training.loop import LOG_FILE, train, truncate_log

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "training" / "configs" / "mle.yaml"
STEPS = 9


def _overrides(root: Path, out: Path, name: str) -> list[str]:
    return tiny_overrides(root, out, steps=STEPS) + [f"run_name={name}", "checkpoint_every=3", "keep_checkpoints=3"]


def cqa_train(root: Path, out: Path, name: str, *extra: str) -> tuple[int, list[str]]:
    """`cqa train` on run `out/name`: exit code and the output's non-empty lines."""
    sets = [a for o in _overrides(root, out, name) for a in ("--set", o)]
    result = CliRunner().invoke(app, ["train", "--config", str(CONFIG), *sets, *extra])
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def assert_one_error(lines: list[str], *needles: str) -> str:
    """The output is exactly one `error:` line (no traceback) holding every needle."""
    assert len(lines) == 1 and lines[0].startswith("error: "), "\n".join(lines)
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(train_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 9-step run with checkpoints step-3, step-6 and step-9."""
    out = tmp_path_factory.mktemp("trained")
    run = train(load_config(CONFIG, _overrides(train_root, out, "base")))
    assert [p.name for p in step_folders(run)] == ["step-000003", "step-000006", "step-000009"]
    return run


@pytest.fixture
def copy(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run under another folder name (a moved run still resumes)."""
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    return run


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def _untouched(run: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of the step-3 and step-6 files: a restart from step 0 would rewrite them."""
    return {
        str(p.relative_to(run)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for name in ("step-000003", "step-000006")
        for p in sorted((run / "checkpoints" / name).iterdir())
    }


def _log_rows(run: Path) -> list[str]:
    return (run / LOG_FILE).read_text().splitlines()


def _logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / LOG_FILE).read_text().splitlines() if '"event"' not in line]


# Named errors -------------------------------------------------------------------------------


def test_a_second_fresh_run_into_the_folder_names_it_and_says_resume(train_root: Path, copy: Path) -> None:
    code, lines = cqa_train(train_root, copy.parent, copy.name)
    assert code == 1
    assert_one_error(lines, str(copy), "step-000009", "--resume")


def test_a_changed_config_under_resume_names_the_field(train_root: Path, copy: Path) -> None:
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--set", "optim.lr=1e-2", "--resume")
    assert code == 1
    assert_one_error(lines, "['optim.lr']", "step-000009", "same config")


def test_a_truncated_model_file_is_named_with_the_checkpoint_to_fall_back_to(train_root: Path, copy: Path) -> None:
    broken = copy / "checkpoints" / "step-000009" / "model.safetensors"
    os.truncate(broken, broken.stat().st_size - 100)
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 1
    assert_one_error(lines, str(broken), "truncated or corrupt", "step-000006")
    assert [p.name for p in step_folders(copy)] == ["step-000003", "step-000006", "step-000009"]  # nothing deleted


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_an_unreadable_train_state_is_named_and_weights_only_stays_on(
    train_root: Path, copy: Path, damage: str
) -> None:
    broken = copy / "checkpoints" / "step-000009" / TRAIN_STATE
    if damage == "garbage":
        broken.write_bytes(os.urandom(600))  # torch's own message here advises weights_only=False
    else:
        os.truncate(broken, broken.stat().st_size // 2)
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 1
    line = assert_one_error(lines, str(broken), "truncated or corrupt", "step-000006")
    assert "weights_only" not in line


def test_a_corrupt_config_beside_the_checkpoint_is_named(train_root: Path, copy: Path) -> None:
    broken = copy / "checkpoints" / "step-000009" / "config.yaml"
    broken.write_text("model: {name: tiny\noptim: [")
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 1
    assert_one_error(lines, str(broken), "corrupt")


@pytest.fixture
def artifacts(train_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    shutil.copytree(train_root, root)
    return root


def test_a_truncated_examples_file_is_named_before_any_work(artifacts: Path, tmp_path: Path) -> None:
    part = sorted((artifacts / "examples" / "dataset=sample" / "split=train").glob("part-*.parquet"))[0]
    os.truncate(part, part.stat().st_size // 2)
    code, lines = cqa_train(artifacts, tmp_path / "runs", "fresh")
    assert code == 2
    assert_one_error(lines, str(part), "truncated or corrupt", "--force")
    assert not (tmp_path / "runs").exists()


def test_a_corrupt_manifest_is_named_before_any_work(artifacts: Path, tmp_path: Path) -> None:
    manifest = artifacts / "examples" / "_manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    code, lines = cqa_train(artifacts, tmp_path / "runs", "fresh")
    assert code == 2
    assert_one_error(lines, str(manifest), "not valid JSON")
    assert not (tmp_path / "runs").exists()


def test_bad_devices_fail_when_the_config_is_read(train_root: Path, tmp_path: Path) -> None:
    code, lines = cqa_train(train_root, tmp_path, "dev", "--set", "device=banana")
    assert code == 2
    assert_one_error(lines, "device: 'banana' is not a device", "cuda:N")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device: 'cuda', but torch sees no CUDA GPU"):
            load_config(CONFIG, _overrides(train_root, tmp_path, "dev") + ["device=cuda"])
    with pytest.raises(ConfigError, match=r"device: 'cuda:99', but this machine has \d+ CUDA device|no CUDA GPU"):
        load_config(CONFIG, _overrides(train_root, tmp_path, "dev") + ["device=cuda:99"])


# Resume from the newest complete checkpoint ----------------------------------------------------


def test_a_deleted_train_state_resumes_from_the_checkpoint_before_it(
    train_root: Path, trained: Path, copy: Path
) -> None:
    (copy / "checkpoints" / "step-000009" / TRAIN_STATE).unlink()
    before, log_before = _untouched(copy), _log_rows(copy)
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 0, lines
    warning = [line for line in lines if line.startswith("warning: ")]  # stderr; the runner may put it after stdout
    assert (
        len(warning) == 1 and "step-000009 is incomplete (no train_state.pt); resuming from step-000006" in warning[0]
    )
    assert str(copy) in lines
    # steps 7-9 were trained again from step 6: the same weights as the uninterrupted run, not a restart from 0
    final = _weights(copy / "checkpoints" / "step-000009")
    reference = _weights(trained / "checkpoints" / "step-000009")
    assert all(torch.equal(final[k], reference[k]) for k in reference)
    assert [p.name for p in step_folders(copy)] == ["step-000003", "step-000006", "step-000009"]
    assert (copy / LATEST).read_text().strip() == "step-000009"
    assert _logged_steps(copy) == list(range(1, STEPS + 1))  # steps 7-9 once, not twice
    assert _untouched(copy) == before  # steps 1-6 were not trained again: their checkpoints are the old files
    assert _log_rows(copy)[:6] == log_before[:6]  # ... and their log rows (with their timings) are the old ones


def test_latest_naming_a_missing_folder_resumes_from_the_newest_complete_one(
    train_root: Path, trained: Path, copy: Path
) -> None:
    shutil.rmtree(copy / "checkpoints" / "step-000009")
    before = _untouched(copy)
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 0, lines
    assert any("names 'step-000009', which does not exist; resuming from step-000006" in line for line in lines), lines
    final = _weights(copy / "checkpoints" / "step-000009")
    reference = _weights(trained / "checkpoints" / "step-000009")
    assert all(torch.equal(final[k], reference[k]) for k in reference)
    assert [p.name for p in step_folders(copy)] == ["step-000003", "step-000006", "step-000009"]
    assert _untouched(copy) == before


def test_no_complete_checkpoint_stops_and_deletes_nothing(train_root: Path, copy: Path) -> None:
    for folder in step_folders(copy):
        (folder / TRAIN_STATE).unlink()
    code, lines = cqa_train(train_root, copy.parent, copy.name, "--resume")
    assert code == 1
    assert_one_error(lines, "has no complete checkpoint", "step-000003 is incomplete", "without --resume")
    assert [p.name for p in step_folders(copy)] == ["step-000003", "step-000006", "step-000009"]


# The log ------------------------------------------------------------------------------------


def test_truncate_log_keeps_the_steps_up_to_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    rows = [{"step": s, "loss": 1.0} for s in range(1, 7)] + [{"step": 6, "event": "eval", "dev_loss": 2.0}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 7, "lo')  # a kill mid-write
    truncate_log(log, 4)
    assert [json.loads(line) for line in log.read_text().splitlines()] == rows[:4]
    truncate_log(log, 0)  # a fresh start over a folder that never reached a checkpoint
    assert log.read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOG_FILE]  # no temporary file left


# The train flow's child ---------------------------------------------------------------------


def test_the_flow_raises_the_childs_error_line(train_root: Path, copy: Path) -> None:
    from flows.train import TrainingFailed, launch_training

    with pytest.raises(TrainingFailed) as failed:  # the copy holds a run: a fresh start is refused
        launch_training(str(CONFIG), _overrides(train_root, copy.parent, copy.name))
    message = str(failed.value)
    assert message.startswith("training exited with 1: ") and str(copy) in message and "--resume" in message
    assert "Traceback" not in message and "\n" not in message
