"""Artifacts built by two revisions of the code are identical: content hashes per partition.

    python benchmarks/bench_artifact_identity.py --rev ab27ab1                     # the samples
    nice -n 15 python benchmarks/bench_artifact_identity.py --rev ab27ab1 --real ../shared/data \
        --out /tmp/identity-real > /tmp/identity-real.log 2>&1 &

Builds the same config twice, with no Prefect (load, index, every miner on every partition,
as `cqa build-bundles` does): once with the code of git revision `--rev`, checked out with
`git worktree add` under `--out` and run from there (PYTHONPATH pointing at it), once with
this tree. Then it reads every partition of every artifact of both roots with this tree's
`pipeline.io` (which reads every part file of a partition) and compares per partition:

- `ordered`: sha256 of the per-row hashes (each row as JSON; partition columns dropped) in
  the order read, so it does not depend on how the rows are cut into files or chunks;
- `unordered`: sha256 of the sorted per-row hashes, for writers whose row order is not a
  promise. Order is meant to be stable for examples, contexts, near_miss, bundles
  (sorted by kind, bundle_id, example_id), flips and synthetic (sorted by example_id), and
  within one stage's rejects (record order); the `index` rows follow the chunk plan, and a
  partition's `rejects` rows are read writer part by writer part, so only `unordered` is
  required there (it is the pass criterion everywhere; `ordered` is reported beside it).

Manifests are not compared (they hold timings, dates and, by design, the new writer records).
`--real DIR`: SQuAD 1.1 dev and ROPES dev + train from the shared data folder, with
`--squad-articles N` (default all) keeping the first N SQuAD articles. `--no-build` compares
the roots a previous run left under `--out`. Exit 1 on a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Run by each revision's own interpreter session: builds `cfg` into its root with that code.
DRIVER = """
import json, sys, time
from pipeline.build_config import load_build_config
from pipeline.stages import miner_applies, run_index, run_load, run_miner
try:
    from pipeline.miners import MINERS
except ImportError:  # before the registry had its own module
    from pipeline.stages import MINERS
cfg = load_build_config(sys.argv[1], root=sys.argv[2])
t0 = time.perf_counter()
parts = [(r.dataset, r.split) for s in cfg.sources for r in run_load(cfg.root, s)]
reads_index = [n for n in cfg.miners if "index" in MINERS[n].inputs]
for d, s in parts:
    if any(miner_applies(cfg, n, d) for n in reads_index):
        run_index(cfg.root, d, s, cfg.index)
for name in cfg.miners:
    for d, s in parts:
        if miner_applies(cfg, name, d):
            r = run_miner(cfg.root, name, d, s, cfg)
            print(f"{name} {d}/{s}: {r.rows} rows, {r.rejects} rejects, {r.seconds:.1f} s", flush=True)
