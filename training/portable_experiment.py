"""A whole experiment from an experiment pack (`cqa experiment-pack`) on a machine with only torch.

    python -m training.portable experiment xpack/ --out runs-gpu/ [--set device=cuda]

Follows the pack's `experiment.json`: every run in order (the baselines, then every continuation
from its seed's baseline, `init_from=<out>/<baseline>/model`), each evaluated on the packed sets
with its own null rule (`training.portable.evaluate_pack`), then the comparison the `experiment`
flow's report leads with: per method and set, each seed's difference to the control of the same
seed, their mean, and a paired bootstrap over questions pooled across seeds
(`training.metrics.seeds.seed_comparison`, the same function), the verdict in words, and the drop
under a negation attack per run. A run that abstains on ≥ 99% of a set is "not comparable" there.

Re-running skips a run whose config, pack and baseline are unchanged and whose evaluation is
complete; a run killed mid-way is retrained (or resumed from its latest checkpoint when its
config checkpoints). Output: `<out>/<run>/` (the run folders), `<out>/summary.md`,
`<out>/results.json.gz` (every run's per-question predictions, summaries and the comparison: the
two files to bring back). Intervals on the mining machine (`cqa evaluate`) need the run folders.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time
from pathlib import Path

PLAN_FILE = "experiment.json"
STAMP_FILE = "xpack-run.json"
UNATTACKED = "~unattacked"  # flows/evaluate.py: the attacked questions, unattacked, under their own ids
NEG_SUFFIX = "~neg"  # pipeline/attacks.py: an attacked question's id suffix


def read_plan(xpack: str | Path) -> dict:
    """The pack's plan, every file it names checked to be there (PackError names the missing one)."""
    from training.portable import PackError, read_manifest, read_pack_json

    xpack = Path(xpack)
    path = xpack / PLAN_FILE
    plan = read_pack_json(
        path, f"{xpack}: not an experiment pack (no {PLAN_FILE}); write one with `cqa experiment-pack`"
    )
    for i, r in enumerate(plan.get("runs") or []):
        for field in (
            "name",
            "role",
            "group",
            "seed",
            "pack",
            "config",
            "init_from_run",
            "null_rule",
            "null_threshold",
        ):
            if field not in r:
                raise PackError(f"{path}: runs[{i}] has no field {field!r}")
        read_manifest(xpack / r["pack"])
        if not (xpack / r["config"]).is_file():
            raise PackError(f"{path}: runs[{i}] ({r['name']}): config {r['config']} is missing from the pack")
    if not plan.get("runs"):
        raise PackError(f"{path}: no runs")
    return plan


def _stamp(xpack: Path, run: dict, extra: list[str], base: str | None) -> str:
    h = hashlib.sha256()
    h.update((xpack / run["config"]).read_bytes())
    h.update((xpack / run["pack"] / "pack.json").read_bytes())
    h.update(json.dumps([extra, run["null_rule"], run["null_threshold"], base]).encode())
    return h.hexdigest()[:16]


