"""The training stage on a machine without the mining stack: pack on the mining machine, train and
evaluate from the pack where only torch, transformers, safetensors, numpy, pyyaml, rich and typer
are installed (no spaCy, Prefect, Polars, pydantic, pyarrow, scipy).

    # mining machine (the artifacts under data.root):
    cqa pack --config training/configs/mle.yaml --set model.name=tiny --eval-set squad11-eval --out pack/
    # GPU machine (the source tree and pack/ travel; nothing is installed but the train extra):
    python -m training.portable train pack/ --out runs [--set optim.max_steps=2000] [--model /path/to/weights]
    python -m training.portable evaluate pack/ runs/<run_name>        # again, or for another checkpoint
    python -m training.portable experiment xpack/ --out runs-gpu       # a whole profile (cqa experiment-pack)
    torchrun --nproc_per_node 4 -m training.portable train pack/ --model /path/to/weights   # DDP, rank 0 evaluates

`train` runs the real loop (`training.loop.train`) with `data.root` set to the pack: the loop's
`load_examples` reads the pack's examples (`load_packed_examples`, JSON, no Parquet) and its
`featurize_cached` finds the packed windows under `<pack>/features/<key>/` (the window cache's own
layout, key = tokenizer + features config + examples' content), so nothing is tokenized again.
Then every packed evaluation set is decoded (`training.inference.predict`) and scored
(`training.evaluation.question_metrics`: official SQuAD EM/F1, top-k EM) into
`<run>/eval/<set>/summary.json` + `predictions.jsonl`. Bootstrap intervals, slices, bundle
metrics and the report stay on the mining machine: bring the run folder back and run
`cqa evaluate <run> --set ...` there.

Pack layout (`pack.json` lists every file with its size):
  pack.json                          version, resolved config, data config, example fingerprints, eval sets
  config.yaml                        the resolved training config as packed
  examples/<split>.json.gz           the training examples after every data.* attachment (negatives, flips,
                                     synthetic, bundles, top-k, filters), and the data.eval_split ones
  features/<key>/windows.safetensors.gz + meta.json   the training windows (gzip: padding compresses ~20x)
  eval/<set>.json.gz                 evaluation questions, contexts and gold answer texts
  model/                             tokenizer + config.json; model.safetensors too for model.name=tiny (the
                                     seeded random init `cqa train` would start from) or with --with-weights

Travel limit: `pack` refuses to write a pack over `max_mib` (64 MiB by default).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PACK_FILE = "pack.json"
PACK_VERSION = 1
MAX_MIB = 64.0  # what may travel with the working tree to the GPU machine


class PackError(ValueError):
    """A pack is missing, incomplete, too big, or was made for another data config; the message says which."""


# Reading a pack (GPU machine) ------------------------------------------------------------------------


def is_pack(root: str | Path) -> bool:
    return (Path(root) / PACK_FILE).is_file()


def read_pack_json(path: Path, missing: str) -> dict:
    """A pack's JSON file; PackError says `missing` when it is absent, and names the file when it is corrupt."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(missing) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PackError(f"{path}: not valid JSON ({e}); the pack is corrupt, write it again") from None


def read_manifest(pack: str | Path) -> dict:
    path = Path(pack) / PACK_FILE
    manifest = read_pack_json(
        path, f"{pack}: not a pack (no {PACK_FILE}); write one with `cqa pack --config ... --out {pack}`"
    )
    if manifest.get("version") != PACK_VERSION:
        raise PackError(f"{path}: pack version {manifest.get('version')!r}, this code reads version {PACK_VERSION}")
    return manifest


def _read_json_gz(path: Path):
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PackError(f"{path}: missing from the pack (copy the whole pack folder)") from None
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise PackError(
            f"{path}: cannot be read ({type(e).__name__}: {e}); the pack is corrupt, write it again"
        ) from None


def _write_json_gz(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))


