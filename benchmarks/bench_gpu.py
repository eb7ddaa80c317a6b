"""Training throughput of this loop against a plain Hugging Face-style loop, on the same batches.

    scripts/gpu-bench.sh pack/                          # GPU: MiniLM-L6 and BERT-base shapes, + torch.compile
    python -m benchmarks.bench_gpu --pack pack/ --small --device cpu --steps 12   # prove it on a CPU

Reads the windows of a `cqa pack` (training/portable.py: imports only the train extra). Models are
random-initialised from a `BertConfig` (no downloaded weights): `minilm-l6` (hidden 384, 6 layers,
12 heads, MLP 1536) and `bert-base` (768, 12, 12, 3072), vocabulary of the packed tokenizer;
`--small` is a 2-layer, hidden-32 shape for a CPU. Dropout is 0 in every loop, so their losses
can be compared step by step. Every loop starts from the same weights and trains on the SAME
list of batches (example indices), with the SAME learning rate at every step (our schedule):

- `plain-fp32`: every window padded to max_length (as Hugging Face `run_qa.py` pads), fp32,
  `model(...).loss` (HF's span loss), `torch.optim.AdamW`, clipping, one window batch per step;
- `plain-bf16`: the same under `torch.autocast(bfloat16)`;
- `plain-fp32-trim`: `plain-fp32` with each batch cut to the length our collate gives it: HF's
  loss takes its softmax over every position, padding included, so a padded and a trimmed batch
  have different losses by construction (up to ln(384 / L) at random init); this is the loop our
  losses must equal;
- `ours-fp32`, `ours-bf16`: `training.loop.Trainer.step` itself (collate trims each batch to its
  longest window rounded up to 8, the configured objective (mle), fused AdamW, clipping), fp32 or
  bf16 autocast;
- `ours-bf16-compile` (`--compile`): the same with the model under `torch.compile(dynamic=True)`;
- `ours-bf16-loop-batches`: our loop with its OWN sampler's batches (random packing, no length
  bucketing), for throughput only.

The shared batch list is length-bucketed (`--batching bucketed`, default): examples are shuffled,
taken in pools of `--pool` batches' worth, sorted by their longest window inside a pool, packed
greedily (whole examples, at most `--batch-windows` windows) and the batches shuffled. The
training loop's sampler does not bucket by length (training/sampler.py packs in random order):
`ours-bf16-loop-batches` shows what that costs. `--batching loop` uses the loop's sampler for all.

Printed per shape: windows/s of each loop over the steps after `--warmup`, the ratio to
`plain-fp32` (target: `ours-bf16` >= 2x), mean tokens per window each loop computes on, and the
largest absolute difference of the per-step loss from `plain-fp32` and from `plain-fp32-trim`
over the first 50 steps.
`--budget-s` skips the remaining loops (said so) rather than run past the time limit.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = {  # BertConfig fields (vocab_size from the tokenizer)
    "minilm-l6": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536},
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "small": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
}
LOSS_STEPS = 50  # the loss curves are compared over the first 50 steps


def load_pack(pack: Path, overrides: list[str]):
    """(config, features) from a pack: the portable path's examples and cached windows, no mining stack."""
    from transformers import AutoTokenizer

    from training.data import load_examples
    from training.features import featurize_cached
    from training.portable import read_manifest, run_config, unpack_windows

    manifest = read_manifest(pack)
    cfg = run_config(
        pack,
        model=str(Path(pack).resolve() / manifest["model"]["folder"]),  # its tokenizer
        overrides=["losses=[{name: mle}]", *overrides],
    )
    unpack_windows(pack)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model.name, use_fast=True)
    examples = load_examples(cfg.data, max_topk=cfg.features.max_topk)
    features, hit = featurize_cached(tokenizer, examples, cfg.features, cfg.data.root)
    if not hit:
        print("note: the packed windows did not match this tokenizer; featurized again", file=sys.stderr)
    return cfg, features, len(tokenizer)


