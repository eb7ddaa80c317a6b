"""Experiment profiles (`flows/profiles/<name>.yaml`) and the plan resolved from one.

    python -c "from flows.experiment_profile import load_profile, plan_experiment; print(
        plan_experiment(load_profile('cpu-smoke')))"

A profile names the mining build, the baseline, the methods, the α = 0 control, the shared
continuation budget, the evaluation sets and the SEEDS. Every run is made once per seed
(`seeds`, default 13, 14, 15): the baseline (one per seed, or one shared by every seed with
`baseline_per_seed: false`) and every continuation, each continuation starting from its
seed's baseline. Run folders are `<name>-s<seed>`. A single-seed profile is allowed and
labelled as such in the report: one seed cannot show how much of a difference is the seed's.

`plan_experiment` resolves every training config (YAML + overrides) and checks, BEFORE any
work, that the build config loads, every training config parses, run names are unique, and
the continuation runs (methods and control) of one seed have the same budget: start weights,
data partition and subset, steps or epochs, batch size, accumulation, seed and model (and,
across seeds, everything but the seed and the start weights). Paths inside a profile are relative to the
repository (configs) or to the current directory (`workdir`, `root`, `evaluate.data_dir`).
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config_model import Checked, ConfigModelError, apply_overrides, constrained, from_mapping, read_mapping

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "flows" / "profiles"
# Fields that must be equal across the continuation runs (the "equal budget").
# `optim.epochs` counts only when `optim.max_steps` is unset. The control copies its method's
# config (learning rate and schedule included) by construction.
BUDGET_FIELDS = (
    "init_from",
    "seed",
    "model.name",
    "data.dataset",
    "data.split",
    "data.max_examples",
    "data.filter_min_context_chars",
    "optim.max_steps",
    "optim.epochs",
    "optim.batch_windows",
    "optim.grad_accum",
)


class ProfileError(ConfigModelError):
    """A profile field is wrong; the message names the field and what was expected."""


_frozen = dataclass(frozen=True, kw_only=True)


def _known_rule(value: str, where: str) -> None:
    """`evaluate.null_rule`: a rule name of training.decoding (the threshold is `null_threshold`)."""
    from flows.evaluate import parse_null_rule

    if ":" in value:
        raise ValueError(f"{where}: got {value!r}, expected a rule name only (the threshold is `null_threshold`)")
    parse_null_rule(value, where)


def _known_rules(value: dict[str, str], where: str) -> None:
    """`evaluate.null_rules`: run name -> RULE[:THRESHOLD]."""
    from flows.evaluate import parse_null_rule

    for run, text in value.items():
        parse_null_rule(text, f"{where}.{run}")


def _distinct_seeds(seeds: tuple[int, ...], where: str) -> None:
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{where}: got {list(seeds)}, expected distinct seeds")


@_frozen
class BuildStage(Checked):
    config: str = "data/samples/build.yaml"  # build config YAML (relative to the repository)
    sources: tuple[str, ...] = ()  # NAME=PATH[:FORMAT] replacing the config's sources (empty: keep them)
    overrides: tuple[str, ...] = ()  # build config overrides KEY=VALUE (`miners=[near_miss]`)


@_frozen
class RunSpec(Checked):
    # run folder `<workdir>/runs/<name>`, the `run` in predictions
    name: str = constrained(pattern=r"^[A-Za-z0-9][\w.-]*$")
    config: str  # training config YAML (relative to the repository)
    overrides: tuple[str, ...] = ()  # training config overrides of this run only
    claim: str = ""  # the paper's reported gain for this method, shown beside the measured one (a claim to test)


@_frozen
class TopkStage(Checked):
    k: int = constrained(20, ge=1)  # spans per training question
    mode: str = "plain"  # `plain` or `diverse` (training.topk)
    force_gold: bool = False  # store the gold at the last rank when missing
    batch_windows: int = constrained(16, ge=1)  # windows per forward pass


@_frozen
class ControlSpec(Checked):
    """The equal-budget control. Default: the α = 0 control, `of`'s config with every loss but
    `keep` at weight 0. With `config`: an explicit control run (e.g. MLE, or `mle_soft` without
    synthetic spans) from that YAML plus `overrides`; the budget check holds it to the methods'
    data, subset, steps, batch and seed all the same. `overrides` also apply to the α = 0 form."""

    of: str | None = None  # method whose config (data, subset, schedule) the α = 0 control copies
    name: str | None = None  # run name (default `<of>-control`; required with `config`)
    keep: tuple[str, ...] = ("mle",)  # α = 0 form: losses that keep their weight; every other loss gets weight 0
    config: str | None = None  # explicit control: its training config YAML (relative to the repository)
    overrides: tuple[str, ...] = ()  # training overrides of the control only (after the zeroed weights)
    describe: str = ""  # one line for the report: what the control is (default: derived)


@_frozen
class EvaluateStage(Checked):
    # evaluation sets (flows/evaluate.py: presets, NAME=PATH, neg-<set>)
    sets: tuple[str, ...] = constrained(min_length=1)
    data_dir: str = "../shared/data"  # folder the presets resolve under
    limit: int | None = constrained(None, ge=1)  # first N questions per set (None: all)
    n_resamples: int = constrained(1000, ge=10)  # bootstrap resamples of every interval
    # default null rule (training.decoding), for runs whose training config sets no `decoding.null_rule`
    null_rule: str = constrained("none", check=_known_rule)
    null_threshold: float = 0.0  # threshold of that default rule
    # run name -> RULE[:THRESHOLD], beats the run's training config
    null_rules: dict[str, str] = constrained(default_factory=dict, check=_known_rules)
    batch_windows: int = constrained(16, ge=1)  # windows per forward pass
    near_miss_slice: bool = True  # add the near-miss slice (docs/methods.md §1), judged by the baseline's predictions
    bundles: str | None = None  # `DATASET/SPLIT` of a bundles partition (`ropes/dev`): consistency + joint inference
    # never score a question on an article of the training partition (see flows.evaluate); turn off only
    # where titles name no article (ROPES: `ropes-<situation index>`, repeated across its files)
    exclude_train_titles: bool = True


@_frozen
class ExperimentProfile(Checked):
    name: str  # profile name (shown in the report)
    description: str = ""  # one paragraph for the report
    workdir: str  # experiment folder: runs/, experiment_state.json, report/
    root: str | None = None  # artifact root (None: `<workdir>/artifacts`)
    dataset: str  # training partition of every run: dataset ...
    split: str  # ... and split
    device: str = "cpu"  # device of sample-topk and evaluate (training: the configs' `device`)
    common: tuple[str, ...] = ()  # training overrides of EVERY run (baseline included), e.g. model.name=tiny
    continuation: tuple[str, ...] = ()  # training overrides of every method and the control: the shared budget
    build: BuildStage = field(default_factory=BuildStage)  # the mining stage
    baseline: RunSpec  # the MLE baseline every method starts from
    topk: TopkStage | None = None  # sample-topk with the baseline (None: no top-k stage)
    methods: tuple[RunSpec, ...] = constrained(min_length=1)  # the methods compared to the control
    control: ControlSpec  # the α = 0 continuation control
    evaluate: EvaluateStage  # the evaluation stage
    # every run once per seed (`seed` of each training config)
    seeds: tuple[int, ...] = constrained((13, 14, 15), min_length=1, check=_distinct_seeds)
    # one baseline per seed; false: every seed's continuations start from the first seed's baseline
    baseline_per_seed: bool = True


def profile_path(profile: str) -> Path:
    """`cpu-smoke` → flows/profiles/cpu-smoke.yaml; a path to a YAML file is used as it is."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return path
    path = PROFILES / f"{profile}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise ProfileError(f"profile {profile!r}: no {path}; known profiles: {', '.join(names)} (or give a YAML path)")
    return path