print(json.dumps({"seconds": round(time.perf_counter() - t0, 1)}))
"""


def real_config(data: Path, out: Path, articles: int | None) -> Path:
    """SQuAD 1.1 dev (first `articles` articles) + ROPES dev and train, every miner where it applies."""
    squad = data / "squad/v1.1/dev-v1.1.json"
    if articles is not None:
        doc = json.loads(squad.read_text(encoding="utf-8"))
        doc["data"] = doc["data"][:articles]
        squad = out / f"squad11-dev-first{articles}.json"
        squad.write_text(json.dumps(doc), encoding="utf-8")
    cfg = {
        "sources": [
            {"dataset": "squad11", "path": str(squad), "format": "squad"},
            {"dataset": "ropes", "path": str(data / "ropes/dev-v1.0.json"), "format": "ropes", "split": "dev"},
            {"dataset": "ropes", "path": str(data / "ropes/train-v1.0.json"), "format": "ropes", "split": "train"},
        ],
        "near_miss": {"datasets": ["squad11"]},
        "ropes_bundles": {"datasets": ["ropes"]},
        "flips": {"datasets": ["squad11", "ropes"]},
        "synthetic": {"datasets": ["squad11"]},
    }
    path = out / "build-real.yaml"
    path.write_text(json.dumps(cfg), encoding="utf-8")  # JSON is YAML
    return path


def build(code: Path, config: Path, root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(config), str(root)], cwd=code, env=env, capture_output=True, text=True
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode:
        raise SystemExit(f"build with {code} failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t0


def partition_hashes(root: Path, anonymise: str | None = None) -> dict[str, dict[str, object]]:
    """`artifact/partition` -> rows, ordered hash, unordered hash (this tree's reader).

    `anonymise`: a folder whose path is replaced by `<dir>` in the rows before the unordered
    hash (source files are recorded by absolute path), so that hash does not depend on the checkout."""
    from pipeline import io
    from pipeline.schemas import ARTIFACTS

    out: dict[str, dict[str, object]] = {}
    for spec in ARTIFACTS.values():
        for part in io.partitions(root, spec):
            df = io.read(root, spec, part).drop(list(spec.partition_by))
            texts = (json.dumps(r, sort_keys=True, default=str) for r in df.iter_rows(named=True))
            rows = [
                hashlib.sha256((t.replace(anonymise, "<dir>") if anonymise else t).encode()).hexdigest() for t in texts
            ]
            out[f"{spec.name}/{io.partition_key(spec, part)}"] = {
                "rows": df.height,
                "ordered": hashlib.sha256("".join(rows).encode()).hexdigest()[:16],
                "unordered": hashlib.sha256("".join(sorted(rows)).encode()).hexdigest()[:16],
            }
    return out


def worktree(rev: str, out: Path) -> Path:
    path = out / f"code-{rev}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True
        )
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--rev", default="ab27ab1", help="the other revision (default: the commit before the miner refactor)"
    )
    p.add_argument("--out", default="/tmp/artifact-identity", help="worktree, roots and result go here")
    p.add_argument("--real", metavar="DIR", help="shared data folder: SQuAD 1.1 dev + ROPES instead of the samples")
    p.add_argument(
        "--squad-articles", type=int, default=None, help="with --real: the first N SQuAD 1.1 dev articles only"
    )
    p.add_argument("--no-build", action="store_true", help="compare the roots of a previous run under --out")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = real_config(Path(args.real), out, args.squad_articles) if args.real else REPO / "data/samples/build.yaml"
    old_code = worktree(args.rev, out)
    result: dict[str, object] = {"rev": args.rev, "config": str(config)}
    hashes = {}
    for label, code in (("old", old_code), ("new", REPO)):
        root = out / f"root-{label}"
        if not args.no_build:
            if root.exists():
                import shutil

                shutil.rmtree(root)
            print(f"== building with {label} code ({code})", flush=True)
            result[f"{label}_seconds"] = round(build(code, config, root), 1)
        hashes[label] = partition_hashes(root)
    keys = sorted(set(hashes["old"]) | set(hashes["new"]))
    diffs = []
    for k in keys:
        a, b = hashes["old"].get(k), hashes["new"].get(k)
        if a is None or b is None or a["unordered"] != b["unordered"] or a["rows"] != b["rows"]:
            diffs.append({"partition": k, "old": a, "new": b})
        print(
            f"{k:60s} {str((a or {}).get('rows')):>7} rows  "
            f"unordered {'=' if a and b and a['unordered'] == b['unordered'] else '≠'}"
            f"  ordered {'=' if a and b and a['ordered'] == b['ordered'] else '≠'}"
        )
    result.update(
        partitions=len(keys),
        differing=diffs,
        ordered_equal=sum(
            1
            for k in keys
            if k in hashes["old"] and k in hashes["new"] and hashes["old"][k]["ordered"] == hashes["new"][k]["ordered"]
        ),
        hashes=hashes["new"],
    )
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"{len(keys)} partitions, {len(diffs)} differ, {result['ordered_equal']} equal in order too; "
        f"old {result.get('old_seconds')} s, new {result.get('new_seconds')} s; {out / 'result.json'}"
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
