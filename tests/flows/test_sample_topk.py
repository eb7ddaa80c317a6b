"""`sample-topk` flow and the `cqa sample-topk` / `cqa evaluate` commands."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from pipeline import io, schemas
from pipeline.sources import SourceSpec, load_source


def _write_examples(root: Path, samples: Path) -> None:
    result = load_source(SourceSpec("sample", str(samples / "squad11_sample.json"), split="train"))
    for spec, frame in ((schemas.EXAMPLES, result.examples), (schemas.CONTEXTS, result.contexts)):
        io.write_partition(root, spec, frame.drop("split"), {"dataset": "sample", "split": "train"})


def test_commands_are_registered_with_help() -> None:
    runner = CliRunner()
    for cmd in ("sample-topk", "evaluate"):
        out = runner.invoke(app, [cmd, "--help"])
        assert out.exit_code == 0 and "Usage" in out.output


def test_bad_arguments_exit_2_before_work(root: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["evaluate", "tiny", "--set", "unknown-set", "--root", str(root)])
    assert out.exit_code == 2 and "preset" in out.output
    out = runner.invoke(app, ["evaluate", str(root / "nope"), "--set", "s=x.json", "--root", str(root)])
    assert out.exit_code == 2 and "checkpoint" in out.output
    assert not (root / "predictions").exists()


def test_force_gold_plain_topk_and_rewrite_on_new_settings(prefect_harness, root: Path, samples: Path) -> None:
    from flows.sample_topk import sample_topk_flow

    _write_examples(root, samples)
    part = {"dataset": "sample", "split": "train", "model": "tiny"}
    sample_topk_flow("tiny", str(root), "sample", "train", k=4, mode="plain")
    plain = io.read(root, schemas.TOPK, part)
    assert plain.group_by("example_id").len()["len"].to_list() == [4] * 28
    sample_topk_flow("tiny", str(root), "sample", "train", k=4, mode="plain", force_gold=True)
    forced = io.read(root, schemas.TOPK, part)
    golds = forced.group_by("example_id").agg(pl.col("is_gold").any())
    assert golds["is_gold"].all()  # every answerable question has its gold within the 4 rows
    assert io.partition_entry(root, schemas.TOPK, part)["config"]["force_gold"] is True
    out = CliRunner().invoke(app, ["sample-topk", "tiny", "--root", str(root), "--dataset", "sample", "--mode", "odd"])
    assert out.exit_code == 2 and "mode" in out.output
