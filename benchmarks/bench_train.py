"""Step time of the training loop: MLE vs a plain Hugging Face-style loop, each loss vs MLE.

    OMP_NUM_THREADS=1 python -m benchmarks.bench_train --quick          # tiny model only, few steps
    python -m benchmarks.bench_train                                    # tiny + packaged MiniLM, CPU
    python -m benchmarks.bench_train --models minilm --device cuda      # on a GPU

Every variant trains on the SAME sequence of batches (same windows, same length:
sliding windows 384 / stride 128 over synthetic ~3,000-char contexts, 2-3 windows each with golds, near-miss
negatives, 2x2 bundles and top-k candidates), from the same initial weights, with the same
fused AdamW. Each comparison is timed alternately, step by step, so load from other
processes hits both sides alike. Reported: median seconds per optimizer step and the ratios

- `ours/plain`: our `Trainer.step` with `mle` (collate, objective, clipping, schedule,
  logging) vs `model(**batch, start_positions=..., end_positions=...).loss.backward();
  opt.step()` — target <= 1.05;
- `<loss>/mle`: `mle` + that loss (weights as in the method configs) vs `mle` alone at
  the same windows — target <= 1.25 (aa_cl and crf_nll also pay for their extra work:
  candidate search / hidden states, and the CRF forward algorithm).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from training.config import FeatureConfig, LossSpec, ModelConfig, OptimConfig, TrainConfig
from training.data import TrainExample
from training.features import collate, featurize
from training.loop import Objective, Trainer, amp_dtype, build_objective, linear_schedule, make_optimizer
from training.model import load_model
from training.sampler import BundleBatchSampler

LOSS_VARIANTS: dict[str, list[tuple[str, float, dict]]] = {
    "mle": [("mle", 1.0, {})],
    "span_hinge": [("mle", 1.0, {}), ("span_hinge", 0.1, {})],
    "unlikelihood": [("mle", 1.0, {}), ("unlikelihood", 1.0, {})],
    "ce_answer": [("mle", 1.0, {}), ("ce_answer", 1.0, {})],
    "ce_question": [("mle", 1.0, {}), ("ce_question", 1.0, {})],
    "ce_two_way": [("mle", 1.0, {}), ("ce_two_way", 1.0, {})],
    "ce_full": [("mle", 1.0, {}), ("ce_full", 1.0, {})],
    "ce_joint": [("mle", 1.0, {}), ("ce_joint", 1.0, {})],
    "robust_tagging": [("robust_tagging", 1.0, {})],
    "crf_nll": [("mle", 1.0, {}), ("crf_nll", 1.0, {})],
    "hard_learning": [("hard_learning", 1.0, {})],
    "aa_cl": [("hard_learning", 0.5, {}), ("aa_cl", 0.5, {})],
}
WORDS = "the river city council built a bridge school market harbour museum library station".split()


def synthetic_examples(n_bundles: int, chars: int = 3000) -> list[TrainExample]:
    """2x2 bundles over long contexts, with negatives and top-k spans (no artifacts needed)."""
    out = []
    for b in range(n_bundles):
        names = [f"Person{b}x{i}" for i in range(4)]
        filler = " ".join(WORDS[(b + i) % len(WORDS)] for i in range(chars // 6))
        context = (
            f"{names[0]} met {names[1]} in {1900 + b}. "
            + filler
            + f" Later {names[2]} and {names[3]} left in {2000 - b}."
        )
        spans = [(context.index(n), context.index(n) + len(n)) for n in names]
        answers = (spans[0], spans[2])
        for q in range(2):
            gold = answers[q]
            topk = (gold, spans[1], spans[3])
            out.append(
                TrainExample(
                    f"b{b}q{q}",
                    context,
                    f"Who was mentioned {'first' if q == 0 else 'later'} in story {b}?",
                    (gold,),
                    negatives=(spans[1], spans[3]),
                    bundle_id=f"b{b}",
                    bundle_answers=answers,
                    bundle_gold=q,
                    bundle_question=q,
                    topk=topk,
                    topk_is_gold=(True, False, False),
                )
            )
    return out


def _timed(step) -> float:
    t = time.perf_counter()
    step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t


def time_pair(step_a, step_b, steps: int, warmup: int) -> tuple[float, float]:
    """Median seconds per step of two variants, timed alternately (fair under a shared, noisy CPU)."""
    for _ in range(warmup):
        step_a()
        step_b()
    a, b = [], []
    for _ in range(steps):
        a.append(_timed(step_a))
        b.append(_timed(step_b))
    return statistics.median(a), statistics.median(b)


def bench_model(
    name: str, device: str, steps: int, warmup: int, batch_windows: int, losses: list[str]
) -> dict[str, float]:
    dev = torch.device(device)
    dtype = amp_dtype("auto", dev)
    features_cfg = FeatureConfig(max_length=384, stride=128, max_topk=3)
    base, tok = load_model(ModelConfig(name=name), device=dev, seed=0)
    base_crf, _ = load_model(ModelConfig(name=name, crf_head=True), device=dev, seed=0)  # same encoder init + CRF head
    feats = featurize(tok, synthetic_examples(24), features_cfg)
    batches = BundleBatchSampler(feats, batch_windows, seed=0).epoch_batches(0)
    print(f"[{name}] {feats.n_windows} windows, {len(batches)} batches of <= {batch_windows} windows, device {device}")
    results: dict[str, float] = {}

    def trainer_for(variant: list[tuple[str, float, dict]]) -> Trainer:
        model = copy.deepcopy(base_crf if any(n == "crf_nll" for n, _, _ in variant) else base)
        specs = tuple(
            LossSpec(name=n, weight=w, params={**p, **({"num_slots": 3} if n == "hard_learning" else {})})
            for n, w, p in variant
        )
        cfg = TrainConfig(
            losses=specs, features=features_cfg, optim=OptimConfig(batch_windows=batch_windows, max_steps=1000)
        )
        objective: Objective = build_objective(cfg, model)
        for m in objective.modules:
            m.to(dev)
        opt = make_optimizer(model, objective, cfg.optim)
        sampler = BundleBatchSampler(feats, batch_windows, seed=0)
        return Trainer(cfg, model, objective, feats, sampler, opt, linear_schedule(opt, 10, 1000), dev, dtype)

    plain_model = copy.deepcopy(base).encoder
    plain_opt = torch.optim.AdamW(plain_model.parameters(), lr=3e-5, fused=True)
    plain_sampler = BundleBatchSampler(feats, batch_windows, seed=0)

    def plain_step() -> None:
        t = {k: v.to(dev) for k, v in collate(feats, plain_sampler.next_batch()).tensors.items()}
        ctx = torch.autocast(dev.type, dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)
        with ctx:
            out = plain_model(
                input_ids=t["input_ids"],
                attention_mask=t["attention_mask"],
                token_type_ids=t.get("token_type_ids"),
                start_positions=t["start_positions"],
                end_positions=t["end_positions"],
            )
        out.loss.backward()
        plain_opt.step()
        plain_opt.zero_grad(set_to_none=True)

    mle = trainer_for(LOSS_VARIANTS["mle"])
    results["plain"], results["mle"] = time_pair(plain_step, mle.step, steps, warmup)
    print(f"  plain {results['plain']:.4f}  mle {results['mle']:.4f}", flush=True)
    for loss in [x for x in losses if x != "mle"]:
        reference, results[loss] = time_pair(mle.step, trainer_for(LOSS_VARIANTS[loss]).step, steps, warmup)
        results[f"{loss}:mle"] = reference
        print(f"  {loss} {results[loss]:.4f}  mle {reference:.4f}", flush=True)
    return results


def report(name: str, r: dict[str, float]) -> None:
    print(
        f"\n{name}: median s/step   plain HF loop {r['plain']:.4f}   ours (mle) {r['mle']:.4f}   "
        f"ours/plain {r['mle'] / r['plain']:.3f}  (target <= 1.05)"
    )
    for loss, t in r.items():
        if loss not in ("plain", "mle") and ":" not in loss:
            ratio = t / r[f"{loss}:mle"]
            flag = "" if ratio <= 1.25 else "   > 1.25"
            print(f"  {loss:15s} {t:.4f} s/step (mle alongside {r[f'{loss}:mle']:.4f})   {loss}/mle {ratio:.3f}{flag}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny model only, 3 timed steps")
    p.add_argument("--models", nargs="+", default=None, help="tiny and/or minilm (default both; --quick: tiny)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    p.add_argument("--batch-windows", type=int, default=8)
    p.add_argument("--losses", nargs="+", default=list(LOSS_VARIANTS))
    args = p.parse_args()
    models = args.models or (["tiny"] if args.quick else ["tiny", "minilm"])
    steps = args.steps or (3 if args.quick else 10)
    for name in models:
        report(
            name,
            bench_model(
                name,
                args.device,
                steps,
                warmup=1 if args.quick else 2,
                batch_windows=args.batch_windows,
                losses=args.losses,
            ),
        )


if __name__ == "__main__":
    main()
