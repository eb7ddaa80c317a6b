"""One rank of a `torchrun` run for tests/training/test_ddp.py (not a test module itself).

    python -m torch.distributed.run --nproc_per_node 2 tests/training/ddp_worker.py \
        --config C.yaml --stop-after 3 [--resume] -- KEY=VALUE ...

Trains with `training.loop.train` as `cqa train` does, and records every
`save_checkpoint` call as a line `<rank> <step>` in `<run_dir>/checkpoint_calls.txt`
(appended by the rank that made it), so the test can see which ranks wrote checkpoints.
`--stop-after N` ends the run after step N (the loop's `stop_after_steps` hook, on every rank).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import training.loop as loop  # noqa: E402
from training.config import load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cfg = load_config(Path(args.config), args.overrides)
    rank = os.environ.get("RANK", "0")
    save = loop.save_checkpoint

    def recording_save(run_dir, step, **kw):
        with open(Path(run_dir) / "checkpoint_calls.txt", "a", encoding="utf-8") as f:
            f.write(f"{rank} {step}\n")
        return save(run_dir, step, **kw)

    loop.save_checkpoint = recording_save
    try:
        loop.train(cfg, resume=args.resume, stop_after_steps=args.stop_after)
    except loop.TrainingInterrupted:
        sys.exit(3)


if __name__ == "__main__":
    main()