def load_profile(profile: str, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentProfile:
    """Read a profile, apply `key=value` overrides (dotted, as `cqa train --set`), type-check it."""
    path = profile_path(profile)
    raw = read_mapping(path, what="profile", error=ProfileError)
    try:
        raw = apply_overrides(raw, list(overrides))
    except ConfigModelError as e:
        raise ProfileError(f"profile {path}: {e}", e.problems) from None
    try:
        return from_mapping(ExperimentProfile, raw)
    except ConfigModelError as e:
        lines = "\n".join(f"  {p}" for p in e.problems)
        raise ProfileError(f"bad profile {path}:\n{lines}", e.problems) from None


@dataclass(frozen=True)
class RunPlan:
    name: str  # run name (`<group>-s<seed>`): its folder `<workdir>/runs/<name>` and the `run` in predictions
    role: str  # `baseline`, `method` or `control`
    config: str  # absolute path of the training YAML
    overrides: tuple[str, ...]  # every override passed to `cqa train`
    train: Any  # the resolved `training.config.TrainConfig`
    group: str = ""  # the profile's run name, shared by the seeds of one run (`hinge` for `hinge-s13`)
    seed: int = 0  # the training seed of this run


def seeded_name(group: str, seed: int) -> str:
    return f"{group}-s{seed}"


@dataclass(frozen=True)
class ExperimentPlan:
    profile: ExperimentProfile  # the profile as loaded
    workdir: Path  # absolute experiment folder
    root: str  # absolute artifact root
    build_config_path: str  # absolute build config path
    build: Any  # the resolved `pipeline.build_config.BuildConfig`
    source_fingerprints: tuple[str, ...]  # input fingerprints of every source
    baselines: tuple[RunPlan, ...]  # the baseline runs: one per seed, or one shared (`baseline_per_seed: false`)
    methods: tuple[RunPlan, ...]  # the method runs, seed by seed (`methods` order within a seed)
    controls: tuple[RunPlan, ...]  # the α = 0 control runs, one per seed

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.profile.seeds

    @property
    def single_seed(self) -> bool:
        return len(self.seeds) == 1

    @property
    def continuations(self) -> tuple[RunPlan, ...]:
        return (*self.controls, *self.methods)

    @property
    def control_group(self) -> str:
        return self.controls[0].group

    @property
    def method_groups(self) -> list[str]:
        return list(dict.fromkeys(m.group for m in self.methods))

    def baseline_for(self, seed: int) -> RunPlan:
        """The baseline the continuations of `seed` start from."""
        return next((b for b in self.baselines if b.seed == seed), self.baselines[0])

    def control_for(self, seed: int) -> RunPlan:
        return next(c for c in self.controls if c.seed == seed)

    def run(self, group: str, seed: int) -> RunPlan:
        return next(r for r in (*self.baselines, *self.continuations) if r.group == group and r.seed == seed)

    def topk_partition(self, baseline: RunPlan) -> dict[str, str]:
        return {"dataset": self.profile.dataset, "split": self.profile.split, "model": baseline.name}


def _repo_path(path: str, field: str) -> str:
    p = Path(path) if Path(path).is_absolute() else REPO / path
    if not p.is_file():
        raise ProfileError(f"{field}: {path!r} is not a file (paths are relative to the repository {REPO})")
    return str(p)


def _resolve_run(spec: RunSpec, role: str, field: str, overrides: list[str], baseline: str) -> RunPlan:
    """The run's config with `overrides` then its own; a top-k method reads the baseline's spans.

    Artifacts do not exist yet, so the full validation waits for the run; loss names, loss
    settings and each loss's `data.*` inputs are checked here, before any work.
    """
    from training.config import ConfigError, check_losses, load_config

    config = _repo_path(spec.config, f"{field}.config")
    resolved = tuple(overrides + list(spec.overrides))
    try:
        cfg = load_config(config, resolved, validate=False)
        if cfg.data.topk_model is not None and cfg.data.topk_model != baseline:
            resolved += (f"data.topk_model={baseline}",)
            cfg = load_config(config, resolved, validate=False)
        check_losses(cfg)
    except ConfigError as e:
        raise ProfileError(f"{field} ({spec.name}): {e}") from None
    return RunPlan(spec.name, role, config, resolved, cfg)


def _check_budget(runs: tuple[RunPlan, ...], skip: tuple[str, ...] = ()) -> None:
    ref = runs[0]
    for run in runs[1:]:
        for f in BUDGET_FIELDS:
            if f in skip or (f == "optim.epochs" and run.train.optim.max_steps is not None):
                continue  # steps decide (max_steps was compared just before)
            get = operator.attrgetter(f)  # a dotted field: `optim.max_steps`
            if get(run.train) != get(ref.train):
                raise ProfileError(
                    f"unequal budget: {f} is {get(run.train)!r} in run {run.name!r} but "
                    f"{get(ref.train)!r} in {ref.name!r}; put it in the profile's `continuation`"
                )


def plan_experiment(p: ExperimentProfile) -> ExperimentPlan:
    """Resolve and check everything a run of the profile needs; raises ProfileError naming the field."""
    from flows.build_index import resolve_config
    from pipeline.build_config import BuildConfigError
    from pipeline.sources import source_fingerprint

    workdir = Path(p.workdir).resolve()
    root = str(Path(p.root).resolve()) if p.root else str(workdir / "artifacts")
    build_path = _repo_path(p.build.config, "build.config")
    try:
        build = resolve_config(build_path, root, list(p.build.sources), list(p.build.overrides))
    except BuildConfigError as e:
        raise ProfileError(f"build: {e}") from None
    names = [p.baseline.name] + [m.name for m in p.methods]
    c = p.control
    if c.config is None and c.of is None:
        raise ProfileError(
            "control: give `of` (the α = 0 control of that method) or `config` (an explicit control run)"
        )
    if c.config is not None and c.of is not None:
        raise ProfileError(f"control: `of` ({c.of!r}) and `config` ({c.config!r}) exclude each other")
    if c.config is not None and not c.name:
        raise ProfileError("control.name: an explicit control (`config`) needs a run name")
    control_name = c.name or f"{c.of}-control"
    if len(set(names + [control_name])) < len(names) + 1:
        raise ProfileError(f"run names repeat: {names + [control_name]}")
    of = {m.name: m for m in p.methods}
    if c.of is not None and c.of not in of:
        raise ProfileError(f"control.of: {c.of!r} is not a method; methods: {sorted(of)}")
    _check_no_seed_override(p)
    _check_devices(p)
    base = [
        f"data.root={root}",
        f"data.dataset={p.dataset}",
        f"data.split={p.split}",
        f"output_dir={workdir / 'runs'}",
        *p.common,
    ]
    src = of[c.of] if c.of is not None else None
    baselines: list[RunPlan] = []
    methods: list[RunPlan] = []
    controls: list[RunPlan] = []
    for seed in p.seeds:
        seeded = [*base, f"seed={seed}"]
        if p.baseline_per_seed or not baselines:
            baselines.append(_seeded_run(p.baseline, "baseline", "baseline", seeded, seed))
        b = baselines[-1].name
        cont = [f"init_from={workdir / 'runs' / b / 'model'}", *p.continuation]
        these = [_seeded_run(m, "method", f"methods.{i}", [*seeded, *cont], seed, b) for i, m in enumerate(p.methods)]
        if src is not None:
            zero = [
                f"losses.{i}.weight=0"
                for i, s in enumerate(these[p.methods.index(src)].train.losses)
                if s.name not in c.keep
            ]
            if not zero and not c.overrides:
                raise ProfileError(
                    f"control.keep: {list(c.keep)} keeps every loss of {src.name!r}: the control would equal it"
                )
            spec = RunSpec(name=control_name, config=src.config, overrides=(*src.overrides, *zero, *c.overrides))
        else:
            spec = RunSpec(name=control_name, config=c.config, overrides=c.overrides)
        control = _seeded_run(spec, "control", "control", [*seeded, *cont], seed, b)
        if any(control.train.losses == m.train.losses and control.train.data == m.train.data for m in these):
            raise ProfileError(f"control: {control_name!r} has the same losses and data as a method: it would equal it")
        if p.topk is None and any(r.train.data.topk_model for r in (*these, control)):
            raise ProfileError("topk: a method reads top-k spans (data.topk_model) but the profile has no `topk` stage")
        _check_budget((control, *these))
        methods += these
        controls.append(control)
    # Across seeds every budget field but the seed and the start weights must agree too.
    _check_budget(tuple(controls) + tuple(methods), skip=("seed", "init_from"))
    fps = tuple(source_fingerprint(s) for s in build.sources)
    return ExperimentPlan(p, workdir, root, build_path, build, fps, tuple(baselines), tuple(methods), tuple(controls))


def _check_devices(p: ExperimentProfile) -> None:
    """The profile's device (sample-topk, evaluate) and a `device=` in `common` exist on this machine.

    Checked before any work."""
    from training.config import ConfigError, check_device

    common = [o for o in p.common if "=" in o and o.split("=", 1)[0].strip() == "device"]
    for where, name in [("device", p.device), *((f"common ({o})", o.split("=", 1)[1].strip()) for o in common)]:
        try:
            check_device(name, where)
        except ConfigError as e:
            raise ProfileError(str(e)) from None


def _check_no_seed_override(p: ExperimentProfile) -> None:
    """`seeds` sets every run's seed; a `seed=` override elsewhere would silently break the pairing."""
    lists = {
        "common": p.common,
        "continuation": p.continuation,
        "baseline.overrides": p.baseline.overrides,
        **{f"methods.{i}.overrides": m.overrides for i, m in enumerate(p.methods)},
    }
    for where, overrides in lists.items():
        if any(o.split("=", 1)[0].strip() == "seed" for o in overrides):
            raise ProfileError(
                f"{where}: sets `seed`; the profile's `seeds` list sets every run's seed (got {list(p.seeds)})"
            )


def _seeded_run(
    spec: RunSpec, role: str, field: str, overrides: list[str], seed: int, baseline: str | None = None
) -> RunPlan:
    """`spec` resolved for one seed: run folder `<name>-s<seed>`, `seed=<seed>`.

    Top-k methods read `baseline`'s spans."""
    name = seeded_name(spec.name, seed)
    run = _resolve_run(
        dataclasses.replace(spec, name=name), role, field, [*overrides, f"run_name={name}"], baseline or name
    )
    return dataclasses.replace(run, group=spec.name, seed=seed)
