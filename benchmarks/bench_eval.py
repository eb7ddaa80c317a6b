"""Evaluation speed: the untrained packaged MiniLM on the SQuAD 1.1 PROTOCOL eval titles, on CPU.

Run from the repository root (needs ../shared/data):

    OMP_NUM_THREADS=2 python -m benchmarks.bench_eval                 # all 3,634 eval questions
    OMP_NUM_THREADS=1 python -m benchmarks.bench_eval --limit 200 --report /tmp/bench-report

Times each phase of `cqa evaluate` for one run on one set: loading the set, loading the
model, featurization + forward passes + n-best decoding (`training.inference.predict`),
every metric with bootstrap intervals (`training.evaluation.evaluate_predictions`), and
with --report the markdown + PNG report. Prints wall seconds and CPU seconds of this
process (the machine may be shared, so CPU seconds are the fairer number) and both per
1,000 questions. The scores of an untrained QA head are near zero, as expected.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402
import torch  # noqa: E402

from pipeline.attacks import load_eval_set, parse_eval_set  # noqa: E402
from training.evaluation import evaluate_predictions  # noqa: E402
from training.inference import InferenceConfig, examples_from_frames, load_checkpoint, predict  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class Clock:
    """Wall and process-CPU seconds per named phase."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def run(self, name: str, fn, *args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.rows.append((name, time.perf_counter() - w, time.process_time() - c))
        return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--limit", type=int, default=None, help="first N questions (default: all 3,634)")
    p.add_argument("--model", default="minilm", help="checkpoint: alias, run folder or model folder")
    p.add_argument("--batch-windows", type=int, default=16)
    p.add_argument("--report", default=None, help="also write report.md + PNGs into this folder")
    args = p.parse_args(argv)
    if not (Path(args.data_dir) / "PROTOCOL.md").exists():
        sys.exit(f"shared data not found at {args.data_dir} (pass --data-dir)")

    clock = Clock()
    frames = clock.run("load eval set", load_eval_set, parse_eval_set("squad11-eval", args.data_dir))
    examples = frames.examples.head(args.limit) if args.limit else frames.examples
    loaded = clock.run("load model", load_checkpoint, args.model)
    cfg = InferenceConfig(batch_windows=args.batch_windows)
    exs = examples_from_frames(examples, frames.contexts)
    preds = clock.run("featurize + forward + decode", predict, loaded.model, loaded.tokenizer, exs, cfg)
    out = clock.run(
        "metrics + bootstrap",
        evaluate_predictions,
        examples,
        dict(zip(examples["example_id"].to_list(), preds, strict=True)),
        run=loaded.run_id,
    )
    if args.report:
        from training.report import write_report

        metrics = out["metrics"].with_columns(eval_set=pl.lit("squad11-eval"))
        predictions = out["predictions"].with_columns(eval_set=pl.lit("squad11-eval"), run=pl.lit(loaded.run_id))
        path = clock.run(
            "report",
            write_report,
            args.report,
            metrics,
            predictions,
            {"model": args.model, "questions": examples.height},
        )
        print(f"report: {path}")

    n = examples.height
    print(
        f"model {args.model} ({loaded.source}), {n} questions, torch threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'phase':<30} {'wall s':>8} {'cpu s':>8}")
    for name, wall, cpu in clock.rows:
        print(f"{name:<30} {wall:8.2f} {cpu:8.2f}")
    eval_rows = [r for r in clock.rows if r[0] not in ("load eval set", "load model")]
    wall, cpu = sum(r[1] for r in eval_rows), sum(r[2] for r in eval_rows)
    print(
        f"evaluation per 1,000 questions: {1000 * wall / n:.1f} s wall, {1000 * cpu / n:.1f} s CPU "
        f"(model already loaded; CPU seconds summed over threads)"
    )
    s = out["summary"]
    print(
        f"EM {s['em']:.2f}  F1 {s['f1']:.2f}  top-10 EM {s.get('top10_em', float('nan')):.2f}  "
        "(untrained head: near zero)"
    )


if __name__ == "__main__":
    main()