def _data_dict(d) -> dict:
    """The data config as plain YAML values, without `root` (the pack replaces it)."""
    import yaml

    from training.config import DataConfig, TrainConfig, config_yaml

    assert isinstance(d, DataConfig)
    full = yaml.safe_load(config_yaml(TrainConfig(data=d)))["data"]
    full.pop("root", None)
    return full


def _examples_to_json(examples) -> dict:
    contexts: dict[str, int] = {}
    rows = []
    for e in examples:
        rows.append(
            {
                "id": e.example_id,
                "c": contexts.setdefault(e.context, len(contexts)),
                "q": e.question,
                "answers": e.answers,
                "negatives": e.negatives,
                "bundle_id": e.bundle_id,
                "bundle_answers": e.bundle_answers,
                "bundle_gold": e.bundle_gold,
                "bundle_question": e.bundle_question,
                "topk": e.topk,
                "topk_is_gold": e.topk_is_gold,
                "extra": e.extra,
            }
        )
    return {"contexts": list(contexts), "examples": rows}


def _examples_from_json(doc: dict, where: Path) -> list:
    from training.data import TrainExample

    def spans(v) -> tuple:
        return tuple((int(a), int(b)) for a, b in v)

    contexts = doc["contexts"]
    out = []
    for i, r in enumerate(doc["examples"]):
        try:
            out.append(
                TrainExample(
                    r["id"],
                    contexts[r["c"]],
                    r["q"],
                    spans(r["answers"]),
                    spans(r["negatives"]),
                    r["bundle_id"],
                    spans(r["bundle_answers"]),
                    int(r["bundle_gold"]),
                    int(r["bundle_question"]),
                    spans(r["topk"]),
                    tuple(bool(x) for x in r["topk_is_gold"]),
                    dict(r["extra"]),
                )
            )
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise PackError(
                f"{where}: example {i} ({r.get('id') if isinstance(r, dict) else r!r}) is malformed "
                f"({type(e).__name__}: {e})"
            ) from None
    return out


def load_packed_examples(d, *, split: str | None = None, max_topk: int = 20) -> list:
    """`training.data.load_examples` for a `data.root` that is a pack: the examples exactly as packed.

    The run's `data.*` (but `root`) and `features.max_topk` must be those the pack was made with: a
    pack holds the examples its config selected, so another selection cannot be served from it.
    """
    from training.features import examples_fingerprint

    pack = Path(d.root)
    manifest = read_manifest(pack)
    split = split or d.split
    want, packed = _data_dict(d), manifest["data"]
    changed = sorted(k for k in want.keys() | packed.keys() if want.get(k) != packed.get(k))
    if changed:
        detail = ", ".join(f"data.{k}: {want.get(k)!r} here, {packed.get(k)!r} in the pack" for k in changed)
        raise PackError(f"{pack}: packed for another data config ({detail}); pack again with this config")
    if int(manifest["max_topk"]) != int(max_topk):
        raise PackError(
            f"{pack}: packed with features.max_topk={manifest['max_topk']}, the run asks for {max_topk}; "
            "pack again with this config"
        )
    entry = manifest["splits"].get(split)
    if entry is None:
        raise PackError(f"{pack}: holds splits {sorted(manifest['splits'])} of {d.dataset}, not {split!r}")
    path = pack / entry["file"]
    examples = _examples_from_json(_read_json_gz(path), path)
    if examples_fingerprint(examples) != entry["fingerprint"]:
        raise PackError(f"{path}: its examples do not match the fingerprint in {PACK_FILE}; the pack is corrupt")
    return examples


