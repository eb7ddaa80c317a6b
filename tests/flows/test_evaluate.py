"""End to end on the samples: tiny model → sample-topk → evaluate → artifacts + report with plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import polars as pl
import pytest

from pipeline import io, schemas
from pipeline.sources import SourceSpec, load_source

SAMPLE = "squad11_sample.json"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model (random weights, seed 1): a 'model folder' checkpoint."""
    from training.config import ModelConfig
    from training.model import load_model

    model, tok = load_model(ModelConfig(name="tiny"), seed=1)
    folder = tmp_path_factory.mktemp("runs") / "tiny-seed1" / "model"
    model.save(folder, tok)
    return folder.parent


def _write_examples(root: Path, samples: Path) -> None:
    result = load_source(SourceSpec("sample", str(samples / SAMPLE), split="train"))
    part = {"dataset": "sample", "split": "train"}
    io.write_partition(root, schemas.EXAMPLES, result.examples.drop("split"), part)
    io.write_partition(root, schemas.CONTEXTS, result.contexts.drop("split"), part)


def test_tiny_sample_topk_then_evaluate(prefect_harness, root: Path, samples: Path, tiny_folder: Path) -> None:
    from flows.evaluate import evaluate_flow
    from flows.sample_topk import sample_topk_flow

    _write_examples(root, samples)
    topk_dir = sample_topk_flow(str(tiny_folder), str(root), "sample", "train", k=3, mode="diverse")
    topk = io.read(root, schemas.TOPK, {"dataset": "sample", "split": "train", "model": "tiny-seed1"})
    assert Path(topk_dir).is_dir() and topk["example_id"].n_unique() == 28
    per_q = topk.group_by("example_id").agg(pl.len(), pl.col("span").struct.field("start").n_unique().alias("starts"))
    assert (per_q["len"] == 3).all() and (per_q["starts"] == 3).all()  # diverse: 3 distinct starts each

    files_before = {p: p.stat().st_mtime_ns for p in (root / "topk").rglob("*.parquet")}
    sample_topk_flow(str(tiny_folder), str(root), "sample", "train", k=3, mode="diverse")
    assert {p: p.stat().st_mtime_ns for p in (root / "topk").rglob("*.parquet")} == files_before  # skipped

    sets = [f"sample={samples / SAMPLE}", f"neg-sample={samples / SAMPLE}"]
    report = Path(
        evaluate_flow([str(tiny_folder), "tiny"], sets, str(root), n_resamples=200, near_miss_baseline=str(tiny_folder))
    )

    assert report.name == "report.md" and report.parent.parent == root / "reports"
    text = report.read_text(encoding="utf-8")
    for png in ("em_f1.png", "topk.png"):
        assert f"]({png})" in text
        image = mpimg.imread(report.parent / png)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert "Paired differences between runs" in text and "tiny − tiny-seed1" in text
    audit = pl.read_parquet(report.parent / "inputs" / "near-miss-slice-sample.parquet")
    assert audit.height == 28 and "context_not_indexed" not in audit["reason"].to_list()  # eval contexts got indexed
    slice_metrics = io.read(root, schemas.METRICS, {"eval_set": "sample"}).filter(pl.col("slice") == "near_miss")
    assert slice_metrics.height == (4 if audit["in_slice"].any() else 0)  # em + f1 for both runs

    metrics = io.read(root, schemas.METRICS)  # validates the version; rows are cast to the schema on write
    assert set(metrics["eval_set"]) == {"sample", "neg-sample", "neg-sample~unattacked"}
    assert set(metrics["run"]) == {"tiny", "tiny-seed1"}
    io.to_table(metrics.drop("eval_set"), schemas.METRICS)
    em = metrics.filter((pl.col("metric") == "em") & (pl.col("slice") == "all"))
    assert em.height == 6 and em["ci_low"].is_not_null().all()
    preds = io.read(root, schemas.PREDICTIONS)
    counts = dict(
        preds.group_by("eval_set", "run")
        .len()
        .select(pl.concat_str("eval_set", "run", separator="/"), "len")
        .iter_rows()
    )
    n_neg = counts["neg-sample/tiny"]
    assert counts == {
        "sample/tiny": 28,
        "sample/tiny-seed1": 28,
        "neg-sample/tiny": n_neg,
        "neg-sample/tiny-seed1": n_neg,
        "neg-sample~unattacked/tiny": n_neg,
        "neg-sample~unattacked/tiny-seed1": n_neg,
    }
    assert n_neg >= 1  # one attacked question per attackable question (the rest are rejected with a reason)
    neg = metrics.filter(pl.col("eval_set") == "neg-sample")
    assert "no_ans_f1" not in neg["metric"].to_list()  # the gold is kept: attacked questions stay answerable
    for run in ("tiny", "tiny-seed1"):  # drop = unattacked - attacked, on the same questions
        value = {
            r["metric"]: r["value"]
            for r in neg.filter((pl.col("run") == run) & (pl.col("slice") == "all")).iter_rows(named=True)
        }
        clean = metrics.filter(
            (pl.col("eval_set") == "neg-sample~unattacked")
            & (pl.col("run") == run)
            & (pl.col("metric") == "em")
            & (pl.col("slice") == "all")
        )["value"][0]
        assert value["unattacked_em"] == pytest.approx(clean)
        assert value["drop_em"] == pytest.approx(value["unattacked_em"] - value["em"])
    assert "## Negation attack: the same questions unattacked and attacked" in text
    assert "null rule: tiny-seed1: `none` (threshold 0.0; from --null-rule (default))" in text
    assert (report.parent / "inputs" / "negation-neg-sample.parquet").exists()
    assert preds["em"].is_between(0, 1).all() and preds["f1"].is_between(0, 1).all()


