"""Featurization throughput vs the bare fast-tokenizer call, and the window cache's hit time.

    python benchmarks/bench_features.py                    # SQuAD 1.1 dev PROTOCOL train articles, 384/128
    python benchmarks/bench_features.py --repeats 3 --max-length 256 --stride 64

On the PROTOCOL.md train articles of SQuAD 1.1 dev (32 articles, 6,936 questions), with the
`tiny` model's tokenizer (the packaged MiniLM fast tokenizer) and the configs' windows, in one
process, interleaved A-B-A-B so drift on a shared machine hits both sides alike:
1. bare: the fast tokenizer called on the same (question, context) pairs, in the same
   512-example chunks, with the same arguments (`training.features.tokenizer_arguments`);
   also, once, the same call without `return_special_tokens_mask` (featurize asks for it)
   and in one call over all pairs, for reference;
2. featurize: `training.features.featurize` (tokenize + numpy segments + span mapping);
   prints windows/s of both and the ratio featurize/bare (target >= 0.8), best of --repeats;
3. cache: `featurize_cached` into a fresh temporary root (a miss that writes the windows),
   then again (a hit: fingerprints + safetensors load); prints both times (hit target < 2 s);
4. once, for reference, the implementation before issue 14 (tests/training/features_reference.py,
   per-window `sequence_ids` in Python); `--no-reference` skips it.
Skips with a message (exit code 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import FeatureConfig, load_config  # noqa: E402
from training.data import TrainExample  # noqa: E402
from training.features import _CHUNK, featurize, featurize_cached, tokenizer_arguments  # noqa: E402
from training.model import load_tokenizer  # noqa: E402

SQUAD_DEV = Path("squad/v1.1/dev-v1.1.json")


def protocol_train_examples(data: Path) -> list[TrainExample]:
    """The PROTOCOL train articles of SQuAD 1.1 dev (sorted titles, index % 3 != 2) as training examples."""
    from pipeline.sources.protocol import TRAIN, protocol_split

    with open(data / SQUAD_DEV, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    split = protocol_split(a["title"] for a in articles)
    return [
        TrainExample(
            qa["id"],
            p["context"],
            qa["question"],
            tuple(dict.fromkeys((a["answer_start"], a["answer_start"] + len(a["text"])) for a in qa["answers"])),
        )
        for art in articles
        if split[art["title"]] == TRAIN
        for p in art["paragraphs"]
        for qa in p["qas"]
    ]


def bare(tokenizer, examples: list[TrainExample], kwargs: dict, chunk: int) -> int:
    """The tokenizer call alone, as featurize makes it; returns the number of windows."""
    windows = 0
    for lo in range(0, len(examples), chunk):
        part = examples[lo : lo + chunk]
        enc = tokenizer([e.question for e in part], [e.context for e in part], **kwargs)
        windows += len(enc["input_ids"])
    return windows


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def cpu_timed(fn, *args):
    """(wall s, CPU s of this process, all threads: what other jobs on a shared machine barely disturb, output)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("CQA_SHARED_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--no-reference", action="store_true", help="skip timing the pre-issue-14 implementation")
    args = parser.parse_args()
    if not (args.data / SQUAD_DEV).is_file():
        print(f"skipped: {args.data / SQUAD_DEV} not found (set --data or CQA_SHARED_DATA)")
        return 0
    examples = protocol_train_examples(args.data)
    tokenizer = load_tokenizer(load_config(None, ["model.name=tiny"], validate=False).model)
    tokenizer.padding_side = "right"
    cfg = FeatureConfig(max_length=args.max_length, stride=args.stride)
    kwargs = tokenizer_arguments(cfg)
    print(
        f"{len(examples)} questions (PROTOCOL train articles of SQuAD 1.1 dev), windows {cfg.max_length}/{cfg.stride}, "
        f"{_CHUNK}-example chunks, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'unset')}"
    )
    featurize(tokenizer, examples[:64], cfg)  # warm-up (template probe, allocator)
    bare_s, feat_s, bare_c, feat_c = [], [], [], []
    for _ in range(args.repeats):
        t, c, windows = cpu_timed(bare, tokenizer, examples, kwargs, _CHUNK)
        bare_s.append(t)
        bare_c.append(c)
        t, c, feats = cpu_timed(featurize, tokenizer, examples, cfg)
        feat_s.append(t)
        feat_c.append(c)
        assert feats.n_windows == windows, (feats.n_windows, windows)
    plain = {k: v for k, v in kwargs.items() if k != "return_special_tokens_mask"}
    t_plain, _ = timed(bare, tokenizer, examples, plain, _CHUNK)
    t_one, _ = timed(bare, tokenizer, examples, kwargs, len(examples))
    b, f = min(bare_s), min(feat_s)
    print(
        f"bare tokenizer call      : {b:7.2f} s  {windows / b:8.0f} windows/s   "
        f"(runs: {', '.join(f'{x:.2f}' for x in bare_s)})"
    )
    print(
        f"featurize                : {f:7.2f} s  {windows / f:8.0f} windows/s   "
        f"(runs: {', '.join(f'{x:.2f}' for x in feat_s)})"
    )
    print(
        f"ratio featurize / bare   : {b / f:7.2f}x  (throughput, wall, best runs; target >= 0.8)   [{windows} windows]"
    )
    print(
        f"  in CPU time            : {min(bare_c) / min(feat_c):7.2f}x  "
        f"(bare {min(bare_c):.2f} s, featurize {min(feat_c):.2f} s)"
    )
    print(
        f"  reference: bare call without return_special_tokens_mask {t_plain:.2f} s; "
        f"with it, in one call over all pairs {t_one:.2f} s"
    )
    with tempfile.TemporaryDirectory() as root:
        t_miss, (_, hit) = timed(featurize_cached, tokenizer, examples, cfg, root)
        assert not hit
        size = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
        t_hit, (cached, hit) = timed(featurize_cached, tokenizer, examples, cfg, root)
        assert hit and cached.n_windows == windows
    print(f"cache miss (featurize + write): {t_miss:6.2f} s   ({size / 2**20:.0f} MiB on disk)")
    print(f"cache hit  (fingerprint + load): {t_hit:6.2f} s   (target < 2 s)")
    if not args.no_reference:
        from tests.training.features_reference import reference_featurize

        t_ref, _ = timed(reference_featurize, tokenizer, examples, cfg)
        print(
            f"before issue 14 (per-window sequence_ids, reference copy): {t_ref:.2f} s, ratio to bare {b / t_ref:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
