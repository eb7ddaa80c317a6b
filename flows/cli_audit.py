"""`cqa audit`: write the static audit site of an artifact root (HTML + PNG, no server).

    cqa audit --root data/artifacts --out data/artifacts/audit --n 30 --seed 0
    cqa audit --dataset squad11 --n 10          # one dataset only; then open <out>/index.html

The pages and what they show are described in `pipeline/audit.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli_errors import fail
from pipeline import io

console = Console()


def audit(
    root: Annotated[Path, typer.Option("--root", help="artifact root")] = Path("data/artifacts"),
    out: Annotated[Path | None, typer.Option("--out", help="folder of the site (default: <root>/audit)")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="only this dataset (default: all)")] = None,
    n: Annotated[int, typer.Option("--n", help="random samples per page")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="seed of the random samples")] = 0,
) -> None:
    """Static HTML pages of every artifact, miner samples with highlighted spans, top-k and evaluation runs."""
    from pipeline.audit import build_site

    try:
        site = build_site(root, out, dataset=dataset, n=n, seed=seed)
    except (io.ArtifactError, ValueError) as e:
        fail(str(e), 2 if isinstance(e, ValueError) else 1)
    console.print(f"audit: {len(site.pages)} pages, {len(site.images)} plots in {site.seconds:.1f} s", highlight=False)
    console.print(f"open {site.index.resolve().as_uri()}", highlight=False, soft_wrap=True)
