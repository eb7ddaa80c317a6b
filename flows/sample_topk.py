"""`sample-topk` flow: a checkpoint's k best distinct spans per question → the `topk` artifact.

    cqa sample-topk runs/baseline --dataset squad11 --split train --k 20 --mode plain
    python -m flows.sample_topk runs/baseline --dataset squad11 --split train --k 2 --mode diverse

Reads the `examples` + `contexts` partition `dataset/split` under `root`, decodes every
question with the checkpoint (`training.topk.sample_topk`) and writes
`topk/dataset=<dataset>/split=<split>/model=<run id>/`. The partition is skipped when it was
written from the same examples, weights and settings (the user never waits twice).
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from pipeline import io, schemas


def _weights_fingerprint(ref: str) -> str:
    """sha256 of the weights file (aliases: the alias name; their head is seeded)."""
    from training.config import MINILM_ALIAS, TINY_ALIAS
    from training.inference import checkpoint_folder
    from training.model import ENCODER_FILE

    if ref in (TINY_ALIAS, MINILM_ALIAS):
        return f"alias:{ref}"
    return io.file_sha256(checkpoint_folder(ref) / ENCODER_FILE)


def _examples_fingerprint(root: str, part: dict[str, str]) -> str:
    entries = [io.partition_entry(root, spec, part) for spec in (schemas.EXAMPLES, schemas.CONTEXTS)]
    if any(e is None for e in entries):
        raise FileNotFoundError(
            f"sample-topk: artifact root {root} has no examples/contexts partition "
            f"dataset={part['dataset']}/split={part['split']} (run `cqa build-index` first)"
        )
    return io.fingerprint([e.get("inputs_fingerprint", e.get("created_at")) for e in entries])


@task(name="write-topk")
def write_topk(
    checkpoint: str,
    root: str,
    dataset: str,
    split: str,
    k: int,
    mode: str,
    batch_windows: int,
    force_gold: bool,
    device: str,
    force: bool,
) -> str:
    """Decode one partition and write its `topk` partition; returns the partition folder."""
    from training.inference import InferenceConfig, load_checkpoint
    from training.topk import sample_topk

    logger = get_run_logger()
    part = {"dataset": dataset, "split": split}
    loaded = load_checkpoint(checkpoint, device=device)
    out_part = {**part, "model": loaded.run_id}
    f = loaded.features  # the checkpoint's windowing: in the manifest config and the inference settings
    windows = {"max_length": f.max_length, "stride": f.stride, "max_answer_len": f.max_answer_len}
    config = {"k": k, "mode": mode, "force_gold": force_gold, **windows}
    inputs = {"examples": _examples_fingerprint(root, part), "weights": _weights_fingerprint(checkpoint)}
    if not force and io.is_up_to_date(root, schemas.TOPK, out_part, io.inputs_fingerprint(inputs, config)):
        logger.info("topk %s is up to date: skipped", io.partition_key(schemas.TOPK, out_part))
        return str(io.partition_dir(root, schemas.TOPK, out_part))
    t0 = time.perf_counter()
    cfg = InferenceConfig(batch_windows=batch_windows, **windows)
    contexts = io.read(root, schemas.CONTEXTS, part)
    frame = sample_topk(
        loaded.model,
        loaded.tokenizer,
        io.read(root, schemas.EXAMPLES, part).drop("dataset", "split"),
        contexts,
        k,
        mode,
        cfg,
        force_gold,
        feature_cache=root,
    )
    seconds = time.perf_counter() - t0
    io.check_spans(schemas.TOPK, frame, contexts, io.partition_key(schemas.TOPK, out_part))  # every span reads its text
    path = io.write_partition(
        root,
        schemas.TOPK,
        frame,
        out_part,
        config=config,
        inputs=inputs,
        timings={"sample_topk": seconds},
        extra={"checkpoint": loaded.source},
    )
    logger.info("wrote %d topk rows to %s in %.1f s", frame.height, path, seconds)
    return str(path)


def check_arguments(checkpoint: str, root: str, k: int, mode: str) -> None:
    """Bad k / mode / checkpoint / root fail here, before any work."""
    from training.inference import checkpoint_folder
    from training.topk import pool_size

    pool_size(k, mode)
    if checkpoint not in ("tiny", "minilm"):
        checkpoint_folder(checkpoint)
    if not Path(root).is_dir():
        raise FileNotFoundError(f"sample-topk: artifact root {root!r} does not exist")


@flow(name="sample-topk")
def sample_topk_flow(
    checkpoint: str,
    root: str = "data/artifacts",
    dataset: str = "squad11",
    split: str = "train",
    k: int = 20,
    mode: str = "plain",
    batch_windows: int = 16,
    force_gold: bool = False,
    device: str = "cpu",
    force: bool = False,
) -> str:
    """Write the checkpoint's top-k spans of `dataset/split`; returns the `topk` partition folder."""
    from flows.progress import ensure_reporting

    ensure_reporting()  # forward passes as a Prefect progress artifact (and a bar on a terminal)
    check_arguments(checkpoint, root, k, mode)
    return write_topk(checkpoint, root, dataset, split, k, mode, batch_windows, force_gold, device, force)


if __name__ == "__main__":
    import typer

    from flows.cli_eval import sample_topk_command

    typer.run(sample_topk_command)