def test_bad_eval_set_fails_before_work(root: Path) -> None:
    from flows.evaluate import evaluate_flow

    with pytest.raises(ValueError, match="preset"):
        evaluate_flow.fn(["tiny"], ["no-such-set"], str(root))
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        evaluate_flow.fn([str(root / "missing")], [f"s={root}/x.json"], str(root))
    assert not (root / "predictions").exists()


def _run_with_config(tmp_path: Path, tiny_folder: Path, name: str, **decoding) -> Path:
    """A run folder `<tmp>/<name>` whose model is the tiny one and whose config.yaml sets `decoding`."""
    import shutil

    from training.config import DecodingConfig, TrainConfig, save_config

    run = tmp_path / name
    shutil.copytree(tiny_folder / "model", run / "model")
    save_config(TrainConfig(run_name=name, decoding=DecodingConfig(**decoding)), run / "config.yaml")
    return run


def test_each_run_carries_its_null_rule(tmp_path: Path, tiny_folder: Path) -> None:
    from flows.evaluate import NullChoice, null_rule_warnings, resolve_null_rules
    from pipeline.config_model import field_type
    from training.config import DecodingConfig
    from training.decoding import NULL_RULES

    assert set(field_type(DecodingConfig, "null_rule").__args__[0].__args__) == set(NULL_RULES)
    robust = _run_with_config(tmp_path, tiny_folder, "robust", null_rule="negative_score")
    mle = _run_with_config(tmp_path, tiny_folder, "mle", null_rule="cls_threshold", null_threshold=0.5)
    plain = _run_with_config(tmp_path, tiny_folder, "plain")
    refs = [str(robust), str(mle), str(plain), "tiny"]
    got = resolve_null_rules(refs, "none", 0.0)
    assert got["robust"].rule == "negative_score" and got["robust"].source.startswith("training config")
    assert (got["mle"].rule, got["mle"].threshold) == ("cls_threshold", 0.5)
    assert got["plain"] == got["tiny"] == NullChoice("none", 0.0, "--null-rule (default)")
    # per-checkpoint override (by run id or by the argument) beats the training config
    got = resolve_null_rules(refs, "cls_threshold", 1.0, {"robust": "none", str(plain): "negative_score:-1"})
    assert got["robust"] == NullChoice("none", 0.0, "--run-null-rule")
    assert got["plain"] == NullChoice("negative_score", -1.0, "--run-null-rule")
    assert got["tiny"] == NullChoice("cls_threshold", 1.0, "--null-rule (default)")
    with pytest.raises(ValueError, match="not among the checkpoints"):
        resolve_null_rules(refs, "none", 0.0, {"nobody": "none"})
    with pytest.raises(ValueError, match="RULE one of"):
        resolve_null_rules(refs, "none", 0.0, {"mle": "threshold"})
    # `none` on a set with unanswerable questions: one warning per (run, set)
    warnings = null_rule_warnings(got, {"squad20": 3, "squad11": 0})
    assert (
        len(warnings) == 1 and "robust" in warnings[0] and "squad20" in warnings[0] and "3 unanswerable" in warnings[0]
    )


def test_null_rule_none_on_a_v2_set_is_a_warning_in_the_report(
    prefect_harness, root: Path, samples: Path, tmp_path: Path, tiny_folder: Path
) -> None:
    from flows.evaluate import evaluate_flow

    mle = _run_with_config(tmp_path, tiny_folder, "mle", null_rule="cls_threshold")
    report = Path(
        evaluate_flow(
            [str(mle), "tiny"], [f"v2={samples / 'squad20_sample.json'}"], str(root), n_resamples=20, limit=12
        )
    )
    text = report.read_text(encoding="utf-8")
    assert "mle: `cls_threshold` (threshold 0.0; from training config" in text
    assert "## Warnings" in text and "null rule `none` for run tiny on v2" in text and "run mle" not in text
    preds = io.read(root, schemas.PREDICTIONS, {"eval_set": "v2", "run": "mle"})
    assert preds.height == 12


