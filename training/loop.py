"""The training loop: AdamW, linear warm-up/decay, clipping, AMP on GPU, accumulation,
eval hook, JSONL log of every loss component, atomic resumable checkpoints.

    cqa train --config training/configs/mle.yaml --set optim.max_steps=200 [--resume]
    torchrun --nproc_per_node 4 -m flows.cli_training --config training/configs/ce_question.yaml

`train(cfg)` returns the run folder `<output_dir>/<run_name>/` holding `config.yaml`,
`train_log.jsonl`, `checkpoints/step-*/` (see `training.checkpoint`) and `model/` (final
weights, loadable with `AutoModelForQuestionAnswering.from_pretrained`).

Determinism: on CPU with a fixed seed, a run killed after any checkpoint and resumed
with `resume=True` ends with weights identical to an uninterrupted run (the sampler
position and every RNG state are restored).

Distributed (DDP): launched by `torchrun`/`accelerate` (`WORLD_SIZE`, `LOCAL_RANK` set; NCCL
on GPUs, gloo on CPU), each rank takes every `world`-th bundle batch (training.sampler) and
the model is wrapped in DDP, which averages the gradients over ranks; the gradients of
learnable loss parameters (outside the DDP model) are averaged here the same way. A step's
objective is therefore the MEAN OVER MICRO-BATCHES (ranks x grad_accum) of each micro-batch's
own loss, exactly as grad_accum alone does: a 2-rank run equals a 1-process run with
grad_accum x 2 on the same batches, including a small last batch (its windows weigh more
than those of a full one, in both). The logged loss components are that same mean (averaged
over ranks), `windows` their sum. Rank 0 writes the log, checkpoints and the final model;
a checkpoint holds every rank's RNG state and the world size (resuming on another world size
is refused). Proven on CPU with gloo by tests/training/test_ddp.py (docs/training-scale.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import Tensor, nn

from training.checkpoint import (
    CONFIG_FILE,
    CheckpointError,
    ResumePoint,
    RunFolderTaken,
    atomic_write_text,
    holds_a_run,
    load_loss_state,
    load_losses_file,
    load_train_state,
    resume_point,
    rng_state,
    save_checkpoint,
    set_rng_state,
    verify_checkpoint,
)
from training.config import (
    ConfigError,
    LossSpec,
    OptimConfig,
    TrainConfig,
    config_differences,
    load_config,
    save_config,
)
from training.data import load_examples
from training.features import Batch, Features, collate, featurize_cached
from training.model import QaModel, load_model
from training.sampler import BundleBatchSampler

LOG_FILE = "train_log.jsonl"
EvalFn = Callable[[nn.Module, int], dict[str, float]]


class TrainingInterrupted(RuntimeError):
    """Raised by the `stop_after_steps` hook (tests of resume)."""


@dataclass
class Objective:
    """The weighted sum of the configured losses."""

    specs: tuple[LossSpec, ...]
    modules: list[nn.Module]

    @property
    def needs_hidden(self) -> bool:
        return any("hidden_states" in m.inputs for m in self.modules)

    def __call__(self, merged: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        total: Tensor | None = None
        logged: dict[str, Tensor] = {}
        for spec, module in zip(self.specs, self.modules):
            out = module(**{k: merged[k] for k in module.inputs})
            term = spec.weight * out.total
            total = term if total is None else total + term
            logged[spec.name] = out.total.detach()
            for name, value in out.components.items():
                logged[f"{spec.name}.{name}"] = value.detach()
        assert total is not None
        return total, logged


class InactiveLossError(RuntimeError):
    """A weighted contrastive loss saw nothing (0 pairs / questions / examples) on every early step."""


@dataclass
class InactiveTermGuard:
    """Stops a run whose contrastive term never received its inputs (no silent no-ops).

    Watches each weighted loss that names an ``activity`` component (training.losses);
    when that count is 0 on every one of the first ``steps`` optimizer steps, raises
    `InactiveLossError` naming the loss, the count and the data settings it reads.
    """

    steps: int
    watched: dict[str, tuple[int, str]]  # logged key (`span_hinge.pairs`) -> (loss index, loss name)
    seen: int = 0
    active: set[str] = dataclasses.field(default_factory=set)

    @classmethod
    def for_config(cls, cfg: TrainConfig, total: int) -> InactiveTermGuard | None:
        """The guard for a run of `total` steps (a shorter run is checked over all its steps)."""
        from training.losses import loss_activity

        watched = {}
        for i, spec in enumerate(cfg.losses):
            component = loss_activity(spec.name)
            if component is not None and spec.weight != 0:
                watched[f"{spec.name}.{component}"] = (i, spec.name)
        if not cfg.inactive_check_steps or not watched:
            return None
        return cls(min(cfg.inactive_check_steps, total), watched)

    def update(self, row: dict[str, float]) -> None:
        if self.seen >= self.steps:
            return
        self.seen += 1
        self.active.update(key for key in self.watched if row.get(key, 0.0) > 0)
        if self.seen < self.steps:
            return
        for key, (i, name) in self.watched.items():
            if key not in self.active:
                from training.losses import loss_requirements

                needs = ", ".join(loss_requirements(name)) or "its inputs"
                raise InactiveLossError(
                    f"losses.{i} ({name}) was inactive on each of the first {self.steps} steps ({key} = 0 every step): "
                    f"it trained nothing, the run would be plain training under another name. Check that {needs} "
                    f"reach(es) the batches (e.g. mined negatives / bundles / top-k rows for these examples); "
                    f"set inactive_check_steps: null to run anyway"
                )


def build_objective(cfg: TrainConfig, model: QaModel) -> Objective:
    from training.losses import build_loss, loss_class

    modules = []
    for spec in cfg.losses:
        params = dict(spec.params)
        for arg, attr in getattr(loss_class(spec.name), "from_model", {}).items():
            if getattr(model, attr, None) is not None:
                params[arg] = getattr(model, attr)  # e.g. crf_nll: training and decoding share the model's transitions
        modules.append(build_loss(spec.name, **params))
    return Objective(cfg.losses, modules)


# Devices, precision, distribution ------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    rank: int = 0  # global rank
    local_rank: int = 0  # rank on this machine (its GPU index)
    world_size: int = 1  # number of processes

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Read `torchrun`/`accelerate` environment; start the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)  # NCCL collectives (and all_gather_object) use the current device
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), local_rank, world)


def _gather(obj, dist_: Dist) -> list:
    """`obj` of every rank, in rank order (a list of one without a process group)."""
    if dist_.world_size <= 1:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * dist_.world_size
    dist.all_gather_object(out, obj)
    return out


def pick_device(name: str, dist: Dist) -> torch.device:
    if name != "auto":
        return torch.device(name)
    return torch.device(f"cuda:{dist.local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = fp32; bf16 when the GPU supports it, else fp16 (with a grad scaler)."""
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# Optimizer and schedule -------------------------------------------------------------------


