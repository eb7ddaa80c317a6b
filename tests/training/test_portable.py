"""Issue 14 item 4: the training stage travels to a GPU machine without the mining stack.

`cqa pack` (this machine, artifacts read with polars) writes a folder; `python -m training.portable
train PACK` runs in a subprocess where every module outside the `train` extra's dependency closure
is hidden (tests/training/portable_blocked.py: spaCy, Prefect, Polars, pydantic, pyarrow, scipy, ...),
trains with the real loop, checkpoints, and evaluates with our metrics. The packed examples are the
artifact examples; the packed run ends with the weights of `cqa train` on the artifacts; its EM/F1
are those of the full evaluation path (`evaluate_run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from flows.cli import app
from tests.training.conftest import DATASET, tiny_overrides
from training.config import load_config
from training.data import load_examples
from training.portable import MAX_MIB, PackError, pack, read_manifest

REPO = Path(__file__).resolve().parents[2]
BLOCKED = REPO / "tests" / "training" / "portable_blocked.py"
CONFIG = REPO / "training" / "configs" / "hard_learning_aacl.yaml"  # top-k windows + learnable loss parameters
STEPS = 6
# every data source on (synthetic `replace` drops the parents, and with them the negatives: two runs)
SOURCES = {
    "negatives-flips-bundles-topk": [
        "data.near_miss=true",
        "data.flips=true",
        "data.bundles={kind: ropes-mined}",
        "data.topk_model=base",
        "data.eval_split=dev",
    ],
    "synthetic": ["data.synthetic=true", "data.eval_split=dev"],
}


def _overrides(root: Path, out: Path) -> list[str]:
    return tiny_overrides(root, out, steps=STEPS) + [
        "data.topk_model=base",
        "data.eval_split=dev",
        "checkpoint_every=3",
        "model.hidden_dropout=0.0",
        "inactive_check_steps=null",
        "run_name=portable",
    ]


def _cli_pack(config: Path, overrides: list[str], out: Path, *extra: str) -> str:
    args = ["pack", "--config", str(config), "--out", str(out), *extra]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def packed(train_root, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("portable")
    overrides = _overrides(train_root, work / "runs-here")
    output = _cli_pack(CONFIG, overrides, work / "pack", "--eval-split", "dev")
    return {"root": train_root, "work": work, "pack": work / "pack", "overrides": overrides, "output": output}


@pytest.mark.parametrize("sources", list(SOURCES))
def test_packed_examples_are_the_artifact_examples(train_root, tmp_path, sources):
    overrides = tiny_overrides(train_root, tmp_path / "runs") + SOURCES[sources]
    config = REPO / "training" / "configs" / "mle.yaml" if sources == "synthetic" else CONFIG
    cfg = load_config(config, overrides)
    pack(cfg, tmp_path / "pack")
    from_pack = load_config(config, overrides + [f"data.root={tmp_path / 'pack'}"], validate=False)
    for split in ("train", "dev"):
        want = load_examples(cfg.data, split=split, max_topk=cfg.features.max_topk)
        got = load_examples(from_pack.data, split=split, max_topk=cfg.features.max_topk)
        assert got == want and [e.extra for e in got] == [e.extra for e in want]
    train = load_examples(cfg.data, max_topk=cfg.features.max_topk)
    if sources == "synthetic":  # the test exercises every field the pack must carry
        assert any(e.extra["origin"] == "synthetic" and len(e.answers) == 2 for e in train)
    else:
        assert any(e.extra["origin"] == "flip" for e in train) and any(e.negatives for e in train)
        assert any(e.bundle_id and e.bundle_answers for e in train) and any(
            e.topk and any(e.topk_is_gold) for e in train
        )


def test_a_pack_serves_only_the_data_config_it_was_made_with(packed):
    at_pack = packed["overrides"] + [f"data.root={packed['pack']}"]
    other = load_config(CONFIG, at_pack + ["data.near_miss=true"], validate=False)
    with pytest.raises(PackError, match=r"data\.near_miss: True here, False in the pack"):
        load_examples(other.data, max_topk=other.features.max_topk)
    same = load_config(CONFIG, at_pack, validate=False)
    with pytest.raises(PackError, match=r"max_topk=20, the run asks for 5"):
        load_examples(same.data, max_topk=5)
    with pytest.raises(PackError, match=r"holds splits \['dev', 'train'\] of sample, not 'test'"):
        load_examples(same.data, split="test", max_topk=20)


def test_the_device_is_checked_where_the_run_is(train_root, tmp_path):
    """A GPU config packs on this CPU machine; on a machine without CUDA the run is refused, naming the field."""
    from training.config import ConfigError
    from training.portable import run_config

    overrides = _overrides(train_root, tmp_path / "runs") + ["device=cuda"]
    sample = REPO / "data" / "samples" / "squad11_sample.json"
    _cli_pack(CONFIG, overrides, tmp_path / "pack", "--eval-set", f"smp={sample}:squad", "--limit", "3")
    manifest = read_manifest(tmp_path / "pack")
    assert manifest["config"]["device"] == "cuda"
    assert manifest["eval_sets"] == {"smp": {"file": "eval/smp.json.gz", "n_examples": 3}}  # a cqa evaluate --set
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"device: 'cuda', but torch sees no CUDA GPU"):
            run_config(tmp_path / "pack")
    assert run_config(tmp_path / "pack", overrides=["device=cpu"]).device == "cpu"
    with pytest.raises(PackError, match=r"init_from: '/nowhere' holds no model.safetensors on this machine"):
        run_config(tmp_path / "pack", overrides=["device=cpu", "init_from=/nowhere"])


def test_a_pack_over_the_travel_limit_is_refused(train_root, tmp_path):
    cfg = load_config(CONFIG, _overrides(train_root, tmp_path / "runs"))
    with pytest.raises(PackError, match=r"over the 1 MiB travel limit \(largest: model/model.safetensors"):
        pack(cfg, tmp_path / "pack", max_mib=1)
    assert not (tmp_path / "pack").exists() and not list(tmp_path.glob(".tmp-pack-*"))  # nothing half-written


def test_sample_pack_size(packed):
    manifest = read_manifest(packed["pack"])
    total = sum(manifest["files"].values())
    # measured: 4.6 MiB, of which the tiny model's seeded init is 3.9 MiB and the tokenizer 0.7 MiB
    assert total < 6 * 2**20 < MAX_MIB * 2**20
    (windows,) = manifest["windows"]
    gz = manifest["files"][windows["file"]]
    assert windows["n_windows"] == 26 and gz * 5 < windows["raw_bytes"]  # padding compresses (~20x on SQuAD)
    assert manifest["model"]["weights"] and "pack:" in packed["output"]


@pytest.mark.slow
def test_portable_train_runs_with_the_mining_stack_hidden(packed):
    work, pack_dir = packed["work"], packed["pack"]
    report = work / "imports.json"
    result = subprocess.run(
        [sys.executable, str(BLOCKED), str(report), "train", str(pack_dir), "--out", str(work / "runs-there")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=work,
        env=_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = json.loads(report.read_text())
    imported = set(seen["imported"])
    for name in ("spacy", "prefect", "polars", "pydantic", "pyarrow", "scipy", "pandas", "matplotlib", "flows"):
        assert name not in imported
    startup = {"__main__", "__mp_main__", "_distutils_hack", "cython_runtime", "_remote_module_non_scriptable"}
    outside = {
        m
        for m in imported - set(seen["allowed"]) - {"training", "pipeline"} - startup
        if not m.startswith(("_cython_", "__editable__", "_sysconfigdata"))
    }
    assert not outside, f"imported outside the train extra: {sorted(outside)}"
    assert "warning: feature cache" not in result.stderr  # the packed windows were used, not rebuilt

    run = work / "runs-there" / "portable"
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step-")) == [
        "step-000003",
        "step-000006",
    ]
    assert (run / "model" / "model.safetensors").is_file()
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, STEPS + 1))
    assert any(r.get("event") == "eval" and "dev_loss" in r for r in rows)
    summary = json.loads((run / "eval" / f"{DATASET}-dev" / "summary.json").read_text())
    preds = [
        json.loads(line) for line in (run / "eval" / f"{DATASET}-dev" / "predictions.jsonl").read_text().splitlines()
    ]
    assert summary["n"] == len(preds) == 13 and 0 <= summary["em"] <= summary["f1"] <= 100
    assert f"{DATASET}-dev: EM {summary['em']:.2f}" in result.stdout

    # The same run with the mining stack: `cqa train` on the artifacts ends with the same weights ...
    from training.loop import train

    # Bit-identical needs the same intra-op thread count as the subprocess (OMP_NUM_THREADS=1):
    # CI runs the suite with 2 threads, whose reductions round differently.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = train(load_config(CONFIG, packed["overrides"]))
    finally:
        torch.set_num_threads(threads)
    a, b = load_file(here / "model" / "model.safetensors"), load_file(run / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # ... and the full evaluation path scores the portable model's predictions with the same EM / F1.
    from pipeline import io, schemas
    from training.inference import InferenceConfig, evaluate_run, load_checkpoint

    part = {"dataset": DATASET, "split": "dev"}
    loaded = load_checkpoint(str(run))
    _, metrics = evaluate_run(
        loaded,
        io.read(packed["root"], schemas.EXAMPLES, part),
        io.read(packed["root"], schemas.CONTEXTS, part),
        InferenceConfig(max_length=64, stride=16),
        n_resamples=10,
    )
    full = {r["metric"]: r["value"] for r in metrics.filter(metrics["slice"] == "all").iter_rows(named=True)}
    assert full["em"] == pytest.approx(summary["em"]) and full["f1"] == pytest.approx(summary["f1"])
    assert full["top3_em"] == pytest.approx(summary["top3_em"])


@pytest.mark.slow
def test_gpu_bench_runs_with_the_mining_stack_hidden(packed, tmp_path):
    """scripts/gpu-bench.sh's benchmark, CPU-sized: every loop runs from the pack; our fp32 loop's losses equal
    the plain HF-style loop's on the same trimmed batches (dropout 0, same init, same lr per step)."""
    report, out = tmp_path / "imports.json", tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BLOCKED),
            str(report),
            "-m",
            "benchmarks.bench_gpu",
            "--pack",
            str(packed["pack"]),
            "--small",
            "--device",
            "cpu",
            "--steps",
            "6",
            "--warmup",
            "2",
            "--batch-windows",
            "8",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env=_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    imported = set(json.loads(report.read_text())["imported"])
    assert not imported & {"spacy", "prefect", "polars", "pydantic", "pyarrow", "scipy", "flows"}
    (shape,) = json.loads(out.read_text())["results"]
    r = shape["results"]
    assert set(r) == {"plain-fp32", "plain-bf16", "plain-fp32-trim", "ours-fp32", "ours-bf16", "ours-bf16-loop-batches"}
    assert all(len(v["losses"]) == 6 and v["windows_per_s"] > 0 for v in r.values())
    assert r["ours-fp32"]["losses"] == pytest.approx(r["plain-fp32-trim"]["losses"], abs=1e-5)
    # the samples fill their windows
    assert r["plain-fp32"]["tokens_per_window"] == 64 >= r["ours-fp32"]["tokens_per_window"]
    assert "target (GPU) ours-bf16 >= 2x plain-fp32" in result.stdout


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