@pytest.mark.integration
def test_untrained_minilm_on_protocol_eval_titles(prefect_harness, root: Path, shared_data: Path) -> None:
    """A subset (CI time) of the SQuAD 1.1 PROTOCOL eval titles; the full set: `python -m benchmarks.bench_eval`."""
    from flows.evaluate import evaluate_flow

    report = Path(
        evaluate_flow(
            ["minilm"], ["squad11-eval", "addonesent"], str(root), data_dir=str(shared_data), limit=200, n_resamples=200
        )
    )
    assert report.exists() and mpimg.imread(report.parent / "em_f1.png").ndim == 3
    metrics = io.read(root, schemas.METRICS)
    f1 = metrics.filter(
        (pl.col("metric") == "f1") & (pl.col("slice") == "all") & (pl.col("eval_set") == "squad11-eval")
    )
    assert f1["n"].to_list() == [200] and 0.0 <= f1["value"][0] < 30.0  # untrained head: near zero
    adv = metrics.filter(pl.col("metric") == "adv_f1")  # AddOneSent: worst case over each question's variants
    assert (
        adv.height == 1
        and adv["value"][0]
        <= metrics.filter(
            (pl.col("metric") == "f1") & (pl.col("eval_set") == "addonesent") & (pl.col("slice") == "all")
        )["value"][0]
    )
    assert "adv_f1" in report.read_text(encoding="utf-8")


def test_paired_differences_pair_questions_by_id() -> None:
    from training.report import paired_differences

    base = io.empty_frame(schemas.PREDICTIONS)
    rows = []
    for run, ems in (("a", [1, 0, 0, 1]), ("b", [1, 1, 1, 1])):
        for i, em in enumerate(ems):
            rows.append(
                {
                    "example_id": f"q{i}",
                    "prediction": "x",
                    "start": 0,
                    "end": 1,
                    "score": 1.0,
                    "null_score": None,
                    "em": float(em),
                    "f1": float(em),
                    "eval_set": "s",
                    "run": run,
                }
            )
    preds = pl.DataFrame(rows, schema={**base.schema, "eval_set": pl.String, "run": pl.String})
    diffs = paired_differences(preds.reverse(), n_resamples=500)  # row order must not matter for the pairing
    em = diffs.filter(pl.col("metric") == "em").row(0, named=True)
    assert (em["run"], em["baseline"]) == ("a", "b") and em["n"] == 4
    assert em["difference"] == pytest.approx(-50.0) and em["ci_high"] <= 0.0 and em["p_not_better"] == 1.0


def test_questions_on_training_articles_are_rejected_not_scored(samples: Path) -> None:
    """An evaluation set never scores a paragraph the model trained on: questions on a training
    article move to rejects with a reason, one row each, and kept + rejected = loaded."""
    from flows.evaluate import exclude_training_articles
    from pipeline.rejects import rejects_frame

    frames = load_source(SourceSpec("squad11", str(samples / "squad11_sample.json"), format="squad"))
    ex = frames.examples
    title = ex["title"][0]
    kept, rejects, counts = exclude_training_articles(ex, rejects_frame([]), [title, ""])
    n_title = ex.filter(pl.col("title") == title).height
    assert counts == {title: n_title} and kept.height == ex.height - n_title
    assert rejects.height == n_title and set(rejects["reason"]) == {"article_in_training_data"}
    assert set(rejects["record_id"]) == set(ex.filter(pl.col("title") == title)["example_id"])
    assert title not in set(kept["title"])
    # Nothing to exclude: the frames come back unchanged (an empty title never matches).
    same, none, nothing = exclude_training_articles(ex, rejects_frame([]), ["", "no such article"])
    assert same.equals(ex) and none.height == 0 and nothing == {}


@pytest.mark.integration
def test_squad20_half_train_articles_include_squad11_eval_titles(shared_data: Path) -> None:
    """Why the experiment excludes training titles: five train articles of the SQuAD 2.0 half (PROTOCOL
    split) are SQuAD 1.1 eval titles, the articles AddSent/AddOneSent/negation sets are built on."""
    import json

    def titles(path: Path) -> list[str]:
        return sorted(a["title"] for a in json.loads(path.read_text(encoding="utf-8"))["data"])

    t11 = titles(shared_data / "squad" / "v1.1" / "dev-v1.1.json")
    t20 = titles(shared_data / "squad" / "v2.0" / "dev-v2.0.cs224n-dev-half.json")
    eval11 = {t for i, t in enumerate(t11) if i % 3 == 2}
    train20 = {t for i, t in enumerate(t20) if i % 3 != 2}
    assert sorted(train20 & eval11) == ["French_and_Indian_War", "Immune_system", "Islamism", "Normans", "Yuan_dynasty"]