def make_optimizer(model: nn.Module, objective: Objective, opt: OptimConfig) -> torch.optim.AdamW:
    """Fused AdamW; no weight decay on biases, LayerNorm weights and loss parameters.

    Each loss that owns parameters gets its own group, at the loss's ``param_lr`` when it
    sets one (e.g. hard_learning's ``weight_lr``) and at ``optim.lr`` otherwise; the
    schedule scales every group alike.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    seen = {id(p) for p in model.parameters()}
    groups = [{"params": decay, "weight_decay": opt.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    for m in objective.modules:
        own = [p for p in m.parameters() if id(p) not in seen and p.requires_grad]
        seen.update(id(p) for p in own)
        if own:
            lr = getattr(m, "param_lr", None)
            groups.append({"params": own, "weight_decay": 0.0, "lr": opt.lr if lr is None else float(lr)})
    return torch.optim.AdamW(groups, lr=opt.lr, betas=opt.betas, eps=opt.eps, fused=True)  # fused: ~8x faster on CPU


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Step k (0-based) uses lr * (k+1)/warmup while warming up, then decays linearly towards 0:
    the peak is reached on the last warm-up step and no step is wasted at lr 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / (total - warmup + 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    if cfg.optim.max_steps is not None:
        return cfg.optim.max_steps
    return max(1, math.ceil(cfg.optim.epochs * batches_per_epoch / cfg.optim.grad_accum))


# One step ------------------------------------------------------------------------------------


def forward_loss(model: nn.Module, objective: Objective, batch: Batch, device: torch.device, dtype: torch.dtype | None):
    """Model forward + weighted objective on one micro-batch (outputs cast to fp32 for the losses)."""
    t = {k: v.to(device, non_blocking=True) for k, v in batch.tensors.items()}
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with autocast:
        out = model(t["input_ids"], t["attention_mask"], t.get("token_type_ids"), need_hidden=objective.needs_hidden)
    out = {k: v.float() for k, v in out.items()}
    return objective({**t, **out})


@dataclass
class Trainer:
    """Everything a step touches; `step()` runs grad_accum micro-batches and one optimizer update."""

    cfg: TrainConfig
    model: nn.Module
    objective: Objective
    features: Features
    sampler: BundleBatchSampler
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    device: torch.device
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None = None
    inactive: InactiveTermGuard | None = None  # stops the run when a contrastive term never saw its inputs
    dist: Dist = Dist()

    def _average_loss_grads(self) -> None:
        """All-reduce (mean) the gradients of loss parameters, which DDP (wrapping only the model) does not see."""
        if self.dist.world_size <= 1:
            return
        import torch.distributed as dist

        for m in self.objective.modules:
            for p in m.parameters():
                if p.requires_grad:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    dist.all_reduce(p.grad)
                    p.grad /= self.dist.world_size

    def step(self) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        windows = 0
        accum = self.cfg.optim.grad_accum
        for _ in range(accum):
            batch = collate(self.features, self.sampler.next_batch())
            total, logged = forward_loss(self.model, self.objective, batch, self.device, self.dtype)
            scaled = total / accum
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            windows += batch.n_windows
            for k, v in {"loss": total.detach(), **logged}.items():
                sums[k] = sums.get(k, 0.0) + float(v) / accum
        self._average_loss_grads()
        if (
            self.dist.world_size > 1
        ):  # log the step's objective (mean over every rank's micro-batches), not rank 0's share
            every = _gather((sums, windows), self.dist)
            sums = {k: sum(s.get(k, 0.0) for s, _ in every) / len(every) for k in sums}
            windows = sum(w for _, w in every)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip if self.cfg.optim.clip else float("inf"))
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        if self.inactive is not None:
            self.inactive.update(sums)
        return {**sums, "lr": lr, "grad_norm": float(norm), "windows": windows}

    def state(self) -> dict:
        """The train state; collective under DDP (every rank's RNG state is gathered), so every rank calls it."""
        rng = rng_state()
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "sampler": self.sampler.state_dict(),
            "rng": rng,
            "world_size": self.dist.world_size,
            "rng_ranks": _gather(rng, self.dist),
        }

    def load_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        saved_world = int(state.get("world_size", 1))
        if saved_world != self.dist.world_size:
            raise CheckpointError(
                f"--resume: the checkpoint was written by a run of {saved_world} process(es), this one has "
                f"{self.dist.world_size}: each rank's batches and RNG stream depend on it; resume with "
                f"--nproc_per_node {saved_world}"
            )
        set_rng_state(state["rng_ranks"][self.dist.rank] if "rng_ranks" in state else state["rng"])


