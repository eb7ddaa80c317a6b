"""The audit site: static HTML pages that show what a build mined, to eyeball before training.

    cqa audit --root data/artifacts --out data/artifacts/audit --n 30 --seed 0
    python -c "from pipeline.audit import build_site; print(build_site('data/artifacts', '/tmp/audit'))"

Pages (plain files, no server, open `index.html` from the file system):
- `index.html`: every artifact and partition with rows, schema version (found vs this code),
  created-at, inputs and config from the manifest; rejects by stage and reason with examples;
- `near_miss.html`, `bundles.html`, `flips.html`, `synthetic.html`: stats, histogram PNGs
  under `img/`, and N seeded random samples with the gold span, negatives, bundle members'
  answers, a flip beside its parent and the inserted synthetic sentence highlighted;
- `topk-<dataset>-<split>-<model>.html`: a question with its k spans and scores;
- `eval-<eval_set>-<run>.html`: metrics and a sample of errors (prediction vs gold) per slice,
  golds read from the evaluation report's `inputs/` root under `<root>/reports/evaluate-*/`.

Rendering: Jinja2 templates in `pipeline/templates/audit/` with autoescape on, so a context
holding `<script>` or `&` renders as text. Highlights are `<mark class="hl hl-<kind>" data-kind=…>`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import io
from pipeline.audit_samples import (
    bundles_page,
    context_texts,
    flips_page,
    frame,
    near_miss_page,
    questions,
    seeded_sample,
    synthetic_page,
)
from pipeline.highlight import Mark, segments
from pipeline.schemas import ARTIFACTS, CONTEXTS, EXAMPLES, METRICS, PREDICTIONS, REJECTS, TOPK

TEMPLATES = Path(__file__).parent / "templates" / "audit"
MINER_PAGES: dict[str, Callable[..., dict[str, Any] | None]] = {
    "near_miss": near_miss_page,
    "bundles": bundles_page,
    "flips": flips_page,
    "synthetic": synthetic_page,
}
EVAL_SPLIT = "eval"  # split of the prepared evaluation sets (flows.evaluate.SET_SPLIT)


@dataclass
class AuditSite:
    out: Path
    pages: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def environment():
    """The Jinja2 environment: templates from the package, autoescape on for every page."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_short"] = lambda v, n=300: _short_json(v, n)
    return env


def _short_json(value: Any, n: int) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= n else text[: n - 1] + "…"


