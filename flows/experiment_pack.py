"""`cqa experiment-pack`: a whole experiment profile packed for one call on a GPU machine with only torch.

    cqa experiment-pack --profile paper1-cpu --out xpack/                 # here: mine, then pack every run
    python -m training.portable experiment xpack/ --out runs-gpu/         # there: every run, then the comparison
    scripts/gpu-experiment.sh xpack/                                       # the same, timed, output under $OUT

Here (the mining stack): the profile's build (skipped when unchanged), its evaluation sets as the
`experiment` flow prepares them (limit, training articles excluded, negation attacks with their
unattacked twins), one `cqa pack` per distinct `data.*` + `features.*` config (a pack serves only
the data config it was made with; the CE variants of paper 2 share one), every run's resolved
training config, its null rule, and the start weights once. `experiment.json` is the plan the
GPU side follows (training/portable.py `run_experiment`).

Start weights: a Hugging Face encoder travels as bf16 safetensors (MiniLM-L6: 44 MiB, where fp32's
87 MiB would not fit the 64 MiB limit), without a QA head, so every seed's baseline draws its own
`qa_outputs` init exactly as `cqa train` does; the loop upcasts to fp32 master weights. That
rounding (~3 significant digits per weight) is the one difference from the CPU runs' start.
A profile with a `topk` stage (paper 5) is refused: sample-topk reads and writes Parquet between
the baseline and the methods, so it needs the mining machine in the middle (two calls).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Annotated

import typer
from prefect import flow

from flows.cli_errors import VerboseOpt
from flows.experiment_profile import ExperimentPlan, ProfileError, load_profile, plan_experiment

PLAN_FILE = "experiment.json"


def _eval_sets(plan: ExperimentPlan, scratch: Path) -> list:
    """The profile's evaluation sets, prepared exactly as the `experiment` flow's evaluate stage does."""
    from flows.evaluate import SET_SPLIT, prepare_eval_set
    from flows.experiment import train_titles
    from pipeline import io, schemas
    from pipeline.eval_sets import parse_eval_set
    from training.portable import eval_set_from_frames

    e = plan.profile.evaluate
    titles = train_titles(plan) if e.exclude_train_titles else None
    out = []
    for text in e.sets:
        for name in prepare_eval_set(parse_eval_set(text, e.data_dir), str(scratch), e.limit, titles):
            part = {"dataset": name, "split": SET_SPLIT}
            examples, contexts = io.read(scratch, schemas.EXAMPLES, part), io.read(scratch, schemas.CONTEXTS, part)
            out.append(eval_set_from_frames(name, examples, contexts))
    return out


def _save_start_weights(model_name: str, folder: Path) -> dict:
    """The pretrained encoder's own files (tokenizer, config, weights in bf16; no QA head) into `folder`."""
    import torch
    from safetensors.torch import load_file, save_file

    from training.config import resolve_model_name
    from training.model import ENCODER_FILE

    source = Path(resolve_model_name(model_name))
    if not (source / ENCODER_FILE).is_file():
        raise ProfileError(f"model.name={model_name!r}: {source} holds no {ENCODER_FILE} to pack")
    folder.mkdir(parents=True)
    for f in source.iterdir():
        if f.is_file() and f.suffix in {".json", ".txt", ".model"}:
            shutil.copy2(f, folder / f.name)
    weights = {
        k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in load_file(source / ENCODER_FILE).items()
    }
    save_file(
        weights, str(folder / ENCODER_FILE), metadata={"format": "pt", "packed_from": str(source), "dtype": "bf16"}
    )
    return {"folder": folder.name, "source": model_name, "dtype": "bfloat16"}