# Eval hook ---------------------------------------------------------------------------------


def dev_loss_fn(cfg: TrainConfig, tokenizer, objective: Objective, device: torch.device, dtype) -> EvalFn:
    """Default eval hook: the weighted objective averaged over the `data.eval_split` windows."""
    examples = load_examples(cfg.data, split=cfg.data.eval_split, max_topk=cfg.features.max_topk)
    features, _ = featurize_cached(
        tokenizer, examples, cfg.features, cfg.data.root, label=f"{cfg.data.dataset}/{cfg.data.eval_split}"
    )
    sampler = BundleBatchSampler(features, cfg.optim.batch_windows, cfg.seed, shuffle=False)

    def evaluate(model: nn.Module, step: int) -> dict[str, float]:
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for ids in sampler.epoch_batches(0):
                batch = collate(features, ids)
                loss, _ = forward_loss(model, objective, batch, device, dtype)
                total += float(loss) * batch.n_windows
                n += batch.n_windows
        model.train()
        return {"dev_loss": total / max(n, 1)}

    return evaluate


# The run ------------------------------------------------------------------------------------


def _progress(total: int, done: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeRemainingColumn(),
        disable=not sys.stdout.isatty(),
    )
    task = bar.add_task("train", total=total, completed=done, loss="")
    return bar, task