def _recorded(run_dir: Path) -> dict:
    """The run's stamp record (`{}` when there is none or it is unreadable: the run is then redone)."""
    try:
        return json.loads((run_dir / STAMP_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _done(run_dir: Path, stamp: str, sets: list[str]) -> bool:
    recorded = _recorded(run_dir)
    return (
        recorded.get("stamp") == stamp
        and recorded.get("status") == "done"
        and all((run_dir / "eval" / s / "summary.json").is_file() for s in sets)
    )


def run_experiment(xpack: str | Path, out: str | Path, overrides: list[str] = ()) -> dict:
    """Train and evaluate every run of the pack (unchanged complete ones skipped), then compare; returns the results."""
    from training.checkpoint import latest_checkpoint
    from training.portable import evaluate_pack, train_pack, yaml_config

    xpack, out = Path(xpack).resolve(), Path(out).resolve()
    plan = read_plan(xpack)
    out.mkdir(parents=True, exist_ok=True)
    model = str(xpack / plan["weights"]["folder"]) if plan.get("weights") else None
    stamps: dict[str, str] = {}
    for r in plan["runs"]:
        run_dir = out / r["name"]
        base = r["init_from_run"]
        extra = [f"run_name={r['name']}", *([f"init_from={out / base / 'model'}"] if base else []), *overrides]
        stamps[r["name"]] = stamp = _stamp(xpack, r, extra, stamps.get(base) if base else None)
        if _done(run_dir, stamp, plan["eval_sets"]):
            print(f"{r['name']}: unchanged, skipped", flush=True)
            continue
        resume = (
            run_dir.exists() and latest_checkpoint(run_dir) is not None and _recorded(run_dir).get("stamp") == stamp
        )
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / STAMP_FILE).write_text(json.dumps({"stamp": stamp, "status": "running"}) + "\n", encoding="utf-8")
        began = time.perf_counter()
        print(f"{r['name']} ({r['role']}): training{' (resuming)' if resume else ''}", flush=True)
        train_pack(
            xpack / r["pack"],
            out=out,
            model=model,
            overrides=extra,
            resume=resume,
            evaluate=False,
            config=xpack / r["config"],
        )
        trained = time.perf_counter() - began
        evaluate_pack(
            xpack / plan["eval_pack"],
            run_dir,
            null_rule=r["null_rule"],
            null_threshold=r["null_threshold"],
            device=yaml_config(run_dir).get("device", "auto"),
        )
        record = {
            "stamp": stamp,
            "status": "done",
            "train_s": round(trained, 1),
            "total_s": round(time.perf_counter() - began, 1),
        }
        (run_dir / STAMP_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
        print(f"{r['name']}: done in {record['total_s']} s", flush=True)
    results = compare(plan, out)
    with gzip.open(out / "results.json.gz", "wt", encoding="utf-8") as f:
        json.dump(results, f)
    (out / "summary.md").write_text(summary_markdown(results), encoding="utf-8")
    return results


def _predictions(run_dir: Path, name: str) -> dict[str, dict]:
    path = run_dir / "eval" / name / "predictions.jsonl"
    with open(path, encoding="utf-8") as f:
        return {row["example_id"]: row for row in map(json.loads, f)}


def compare(plan: dict, out: Path) -> dict:
    """Per set: each run's EM/F1, abstain share and negation drop; per method: the seed comparison to the control."""
    from training.metrics.seeds import ABSTAIN_ALL, VERDICT_WORDS, seed_comparison

    runs = plan["runs"]
    preds = {r["name"]: {s: _predictions(out / r["name"], s) for s in plan["eval_sets"]} for r in runs}
    summaries = {
        r["name"]: {
            s: json.loads((out / r["name"] / "eval" / s / "summary.json").read_text()) for s in plan["eval_sets"]
        }
        for r in runs
    }
    abstain = {
        n: {s: sum(not p["prediction"] for p in rows.values()) / max(len(rows), 1) for s, rows in by.items()}
        for n, by in preds.items()
    }
    drops = {}
    for s in plan["eval_sets"]:
        if s + UNATTACKED in plan["eval_sets"]:
            for n, by in preds.items():
                hit, clean = by[s], by[s + UNATTACKED]
                ids = [q for q in hit if q.removesuffix(NEG_SUFFIX) in clean]
                drops.setdefault(s, {})[n] = (
                    100.0 * sum(clean[q.removesuffix(NEG_SUFFIX)]["em"] - hit[q]["em"] for q in ids) / max(len(ids), 1)
                )
    by_group_seed = {(r["group"], r["seed"]): r["name"] for r in runs}
    comparisons = []
    for s in (s for s in plan["eval_sets"] if not s.endswith(UNATTACKED)):  # the twin is compared through the drop
        for m in plan["methods"]:
            entry = {"set": s, "method": m, "control": plan["control"], "claim": plan["claims"].get(m, "")}
            pairs = [(by_group_seed[(m, seed)], by_group_seed[(plan["control"], seed)]) for seed in plan["seeds"]]
            blocked = [n for pair in pairs for n in pair if abstain[n][s] >= ABSTAIN_ALL]
            if blocked:
                entry["not_comparable"] = ", ".join(
                    f"`{n}` abstains on {100 * abstain[n][s]:.0f}%" for n in dict.fromkeys(blocked)
                )
            for metric in ("em", "f1"):
                c = seed_comparison(
                    {
                        seed: {q: 100.0 * p[metric] for q, p in preds[mn][s].items()}
                        for seed, (mn, _) in zip(plan["seeds"], pairs)
                    },
                    {
                        seed: {q: 100.0 * p[metric] for q, p in preds[cn][s].items()}
                        for seed, (_, cn) in zip(plan["seeds"], pairs)
                    },
                    n_resamples=plan["n_resamples"],
                )
                entry[metric] = {
                    "per_seed": list(c.per_seed), "mean": c.mean, "sd": c.sd, "low": c.pooled.low,
                    "high": c.pooled.high, "n": c.n, "verdict": VERDICT_WORDS.get(c.verdict, c.verdict),
                }  # fmt: skip
            if s in drops:
                entry["drop_em_per_seed"] = [drops[s][mn] - drops[s][cn] for mn, cn in pairs]
            comparisons.append(entry)
    return {
        "profile": plan["profile"],
        "seeds": plan["seeds"],
        "runs": {r["name"]: {**r, "summaries": summaries[r["name"]], "abstain": abstain[r["name"]]} for r in runs},
        "drops": drops,
        "comparisons": comparisons,
        "predictions": {n: {s: list(rows.values()) for s, rows in by.items()} for n, by in preds.items()},
    }


def _ci(d: dict) -> str:
    return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def summary_markdown(results: dict) -> str:
    """The comparison table first (as the experiment report), then every run's scores and null rule."""
    seeds = results["seeds"]
    lines = [
        f"# Experiment `{results['profile']}` (training.portable experiment)",
        "",
        f"Seeds: {', '.join(map(str, seeds))}"
        + (" (a single seed: the seed's share of a difference is not measured)" if len(seeds) == 1 else ""),
        "",
        "| set | method | Δ EM [95% CI] | Δ F1 [95% CI] | Δ EM per seed | verdict (EM) | Δ attack drop EM per seed"
        " | paper claims |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for c in results["comparisons"]:
        verdict = f"not comparable: {c['not_comparable']}" if "not_comparable" in c else c["em"]["verdict"]
        per_seed = " / ".join(f"{d:+.2f}" for d in c["em"]["per_seed"])
        drop = " / ".join(f"{d:+.2f}" for d in c.get("drop_em_per_seed", []))
        cells = [f"{c['method']} − {c['control']}", _ci(c["em"]), _ci(c["f1"]), per_seed, verdict, drop, c["claim"]]
        lines.append(f"| {c['set']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| run | set | EM | F1 | abstains | null rule | negation drop EM |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["runs"].items():
        for s, summ in r["summaries"].items():
            drop = results["drops"].get(s, {}).get(name)
            lines.append(
                f"| {name} | {s} | {summ['em']:.2f} | {summ['f1']:.2f} | {100 * r['abstain'][s]:.1f}% | "
                f"{r['null_rule']} {r['null_threshold']:g} | {'' if drop is None else f'{drop:.2f}'} |"
            )
    return "\n".join(lines) + "\n"
