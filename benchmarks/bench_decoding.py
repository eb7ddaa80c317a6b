"""Decoding speed: `training.decoding.decode_nbest` vs Hugging Face's postprocessing loop.

Run from the repository root:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_decoding            # SQuAD 1.1 dev size
    OMP_NUM_THREADS=1 python -m benchmarks.bench_decoding --examples 2000 --null

Inputs have the size of SQuAD 1.1 dev (10,570 examples, about 10,800 windows of 384 tokens):
random logits, word-piece-like char offsets, [CLS] question [SEP] context [SEP] windows with
stride 128. Both decoders get the same arrays; the script checks that they choose the same
answers, then prints both timings and the speed ratio. Times are CPU seconds of this process
(`time.process_time`, best of --repeat) because the machine may be shared; wall seconds are
printed beside them. `decode_nbest` builds n-best texts lazily, so the time to materialise
every example's full n-best list is printed separately (the reference always builds it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.training.test_decoding import Windows, hf_postprocess_reference, synthetic_windows  # noqa: E402
from training.decoding import decode_nbest  # noqa: E402


def _time(fn, repeat: int) -> tuple[float, float, object]:
    """Best CPU seconds, best wall seconds, and the last result."""
    cpu, wall, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return cpu, wall, out


def _ours(win: Windows, null: bool):
    return decode_nbest(
        win.start_logits,
        win.end_logits,
        win.context_mask,
        win.offsets,
        win.window_example,
        win.contexts,
        null_rule="cls_threshold" if null else "none",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_570)
    ap.add_argument("--seq-len", type=int, default=384)
    ap.add_argument("--null", action="store_true", help="SQuAD 2.0 null-threshold mode in both decoders")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs for our decoder")
    args = ap.parse_args()

    t0 = time.perf_counter()
    win = synthetic_windows(args.examples, seq_len=args.seq_len, long_share=0.015, seed=0)
    print(
        f"inputs: {len(win.contexts):,} examples, {len(win.window_example):,} windows x {args.seq_len} "
        f"tokens (built in {time.perf_counter() - t0:.1f}s)"
    )
    c_ref, w_ref, ref = _time(lambda: hf_postprocess_reference(win, version_2_with_negative=args.null), 1)
    c_ours, w_ours, ours = _time(lambda: _ours(win, args.null), args.repeat)
    c_all, w_all, _ = _time(lambda: [list(p.nbest) for p in _ours(win, args.null)], args.repeat)
    same = sum(o.text == r["text"] or (r["text"] == "empty" and o.text == "") for o, r in zip(ours, ref))
    print(f"{'':48s} {'cpu s':>8s} {'wall s':>8s}")
    print(f"{'reference (HF postprocess_qa_predictions loop)':48s} {c_ref:8.2f} {w_ref:8.2f}")
    print(f"{'decode_nbest (vectorised)':48s} {c_ours:8.2f} {w_ours:8.2f}")
    print(f"{'decode_nbest + every n-best text built':48s} {c_all:8.2f} {w_all:8.2f}")
    print(
        f"speed ratio (cpu): {c_ref / c_ours:.1f}x, with n-best texts {c_ref / c_all:.1f}x; "
        f"same answers: {same:,}/{len(ours):,}"
    )


if __name__ == "__main__":
    main()