def unpack_windows(pack: str | Path) -> list[Path]:
    """Decompress every packed window file next to itself (once), where `featurize_cached` looks for it."""
    from training.features import WINDOWS_FILE

    out = []
    for entry in read_manifest(pack)["windows"]:
        gz = Path(pack) / entry["file"]
        target = gz.with_name(WINDOWS_FILE)
        if not target.is_file():
            if not gz.is_file():
                raise PackError(f"{gz}: missing from the pack (copy the whole pack folder)")
            tmp = target.with_name(f".tmp-{uuid.uuid4().hex[:8]}")
            try:
                with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.replace(tmp, target)
            except PermissionError as e:
                raise PackError(
                    f"{gz.parent}: cannot write the unpacked windows there ({e}); copy the pack to a writable folder"
                ) from None
            except (OSError, EOFError) as e:
                raise PackError(
                    f"{gz}: cannot be decompressed ({type(e).__name__}: {e}); the pack is corrupt"
                ) from None
            finally:
                tmp.unlink(missing_ok=True)
        out.append(target)
    return out


# Writing a pack (mining machine) ----------------------------------------------------------------------


@dataclass(frozen=True)
class PackedEvalSet:
    name: str  # the set's name (as `cqa evaluate` names it)
    examples: list[dict]  # {example_id, question, context, answers: [{text, start, end}], lang}


def eval_set_from_frames(name: str, examples, contexts) -> PackedEvalSet:
    """An evaluation set from `examples` + `contexts` frames (artifact columns), gold texts kept as given."""
    text = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list(), strict=True))
    rows = []
    for r in examples.select("example_id", "context_id", "question", "answers", "lang").iter_rows(named=True):
        if r["context_id"] not in text:
            raise PackError(
                f"eval set {name}: example {r['example_id']!r}: field context_id={r['context_id']!r} has "
                "no row in contexts"
            )
        rows.append(
            {
                "example_id": r["example_id"],
                "question": r["question"],
                "context": text[r["context_id"]],
                "answers": [
                    {"text": a["text"], "start": int(a["start"]), "end": int(a["end"])} for a in r["answers"] or []
                ],
                "lang": r["lang"],
            }
        )
    return PackedEvalSet(name, rows)


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _save_model(cfg, folder: Path, with_weights: bool) -> dict:
    """Tokenizer + config.json (+ weights) into the pack's model/ folder; returns the manifest entry."""
    import torch
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    from training.config import TINY_ALIAS, resolve_model_name
    from training.model import ENCODER_FILE, QaModel, load_tokenizer, tiny_config

    tokenizer = load_tokenizer(cfg.model)
    folder.mkdir(parents=True)
    if cfg.model.name == TINY_ALIAS:
        # `cqa train`'s tiny init: load_model seeds with cfg.seed, then builds from tiny_config (dropout is
        # re-applied for the device at load time, so the untouched config is saved).
        torch.manual_seed(cfg.seed)
        encoder = AutoModelForQuestionAnswering.from_config(tiny_config(len(tokenizer)))
        QaModel(encoder).save(folder, tokenizer)
        weights = True
    elif with_weights:
        path = resolve_model_name(cfg.model.name)
        encoder = AutoModelForQuestionAnswering.from_pretrained(path)
        QaModel(encoder).save(folder, tokenizer)
        weights = True
    else:
        AutoConfig.from_pretrained(resolve_model_name(cfg.model.name)).to_json_file(folder / "config.json")
        tokenizer.save_pretrained(folder)
        weights = False
    return {"source": cfg.model.name, "folder": "model", "weights": weights and (folder / ENCODER_FILE).is_file()}


