"""The `experiment` flow: profiles checked before work, stage skipping, and the cpu-smoke DAG end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.experiment_profile import ProfileError, load_profile, plan_experiment

SEEDS = (13, 14, 15)  # the default `seeds` of a profile
SMOKE_STAGES = [
    "mine",
    *(f"{stage}-s{s}" for s in SEEDS for stage in ("train:mle", "sample-topk:mle")),
    *(f"train:{run}-s{s}" for s in SEEDS for run in ("hinge-control", "hinge", "hard-aacl")),
    "evaluate",
    "report",
]


def test_cpu_smoke_plan_has_an_alpha_zero_control_with_the_methods_budget(tmp_path: Path) -> None:
    plan = plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}"]))
    assert plan.seeds == SEEDS and not plan.single_seed
    for seed in SEEDS:
        hinge = plan.run("hinge", seed)
        control = plan.control_for(seed)
        assert hinge.name == f"hinge-s{seed}" and control.name == f"hinge-control-s{seed}" and control.role == "control"
        assert [(s.name, s.weight) for s in control.train.losses] == [("mle", 1.0), ("span_hinge", 0.0)]
        assert [(s.name, s.weight) for s in hinge.train.losses] == [("mle", 1.0), ("span_hinge", 0.1)]
        assert control.train.data == hinge.train.data and control.train.optim == hinge.train.optim
        assert plan.run("hard-aacl", seed).train.data.topk_model == f"mle-s{seed}"
        assert plan.baseline_for(seed).name == f"mle-s{seed}" and plan.baseline_for(seed).train.seed == seed
    for run in plan.continuations:  # each continuation starts from ITS seed's baseline, with its seed
        assert run.train.init_from == str(tmp_path / "runs" / f"mle-s{run.seed}" / "model")
        assert run.train.seed == run.seed and run.name == f"{run.group}-s{run.seed}"
        assert run.train.optim.max_steps == 4 and run.train.optim.batch_windows == 8
    assert len(plan.baselines) == 3 and len(plan.controls) == 3 and len(plan.methods) == 6
    assert plan.root == str(tmp_path / "artifacts")


def test_one_baseline_for_every_seed_when_asked(tmp_path: Path) -> None:
    plan = plan_experiment(
        load_profile("cpu-smoke", [f"workdir={tmp_path}", "baseline_per_seed=false", "seeds=[3, 4]"])
    )
    assert [b.name for b in plan.baselines] == ["mle-s3"]
    assert {r.train.init_from for r in plan.continuations} == {str(tmp_path / "runs" / "mle-s3" / "model")}
    assert sorted(r.train.seed for r in plan.controls) == [3, 4]
    assert {r.train.data.topk_model for r in plan.methods if r.group == "hard-aacl"} == {"mle-s3"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("common=[model.name=tiny, seed=5]", r"common: sets `seed`; the profile's `seeds` list sets every run's seed"),
        ("methods.0.overrides=[seed=5]", r"methods.0.overrides: sets `seed`"),
        ("seeds=[13, 13]", r"seeds: got \[13, 13\], expected distinct seeds"),
        ("seeds=[]", r"seeds: got \[\], expected at least 1 item"),
    ],
)
def test_seed_settings_are_checked_before_work(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", override]))


def test_unequal_budget_fails_before_work_naming_the_field(tmp_path: Path) -> None:
    profile = load_profile("cpu-smoke", [f"workdir={tmp_path}", "methods.1.overrides=[optim.max_steps=9]"])
    with pytest.raises(ProfileError, match=r"unequal budget: optim.max_steps is 9 in run 'hard-aacl-s13'"):
        plan_experiment(profile)
    assert not tmp_path.joinpath("runs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("control.of=nope", r"control.of: 'nope' is not a method"),
        (
            "baseline.config=training/configs/missing.yaml",
            r"baseline.config: 'training/configs/missing.yaml' is not a file",
        ),
        ("methods.0.name=mle", r"run names repeat"),
        ("control.keep=[mle,span_hinge]", r"control.keep: .* keeps every loss of 'hinge'"),
        ("topk=null", r"topk: a method reads top-k spans"),
        ("control={keep: [mle]}", r"control: give `of` .* or `config`"),
        ("device=banana", r"device: 'banana' is not a device"),
        ("common=[model.name=tiny, device=cuda:7]", r"common \(device=cuda:7\)"),
        (
            "control={of: hinge, config: training/configs/mle.yaml, name: c}",
            r"`of` \('hinge'\) and `config` .* exclude each other",
        ),
        ("control={config: training/configs/mle.yaml}", r"control.name: an explicit control"),
        (
            "control={config: training/configs/near_miss_hinge.yaml, name: same}",
            r"control: 'same' has the same losses and data as a method",
        ),
        (
            "control={config: training/configs/mle.yaml, name: c, overrides: [optim.max_steps=99]}",
            r"unequal budget: optim.max_steps is 4 in run 'hinge-s13' but 99 in 'c-s13'",
        ),
    ],
)
def test_bad_profile_fields_are_named(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", override]))


def test_an_explicit_control_is_its_own_config_at_the_methods_budget(tmp_path: Path) -> None:
    """`control.config`: e.g. plain MLE against hard learning (paper 5), held to the same budget."""
    plan = plan_experiment(
        load_profile(
            "cpu-smoke",
            [f"workdir={tmp_path}", "seeds=[13]", "control={config: training/configs/mle.yaml, name: mle-control}"],
        )
    )
    control, hinge = plan.control_for(13), plan.run("hinge", 13)
    assert control.name == "mle-control-s13" and [(s.name, s.weight) for s in control.train.losses] == [("mle", 1.0)]
    assert (
        control.train.init_from == hinge.train.init_from
        and control.train.optim.max_steps == hinge.train.optim.max_steps
    )
    assert control.train.data.dataset == hinge.train.data.dataset and control.train.seed == 13


def test_alpha_zero_control_overrides_apply_after_the_zeroed_weights(tmp_path: Path) -> None:
    """Paper 3's control: the method's config with another loss and no synthetic spans."""
    plan = plan_experiment(load_profile("paper3-cpu", [f"workdir={tmp_path}", "seeds=[13]"]))
    control, robust = plan.control_for(13), plan.run("robust", 13)
    assert [(s.name, s.weight, s.params) for s in control.train.losses] == [("mle_soft", 1.0, {})]
    assert not control.train.data.synthetic and robust.train.data.synthetic
    assert control.train.decoding == robust.train.decoding  # decoded alike: negative-score null
    assert control.train.optim == robust.train.optim and control.train.features == robust.train.features


PAPER_PROFILES = [f"paper{n}-{scale}" for n in range(1, 6) for scale in ("cpu", "gpu") if (n, scale) != (1, "gpu")]


@pytest.mark.parametrize("name", PAPER_PROFILES)
def test_every_paper_profile_plans_three_seeds_with_claims(tmp_path: Path, name: str) -> None:
    """One CPU and one GPU profile per paper (paper 1's GPU one: squad-protocol), each checked before any
    work; every method carries the paper's claim."""
    plan = plan_experiment(load_profile(name, [f"workdir={tmp_path}"]))
    assert plan.seeds == SEEDS and plan.profile.name == name
    assert all(m.claim for m in plan.profile.methods), "every method states the gain its paper reports"
    assert all(r.train.model.name == "minilm" for r in (*plan.baselines, *plan.continuations))
    # ROPES titles are per-situation indexes that repeat across train and dev: no article to exclude
    assert plan.profile.evaluate.exclude_train_titles == (not name.startswith("paper2"))
    if name.endswith("-gpu"):  # the paper scale: the same comparison, longer, on every evaluation question
        cpu = plan_experiment(load_profile(name.replace("-gpu", "-cpu"), [f"workdir={tmp_path}"]))
        assert plan.profile.device == "auto" and plan.profile.evaluate.limit is None
        assert [m.group for m in plan.methods] == [m.group for m in cpu.methods]
        assert [s.name for s in plan.control_for(13).train.losses] == [s.name for s in cpu.control_for(13).train.losses]
        assert plan.profile.evaluate.sets == cpu.profile.evaluate.sets
        assert all(r.train.optim.max_steps is None and r.train.optim.epochs >= 1 for r in plan.continuations)


def test_paper2_evaluates_consistency_on_dev_bundles(tmp_path: Path) -> None:
    plan = plan_experiment(load_profile("paper2-cpu", [f"workdir={tmp_path}", "seeds=[13]"]))
    assert plan.profile.evaluate.bundles == "ropes/dev" and plan.profile.evaluate.sets == ("ropes-dev",)
    assert ("ropes", "dev") in {(s.dataset, s.split) for s in plan.build.sources}
    assert [m.group for m in plan.methods] == ["ce-qc", "ce-ac", "ce-two-way", "ce-full", "ce-joint", "unlikelihood"]
    assert all(r.train.data.bundles is not None for r in plan.continuations)  # whole bundles per batch, control too
    assert [(s.name, s.weight) for s in plan.control_for(13).train.losses] == [("mle", 1.0), ("ce_question", 0.0)]


def test_unknown_profile_and_unknown_field() -> None:
    with pytest.raises(
        ProfileError,
        match=r"known profiles: cpu-smoke, paper1-cpu, paper2-cpu, paper2-gpu, paper3-cpu, paper3-gpu, paper4-cpu, "
        r"paper4-gpu, paper5-cpu, paper5-gpu, squad-protocol",
    ):
        load_profile("nope")
    with pytest.raises(ProfileError, match=r"bogus: unknown key; expected one of \['baseline', "):
        load_profile("cpu-smoke", ["bogus=1"])


@pytest.mark.integration
def test_squad_protocol_plan_is_the_honest_near_miss_study(shared_data: Path, tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():  # a GPU profile: on this machine it is refused before any work, naming why
        with pytest.raises(ProfileError, match=r"device: 'cuda', but torch sees no CUDA GPU"):
            plan_experiment(load_profile("squad-protocol", [f"workdir={tmp_path}"]))
    plan = plan_experiment(load_profile("squad-protocol", [f"workdir={tmp_path}", "device=cpu"]))
    assert plan.build.sources[0].article_split == "protocol"
    assert [r.name for r in plan.continuations] == [f"near-miss-control-s{s}" for s in SEEDS] + [
        f"near-miss-hinge-s{s}" for s in SEEDS
    ]
    assert plan.controls[0].train.optim == plan.methods[0].train.optim
    assert [s.weight for s in plan.controls[0].train.losses] == [1.0, 0.0]


@pytest.mark.integration
def test_paper1_cpu_smoke_plan_is_the_readme_measurement(shared_data: Path, tmp_path: Path) -> None:
    """The profile behind README's 3-seed paper-1 table: 80-step baselines, 60-step continuations."""
    plan = plan_experiment(load_profile("paper1-cpu", [f"workdir={tmp_path}"]))
    assert [r.name for r in plan.baselines] == [f"mle-squad11-s{s}" for s in SEEDS]
    assert {r.train.optim.max_steps for r in plan.baselines} == {80}
    assert {
        (r.train.optim.max_steps, r.train.optim.lr, r.train.data.filter_min_context_chars) for r in plan.continuations
    } == {(60, 5.0e-5, 220)}
    assert plan.controls[0].train.optim == plan.methods[0].train.optim
    assert [s.weight for s in plan.controls[0].train.losses] == [1.0, 0.0]


def _stage_log(workdir: Path) -> dict:
    return json.loads((workdir / "experiment_state.json").read_text())


@pytest.mark.slow
def test_cpu_smoke_runs_end_to_end_then_skips_unchanged_stages(prefect_harness, tmp_path: Path) -> None:
    from flows.experiment import experiment_flow

    workdir = tmp_path / "smoke"
    report = Path(experiment_flow("cpu-smoke", [f"workdir={workdir}"]))
    assert report == workdir / "report" / "report.md"
    text = report.read_text(encoding="utf-8")
    assert "## Result: each method minus the control `hinge-control`, over 3 seed(s)" in text
    assert "Each run minus its seed's control (paired bootstrap, 95%)" in text
    assert "seeds: 13, 14, 15 (one baseline per seed)" in text and "single seed" not in text
    for row in (
        "| `hinge` − `hinge-control` | EM | s13: ",
        "| `hard-aacl` − `hinge-control` | F1 | s13: ",
        "`hinge-s14` − `hinge-control-s14`",
        "`mle-s15` − `hinge-control-s15`",
        "| `mle` | EM | s13: ",
    ):
        assert row in text
    assert (workdir / "report" / "em_f1.png").stat().st_size > 1000
    state = _stage_log(workdir)
    assert sorted(state) == sorted(SMOKE_STAGES) and all(s["status"] == "done" for s in state.values())
    weights = {
        f"{n}-s{s}": (workdir / "runs" / f"{n}-s{s}" / "model" / "model.safetensors").stat().st_mtime_ns
        for n in ("mle", "hinge", "hinge-control", "hard-aacl")
        for s in SEEDS
    }

    assert experiment_flow("cpu-smoke", [f"workdir={workdir}"]) == str(report)  # nothing changed: all skipped
    assert _stage_log(workdir) == state
    assert {n: (workdir / "runs" / n / "model" / "model.safetensors").stat().st_mtime_ns for n in weights} == weights

    # one method's config changes: that method, the evaluation and the report run again, nothing else
    experiment_flow("cpu-smoke", [f"workdir={workdir}", "methods.1.overrides=[model.attention_dropout=0.05]"])
    after = _stage_log(workdir)
    rerun = sorted(
        n
        for n in SMOKE_STAGES
        if after[n]["finished"] != state[n]["finished"] or after[n]["fingerprint"] != state[n]["fingerprint"]
    )
    assert rerun == ["evaluate", "report", *(f"train:hard-aacl-s{s}" for s in SEEDS)]
    assert (workdir / "runs" / "hinge-s13" / "model" / "model.safetensors").stat().st_mtime_ns == weights["hinge-s13"]


def test_stage_book_skips_only_unchanged_stages_with_intact_outputs(tmp_path: Path) -> None:
    from flows.experiment import StageBook

    out = tmp_path / "out.txt"
    calls: list[str] = []

    def action(text: str):
        def run() -> str:
            calls.append(text)
            out.write_text(text)
            return str(out)

        return run

    def output_fp(path: str) -> str:
        return Path(path).read_text()

    assert StageBook(tmp_path).run("s", {"a": 1}, action("one"), output_fp) == (str(out), "one")
    assert StageBook(tmp_path).run("s", {"a": 1}, action("two"), output_fp) == (str(out), "one")  # skipped
    assert calls == ["one"]
    StageBook(tmp_path).run("s", {"a": 2}, action("three"), output_fp)  # an input changed
    out.write_text("edited by hand")
    StageBook(tmp_path).run("s", {"a": 2}, action("four"), output_fp)  # the output changed
    out.unlink()
    StageBook(tmp_path).run("s", {"a": 2}, action("five"), output_fp)  # the output is gone
    StageBook(tmp_path, force=True).run("s", {"a": 2}, action("six"), output_fp)
    assert calls == ["one", "three", "four", "five", "six"]
    state = json.loads((tmp_path / "experiment_state.json").read_text())["s"]
    assert state["status"] == "done" and state["output_fingerprint"] == "six"


def test_mined_fingerprint_covers_what_the_miner_registry_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewritten output of any registered miner changes the fingerprint training stages compare; no list to keep."""
    from flows.experiment import mined_fingerprint
    from pipeline import io
    from pipeline.miners import MINERS
    from pipeline.schemas import EXAMPLES, SYNTHETIC

    part = {"dataset": "d", "split": "train"}
    io.write_partition(tmp_path, EXAMPLES, io.empty_frame(EXAMPLES), part)
    before = mined_fingerprint(str(tmp_path), part)
    io.write_partition(tmp_path, SYNTHETIC, io.empty_frame(SYNTHETIC), part, extra={"content": "new rows"})
    assert mined_fingerprint(str(tmp_path), part) != before
    monkeypatch.delitem(MINERS, "synthetic")  # an artifact no registered miner writes is not part of it
    assert mined_fingerprint(str(tmp_path), part) == before


def test_mined_fingerprint_is_the_rows_not_the_rewrite(tmp_path: Path) -> None:
    """A scheduled re-mine that writes the same rows (in another order, later, another part file) must not
    retrain every experiment; other rows or another recorded config must."""
    import polars as pl

    from flows.experiment import mined_fingerprint
    from pipeline import io
    from pipeline.schemas import EXAMPLES
    from pipeline.sources import SourceSpec, load_source

    part = {"dataset": "d", "split": "train"}
    a = load_source(
        SourceSpec(
            dataset="d",
            path=str(Path(__file__).resolve().parents[2] / "data/samples/squad11_sample.json"),
            split="train",
        )
    ).examples
    io.write_partition(tmp_path, EXAMPLES, a, part, config={"source": "x"})
    before = mined_fingerprint(str(tmp_path), part)
    io.write_partition(tmp_path, EXAMPLES, a.reverse(), part, config={"source": "x"})  # same rows, rewritten
    assert mined_fingerprint(str(tmp_path), part) == before
    changed = a.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Who?")).otherwise("question").alias("question")
    )
    io.write_partition(tmp_path, EXAMPLES, changed, part, config={"source": "x"})
    assert mined_fingerprint(str(tmp_path), part) != before
    io.write_partition(tmp_path, EXAMPLES, a, part, config={"source": "y"})  # same rows, other config
    assert mined_fingerprint(str(tmp_path), part) != before


def test_cli_bad_profile_exits_2_before_any_work(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(
        app, ["experiment", "--profile", "cpu-smoke", "--set", f"workdir={tmp_path}", "--set", "control.of=nope"]
    )
    assert result.exit_code == 2 and "control.of: 'nope' is not a method" in result.output
    assert not any(tmp_path.iterdir())


def test_per_run_null_rules_reach_every_seed_of_a_run(tmp_path: Path) -> None:
    from flows.experiment import _run_null_rules

    plan = plan_experiment(
        load_profile(
            "cpu-smoke", [f"workdir={tmp_path}", "evaluate.null_rules={hinge: cls_threshold, mle-s14: negative_score}"]
        )
    )
    assert _run_null_rules(plan) == {"mle-s14": "negative_score", **{f"hinge-s{s}": "cls_threshold" for s in SEEDS}}
    assert _run_null_rules(plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}"]))) is None


def test_plan_null_rules_follow_evaluates_order_before_any_run_exists(tmp_path: Path) -> None:
    """Per run: the profile's `evaluate.null_rules`, else the run's training config, else the profile's default
    (what `cqa experiment-pack` packs and the report shows; no run folder exists here)."""
    from flows.experiment import plan_null_rules

    continuation = (
        "continuation=[optim.max_steps=4, data.filter_min_context_chars=0, decoding.null_rule=negative_score, "
        "decoding.null_threshold=0.5]"
    )
    plan = plan_experiment(
        load_profile(
            "cpu-smoke",
            [f"workdir={tmp_path}", continuation, "evaluate.null_rules={hinge-s14: 'cls_threshold:1.5'}"],
        )
    )
    rules = plan_null_rules(plan)
    assert list(rules) == [r.name for r in (*plan.baselines, *plan.continuations)]
    assert rules["hinge-s14"] == ("cls_threshold", 1.5, "evaluate.null_rules")  # beats its training config
    assert rules["hinge-s13"] == ("negative_score", 0.5, "training config")  # the continuation's decoding
    assert rules["mle-s13"] == ("none", 0.0, "default evaluate.null_rule")  # the baseline's config sets none
    assert not any(Path(r.train.run_dir).exists() for r in plan.baselines)


def test_seed_table_names_a_seed_without_predictions(tmp_path: Path) -> None:
    import polars as pl

    from flows.experiment_report import seed_rows

    plan = plan_experiment(
        load_profile(
            "cpu-smoke", [f"workdir={tmp_path}", "seeds=[1, 2]", "evaluate.sets=[s=data/samples/squad11_sample.json]"]
        )
    )
    rows = [
        {"eval_set": "s", "run": r.name, "example_id": q, "prediction": "x", "em": 1, "f1": 1.0}
        for r in plan.continuations
        if not (r.group == "hinge" and r.seed == 2)
        for q in ("a", "b")
    ]
    table = seed_rows(plan, pl.DataFrame(rows), n_resamples=20)
    hinge = [r for r in table if r[1] == "`hinge` − `hinge-control`"]
    assert hinge and all(r[3] == "no predictions for seed(s) [2]" and r[7] == "not compared" for r in hinge)
    aacl = [r for r in table if r[1] == "`hard-aacl` − `hinge-control`"]
    assert aacl and all(r[7] == "no measurable gain" and r[9] == 2 for r in aacl)  # verdict in words; n last


def test_per_seed_rows_compare_consistency_and_attack_drop_per_seed(tmp_path: Path) -> None:
    """Run-level metrics (consistency, drop under attack) are compared seed by seed, with no invented
    interval; for a drop, lower is better."""
    import polars as pl

    from flows.experiment_report import per_seed_rows

    plan = plan_experiment(
        load_profile(
            "cpu-smoke", [f"workdir={tmp_path}", "seeds=[1, 2]", "evaluate.sets=[s=data/samples/squad11_sample.json]"]
        )
    )
    values = {
        ("hinge", 1): (60.0, 2.0),
        ("hinge", 2): (55.0, 3.0),
        ("hinge-control", 1): (50.0, 4.0),
        ("hinge-control", 2): (50.0, 5.0),
        ("hard-aacl", 1): (50.0, 4.0),  # equal to the control in both seeds: no difference, not "disagree"
        ("hard-aacl", 2): (50.0, 5.0),
    }
    rows = [
        {"eval_set": "s", "run": plan.run(g, seed).name, "metric": m, "slice": sl, "value": v}
        for (g, seed), (cons, drop) in values.items()
        for m, sl, v in (("consistency", "bundles:ropes-mined/paper", cons), ("drop_em", "all", drop))
    ]
    table = per_seed_rows(plan, pl.DataFrame(rows))
    by_metric = {r[2]: r for r in table if r[1] == "`hinge` − `hinge-control`"}
    cons, drop = by_metric["consistency [bundles:ropes-mined/paper]"], by_metric["drop_em"]
    # consistency: 60 − 50 = +10, 55 − 50 = +5 → mean +7.50; sd of (10, 5) = 3.54
    assert cons[3] == "s1: +10.00 s2: +5.00" and cons[4] == "+7.50 ± 3.54" and cons[5] == "per seed only"
    assert cons[7] == "every seed better (no interval)"
    # drop: 2 − 4 = −2, 3 − 5 = −2: a smaller drop than the control's in every seed is better
    assert drop[3] == "s1: -2.00 s2: -2.00" and drop[7] == "every seed better (no interval)"
    same = {r[2]: r for r in table if r[1] == "`hard-aacl` − `hinge-control`"}
    assert same["drop_em"][3] == "s1: +0.00 s2: +0.00" and same["drop_em"][7] == "no difference in any seed"
    # a metric with no values for a pair: a row that says so, never a silently missing one or a made-up number
    table = per_seed_rows(plan, pl.DataFrame([r for r in rows if not r["run"].startswith("hinge-s")]))
    missing = [r for r in table if r[1] == "`hinge` − `hinge-control`"]
    assert missing and all(r[3] == "no value for seed(s) [1, 2]" and r[7] == "not compared" for r in missing)


def test_a_run_that_abstains_on_every_question_is_not_compared(tmp_path: Path) -> None:
    """On SQuAD 2.0, a run answering "" everywhere scores the unanswerable share (paper 3 at CPU scale:
    53.33 EM), so "+51.83 EM, gain" against a control that always answers measures abstention, not the
    method: the verdict must say so instead of "gain"."""
    import polars as pl

    from flows.experiment_report import abstain_shares, seed_rows

    plan = plan_experiment(
        load_profile(
            "cpu-smoke", [f"workdir={tmp_path}", "seeds=[1]", "evaluate.sets=[s=data/samples/squad11_sample.json]"]
        )
    )
    questions = [f"q{i}" for i in range(10)]
    unanswerable = set(questions[:6])  # gold "" for 6 of 10 questions
    rows = []
    for r in plan.continuations:
        abstains = r.group == "hinge"  # the method abstains everywhere; control and hard-aacl answer "x"
        for q in questions:
            pred = "" if abstains else "x"
            em = float(pred == "" and q in unanswerable)
            rows.append({"eval_set": "s", "run": r.name, "example_id": q, "prediction": pred, "em": em, "f1": em})
    preds = pl.DataFrame(rows)
    shares = abstain_shares(preds)
    assert shares[("s", plan.run("hinge", 1).name)] == 1.0 and shares[("s", plan.control_for(1).name)] == 0.0
    table = seed_rows(plan, preds, n_resamples=20)
    hinge = [r for r in table if r[1] == "`hinge` − `hinge-control`"]
    # 6/10 correct abstentions vs 0/10: +60 EM per seed, and still not a gain
    assert hinge and all(r[3] == "s1: +60.00" for r in hinge)
    assert all(r[7].startswith("not comparable: `hinge-s1` abstains on 100%") for r in hinge), hinge
    aacl = [r for r in table if r[1] == "`hard-aacl` − `hinge-control`"]
    assert aacl and all(r[7] == "no measurable gain (single seed)" for r in aacl)  # the check can pass a comparison
