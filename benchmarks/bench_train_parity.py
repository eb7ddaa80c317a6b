"""Training parity across seeds: this project's loop vs a plain PyTorch loop vs `transformers.Trainer`.

    # CPU scale (this project's 2-core machine; about 3 s per step with MiniLM at 256 tokens)
    python -m benchmarks.bench_train_parity --seeds 0 13 14 --steps 200 --eval-limit 1000 --out /tmp/parity.json
    # the paper-1 baseline schedule, unchanged on a GPU
    python -m benchmarks.bench_train_parity --seeds 0 13 14 15 16 --steps 400 --device cuda
    # schedule study (our loop only): warm-up and learning rate
    python -m benchmarks.bench_train_parity --loops ours --warmup-ratio 0.1 --lr 1e-4 --out /tmp/wu10-lr1e-4.json
    # print the table of one or more saved runs without training again
    python -m benchmarks.bench_train_parity --summarize /tmp/parity.json /tmp/wu10-lr1e-4.json

What is compared, for every seed: the SAME windows (the PROTOCOL train articles of SQuAD 1.1
dev, featurized once by `training.features.featurize` with `training/configs/mle.yaml`'s
settings plus `--max-length/--stride`), the SAME initial weights (`torch.manual_seed(seed)`
then `training.model.load_model(..., seed=seed)`, as `cqa train` does: the QA head's random
init depends on the seed), and the same hyper-parameters (AdamW lr, betas, eps, weight decay
0.01 off biases and LayerNorm, linear warm-up then linear decay, batch 16 windows,
`max_grad_norm` 1.0, attention dropout 0 on CPU, hidden dropout 0.1):

- `ours`: `training.loop.train` on a `training/configs/mle.yaml` config, through the artifact
  path users take (`run_load` writes `examples`/`contexts`; the loop reads them);
- `plain`: a 40-line PyTorch loop: windows shuffled with `torch.randperm`, fixed batches of 16
  windows padded to `max_length` (as Hugging Face `run_qa.py` pads), `model(...).loss`
  (HF's own span loss), `torch.optim.AdamW`, `get_linear_schedule_with_warmup`, clipping;
- `hf`: `transformers.Trainer` with the same windows as a dataset and `TrainingArguments`
  carrying the same hyper-parameters (its own sampler, optimizer and scheduler).

The three loops differ by design only in batch ORDER (each has its own shuffling) and in
batch shape: ours packs whole examples (all windows of a question in one batch, at most 16
windows, trimmed to the longest window), the others take any 16 windows. Every trained
model is scored with the same evaluator (`training.inference.predict` + the official SQuAD
1.1 EM/F1) on the PROTOCOL eval articles (`--eval-limit` first questions).

Printed: per loop, the training loss (mean over 10-step windows) at a few steps, as mean ±
standard deviation over seeds and the per-seed values; EM/F1 per seed, their mean, standard
deviation and range; and the gaps `ours − plain`, `ours − hf` of the mean EM with the seed
spread they must be compared with. Target: no systematic gap (our mean inside the others'
seed spread; mean EM within 1 point of Trainer's when enough seeds are run).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "squad" / "v1.1" / "dev-v1.1.json"
LOOPS = ("ours", "plain", "hf", "plain-trim", "plain-packed", "plain-replay")
# The diagnostic variants of the plain loop isolate the batch differences of ours (the step-50
# loss gap): `plain-trim` trims every batch to its longest window, as our collate does;
# `plain-packed` fills batches with whole examples (≤ 16 windows, shuffled examples), as our
# loop does, padded to max_length like `plain`; `plain-replay` takes OUR batches, in our order
# (`training.sampler.BundleBatchSampler` with the run's seed, then `training.features.collate`),
# and OUR learning rate of every step (as `ours` logged it), and trains them with the plain
# loop's HF span loss, torch AdamW (unfused) and clipping. With `--hidden-dropout 0` (no random
# stream left) `ours` and `plain-replay` must give the same loss at every step: what remains
# between `ours` and `plain` is then batch order and shape, and the schedule, only. (Our
# schedule is HF's linear schedule but for one step: `training.loop.linear_schedule` reaches
# the peak on the last warm-up step instead of starting at lr 0, so its decay runs over
# `total − warmup + 1` steps: with no warm-up, every step's lr is T/(T+1) of HF's, 1% at T=100.)


def report_steps(total: int) -> list[int]:
    """Steps the loss table shows: every 50 up to 400 (the issue's table), else quarters of the run."""
    if total >= 100:
        return [k for k in range(50, min(total, 400) + 1, 50)] + ([total] if total > 400 else [])
    return sorted({max(10, round(total * q / 10) * 10) for q in (0.25, 0.5, 0.75, 1.0)} & set(range(10, total + 1)))


# Data --------------------------------------------------------------------------------------


def write_artifacts(root: Path, data: Path) -> None:
    """`examples`/`contexts` partitions squad11/train and squad11/eval (PROTOCOL article split), no spaCy."""
    from pipeline.sources import SourceSpec
    from pipeline.stages import run_load

    run_load(root, SourceSpec("squad11", str(data), format="squad", article_split="protocol"))


def train_config(args, root: Path, runs: Path, seed: int):
    from training.config import load_config

    overrides = [
        f"data.root={root}",
        "data.dataset=squad11",
        "data.split=train",
        f"output_dir={runs}",
        f"run_name=ours-s{seed}",
        f"seed={seed}",
        f"model.name={args.model}",
        f"features.max_length={args.max_length}",
        f"features.stride={args.stride}",
        f"optim.max_steps={args.steps}",
        f"optim.lr={args.lr}",
        f"optim.warmup_ratio={args.warmup_ratio}",
        f"optim.batch_windows={args.batch_windows}",
        f"optim.clip={args.clip}",
        "checkpoint_every=null",
        f"device={args.device}",
        "log_every=1",
    ] + ([f"model.hidden_dropout={args.hidden_dropout}"] if args.hidden_dropout is not None else [])
    return load_config(REPO / "training" / "configs" / "mle.yaml", overrides)


def eval_examples(root: Path, limit: int | None):
    from pipeline import io, schemas
    from training.inference import examples_from_frames

    part = {"dataset": "squad11", "split": "eval"}
    ex = io.read(root, schemas.EXAMPLES, part)
    ex = ex.head(limit) if limit else ex
    return ex, examples_from_frames(ex, io.read(root, schemas.CONTEXTS, part))


def score(model, tokenizer, ex_frame, examples, args) -> dict[str, float]:
    """Official SQuAD 1.1 EM/F1 of `model` on the eval examples (same evaluator for every loop)."""
    from training.inference import InferenceConfig, predict
    from training.metrics.squad import squad_v1

    model.eval()
    preds = predict(model, tokenizer, examples, InferenceConfig(max_length=args.max_length, stride=args.stride))
    golds = {
        r["example_id"]: [a["text"] for a in r["answers"]]
        for r in ex_frame.select("example_id", "answers").iter_rows(named=True)
    }
    out = squad_v1(golds, {e.example_id: p.text for e, p in zip(examples, preds, strict=True)})
    return {"em": float(out["exact_match"]), "f1": float(out["f1"])}


# The two reference loops --------------------------------------------------------------------


def param_groups(model, weight_decay: float) -> list[dict]:
    """Decay on weight matrices only (biases and LayerNorm excluded), as HF Trainer and our loop do."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def window_tensors(features) -> dict:
    import torch

    a = features.arrays
    return {
        k: torch.from_numpy(a[k].astype("int64"))
        for k in ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
        if k in a
    }


def packed_batches(window_example, batch_windows: int, gen) -> list:
    """Whole examples per batch (at most `batch_windows` windows), examples in a shuffled order."""
    import torch

    by_example: dict[int, list[int]] = {}
    for w, e in enumerate(window_example.tolist()):
        by_example.setdefault(e, []).append(w)
    groups = list(by_example.values())
    batches, current = [], []
    for g in torch.randperm(len(groups), generator=gen).tolist():
        if current and len(current) + len(groups[g]) > batch_windows:
            batches.append(current)
            current = []
        current = current + groups[g][:batch_windows]
    if current:
        batches.append(current)
    return [torch.tensor(b) for b in batches]


def replay_batches(features, cfg, seed: int):
    """Our loop's batches, in our order: the training sampler with the run's seed, then our collate."""
    from training.features import collate
    from training.sampler import BundleBatchSampler

    sampler = BundleBatchSampler(features, cfg.optim.batch_windows, seed)
    keys = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
    while True:
        t = collate(features, sampler.next_batch()).tensors
        yield {k: t[k].long() for k in keys if k in t}


def plain_loop(
    encoder,
    tensors: dict,
    cfg,
    seed: int,
    device,
    batching: str = "windows",
    window_example=None,
    features=None,
    lrs: list[float] | None = None,
) -> list[float]:
    """The reference loop: shuffled windows, HF's span loss, AdamW, linear schedule, clipping.

    `batching`: `windows` (any 16 windows padded to max_length), `trim` (the same batches trimmed
    to their longest window), `packed` (whole examples per batch, padded to max_length) or
    `replay` (our loop's own batches, `replay_batches`; needs `features`). `lrs`: the learning
    rate of every step (replaces HF's schedule; `replay` passes the one `ours` logged)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    o = cfg.optim
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = encoder.to(device).train()
    opt = torch.optim.AdamW(param_groups(model, o.weight_decay), lr=o.lr, betas=o.betas, eps=o.eps)
    sched = (
        None
        if lrs is not None
        else get_linear_schedule_with_warmup(opt, int(o.warmup_ratio * o.max_steps), o.max_steps)
    )
    n = tensors["input_ids"].shape[0]
    order, pos, losses = torch.randperm(n, generator=gen), 0, []
    packed, k = (packed_batches(window_example, o.batch_windows, gen) if batching == "packed" else None), 0
    replay = replay_batches(features, cfg, seed) if batching == "replay" else None
    for step in range(o.max_steps):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[step]
        if replay is not None:
            batch = next(replay)
        elif packed is not None:
            if k == len(packed):
                packed, k = packed_batches(window_example, o.batch_windows, gen), 0
            ids, k = packed[k], k + 1
            batch = {key: v[ids] for key, v in tensors.items()}
        else:
            if pos + o.batch_windows > n:
                order, pos = torch.randperm(n, generator=gen), 0
            ids = order[pos : pos + o.batch_windows]
            pos += o.batch_windows
            batch = {key: v[ids] for key, v in tensors.items()}
        if batching == "trim":
            longest = int(batch["attention_mask"].sum(1).max())
            batch = {key: (v[:, :longest] if v.ndim == 2 else v) for key, v in batch.items()}
        batch = {key: v.to(device) for key, v in batch.items()}
        loss = model(**batch).loss  # (CE(start) + CE(end)) / 2, HF's own
        loss.backward()
        if o.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), o.clip)
        opt.step()
        if sched is not None:
            sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def hf_trainer(encoder, tensors: dict, cfg, seed: int, device, workdir: Path) -> list[float]:
    """`transformers.Trainer` on the same windows with the same hyper-parameters."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    o = cfg.optim

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return tensors["input_ids"].shape[0]

        def __getitem__(self, i: int) -> dict:
            return {k: v[i] for k, v in tensors.items()}

    args = TrainingArguments(
        output_dir=str(workdir),
        max_steps=o.max_steps,
        per_device_train_batch_size=o.batch_windows,
        learning_rate=o.lr,
        weight_decay=o.weight_decay,
        adam_beta1=o.betas[0],
        adam_beta2=o.betas[1],
        adam_epsilon=o.eps,
        lr_scheduler_type="linear",
        warmup_steps=int(o.warmup_ratio * o.max_steps),
        max_grad_norm=o.clip if o.clip else 1e9,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=True,
        remove_unused_columns=False,
        optim="adamw_torch",
    )
    trainer = Trainer(model=encoder, args=args, train_dataset=Windows())
    trainer.remove_callback(PrinterCallback)  # one dict printed per step otherwise
    trainer.train()
    return [float(r["loss"]) for r in trainer.state.log_history if "loss" in r]


# One seed -----------------------------------------------------------------------------------


def run_seed(args, root: Path, work: Path, seed: int, ex_frame, eval_exs) -> dict:
    import torch

    from training.data import load_examples
    from training.features import featurize
    from training.loop import LOG_FILE, train
    from training.model import load_model

    cfg = train_config(args, root, work / "runs", seed)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    out: dict = {"seed": seed}
    torch.manual_seed(seed)
    init, tok = load_model(cfg.model, device="cpu", seed=seed)  # the init `train` builds for this seed
    features = featurize(tok, load_examples(cfg.data, max_topk=cfg.features.max_topk), cfg.features)
    tensors = window_tensors(features)
    out["windows"] = features.n_windows
    for loop in args.loops:
        t0 = time.perf_counter()
        if loop == "ours":
            run_dir = train(cfg)
            rows = [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]
            rows = [r for r in rows if "loss" in r and "event" not in r]
            losses = [r["loss"] for r in rows]
            ours_lrs = [r["lr"] for r in rows]
            out["ours_windows_per_step"] = statistics.fmean(r["windows"] for r in rows)
            model, _ = load_model(cfg.model, device=device, seed=seed)
            model.load_weights(run_dir / "model")
        else:
            encoder = copy.deepcopy(init.encoder)
            if loop.startswith("plain"):
                batching = {
                    "plain": "windows",
                    "plain-trim": "trim",
                    "plain-packed": "packed",
                    "plain-replay": "replay",
                }[loop]
                if batching == "replay" and "ours" not in out:
                    raise SystemExit("bench_train_parity: plain-replay replays ours: put `ours` before it in --loops")
                losses = plain_loop(
                    encoder,
                    tensors,
                    cfg,
                    seed,
                    device,
                    batching,
                    features.window_example,
                    features,
                    lrs=ours_lrs if batching == "replay" else None,
                )
            else:
                losses = hf_trainer(encoder, tensors, cfg, seed, device, work / f"hf-s{seed}")
            model = copy.deepcopy(init)
            model.encoder = encoder
            model.to(device)
        seconds = time.perf_counter() - t0
        metrics = score(model, tok, ex_frame, eval_exs, args)
        out[loop] = {"loss": losses, "seconds": round(seconds, 1), **metrics}
        print(
            f"seed {seed} {loop:5s}: {len(losses)} steps in {seconds:.0f} s, loss@end(10) "
            f"{statistics.fmean(losses[-10:]):.3f}, EM {metrics['em']:.2f} F1 {metrics['f1']:.2f}",
            flush=True,
        )
    return out


# Report -------------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def summarize(results: dict) -> str:
    meta, seeds = results["meta"], results["seeds"]
    loops = [lp for lp in LOOPS if all(lp in s for s in seeds)]
    lines = [
        f"# parity: {meta['model']}, {meta['steps']} steps, lr {meta['lr']:g}, warm-up {meta['warmup_ratio']:g}, "
        f"batch {meta['batch_windows']} windows, max_length {meta['max_length']}/stride {meta['stride']}, "
        f"seeds {[s['seed'] for s in seeds]}, {seeds[0]['windows']} train windows, "
        f"eval {meta['eval_n']} questions ({meta['date']})",
        "",
    ]
    steps = report_steps(meta["steps"])
    lines.append("training loss, mean of the 10 steps ending at step k: mean ± sd over seeds [per seed]")
    lines.append("| loop | " + " | ".join(f"step {k}" for k in steps) + " |")
    lines.append("|---" * (len(steps) + 1) + "|")
    for lp in loops:
        cells = []
        for k in steps:
            per = [statistics.fmean(s[lp]["loss"][k - 10 : k]) for s in seeds]
            cells.append(f"{_ms(per)} [{' '.join(f'{v:.2f}' for v in per)}]")
        lines.append(f"| {lp} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| loop | EM mean ± sd | EM range | F1 mean ± sd | per seed EM | s/run |",
        "|---|---|---|---|---|---|",
    ]
    em = {lp: [s[lp]["em"] for s in seeds] for lp in loops}
    f1 = {lp: [s[lp]["f1"] for s in seeds] for lp in loops}
    for lp in loops:
        lines.append(
            f"| {lp} | {_ms(em[lp])} | {min(em[lp]):.2f}–{max(em[lp]):.2f} | {_ms(f1[lp])} | "
            f"{' '.join(f'{v:.2f}' for v in em[lp])} | {statistics.fmean(s[lp]['seconds'] for s in seeds):.0f} |"
        )
    if "ours" in loops:
        lines.append("")
        w = [s.get("ours_windows_per_step") for s in seeds if s.get("ours_windows_per_step")]
        if w:
            lines.append(
                f"ours: {statistics.fmean(w):.2f} windows per step on average "
                f"(whole examples packed, ≤ {meta['batch_windows']})"
            )
        for other in [lp for lp in loops if lp != "ours"]:
            gap = statistics.fmean(em["ours"]) - statistics.fmean(em[other])
            paired = [a - b for a, b in zip(em["ours"], em[other])]
            spread = max(statistics.stdev(em[other]) if len(seeds) > 1 else 0.0, 0.0)
            lines.append(
                f"mean EM ours − {other}: {gap:+.2f} (per seed {' '.join(f'{d:+.2f}' for d in paired)}; "
                f"{other}'s seed sd {spread:.2f})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD 1.1 dev JSON (PROTOCOL article split)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 13, 14])
    p.add_argument("--loops", nargs="+", choices=LOOPS, default=list(LOOPS[:3]))
    p.add_argument("--model", default="minilm")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--batch-windows", type=int, default=16)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument(
        "--hidden-dropout",
        type=float,
        default=None,
        help="hidden dropout of every loop (default: the model's own, 0.1); 0 leaves no random stream",
    )
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--stride", type=int, default=64)
    p.add_argument("--eval-limit", type=int, default=1000, help="first N PROTOCOL eval questions (0: all 3,634)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=None, help="write every number (JSON); re-print with --summarize")
    p.add_argument("--summarize", type=Path, nargs="+", default=None, help="print saved results and exit")
    args = p.parse_args(argv)
    if args.summarize:
        for path in args.summarize:
            print(summarize(json.loads(path.read_text())), "\n")
        return 0
    if not args.data.is_file():
        print(f"bench_train_parity: {args.data} not found (needs ../shared/data; see PROTOCOL.md); nothing measured")
        return 2
    import datetime as dt

    with tempfile.TemporaryDirectory(prefix="cqa-parity-") as tmp:
        work = Path(tmp)
        root = work / "artifacts"
        write_artifacts(root, args.data)
        ex_frame, eval_exs = eval_examples(root, args.eval_limit or None)
        meta = {
            k: getattr(args, k)
            for k in (
                "model",
                "steps",
                "lr",
                "warmup_ratio",
                "batch_windows",
                "clip",
                "max_length",
                "stride",
                "hidden_dropout",
            )
        }
        meta.update(
            eval_n=len(eval_exs), date=dt.date.today().isoformat(), loops=args.loops, command=" ".join(sys.argv)
        )
        results = {"meta": meta, "seeds": []}
        for seed in args.seeds:
            results["seeds"].append(run_seed(args, root, work, seed, ex_frame, eval_exs))
            if args.out:
                args.out.write_text(json.dumps(results))
        print()
        print(summarize(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