def pack(
    cfg, out: str | Path, eval_sets: list[PackedEvalSet] = (), *, with_weights: bool = False, max_mib: float = MAX_MIB
) -> dict:
    """Write the pack of a validated training config into `out` (a new folder); returns its manifest.

    Reads the artifacts (this is the one step that needs the mining stack), featurizes through the
    window cache under `data.root` (a hit when `cqa train` ran), and copies the windows gzipped.
    """
    import yaml

    from training.config import config_yaml
    from training.data import load_examples
    from training.features import (
        FEATURES_DIR,
        META_FILE,
        WINDOWS_FILE,
        cache_key,
        examples_fingerprint,
        featurize_cached,
        io_fingerprint,
    )
    from training.model import load_tokenizer

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PackError(f"--out {out}: exists and is not empty; pick a new folder (a pack is written whole)")
    d = cfg.data
    tmp = out.parent / f".tmp-pack-{out.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        tokenizer = load_tokenizer(cfg.model)
        splits, windows = {}, []
        for split in dict.fromkeys([d.split] + ([d.eval_split] if d.eval_split else [])):
            examples = load_examples(d, split=split, max_topk=cfg.features.max_topk)
            rel = f"examples/{split}.json.gz"
            _write_json_gz(tmp / rel, _examples_to_json(examples))
            splits[split] = {"file": rel, "n_examples": len(examples), "fingerprint": examples_fingerprint(examples)}
            if split != d.split:
                continue  # the dev-loss windows are featurized where the run is (a few seconds; keeps the pack small)
            key = cache_key(tokenizer, examples, cfg.features)
            name = io_fingerprint(key)
            features, _ = featurize_cached(tokenizer, examples, cfg.features, d.root, label=f"{d.dataset}/{split}")
            source = Path(d.root) / FEATURES_DIR / name
            if not (source / WINDOWS_FILE).is_file():  # the mining root is not writable: cache into the pack
                featurize_cached(tokenizer, examples, cfg.features, tmp, label=f"{d.dataset}/{split}")
                source = tmp / FEATURES_DIR / name
            target = tmp / FEATURES_DIR / name
            target.mkdir(parents=True, exist_ok=True)
            raw = (source / WINDOWS_FILE).stat().st_size
            with (
                open(source / WINDOWS_FILE, "rb") as src,
                gzip.open(target / f"{WINDOWS_FILE}.gz", "wb", compresslevel=6) as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            if source != target:
                shutil.copy2(source / META_FILE, target / META_FILE)
            (target / WINDOWS_FILE).unlink(missing_ok=True)  # only the gzipped copy travels
            windows.append(
                {
                    "split": split,
                    "key": name,
                    "file": f"{FEATURES_DIR}/{name}/{WINDOWS_FILE}.gz",
                    "n_windows": features.n_windows,
                    "raw_bytes": raw,
                }
            )
        sets = {}
        for es in eval_sets:
            if es.name in sets:
                raise PackError(f"--eval-set {es.name}: given twice")
            rel = f"eval/{es.name}.json.gz"
            _write_json_gz(tmp / rel, es.examples)
            sets[es.name] = {"file": rel, "n_examples": len(es.examples)}
        model = _save_model(cfg, tmp / "model", with_weights)
        (tmp / "config.yaml").write_text(config_yaml(cfg), encoding="utf-8")
        manifest = {
            "version": PACK_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": yaml.safe_load(config_yaml(cfg)),
            "data": _data_dict(d),
            "max_topk": cfg.features.max_topk,
            "splits": splits,
            "windows": windows,
            "eval_sets": sets,
            "model": model,
        }
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest["files"] = files
        (tmp / PACK_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        size = _folder_size(tmp)
        manifest["bytes"] = size
        if size > max_mib * 2**20:
            biggest = sorted(files.items(), key=lambda kv: -kv[1])[:3]
            raise PackError(
                f"the pack would be {size / 2**20:.1f} MiB, over the {max_mib:g} MiB travel limit (largest: "
                + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in biggest)
                + ")"
                + ("; model weights travel only with --with-weights, leave it off" if with_weights else "")
            )
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


# Training and evaluating from a pack (GPU machine) -----------------------------------------------------


def run_config(
    pack: str | Path,
    *,
    out: str | Path | None = None,
    model: str | None = None,
    overrides: list[str] = (),
    config: str | Path | None = None,
):
    """The packed config (or `config`, a run config for the same data) with `data.root` = the pack,
    `model.name` = the packed model folder (or `model`)."""
    from training.config import check_device, check_losses, load_config

    pack = Path(pack).resolve()
    manifest = read_manifest(pack)
    if model is None:
        if not manifest["model"]["weights"]:
            raise PackError(
                f"{pack}: packed without the weights of model.name={manifest['model']['source']!r} "
                "(they would not travel); pass --model FOLDER holding them on this machine"
            )
        model = str(pack / manifest["model"]["folder"])
    fixed = [f"data.root={pack}", f"model.name={model}"] + ([f"output_dir={out}"] if out is not None else [])
    cfg = load_config(config or pack / "config.yaml", fixed + list(overrides), validate=False)
    check_device(cfg.device)
    check_losses(cfg)
    if cfg.init_from is not None and not (Path(cfg.init_from) / "model.safetensors").is_file():
        raise PackError(
            f"init_from: {cfg.init_from!r} holds no model.safetensors on this machine (a pack carries no "
            "init_from weights); bring that checkpoint here and pass --set init_from=FOLDER"
        )
    return cfg


def _gold_texts(rows: list[dict]) -> dict[str, list[str]]:
    return {r["example_id"]: [a["text"] for a in r["answers"]] for r in rows}


def evaluate_pack(
    pack: str | Path,
    run: str | Path,
    *,
    sets: list[str] | None = None,
    null_rule: str | None = None,
    null_threshold: float | None = None,
    batch_windows: int = 64,
    device: str = "auto",
) -> dict[str, dict]:
    """Decode and score every packed evaluation set (or `sets`) with the run's weights; returns {set: summary}.

    Writes `<run>/eval/<set>/summary.json` and `predictions.jsonl` (id, text, span, score, em, f1).
    """
    import torch

    from training.data import TrainExample
    from training.evaluation import question_metrics, summarize
    from training.inference import InferenceConfig, load_checkpoint, predict

    pack, run = Path(pack), Path(run)
    manifest = read_manifest(pack)
    names = list(manifest["eval_sets"]) if sets is None else sets
    unknown = [n for n in names if n not in manifest["eval_sets"]]
    if unknown:
        raise PackError(f"{pack}: holds evaluation sets {sorted(manifest['eval_sets'])}, not {unknown}")
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    loaded = load_checkpoint(str(run), device=dev)
    cfg = yaml_config(run)
    rule = null_rule or (cfg.get("decoding") or {}).get("null_rule") or "none"
    threshold = (
        null_threshold if null_threshold is not None else float((cfg.get("decoding") or {}).get("null_threshold", 0.0))
    )
    icfg = InferenceConfig(
        batch_windows=batch_windows,
        max_length=loaded.features.max_length,
        stride=loaded.features.stride,
        max_answer_len=loaded.features.max_answer_len,
        null_rule=rule,
        null_threshold=threshold,
    )
    results = {}
    for name in names:
        path = pack / manifest["eval_sets"][name]["file"]
        rows = _read_json_gz(path)
        if rule == "none" and any(not r["answers"] for r in rows):
            print(
                f"warning: {name} has unanswerable questions but the run decodes with null rule 'none' (it never "
                "abstains, so its NoAns score is 0 by construction); pass --null-rule",
                file=sys.stderr,
            )
        examples = [
            TrainExample(
                r["example_id"],
                r["context"],
                r["question"],
                tuple((int(a["start"]), int(a["end"])) for a in r["answers"]),
            )
            for r in rows
        ]
        began = time.perf_counter()
        preds = predict(loaded.model, loaded.tokenizer, examples, icfg)
        by_id = dict(zip([e.example_id for e in examples], preds, strict=True))
        per_q, extra, _ = question_metrics(_gold_texts(rows), by_id)
        summary = {
            **summarize(per_q, extra),
            "n": len(rows),
            "seconds": round(time.perf_counter() - began, 2),
            "run": loaded.run_id,
            "null_rule": rule,
            "null_threshold": threshold,
        }
        folder = run / "eval" / name
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "predictions.jsonl", "w", encoding="utf-8") as f:
            f.writelines(
                json.dumps(
                    {
                        "example_id": q,
                        "prediction": p.text,
                        "start": p.start,
                        "end": p.end,
                        "score": p.score,
                        "null_score": p.null_score,
                        "em": per_q["em"][q],
                        "f1": per_q["f1"][q],
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for q, p in by_id.items()
            )
        (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        results[name] = summary
    return results


def yaml_config(run: Path) -> dict:
    import yaml

    for path in (run / "model" / "config.yaml", run / "config.yaml"):
        if path.is_file():
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {}


def train_pack(
    pack: str | Path,
    *,
    out: str | Path | None = None,
    model: str | None = None,
    overrides: list[str] = (),
    resume: bool = False,
    evaluate: bool = True,
    config: str | Path | None = None,
) -> tuple[Path, dict[str, dict]]:
    """`training.loop.train` from a pack, then `evaluate_pack`; returns (run folder, {set: summary})."""
    from training.loop import train

    cfg = run_config(pack, out=out, model=model, overrides=list(overrides), config=config)
    unpack_windows(pack)
    run_dir = train(cfg, resume=resume)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 evaluates (and prints)
    if not (evaluate and main_rank and read_manifest(pack)["eval_sets"]):
        return run_dir, {}
    return run_dir, evaluate_pack(pack, run_dir, device=cfg.device)


def _print_summary(results: dict[str, dict]) -> None:
    for name, s in results.items():
        print(f"{name}: EM {s['em']:.2f}  F1 {s['f1']:.2f}  ({s['n']} questions, {s['seconds']} s)")


def main(argv: list[str] | None = None) -> int:
    """`python -m training.portable train|evaluate PACK ...` (argparse: no CLI stack needed)."""
    parser = argparse.ArgumentParser(prog="python -m training.portable", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a pack (the real loop), then evaluate every packed set")
    t.add_argument("pack")
    t.add_argument("--out", help="output_dir of the run (default: the packed config's)")
    t.add_argument("--model", help="folder with the model weights (needed when the pack has none)")
    t.add_argument(
        "--set", dest="overrides", action="append", default=[], help="override KEY=VALUE (optim.max_steps=200)"
    )
    t.add_argument("--resume", action="store_true")
    t.add_argument("--no-eval", action="store_true", help="train only")
    e = sub.add_parser("evaluate", help="decode and score the packed evaluation sets with a run's weights")
    e.add_argument("pack")
    e.add_argument("run")
    e.add_argument("--eval-set", dest="sets", action="append", help="only this packed set (repeatable)")
    e.add_argument("--null-rule")
    e.add_argument("--null-threshold", type=float)
    e.add_argument("--batch-windows", type=int, default=64)
    e.add_argument("--device", default="auto")
    x = sub.add_parser("experiment", help="every run of an experiment pack (cqa experiment-pack), then the comparison")
    x.add_argument("pack")
    x.add_argument("--out", required=True, help="folder for the run folders, summary.md and results.json.gz")
    x.add_argument("--set", dest="overrides", action="append", default=[], help="override KEY=VALUE for every run")
    args = parser.parse_args(argv)
    from training.checkpoint import CheckpointError
    from training.config import ConfigError

    try:
        if args.command == "experiment":
            from training.portable_experiment import run_experiment

            run_experiment(args.pack, args.out, args.overrides)
            print(Path(args.out) / "summary.md")
        elif args.command == "train":
            run_dir, results = train_pack(
                args.pack,
                out=args.out,
                model=args.model,
                overrides=args.overrides,
                resume=args.resume,
                evaluate=not args.no_eval,
            )
            _print_summary(results)
            print(run_dir)
        else:
            _print_summary(
                evaluate_pack(
                    args.pack,
                    args.run,
                    sets=args.sets,
                    null_rule=args.null_rule,
                    null_threshold=args.null_threshold,
                    batch_windows=args.batch_windows,
                    device=args.device,
                )
            )
    except (PackError, ConfigError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
