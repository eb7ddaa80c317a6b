"""Size of a `cqa pack` (training/portable.py) at SQuAD scale against the 64 MiB travel limit.

    python benchmarks/bench_pack.py                      # SQuAD 1.1 dev, PROTOCOL train articles, mle.yaml (384/128)
    python benchmarks/bench_pack.py --max-length 256 --stride 64

Writes the `examples`/`contexts` artifacts of SQuAD 1.1 dev with the PROTOCOL article split into a
temporary root (no spaCy), packs `training/configs/mle.yaml` (model.name=minilm: the tokenizer
travels, the 87 MiB of weights do not) with the PROTOCOL eval articles as the evaluation set, and
prints the pack's size by part, the windows' raw vs gzipped bytes, the time to pack, and an
ESTIMATE for SQuAD 1.1 train (87,599 questions) scaled by windows per question (not measured).
Skips with a message (exit code 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SQUAD_DEV = Path("squad/v1.1/dev-v1.1.json")
SQUAD_TRAIN_QUESTIONS = 87_599  # SQuAD 1.1 train (Rajpurkar et al. 2016)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--keep", type=Path, help="also copy the pack here (e.g. for benchmarks/bench_gpu.py)")
    p.add_argument("--model", default="minilm", help="model.name packed (tiny: its seeded init travels too)")
    args = p.parse_args(argv)
    data = args.data_dir / SQUAD_DEV
    if not data.is_file():
        print(f"skipped: {data} not found")
        return 0
    from benchmarks.bench_train_parity import write_artifacts
    from pipeline import io, schemas
    from training.config import load_config
    from training.portable import MAX_MIB, eval_set_from_frames, pack

    with tempfile.TemporaryDirectory(prefix="bench-pack-") as tmp:
        root, out = Path(tmp) / "artifacts", Path(tmp) / "pack"
        write_artifacts(root, data)
        cfg = load_config(
            REPO / "training" / "configs" / "mle.yaml",
            [
                f"data.root={root}",
                "data.dataset=squad11",
                "data.split=train",
                f"model.name={args.model}",
                f"features.max_length={args.max_length}",
                f"features.stride={args.stride}",
                "device=cpu",
            ],
        )
        part = {"dataset": "squad11", "split": "eval"}
        eval_set = eval_set_from_frames(
            "squad11-eval", io.read(root, schemas.EXAMPLES, part), io.read(root, schemas.CONTEXTS, part)
        )
        began = time.perf_counter()
        manifest = pack(cfg, out, [eval_set])
        seconds = time.perf_counter() - began
        files = manifest["files"]
        total = sum(files.values()) + (out / "pack.json").stat().st_size
        (w,) = manifest["windows"]
        n_train = manifest["splits"]["train"]["n_examples"]
        mib = 2**20

        def part_size(prefix: str) -> float:
            return sum(v for k, v in files.items() if k.startswith(prefix)) / mib

        print(
            f"SQuAD 1.1 dev PROTOCOL train articles: {n_train} questions -> {w['n_windows']} windows at "
            f"{args.max_length}/{args.stride}; eval set {eval_set.name}: {len(eval_set.examples)} questions"
        )
        print(
            f"pack: {total / mib:.2f} MiB (travel limit {MAX_MIB:g} MiB), written in {seconds:.1f} s "
            f"(featurizing through the window cache: a miss here)"
        )
        print(
            f"  windows: {part_size('features/'):.2f} MiB gzipped ({w['raw_bytes'] / mib:.2f} MiB raw, "
            f"{w['raw_bytes'] / files[w['file']]:.1f}x)"
        )
        print(
            f"  examples: {part_size('examples/'):.2f} MiB, eval sets: {part_size('eval/'):.2f} MiB, "
            f"model/ ({'with' if manifest['model']['weights'] else 'no'} weights): {part_size('model/'):.2f} MiB"
        )
        scale = SQUAD_TRAIN_QUESTIONS / n_train
        print(
            f"ESTIMATE (scaled by questions, not measured) for SQuAD 1.1 train ({SQUAD_TRAIN_QUESTIONS} questions): "
            f"~{w['n_windows'] * scale:,.0f} windows, ~{w['raw_bytes'] * scale / mib:.0f} MiB raw, "
            f"~{(part_size('features/') + part_size('examples/')) * scale + part_size('model/'):.0f} MiB packed"
        )
        if args.keep:
            import shutil

            shutil.copytree(out, args.keep)
            print(f"pack kept: {args.keep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
