"""The `experiment` flow: profiles checked before work, stage skipping, and the cpu-smoke DAG end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.experiment_profile import ProfileError, load_profile, plan_experiment

SEEDS = (13, 14, 15)  # the default `seeds` of a profile
SMOKE_STAGES = ["mine", *(f"{stage}-s{s}" for s in SEEDS for stage in ("train:mle", "sample-topk:mle")),
                *(f"train:{run}-s{s}" for s in SEEDS for run in ("hinge-control", "hinge", "hard-aacl")), "evaluate", "report"]


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
    plan = plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", "baseline_per_seed=false", "seeds=[3, 4]"]))
    assert [b.name for b in plan.baselines] == ["mle-s3"]
    assert {r.train.init_from for r in plan.continuations} == {str(tmp_path / "runs" / "mle-s3" / "model")}
    assert sorted(r.train.seed for r in plan.controls) == [3, 4]
    assert {r.train.data.topk_model for r in plan.methods if r.group == "hard-aacl"} == {"mle-s3"}


@pytest.mark.parametrize(("override", "message"), [
    ("common=[model.name=tiny, seed=5]", r"common: sets `seed`; the profile's `seeds` list sets every run's seed"),
    ("methods.0.overrides=[seed=5]", r"methods.0.overrides: sets `seed`"),
    ("seeds=[13, 13]", r"seeds must be distinct"),
    ("seeds=[]", r"seeds: .*at least 1"),
])
def test_seed_settings_are_checked_before_work(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", override]))


def test_unequal_budget_fails_before_work_naming_the_field(tmp_path: Path) -> None:
    profile = load_profile("cpu-smoke", [f"workdir={tmp_path}", "methods.1.overrides=[optim.max_steps=9]"])
    with pytest.raises(ProfileError, match=r"unequal budget: optim.max_steps is 9 in run 'hard-aacl-s13'"):
        plan_experiment(profile)
    assert not tmp_path.joinpath("runs").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("control.of=nope", r"control.of: 'nope' is not a method"),
    ("baseline.config=training/configs/missing.yaml", r"baseline.config: 'training/configs/missing.yaml' is not a file"),
    ("methods.0.name=mle", r"run names repeat"),
    ("control.keep=[mle,span_hinge]", r"control.keep: .* keeps every loss of 'hinge'"),
    ("topk=null", r"topk: a method reads top-k spans"),
])
def test_bad_profile_fields_are_named(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", override]))


def test_unknown_profile_and_unknown_field() -> None:
    with pytest.raises(ProfileError, match=r"known profiles: cpu-smoke, paper1-cpu-smoke, squad-protocol"):
        load_profile("nope")
    with pytest.raises(ProfileError, match=r"bogus: Extra inputs are not permitted"):
        load_profile("cpu-smoke", ["bogus=1"])


@pytest.mark.integration
def test_squad_protocol_plan_is_the_honest_near_miss_study(shared_data: Path, tmp_path: Path) -> None:
    plan = plan_experiment(load_profile("squad-protocol", [f"workdir={tmp_path}"]))
    assert plan.build.sources[0].article_split == "protocol"
    assert [r.name for r in plan.continuations] == [f"near-miss-control-s{s}" for s in SEEDS] + [f"near-miss-hinge-s{s}" for s in SEEDS]
    assert plan.controls[0].train.optim == plan.methods[0].train.optim
    assert [s.weight for s in plan.controls[0].train.losses] == [1.0, 0.0]


@pytest.mark.integration
def test_paper1_cpu_smoke_plan_is_the_readme_measurement(shared_data: Path, tmp_path: Path) -> None:
    """The profile behind README's 3-seed paper-1 table: 80-step baselines, 60-step continuations."""
    plan = plan_experiment(load_profile("paper1-cpu-smoke", [f"workdir={tmp_path}"]))
    assert [r.name for r in plan.baselines] == [f"mle-squad11-s{s}" for s in SEEDS]
    assert {r.train.optim.max_steps for r in plan.baselines} == {80}
    assert {(r.train.optim.max_steps, r.train.optim.lr, r.train.data.filter_min_context_chars)
            for r in plan.continuations} == {(60, 5.0e-5, 220)}
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
    for row in ("| `hinge` − `hinge-control` | EM | s13: ", "| `hard-aacl` − `hinge-control` | F1 | s13: ",
                "`hinge-s14` − `hinge-control-s14`", "`mle-s15` − `hinge-control-s15`", "| `mle` | EM | s13: "):
        assert row in text
    assert (workdir / "report" / "em_f1.png").stat().st_size > 1000
    state = _stage_log(workdir)
    assert sorted(state) == sorted(SMOKE_STAGES) and all(s["status"] == "done" for s in state.values())
    weights = {f"{n}-s{s}": (workdir / "runs" / f"{n}-s{s}" / "model" / "model.safetensors").stat().st_mtime_ns
               for n in ("mle", "hinge", "hinge-control", "hard-aacl") for s in SEEDS}

    assert experiment_flow("cpu-smoke", [f"workdir={workdir}"]) == str(report)  # nothing changed: all skipped
    assert _stage_log(workdir) == state
    assert {n: (workdir / "runs" / n / "model" / "model.safetensors").stat().st_mtime_ns for n in weights} == weights

    # one method's config changes: that method, the evaluation and the report run again, nothing else
    experiment_flow("cpu-smoke", [f"workdir={workdir}", "methods.1.overrides=[model.attention_dropout=0.05]"])
    after = _stage_log(workdir)
    rerun = sorted(n for n in SMOKE_STAGES if after[n]["finished"] != state[n]["finished"] or after[n]["fingerprint"] != state[n]["fingerprint"])
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


def test_cli_bad_profile_exits_2_before_any_work(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from flows.cli_experiment import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: `experiment` stays a sub-command
    result = CliRunner().invoke(app, ["experiment", "--profile", "cpu-smoke", "--set", f"workdir={tmp_path}",
                                      "--set", "control.of=nope"])
    assert result.exit_code == 2 and "control.of: 'nope' is not a method" in result.output
    assert not any(tmp_path.iterdir())


def test_per_run_null_rules_reach_every_seed_of_a_run(tmp_path: Path) -> None:
    from flows.experiment import _run_null_rules

    plan = plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}",
                                                      "evaluate.null_rules={hinge: cls_threshold, mle-s14: negative_score}"]))
    assert _run_null_rules(plan) == {"mle-s14": "negative_score", **{f"hinge-s{s}": "cls_threshold" for s in SEEDS}}
    assert _run_null_rules(plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}"]))) is None


def test_seed_table_names_a_seed_without_predictions(tmp_path: Path) -> None:
    import polars as pl

    from flows.experiment_report import seed_rows

    plan = plan_experiment(load_profile("cpu-smoke", [f"workdir={tmp_path}", "seeds=[1, 2]",
                                                      "evaluate.sets=[s=data/samples/squad11_sample.json]"]))
    rows = [{"eval_set": "s", "run": r.name, "example_id": q, "em": 1, "f1": 1.0}
            for r in plan.continuations if not (r.group == "hinge" and r.seed == 2) for q in ("a", "b")]
    table = seed_rows(plan, pl.DataFrame(rows), n_resamples=20)
    hinge = [r for r in table if r[1] == "`hinge` − `hinge-control`"]
    assert hinge and all(r[3] == "no predictions for seed(s) [2]" and r[7] == "not compared" for r in hinge)
    aacl = [r for r in table if r[1] == "`hard-aacl` − `hinge-control`"]
    assert aacl and all(r[7] == "no measurable difference" and r[8] == 2 for r in aacl)
