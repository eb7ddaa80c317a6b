"""`cqa bundles-show`: bundle counts per kind/mode, size histogram, random bundles to eyeball.

    cqa bundles-show --root data/artifacts --dataset ropes --split train --n 20 --seed 0
    cqa bundles-show --source ../shared/data/ropes/train-v1.0.json --mode both --n 20

With `--source` the bundles are mined on the fly from a ROPES JSON file (nothing is
written); otherwise the `bundles` artifact under `--root` is read.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from pipeline import io
from pipeline.ropes_bundles import MODES, BundleConfig, check_unique_answers, ropes_bundles
from pipeline.schemas import BUNDLES

console = Console()
err = Console(stderr=True)


def bundle_summary(bundles: pl.DataFrame) -> Table:
    """Bundles, members and size histogram per (kind, mode)."""
    table = Table(title="bundles")
    for col in ("kind", "mode", "bundles", "members", "sizes (size: count)", "answer clashes"):
        table.add_column(col, justify="right" if col in ("bundles", "members", "answer clashes") else "left")
    for (kind, mode), g in bundles.group_by(["kind", "mode"], maintain_order=True):
        sizes = g.group_by("bundle_id").len()["len"].value_counts().sort("len")
        hist = ", ".join(f"{s}: {c}" for s, c in sizes.iter_rows())
        table.add_row(
            kind, mode, str(g["bundle_id"].n_unique()), str(g.height), hist, str(len(check_unique_answers(g)))
        )
    return table


def print_bundles(bundles: pl.DataFrame, n: int, seed: int) -> None:
    """N random bundles (seeded), one block each: question → answer per member."""
    ids = sorted(bundles["bundle_id"].unique().to_list())
    for bid in random.Random(seed).sample(ids, min(n, len(ids))):
        g = bundles.filter(pl.col("bundle_id") == bid)
        kind, mode = g["kind"][0], g["mode"][0]
        console.print(f"[bold]{bid}[/] ({kind}, {mode}, context {g['context_id'][0]})", highlight=False)
        for q, a, role in zip(g["question"].to_list(), g["answer"].to_list(), g["role"].to_list()):
            tag = "" if role == "original" else f" [dim]({role})[/]"
            console.print(
                f"  Q: {q}{tag}\n     → {a['text']!r} @ {a['start']}:{a['end']}", highlight=False, soft_wrap=True
            )


def mine_file(path: Path, mode: str) -> pl.DataFrame:
    """ROPES bundles mined from a file in one or both modes (nothing written)."""
    from pipeline.sources import SourceSpec, load_source

    loaded = load_source(SourceSpec(dataset="ropes", path=str(path), format="ropes", split="file"))
    modes = MODES if mode == "both" else (mode,)
    frames = []
    for m in modes:
        df, stats = ropes_bundles(loaded.examples, BundleConfig(mode=m), source=str(path))
        err.print(
            f"{m}: {stats['questions']} questions, {stats['bundles']} bundles, "
            f"{stats['questions_in_bundles']} questions in bundles, {len(stats['rejects'])} rejected",
            highlight=False,
        )
        frames.append(df)
    return pl.concat(frames, how="vertical")


def bundles_show(
    root: Annotated[Path, typer.Option("--root", help="artifact root")] = Path("data/artifacts"),
    dataset: Annotated[str | None, typer.Option("--dataset", help="dataset partition (default: all)")] = None,
    split: Annotated[str | None, typer.Option("--split", help="split partition (default: all)")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="only this kind: ropes-mined, flip, topk")] = None,
    source: Annotated[
        Path | None, typer.Option("--source", help="mine from this ROPES JSON instead of reading the artifact")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="with --source: paper, reference-code or both")] = "both",
    n: Annotated[int, typer.Option("--n", help="random bundles to print")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="seed of the random choice")] = 0,
) -> None:
    """Bundle counts per kind and mode, size histogram, and N random bundles for eyeballing."""
    from flows.cli_errors import fail

    if mode not in (*MODES, "both"):
        fail(f"--mode: got {mode!r}, expected one of {[*MODES, 'both']}")
    if source is not None:
        if not source.exists():
            fail(f"--source: file not found: {source}")
        bundles = mine_file(source, mode)
    else:
        try:
            lf = io.scan(root, BUNDLES)
        except io.ArtifactError as e:
            fail(str(e), 1)
        for col, value in (("dataset", dataset), ("split", split), ("kind", kind)):
            if value is not None:
                lf = lf.filter(pl.col(col) == value)
        bundles = lf.collect()
    if bundles.height == 0:
        err.print("no bundles match")
        raise typer.Exit(1)
    console.print(bundle_summary(bundles))
    print_bundles(bundles, n, seed)
