"""Benchmark: the spaCy index of SQuAD 1.1 dev contexts on 1 vs 2 Dask workers, in one run.

    python benchmarks/bench_index_workers.py                      # 2,067 contexts, chunk_size 256
    python benchmarks/bench_index_workers.py --limit 600 --chunk-size 64

Runs the real `build-index` flow twice on the same source, each into a fresh temporary
root, on a local Dask cluster (prefect-dask) of 1 and then 2 worker processes, exactly
what `cqa build-index --runner dask --workers N` does: load the source, plan the new
contexts, parse each chunk of `index.chunk_size` contexts as one task, one part file each.
Prints, per run, the index stage's seconds (planning to the last part written; each worker
loads the model once inside it), the spaCy seconds summed over the chunks (divided by the
index seconds: how many chunks were being parsed at once, on average), the flow's wall time
(the cluster start and the load stage included), the ratios 1-worker / 2-worker of the index
and flow times, the ratio of the spaCy CPU seconds (robust to other jobs: near 1 means the
split adds no work, so on free cores the wall ratio approaches the chunk bound), and checks
that both runs wrote
the same index rows (all columns) and the same part files. The load average before and
after is printed: on a shared machine the ratio is bounded by the cores the other jobs leave.

Every process (this one and the Dask workers) talks to ONE Prefect API: `PREFECT_API_URL`
when set, else a temporary server started here and exported to the workers' environment.
Without it each worker process would start a temporary Prefect server of its own before its
first task (what `cqa build-index --runner dask` does when no server is configured).
Skips with a message (exit code 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SQUAD_DEV = Path("squad/v1.1/dev-v1.1.json")


def limited_source(data: Path, limit: int | None, tmp: Path) -> Path:
    """SQuAD 1.1 dev, or its first articles holding at least `limit` contexts (a smaller JSON file)."""
    path = data / SQUAD_DEV
    if limit is None:
        return path
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    kept, n = [], 0
    for article in doc["data"]:
        if n >= limit:
            break
        kept.append(article)
        n += len(article["paragraphs"])
    out = tmp / "squad-dev-limited.json"
    out.write_text(json.dumps({**doc, "data": kept}), encoding="utf-8")
    return out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(workers: int, source: Path, root: Path, chunk_size: int, batch_size: int) -> dict:
    from flows.build_bundles import with_task_runner
    from flows.build_index import build_index_flow

    flow = with_task_runner(build_index_flow, "dask", workers=workers)
    t0 = time.perf_counter()
    out = flow(
        config=None,
        root=str(root),
        sources=[f"squad11={source}:squad"],
        overrides=[f"index.chunk_size={chunk_size}", f"index.batch_size={batch_size}"],
    )
    wall = time.perf_counter() - t0
    (index,) = [r for r in out["stages"] if r["stage"] == "index"]
    return {
        "wall": wall,
        "index_s": index["seconds"],
        "new": index["stats"]["new"],
        "parts": index["stats"]["parts"],
        "workers": index["stats"]["workers"],
        "parse_s": index["stats"]["parse_s"],
        "parse_cpu_s": index["stats"]["parse_cpu_s"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="folder holding squad/v1.1/")
    ap.add_argument("--limit", type=int, default=None, help="only the first articles, holding at least N contexts")
    ap.add_argument("--chunk-size", type=int, default=256, help="index.chunk_size (contexts per task)")
    ap.add_argument("--batch-size", type=int, default=64, help="index.batch_size")
    args = ap.parse_args()
    if not (args.data / SQUAD_DEV).exists():
        print(f"SKIP: {args.data / SQUAD_DEV} not found (pass --data pointing at the shared data folder)")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url  # inherited by the Dask worker processes
    try:
        return measure(args)
    finally:
        if server is not None:
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()  # the flow's last log lines reach the server before it stops
            server.stop()


def measure(args: argparse.Namespace) -> int:
    from pipeline import io
    from pipeline.schemas import INDEX

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}; load average (1, 5, 15 min) before: {load_average()}")
    results, roots = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        source = limited_source(args.data, args.limit, Path(tmp))
        for workers in (1, 2):
            roots[workers] = Path(tmp) / f"workers-{workers}"
            results[workers] = r = run(workers, source, roots[workers], args.chunk_size, args.batch_size)
            print(
                f"{workers} worker(s): index {r['index_s']:6.1f} s ({r['new'] / r['index_s']:6.1f} contexts/s), "
                f"flow wall {r['wall']:6.1f} s; {r['new']} contexts in {r['parts']} part files, "
                f"parsed by {r['workers']} process(es); spaCy seconds summed over chunks {r['parse_s']:.1f} "
                f"(/ index seconds = {r['parse_s'] / r['index_s']:.2f} chunks parsing at once on average), "
                f"their CPU seconds {r['parse_cpu_s']:.1f}"
            )
        rows = {w: io.read(root, INDEX).sort("context_id") for w, root in roots.items()}
        same_rows = rows[1].equals(rows[2])
        same_parts = {p.name for p in io.partition_files(roots[1], INDEX)} == {
            p.name for p in io.partition_files(roots[2], INDEX)
        }
    one, two = results[1], results[2]
    parts = one["parts"]
    print(
        f"ratio 1 worker / 2 workers: index {one['index_s'] / two['index_s']:.2f}x, "
        f"flow wall {one['wall'] / two['wall']:.2f}x "
        f"(bound by the chunks: {parts} chunks over 2 workers -> at most {parts / math.ceil(parts / 2):.2f}x)"
    )
    print(
        f"spaCy CPU seconds 2 workers / 1 worker: {two['parse_cpu_s'] / one['parse_cpu_s']:.2f} "
        "(1.00 = no work added by splitting; the wall ratio above is then set by the free cores)"
    )
    print(
        f"same index rows (all columns): {'yes' if same_rows else 'NO'}; "
        f"same part files: {'yes' if same_parts else 'NO'}"
    )
    print(f"load average after: {load_average()}")
    return 0 if same_rows and same_parts else 1


if __name__ == "__main__":
    raise SystemExit(main())