def bucketed_batches(features, batch_windows: int, seed: int, n: int, pool: int) -> list[list[int]]:
    """`n` batches of example indices, length-bucketed within pools of `pool` batches (see the module docstring)."""
    import numpy as np

    counts = np.diff(features.example_windows)
    tokens = features.arrays["attention_mask"].sum(1)
    longest = np.maximum.reduceat(tokens, features.example_windows[:-1])
    rng = np.random.default_rng(seed)
    out: list[list[int]] = []
    while len(out) < n:
        order = rng.permutation(len(counts))
        per_pool = max(1, pool * batch_windows // max(1, int(counts.mean())))
        epoch: list[list[int]] = []
        for lo in range(0, len(order), per_pool):
            chunk = sorted(order[lo : lo + per_pool].tolist(), key=lambda i: int(longest[i]))
            current, used = [], 0
            for i in chunk:
                if current and used + counts[i] > batch_windows:
                    epoch.append(current)
                    current, used = [], 0
                current.append(i)
                used += int(counts[i])
            if current:
                epoch.append(current)
        out += [epoch[j] for j in rng.permutation(len(epoch)).tolist()]
    return out[:n]


def loop_batches(features, batch_windows: int, seed: int, n: int) -> list[list[int]]:
    from training.sampler import BundleBatchSampler

    sampler = BundleBatchSampler(features, batch_windows, seed)
    return [sampler.next_batch() for _ in range(n)]


class ListSampler:
    """The `next_batch()` the Trainer calls, over a fixed list of batches."""

    def __init__(self, batches: list[list[int]]):
        self.batches, self.i = batches, 0

    def next_batch(self) -> list[int]:
        batch = self.batches[self.i]
        self.i += 1
        return batch


def our_lrs(cfg, steps: int) -> list[float]:
    import torch

    from training.loop import linear_schedule

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.optim.lr)
    sched = linear_schedule(opt, int(cfg.optim.warmup_ratio * steps), steps)
    lrs = []
    for _ in range(steps):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return lrs


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_run(encoder, features, batches, lrs, cfg, device, dtype, trim: bool = False) -> dict:
    """The HF-style loop: windows padded to max_length, HF's loss, torch AdamW (default), clipping.

    `trim`: each batch cut to the length our collate gives it (longest window rounded up to 8)."""
    import contextlib

    import numpy as np
    import torch

    from benchmarks.bench_train_parity import param_groups

    model = encoder.to(device).train()
    opt = torch.optim.AdamW(
        param_groups(model, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=cfg.optim.betas, eps=cfg.optim.eps
    )
    a = features.arrays
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions") if k in a]
    losses, seconds, windows, tokens = [], [], [], 0
    for step, ids in enumerate(batches):
        wins = np.concatenate([features.windows_of(i) for i in ids])
        batch = {k: torch.from_numpy(a[k][wins].astype(np.int64)).to(device) for k in keys}
        if trim:
            length = min(a["input_ids"].shape[1], -(-int(a["attention_mask"][wins].sum(1).max()) // 8) * 8)
            batch = {k: v[:, :length] if v.ndim == 2 else v for k, v in batch.items()}
        _sync(device)
        began = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lrs[step]
        with torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))  # a host sync, as every logging loop has
        _sync(device)
        seconds.append(time.perf_counter() - began)
        windows.append(len(wins))
        tokens += batch["input_ids"].numel()
    return {"losses": losses, "seconds": seconds, "windows": windows, "tokens_per_window": tokens / sum(windows)}


def ours_run(encoder, features, batches, cfg, steps, device, dtype, compile_model: bool = False) -> dict:
    """`training.loop.Trainer.step` on the given batches (our collate, objective, fused AdamW, schedule)."""
    import numpy as np
    import torch

    from training.loop import Trainer, build_objective, linear_schedule, make_optimizer
    from training.model import QaModel

    model = QaModel(encoder).to(device).train()
    objective = build_objective(cfg, model)
    optimizer = make_optimizer(model, objective, cfg.optim)
    scheduler = linear_schedule(optimizer, int(cfg.optim.warmup_ratio * steps), steps)
    wrapped = torch.compile(model, dynamic=True) if compile_model else model
    trainer = Trainer(cfg, wrapped, objective, features, ListSampler(batches), optimizer, scheduler, device, dtype)
    losses, seconds, windows, tokens = [], [], [], 0
    for ids in batches:
        _sync(device)
        began = time.perf_counter()
        row = trainer.step()  # float(loss) inside: a host sync per step, like the plain loop's
        _sync(device)
        seconds.append(time.perf_counter() - began)
        losses.append(row["loss"])
        windows.append(row["windows"])
        longest = int(
            features.arrays["attention_mask"][np.concatenate([features.windows_of(i) for i in ids])].sum(1).max()
        )
        tokens += row["windows"] * min(features.arrays["input_ids"].shape[1], -(-longest // 8) * 8)  # collate's length
    return {"losses": losses, "seconds": seconds, "windows": windows, "tokens_per_window": tokens / sum(windows)}


def bench_shape(name: str, cfg, features, vocab: int, args, device, started: float) -> dict:
    import torch
    from transformers import AutoModelForQuestionAnswering, BertConfig

    torch.manual_seed(args.seed)
    config = BertConfig(
        vocab_size=vocab,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **SHAPES[name],
    )
    base = AutoModelForQuestionAnswering.from_config(config)
    steps = args.steps
    shared = (
        bucketed_batches(features, cfg.optim.batch_windows, args.seed, steps, args.pool)
        if args.batching == "bucketed"
        else loop_batches(features, cfg.optim.batch_windows, args.seed, steps)
    )
    lrs = our_lrs(cfg, steps)
    bf16 = torch.bfloat16
    runs = {
        "plain-fp32": lambda: plain_run(copy.deepcopy(base), features, shared, lrs, cfg, device, None),
        "plain-bf16": lambda: plain_run(copy.deepcopy(base), features, shared, lrs, cfg, device, bf16),
        "plain-fp32-trim": lambda: plain_run(copy.deepcopy(base), features, shared, lrs, cfg, device, None, trim=True),
        "ours-fp32": lambda: ours_run(copy.deepcopy(base), features, shared, cfg, steps, device, None),
        "ours-bf16": lambda: ours_run(copy.deepcopy(base), features, shared, cfg, steps, device, bf16),
        "ours-bf16-loop-batches": lambda: ours_run(
            copy.deepcopy(base),
            features,
            loop_batches(features, cfg.optim.batch_windows, args.seed, steps),
            cfg,
            steps,
            device,
            bf16,
        ),
    }
    if args.compile:
        runs["ours-bf16-compile"] = lambda: ours_run(
            copy.deepcopy(base), features, shared, cfg, steps, device, bf16, True
        )
    out: dict = {"shape": name, "params": sum(p.numel() for p in base.parameters()), "results": {}, "skipped": []}
    for loop, fn in runs.items():
        if time.perf_counter() - started > args.budget_s:
            out["skipped"].append(loop)
            continue
        r = fn()
        timed = slice(min(args.warmup, steps - 1), steps)
        r["windows_per_s"] = sum(r["windows"][timed]) / sum(r["seconds"][timed])
        out["results"][loop] = r
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _max_diff(a: list[float], b: list[float], n: int) -> float:
    return max(abs(x - y) for x, y in zip(a[:n], b[:n]))


def report(res: dict, steps: int) -> str:
    rs = res["results"]
    ref, trim = rs.get("plain-fp32"), rs.get("plain-fp32-trim")
    n = min(LOSS_STEPS, steps)
    nan = float("nan")
    lines = [
        (
            f"shape {res['shape']} ({res['params'] / 1e6:.1f}M parameters); max |loss - loss of plain-fp32| and of "
            f"plain-fp32-trim over the first {n} steps"
        ),
        (
            f"  {'loop':<24}{'windows/s':>11}{'x plain-fp32':>14}{'tokens/window':>15}{'vs plain-fp32':>15}"
            f"{'vs plain-fp32-trim':>20}"
        ),
    ]
    for loop, r in rs.items():
        ratio = r["windows_per_s"] / ref["windows_per_s"] if ref else nan
        d_ref = _max_diff(r["losses"], ref["losses"], n) if ref else nan
        d_trim = _max_diff(r["losses"], trim["losses"], n) if trim and loop != "ours-bf16-loop-batches" else nan
        lines.append(
            f"  {loop:<24}{r['windows_per_s']:>11.1f}{ratio:>13.2f}x{r['tokens_per_window']:>15.1f}"
            f"{d_ref:>15.2e}{d_trim:>20.2e}"
        )
    if ref and "ours-bf16" in rs:
        ratio = rs["ours-bf16"]["windows_per_s"] / ref["windows_per_s"]
        lines.append(f"  target (GPU) ours-bf16 >= 2x plain-fp32: {ratio:.2f}x ({'met' if ratio >= 2 else 'NOT met'})")
    lines.append(
        "  (the padded loops' loss is a softmax over all max_length positions, padding included, as HF's "
        "is; a trimmed batch has fewer: compare equal shapes in the last column)"
    )
    if res["skipped"]:
        lines.append(f"  skipped (time budget): {', '.join(res['skipped'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pack", type=Path, required=True, help="a `cqa pack` folder (its training windows)")
    p.add_argument(
        "--shape", action="append", choices=sorted(SHAPES), help="model shape(s); default minilm-l6, bert-base"
    )
    p.add_argument("--small", action="store_true", help="the 2-layer hidden-32 shape only (CPU proof)")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument(
        "--warmup", type=int, default=10, help="steps left out of the timing (allocator, autotuning, compile)"
    )
    p.add_argument("--batch-windows", type=int, default=32)
    p.add_argument("--batching", choices=("bucketed", "loop"), default="bucketed")
    p.add_argument("--pool", type=int, default=32, help="batches per length-sorting pool (bucketed)")
    p.add_argument("--compile", action="store_true", help="also time ours-bf16 under torch.compile")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--budget-s", type=float, default=270.0, help="skip remaining loops after this many seconds")
    p.add_argument("--json", type=Path, help="write every loss and step time here")
    args = p.parse_args(argv)
    import torch

    started = time.perf_counter()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    shapes = ["small"] if args.small else (args.shape or ["minilm-l6", "bert-base"])
    cfg, features, vocab = load_pack(
        args.pack, [f"optim.batch_windows={args.batch_windows}", f"optim.max_steps={args.steps}", f"device={device}"]
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}, torch {torch.__version__}; {features.n_windows} windows of "
        f"{features.arrays['input_ids'].shape[1]} tokens from {args.pack}; "
        f"batches of <= {args.batch_windows} windows ({args.batching}), {args.steps} steps, "
        f"timing after {args.warmup}"
    )
    results = []
    for shape in shapes:
        res = bench_shape(shape, cfg, features, vocab, args, device, started)
        print(report(res, args.steps), flush=True)
        results.append(res)
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"device": name, "args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