def _log(fh, row: dict) -> None:
    fh.write(json.dumps(row, sort_keys=False) + "\n")
    fh.flush()


RUN_LOCATION = ("output_dir", "run_name")  # where the run lives: a moved or renamed run folder still resumes


def _resume_point(cfg: TrainConfig) -> tuple[ResumePoint, dict]:
    """The newest complete checkpoint and its train state, checked before any model is loaded:
    the config must be the one it was trained with and every file must open.

    The state is read to the CPU: the optimizer moves its tensors to the parameters' device
    on load, and the RNG states must stay CPU byte tensors.
    """
    point = resume_point(cfg.run_dir)
    for line in point.skipped:
        print(f"warning: {line}; resuming from {point.folder.name}", file=sys.stderr)
    saved = point.folder / CONFIG_FILE
    try:
        before = load_config(saved, validate=False)
    except (ValueError, yaml.YAMLError) as e:  # ConfigError, a YAML syntax error, bytes that are not UTF-8
        raise CheckpointError(
            f"{saved}: cannot be read as a run config ({e}); it is corrupt. Move {point.folder} away to "
            f"resume from an older checkpoint, or start afresh without --resume"
        ) from None
    changed = [k for k in config_differences(before, cfg) if k not in RUN_LOCATION]
    if changed:
        raise ConfigError(
            f"--resume: the config differs from the one of {point.folder} in {changed}; "
            f"resume with the same config, or start a new run (another run_name) with the new one"
        )
    verify_checkpoint(point.folder)
    return point, load_train_state(point.folder)


def _fresh_start(run_dir: Path) -> None:
    """Refuse to start over a run folder that holds a run (its checkpoints would be overwritten, its log mixed)."""
    held = holds_a_run(run_dir)
    if held is not None:
        raise RunFolderTaken(
            f"{run_dir} already holds a run ({held}): pass --resume to continue it, or set another "
            f"run_name / output_dir (or move the folder away) to start afresh"
        )


def truncate_log(path: Path, step: int) -> None:
    """Keep the log rows of steps <= `step` (atomically): a resumed run re-logs the steps after its checkpoint.

    A torn last line (a kill mid-write) is dropped with the rows after the checkpoint.
    """
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))  # the checkpoint writer's own temp-file + fsync + rename