@flow(name="experiment-pack")
def experiment_pack_flow(
    profile: str, overrides: list[str] | None = None, out: str = "xpack", max_mib: float = 64.0
) -> dict:
    """Mine (unchanged stages skipped), then write the experiment pack into `out` (a new folder); returns its plan."""
    from flows.experiment import mine, plan_null_rules
    from training.config import TINY_ALIAS, config_yaml
    from training.portable import PackError, _folder_size, pack

    plan = plan_experiment(load_profile(profile, overrides or []))
    p = plan.profile
    if p.topk is not None:
        raise ProfileError(
            "topk: this profile samples the baseline's top-k spans between the baseline and the methods "
            "(Parquet, the mining machine); an experiment pack cannot hold that step: pack the baseline "
            "alone (`cqa pack`), bring its run back, run sample-topk here, then pack the methods"
        )
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise PackError(f"--out {target}: exists and is not empty; pick a new folder (a pack is written whole)")
    mine(plan)
    tmp = target.parent / f".tmp-xpack-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        sets = _eval_sets(plan, tmp / "scratch")
        rules = plan_null_rules(plan)
        packs: dict[str, str] = {}  # data + features config -> pack folder
        runs = []
        for r in (*plan.baselines, *plan.continuations):
            cfg = r.train
            tiny_init = cfg.model.name == TINY_ALIAS and r.role == "baseline"  # tiny's seeded init travels per seed
            key = json.dumps([repr(cfg.data), repr(cfg.features), cfg.model.name, cfg.seed if tiny_init else None])
            if key not in packs:
                packs[key] = f"pack-{len(packs)}"
                pack(cfg, tmp / packs[key], sets if not runs else (), max_mib=max_mib)
            (tmp / "configs").mkdir(exist_ok=True)
            (tmp / "configs" / f"{r.name}.yaml").write_text(config_yaml(cfg), encoding="utf-8")
            base = plan.baseline_for(r.seed).name if r.role != "baseline" else None
            runs.append(
                {"name": r.name, "role": r.role, "group": r.group, "seed": r.seed, "pack": packs[key],
                 "config": f"configs/{r.name}.yaml", "init_from_run": base,
                 "null_rule": rules[r.name].rule, "null_threshold": rules[r.name].threshold}
            )  # fmt: skip
        model = plan.baselines[0].train.model.name  # tiny's seeded init travels in each pack instead
        weights = None if model == TINY_ALIAS else _save_start_weights(model, tmp / "model")
        shutil.rmtree(tmp / "scratch")
        doc = {
            "profile": p.name,
            "description": p.description,
            "eval_pack": runs[0]["pack"],
            "eval_sets": [s.name for s in sets],
            "n_resamples": p.evaluate.n_resamples,
            "control": plan.control_group,
            "methods": plan.method_groups,
            "claims": {m.name: m.claim for m in p.methods},
            "seeds": list(plan.seeds),
            "weights": weights,
            "runs": runs,
        }
        (tmp / PLAN_FILE).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        size = _folder_size(tmp)
        if size > max_mib * 2**20:
            raise PackError(
                f"the experiment pack would be {size / 2**20:.1f} MiB, over the {max_mib:g} MiB travel limit"
            )
        if target.exists():
            target.rmdir()
        tmp.rename(target)
        doc["bytes"] = size
        return doc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def experiment_pack_command(
    profile: Annotated[str, typer.Option("--profile", "-p", help="flows/profiles/<name>.yaml or a YAML path")],
    out: Annotated[Path, typer.Option("--out", "-o", help="new folder for the experiment pack")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="profile override KEY=VALUE; repeatable")] = None,
    max_mib: Annotated[float, typer.Option("--max-mib", help="refuse a pack bigger than this")] = 64.0,
    verbose: VerboseOpt = False,
) -> None:
    """Pack a whole experiment profile (every run, its null rule, the eval sets, the start weights) for
    `python -m training.portable experiment PACK` on a GPU machine with only torch."""
    from flows.cli_errors import failing_cleanly
    from flows.cli_process import quiet_prefect_console
    from training.config import ConfigError
    from training.portable import PackError

    with failing_cleanly(verbose, expected=(ProfileError,), code=2):
        plan_experiment(load_profile(profile, overrides or []))
    with failing_cleanly(verbose, expected=(ProfileError, PackError, ConfigError, FileNotFoundError), code=1):
        with quiet_prefect_console(verbose):
            doc = experiment_pack_flow(profile, overrides or [], str(out), max_mib)
    print(
        f"experiment pack: {doc['bytes'] / 2**20:.2f} MiB, {len(doc['runs'])} runs in "
        f"{len({r['pack'] for r in doc['runs']})} pack(s), eval sets: {', '.join(doc['eval_sets'])}"
    )
    print(out)