def slug(*parts: str) -> str:
    """A file-name-safe page name from partition values."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


# index -----------------------------------------------------------------------------


def artifact_rows(root: str | Path, dataset: str | None) -> list[dict[str, Any]]:
    """One row per (artifact, partition) from the manifests."""
    rows = []
    for spec in ARTIFACTS.values():
        man = io.read_manifest(root, spec)
        for part in io.partitions(root, spec):
            if dataset is not None and "dataset" in part and part["dataset"] != dataset:
                continue
            e = man["partitions"][io.partition_key(spec, part)]
            writers = e.get("writers") or e.get("kinds") or {}
            inputs = e.get("inputs") or {w: v.get("inputs") for w, v in writers.items() if v.get("inputs")}
            rows.append(
                {
                    "artifact": spec.name,
                    "partition": io.partition_key(spec, part),
                    "rows": e.get("rows"),
                    "version": e.get("schema_version"),
                    "code_version": spec.version,
                    "created_at": e.get("created_at", ""),
                    "inputs": inputs,
                    "writers": sorted(writers),
                    "config": e.get("config", {}),
                    "source_file": e.get("source_file", ""),
                }
            )
    return rows


def rejects_summary(root: str | Path, dataset: str | None, examples: int = 3) -> list[dict[str, Any]]:
    """Rejects by dataset, split, stage and reason, each with up to `examples` records."""
    df = frame(root, REJECTS, dataset)
    if df is None or df.height == 0:
        return []
    out = []
    keys = ["dataset", "split", "stage", "reason"]
    for key, g in sorted(df.group_by(keys), key=lambda t: t[0]):
        out.append(
            {
                **dict(zip(keys, key)),
                "count": g.height,
                "examples": g.sort("record_id")
                .head(examples)
                .select("record_id", "field", "detail", "source_file")
                .to_dicts(),
            }
        )
    return out


# topk ------------------------------------------------------------------------------


def topk_page(root: str | Path, part: dict[str, str], n: int, seed: int) -> dict[str, Any]:
    df = io.read(root, TOPK, part)
    ids = df.select("example_id", "context_id").unique()
    picked = seeded_sample(ids, n, seed, ["example_id"])
    key = (part["dataset"], part["split"])
    qs = questions(root, [(*key, e) for e in picked["example_id"]]) if io.partitions(root, EXAMPLES) else {}
    texts = context_texts(root, [(*key, c) for c in picked["context_id"]]) if io.partitions(root, CONTEXTS) else {}
    samples = []
    for eid, cid in picked.iter_rows():
        spans = df.filter(pl.col("example_id") == eid).sort("rank").to_dicts()
        q = qs.get((*key, eid), {})
        text = texts.get((*key, cid))
        segs = None
        if text is not None:
            marks = [Mark(a["start"], a["end"], "gold", "gold") for a in q.get("answers", [])]
            marks.append(Mark(spans[0]["span"]["start"], spans[0]["span"]["end"], "pred", "rank 0"))
            segs = segments(text, marks)
        samples.append(
            {
                "example_id": eid,
                "question": q.get("question"),
                "answers": q.get("answers", []),
                "spans": spans,
                "segments": segs,
            }
        )
    stats = {
        "questions": ids.height,
        "rows": df.height,
        "gold_at_0": round(float(df.filter(pl.col("rank") == 0)["is_gold"].mean() or 0), 4),
        "gold_in_k": round(float(df.group_by("example_id").agg(pl.col("is_gold").any())["is_gold"].mean() or 0), 4),
    }
    return {"part": part, "stats": stats, "samples": samples}


# evaluation runs -------------------------------------------------------------------


def eval_inputs_root(root: str | Path, eval_set: str) -> Path | None:
    """The newest `<root>/reports/evaluate-*/inputs` holding the prepared examples of `eval_set`."""
    for d in sorted((Path(root) / "reports").glob("evaluate-*/inputs"), reverse=True):
        if io.partition_files(d, EXAMPLES, {"dataset": eval_set, "split": EVAL_SPLIT}):
            return d
    return None


def eval_slices(inputs: Path, eval_set: str) -> dict[str, set[str] | None]:
    """Slice name -> example ids (None = all): `all`, plus `near_miss` where the evaluation wrote it."""
    out: dict[str, set[str] | None] = {"all": None}
    f = inputs / f"near-miss-slice-{eval_set}.parquet"
    if f.exists():
        out["near_miss"] = set(pl.read_parquet(f).filter(pl.col("in_slice"))["example_id"].to_list())
    return out


def eval_page(root: str | Path, part: dict[str, str], n: int, seed: int) -> dict[str, Any]:
    preds = io.read(root, PREDICTIONS, part)
    metrics = []
    if io.partitions(root, METRICS):
        m = io.scan(root, METRICS).filter((pl.col("eval_set") == part["eval_set"]) & (pl.col("run") == part["run"]))
        metrics = m.sort("slice", "metric").collect().to_dicts()
    inputs = eval_inputs_root(root, part["eval_set"])
    result = {
        "part": part,
        "metrics": metrics,
        "inputs": str(inputs) if inputs else None,
        "slices": [],
        "n_predictions": preds.height,
        "em": round(float(preds["em"].mean() or 0) * 100, 2),
    }
    if inputs is None:
        return result
    ipart = {"dataset": part["eval_set"], "split": EVAL_SPLIT}
    ex = io.read(inputs, EXAMPLES, ipart).select("example_id", "context_id", "question", "answers")
    ctx = io.read(inputs, CONTEXTS, ipart).select("context_id", "context")
    joined = preds.join(ex, on="example_id", how="left")
    errors = joined.filter(pl.col("em") < 1.0)
    texts = dict(ctx.iter_rows())
    for name, ids in eval_slices(inputs, part["eval_set"]).items():
        pool = errors if ids is None else errors.filter(pl.col("example_id").is_in(sorted(ids)))
        size = joined.height if ids is None else len(ids)
        samples = []
        for r in seeded_sample(pool, n, seed, ["example_id"]).iter_rows(named=True):
            text = texts.get(r["context_id"])
            segs = None
            if text is not None:
                marks = [Mark(a["start"], a["end"], "gold", "gold") for a in r["answers"] or []]
                if r["start"] is not None and r["end"] is not None:
                    marks.append(Mark(r["start"], r["end"], "pred", "prediction"))
                segs = segments(text, marks)
            samples.append({**r, "segments": segs})
        result["slices"].append({"name": name, "questions": size, "errors": pool.height, "samples": samples})
    return result


# plots -----------------------------------------------------------------------------


def _per_partition(stats: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {f"{s['dataset']}/{s['split']}": s[key] for s in stats}


# miner page -> (file, title, x label, its stats rows -> {legend label: (value, count) pairs})
MINER_PLOTS: dict[str, tuple[str, str, str, Callable[[list[dict[str, Any]]], dict[str, Any]]]] = {
    "near_miss": (
        "near_miss_negatives.png",
        "negatives per example",
        "negatives",
        lambda stats: _per_partition(stats, "histogram"),
    ),
    "bundles": (
        "bundle_sizes.png",
        "bundle size per kind and mode",
        "members per bundle",
        lambda stats: {f"{s['kind']}/{s['mode']}": s["histogram"] for s in stats},
    ),
    "flips": ("flip_rules.png", "flips per rule", "rule", lambda stats: _per_partition(stats, "rules")),
    "synthetic": (
        "synthetic_rules.png",
        "synthetic sentences per rule",
        "rule",
        lambda stats: {k: [(rule, c) for rule, c, _ in v] for k, v in _per_partition(stats, "rules").items()},
    ),
}


def miner_plots(name: str, data: dict[str, Any], img: Path) -> list[dict[str, str]]:
    """The histogram PNG of one miner page (`MINER_PLOTS`); returns [{file, title}] relative to the site."""
    from pipeline.audit_plots import histogram_png

    if name not in MINER_PLOTS:
        return []
    file, title, xlabel, groups_of = MINER_PLOTS[name]
    groups = {k: v for k, v in groups_of(data["stats"]).items() if v}
    if not groups:
        return []
    histogram_png(groups, img / file, title, xlabel)
    return [{"file": f"img/{file}", "title": title}]


# the site --------------------------------------------------------------------------


def build_site(
    root: str | Path, out: str | Path | None = None, dataset: str | None = None, n: int = 30, seed: int = 0
) -> AuditSite:
    """Write the audit site of `root` into `out` (default `<root>/audit`); returns its pages."""
    t0 = time.perf_counter()
    root = Path(root)
    if not root.is_dir():
        raise io.ArtifactError(f"audit: artifact root {root} does not exist")
    if n < 1:
        raise ValueError(f"audit: --n must be at least 1, got {n}")
    site = AuditSite(Path(out) if out is not None else root / "audit")
    (site.out / "img").mkdir(parents=True, exist_ok=True)
    env = environment()
    common = {"root": str(root), "dataset": dataset, "n": n, "seed": seed}
    nav: list[dict[str, str]] = [{"file": "index.html", "title": "index"}]
    pages: list[tuple[str, str, dict[str, Any]]] = []
    for name, fn in MINER_PAGES.items():
        try:
            data = fn(root, dataset, n, seed)
        except io.ArtifactError as e:
            data = {"error": str(e)}
        if data is None:
            continue
        if "error" not in data:
            data["plots"] = miner_plots(name, data, site.out / "img")
            site.images += [site.out / p["file"] for p in data["plots"]]
        pages.append((f"{name}.html", f"{name}.html.j2", {"name": name, **data}))
        nav.append({"file": f"{name}.html", "title": name})
    for part in io.partitions(root, TOPK):
        if dataset is None or part["dataset"] == dataset:
            file = f"topk-{slug(part['dataset'], part['split'], part['model'])}.html"
            pages.append((file, "topk.html.j2", topk_page(root, part, n, seed)))
            nav.append({"file": file, "title": f"topk {part['dataset']}/{part['split']}/{part['model']}"})
    for part in io.partitions(root, PREDICTIONS):
        file = f"eval-{slug(part['eval_set'], part['run'])}.html"
        pages.append((file, "eval.html.j2", eval_page(root, part, n, seed)))
        nav.append({"file": file, "title": f"eval {part['eval_set']} / {part['run']}"})
    index = {"artifacts": artifact_rows(root, dataset), "rejects": rejects_summary(root, dataset)}
    for file, template, data in [("index.html", "index.html.j2", index), *pages]:
        html = env.get_template(template).render(**common, nav=nav, page=file, **data)
        (site.out / file).write_text(html, encoding="utf-8")
        site.pages.append(site.out / file)
    site.seconds = time.perf_counter() - t0
    return site