def train(
    cfg: TrainConfig, *, resume: bool = False, eval_fn: EvalFn | None = None, stop_after_steps: int | None = None
) -> Path:
    """Train as configured; returns the run folder. `cfg` must already be validated (`load_config`)."""
    dist = init_distributed()
    device = pick_device(cfg.device, dist)
    dtype = amp_dtype(cfg.precision, device)
    run_dir = cfg.run_dir
    previous, state = _resume_point(cfg) if resume else (_fresh_start(run_dir), None)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_model(cfg.model, device=device, seed=cfg.seed)
    if cfg.init_from:
        model.load_weights(cfg.init_from)
    features, _ = featurize_cached(
        tokenizer,
        load_examples(cfg.data, max_topk=cfg.features.max_topk),
        cfg.features,
        cfg.data.root,
        label=f"{cfg.data.dataset}/{cfg.data.split}",
    )  # windows cached under data.root
    sampler = BundleBatchSampler(
        features, cfg.optim.batch_windows, cfg.seed, rank=dist.rank, world_size=dist.world_size
    )
    objective = build_objective(cfg, model)
    for m in objective.modules:
        m.to(device)
    steps = total_steps(cfg, len(sampler))
    optimizer = make_optimizer(model, objective, cfg.optim)
    scheduler = linear_schedule(optimizer, int(cfg.optim.warmup_ratio * steps), steps)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    if previous is not None:
        model.load_weights(previous.folder)
        load_loss_state(objective.modules, load_losses_file(previous.folder))
    wrapped: nn.Module = model
    if dist.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    trainer = Trainer(
        cfg, wrapped, objective, features, sampler, optimizer, scheduler, device, dtype, scaler, dist=dist
    )
    start = 0
    if state is not None:
        trainer.load_state(state)  # optimizer, schedule, sampler position, RNG
        start = int(state["step"])
    if start == 0:
        trainer.inactive = InactiveTermGuard.for_config(cfg, steps)
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        truncate_log(run_dir / LOG_FILE, start)  # rows after the resumed checkpoint (or of an earlier fresh start) go
    if eval_fn is None and cfg.data.eval_split is not None:
        eval_fn = dev_loss_fn(cfg, tokenizer, objective, device, dtype)
    _run_steps(trainer, model, tokenizer, start, steps, run_dir, dist, eval_fn, stop_after_steps)
    if dist.main:
        model.save(run_dir / "model", tokenizer)
        save_config(cfg, run_dir / "model" / "config.yaml")
    return run_dir


def _run_steps(
    trainer: Trainer,
    model: QaModel,
    tokenizer,
    start: int,
    steps: int,
    run_dir: Path,
    dist: Dist,
    eval_fn: EvalFn | None,
    stop_after_steps: int | None,
) -> None:
    cfg = trainer.cfg
    bar, task = _progress(steps, start)
    log = open(run_dir / LOG_FILE, "a", encoding="utf-8") if dist.main else None
    try:
        with bar:
            for step in range(start + 1, steps + 1):
                began = time.perf_counter()
                row = trainer.step()
                row = {
                    "step": step,
                    "epoch": trainer.sampler.state.epoch,
                    **row,
                    "seconds": round(time.perf_counter() - began, 4),
                }
                if not math.isfinite(row["loss"]):
                    raise FloatingPointError(f"step {step}: loss is {row['loss']} ({row})")
                if log and (step % cfg.log_every == 0 or step == steps):
                    _log(log, row)
                bar.update(task, completed=step, loss=f"loss {row['loss']:.4f}")
                if eval_fn is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == steps):
                    if log:
                        _log(log, {"step": step, "event": "eval", **eval_fn(model, step)})
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == steps:
                    state = trainer.state()  # every rank: it gathers the ranks' RNG states
                    if dist.main:
                        save_checkpoint(
                            run_dir,
                            step,
                            model=model,
                            tokenizer=tokenizer,
                            losses=trainer.objective.modules,
                            train_state=state,
                            cfg=cfg,
                            keep=cfg.keep_checkpoints,
                        )
                if stop_after_steps is not None and step >= stop_after_steps and step < steps:
                    raise TrainingInterrupted(f"stopped after step {step} (stop_after_steps hook)")
    finally:
        if log:
            log.close()
