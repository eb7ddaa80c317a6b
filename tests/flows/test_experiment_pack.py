"""Issue 12: a whole experiment profile in one call on a machine with only torch.

`cqa experiment-pack` (here: mining stack, Prefect) packs every run of a profile;
`python -m training.portable experiment` runs them in a subprocess where spaCy, Prefect, Polars,
pydantic, pyarrow and scipy are hidden (tests/training/portable_blocked.py), and its runs end with
the weights `cqa experiment` trains (the same configs, baselines and seeds), its comparison with
the numbers of `training.metrics.seeds.seed_comparison` on the same predictions.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flows.experiment_pack import PLAN_FILE, experiment_pack_flow
from flows.experiment_profile import ProfileError, load_profile, plan_experiment
from training.portable_experiment import compare

REPO = Path(__file__).resolve().parents[2]
BLOCKED = REPO / "tests" / "training" / "portable_blocked.py"
# cpu-smoke without its top-k method (a pack cannot hold sample-topk), two seeds; hidden dropout 0 because
# a packed tiny init is loaded with from_pretrained, which draws from the RNG differently from `cqa train`'s
# from_config, so dropout masks (not weights) would differ; a pretrained encoder loads the same way on both.
OVERRIDES = [
    "topk=null",
    "methods=[{name: hinge, config: training/configs/near_miss_hinge.yaml}]",
    "seeds=[13, 14]",
    "common=[model.name=tiny, device=cpu, features.max_length=128, features.stride=32, optim.batch_windows=8, "
    "checkpoint_every=null, model.hidden_dropout=0.0]",
]


def _blocked(report: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(BLOCKED), str(report), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_a_profile_with_a_topk_stage_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="sample-topk"):
        experiment_pack_flow.fn("cpu-smoke", [f"workdir={tmp_path}"], str(tmp_path / "xpack"))
    assert not (tmp_path / "xpack").exists() and not (tmp_path / "artifacts").exists()


def test_experiment_pack_runs_without_the_mining_stack_and_trains_what_cqa_experiment_trains(
    prefect_harness, tmp_path: Path
) -> None:
    from training.config import load_config
    from training.loop import train

    overrides = [f"workdir={tmp_path / 'work'}", *OVERRIDES]
    doc = experiment_pack_flow("cpu-smoke", overrides, str(tmp_path / "xpack"))
    plan_doc = json.loads((tmp_path / "xpack" / PLAN_FILE).read_text())
    assert plan_doc == {k: v for k, v in doc.items() if k != "bytes"}
    names = [r["name"] for r in doc["runs"]]
    assert names == ["mle-s13", "mle-s14", "hinge-control-s13", "hinge-control-s14", "hinge-s13", "hinge-s14"]
    assert [r["init_from_run"] for r in doc["runs"]] == [None, None, "mle-s13", "mle-s14", "mle-s13", "mle-s14"]
    assert doc["eval_sets"] == ["squad11-sample", "neg-squad11-sample", "neg-squad11-sample~unattacked"]
    assert all(r["null_rule"] == "none" for r in doc["runs"])  # the profile's default; each run carries its own

    report = tmp_path / "imports.json"
    result = _blocked(report, "experiment", str(tmp_path / "xpack"), "--out", str(tmp_path / "there"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    imported = set(json.loads(report.read_text())["imported"])
    assert not imported & {"spacy", "prefect", "polars", "pydantic", "pyarrow", "scipy", "flows"}

    # The same runs as `cqa experiment` trains them (plan_experiment's configs), here, one thread as there.
    plan = plan_experiment(load_profile("cpu-smoke", overrides))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run in (plan.run("mle", 13), plan.run("hinge-control", 13), plan.run("hinge", 13)):
            here = train(load_config(run.config, list(run.overrides)))
            a = load_file(here / "model" / "model.safetensors")
            b = load_file(tmp_path / "there" / run.name / "model" / "model.safetensors")
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), run.name
    finally:
        torch.set_num_threads(threads)

    with gzip.open(tmp_path / "there" / "results.json.gz", "rt", encoding="utf-8") as f:
        results = json.load(f)
    rows = {(c["set"], c["method"]) for c in results["comparisons"]}
    assert rows == {("squad11-sample", "hinge"), ("neg-squad11-sample", "hinge")}  # the twin only through the drop
    neg = next(c for c in results["comparisons"] if c["set"] == "neg-squad11-sample")
    assert len(neg["drop_em_per_seed"]) == 2 and len(neg["em"]["per_seed"]) == 2
    summary = (tmp_path / "there" / "summary.md").read_text()
    assert "| squad11-sample | hinge − hinge-control |" in summary and "none 0" in summary

    # Unchanged: every run skipped; a changed run config retrains that run and what starts from it only.
    again = _blocked(report, "experiment", str(tmp_path / "xpack"), "--out", str(tmp_path / "there"), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("unchanged, skipped") == 6, again.stdout
    cfg = tmp_path / "xpack" / "configs" / "mle-s14.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.001", "lr: 0.002"))
    third = _blocked(report, "experiment", str(tmp_path / "xpack"), "--out", str(tmp_path / "there"), cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    skipped = {line.split(":")[0] for line in third.stdout.splitlines() if "unchanged, skipped" in line}
    assert skipped == {"mle-s13", "hinge-control-s13", "hinge-s13"}
    # A run killed after its evaluation files were written but before it recorded "done" is redone.
    stamp = tmp_path / "there" / "hinge-s13" / "xpack-run.json"
    stamp.write_text(stamp.read_text().replace('"done"', '"running"'))
    fourth = _blocked(report, "experiment", str(tmp_path / "xpack"), "--out", str(tmp_path / "there"), cwd=tmp_path)
    assert fourth.returncode == 0, fourth.stderr[-3000:]
    assert "hinge-s13 (method): training" in fourth.stdout and fourth.stdout.count("unchanged, skipped") == 5


def _write_run(out: Path, name: str, ems: dict[str, float], texts: dict[str, str], eval_set: str = "s") -> None:
    folder = out / name / "eval" / eval_set
    folder.mkdir(parents=True)
    rows = [{"example_id": q, "prediction": texts[q], "em": em, "f1": em} for q, em in ems.items()]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "summary.json").write_text(json.dumps({"em": 100 * sum(ems.values()) / len(ems)}))


def test_comparison_by_hand_and_an_abstaining_run_is_not_comparable(tmp_path: Path) -> None:
    # Two seeds, four questions. Seed 1: method EM (1, 1, 0, 0), control (1, 0, 0, 0): +25.00;
    # seed 2: method (1, 1, 1, 0), control (0, 0, 0, 0) and it abstains on every question: +75.00;
    # mean difference (25 + 75) / 2 = +50.00.
    q = ["a", "b", "c", "d"]
    _write_run(tmp_path, "m-s1", dict(zip(q, [1, 1, 0, 0])), dict.fromkeys(q, "x"))
    _write_run(tmp_path, "c-s1", dict(zip(q, [1, 0, 0, 0])), dict.fromkeys(q, "x"))
    _write_run(tmp_path, "m-s2", dict(zip(q, [1, 1, 1, 0])), dict.fromkeys(q, "x"))
    _write_run(tmp_path, "c-s2", dict(zip(q, [0, 0, 0, 0])), dict.fromkeys(q, ""))
    runs = [
        {"name": f"{g}-s{s}", "group": g, "seed": s, "role": "method" if g == "m" else "control"}
        for g in ("m", "c")
        for s in (1, 2)
    ]
    plan = {
        "profile": "toy",
        "eval_sets": ["s"],
        "methods": ["m"],
        "control": "c",
        "claims": {"m": "+1 EM"},
        "seeds": [1, 2],
        "n_resamples": 200,
        "runs": runs,
    }
    (c,) = compare(plan, tmp_path)["comparisons"]
    assert c["em"]["per_seed"] == [25.0, 75.0] and c["em"]["mean"] == 50.0
    assert c["not_comparable"] == "`c-s2` abstains on 100%"


def test_negation_drop_by_hand_pairs_each_attacked_question_with_its_unattacked_twin(tmp_path: Path) -> None:
    # One seed, questions a, b, c; attacked ids carry the "~neg" suffix. Method: unattacked EM (1, 1, 0),
    # attacked (1, 0, 0): drop (0 + 1 + 0) / 3 = 33.33. Control: unattacked (1, 1, 1), attacked (0, 0, 1):
    # drop (1 + 1 + 0) / 3 = 66.67. Δ drop = 33.33 − 66.67 = −33.33 (the method drops less).
    q = ["a", "b", "c"]
    hit = [f"{x}~neg" for x in q]
    for name, clean, attacked in (("m-s1", [1, 1, 0], [1, 0, 0]), ("c-s1", [1, 1, 1], [0, 0, 1])):
        _write_run(tmp_path, name, dict(zip(q, clean)), dict.fromkeys(q, "x"), "n~unattacked")
        _write_run(tmp_path, name, dict(zip(hit, attacked)), dict.fromkeys(hit, "x"), "n")
    runs = [{"name": f"{g}-s1", "group": g, "seed": 1, "role": r} for g, r in (("m", "method"), ("c", "control"))]
    plan = {"profile": "toy", "eval_sets": ["n", "n~unattacked"], "methods": ["m"], "control": "c",
            "claims": {}, "seeds": [1], "n_resamples": 50, "runs": runs}  # fmt: skip
    out = compare(plan, tmp_path)
    assert out["drops"]["n"] == pytest.approx({"m-s1": 100 / 3, "c-s1": 200 / 3})
    (c,) = out["comparisons"]  # the twin set is compared only through the drop
    assert c["set"] == "n" and c["drop_em_per_seed"] == pytest.approx([-100 / 3])


def test_start_weights_travel_as_bf16_and_train_from_fp32_with_the_seeds_own_head(tmp_path: Path) -> None:
    """MiniLM-L6 fits the 64 MiB limit only in bf16; the loop still gets fp32 weights, and the new QA head
    is drawn exactly as from the fp32 file (so each seed's baseline starts as `cqa train`'s, up to rounding)."""
    from flows.experiment_pack import _save_start_weights
    from training.config import ModelConfig
    from training.model import load_model

    _save_start_weights("minilm", tmp_path / "model")
    size = sum(p.stat().st_size for p in (tmp_path / "model").iterdir()) / 2**20
    assert 40 < size < 48  # 22.7M parameters × 2 bytes + tokenizer; fp32 would be 87 MiB
    here, _ = load_model(ModelConfig(name="minilm"), seed=13)
    packed, _ = load_model(ModelConfig(name=str(tmp_path / "model")), seed=13)
    a, b = here.state_dict(), packed.state_dict()
    assert {v.dtype for v in b.values()} == {torch.float32}
    heads = [k for k in a if "qa_outputs" in k]
    assert heads and all(torch.equal(a[k], b[k]) for k in heads)
    for k in a:  # bf16 keeps 8 significant bits: every weight within 2^-8 of its own magnitude
        assert torch.all((a[k] - b[k]).abs() <= a[k].abs() * 2**-8 + 1e-30), k
