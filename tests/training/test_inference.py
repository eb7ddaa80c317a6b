"""Batched inference: batch-size invariance, agreement with a plain per-window forward, CRF path, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from pipeline import io, schemas
from training.config import ModelConfig
from training.data import TrainExample
from training.decoding import decode_nbest
from training.features import featurize
from training.inference import (
    InferenceConfig,
    checkpoint_folder,
    examples_from_frames,
    load_checkpoint,
    predict,
    run_id_of,
    window_logits,
)
from training.model import load_model

CONTEXT = (
    "In 1998 Alice Smith founded the Orchard Company in Boston, and Bob Jones joined it in 2001 as its chief "
    "engineer. The archive that records these events is kept in a stone building near the old harbour, where "
    "visitors can read letters, maps and ledgers from many decades of local history."
)
CFG = InferenceConfig(max_length=48, stride=16, batch_windows=3)


@pytest.fixture(scope="module")
def tiny():
    model, tok = load_model(ModelConfig(name="tiny"), seed=3)
    return model, tok


def _examples() -> list[TrainExample]:
    qs = [
        "Who founded the Orchard Company?",
        "When did Bob Jones join?",
        "Where is the archive kept?",
        "What can visitors read in the archive building near the harbour?",
    ]
    return [TrainExample(f"q{i}", CONTEXT if i % 2 == 0 else CONTEXT[:120], q, ()) for i, q in enumerate(qs)]


def test_batch_size_does_not_change_predictions(tiny) -> None:
    model, tok = tiny
    exs = _examples()
    small = predict(model, tok, exs, CFG)
    big = predict(model, tok, exs, InferenceConfig(max_length=48, stride=16, batch_windows=1000))
    assert [p.text for p in small] == [p.text for p in big]
    np.testing.assert_allclose([p.score for p in small], [p.score for p in big], rtol=1e-5, atol=1e-5)
    assert all(len(p.nbest) == CFG.n_best for p in small)  # long contexts: a full n-best


def test_predict_through_the_window_cache_tokenizes_a_set_once(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evaluating several runs on one set (the experiment's evaluate stage) tokenizes it once: the
    second predict loads the cached windows and decodes exactly what the uncached path decodes."""
    import training.features as features_module

    model, tok = tiny
    exs = _examples()
    plain = predict(model, tok, exs, CFG)
    calls = []
    real = features_module.featurize
    monkeypatch.setattr(features_module, "featurize", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = predict(model, tok, exs, CFG, feature_cache=tmp_path)
    second = predict(model, tok, exs, CFG, feature_cache=tmp_path)
    assert len(calls) == 1 and any((tmp_path / "features").iterdir())  # the second call hit the cache
    for a, b in ((plain, first), (plain, second)):
        assert [p.text for p in a] == [p.text for p in b]
        np.testing.assert_allclose([p.score for p in a], [p.score for p in b], rtol=1e-6, atol=1e-6)
    predict(model, tok, exs[:2], CFG, feature_cache=tmp_path)  # other examples: another key, tokenized
    assert len(calls) == 2


def test_logits_match_a_plain_forward_over_full_windows(tiny) -> None:
    model, tok = tiny
    feats = featurize(tok, _examples(), CFG.features)
    assert feats.n_windows > len(feats.examples)  # several windows per long example
    logits = window_logits(model, feats, batch_windows=2)
    a = feats.arrays
    with torch.no_grad():
        model.eval()
        ref = model(*(torch.from_numpy(a[k]).long() for k in ("input_ids", "attention_mask", "token_type_ids")))
    real = a["attention_mask"].astype(bool)
    np.testing.assert_allclose(logits["start_logits"][real], ref["start_logits"].numpy()[real], atol=1e-4)
    np.testing.assert_allclose(logits["end_logits"][real], ref["end_logits"].numpy()[real], atol=1e-4)
    preds = predict(model, tok, _examples(), CFG)
    want = decode_nbest(
        ref["start_logits"],
        ref["end_logits"],
        a["context_mask"],
        a["offsets"],
        feats.window_example,
        [e.context for e in feats.examples],
    )
    assert [(p.text, p.start, p.end) for p in preds] == [(p.text, p.start, p.end) for p in want]


def test_predict_restores_training_mode_and_builds_no_graph(tiny) -> None:
    model, tok = tiny
    model.train()
    preds = predict(model, tok, _examples()[:1], CFG)
    assert model.training and isinstance(preds[0].score, float)
    model.eval()
    assert predict(model, tok, [], CFG) == []


def test_crf_model_decodes_through_the_crf() -> None:
    model, tok = load_model(ModelConfig(name="tiny", crf_head=True), seed=0)
    preds = predict(model, tok, _examples(), CFG)
    assert len(preds) == 4
    for p in preds:
        assert p.null_score is None and len(p.nbest) <= 1  # CRF decoding: one span or none
        if p.text:
            assert p.text == _examples()[0].context[p.start : p.end] or p.text in CONTEXT


def test_examples_from_frames_joins_and_names_a_missing_context() -> None:
    cid = io.text_id(CONTEXT)
    ex = pl.DataFrame(
        [
            {
                "example_id": "a",
                "context_id": cid,
                "title": "",
                "question": "Who?",
                "answers": [{"text": "Alice Smith", "start": 8, "end": 19}],
                "is_impossible": False,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "t",
                "source_record": "0",
            }
        ],
        schema=io.empty_frame(schemas.EXAMPLES).schema,
    )
    ctx = pl.DataFrame(
        [{"context_id": cid, "context": CONTEXT, "title": "", "lang": "en", "n_chars": len(CONTEXT)}],
        schema=io.empty_frame(schemas.CONTEXTS).schema,
    )
    (got,) = examples_from_frames(ex, ctx)
    assert got.context[slice(*got.answers[0])] == "Alice Smith"
    with pytest.raises(ValueError, match="'a'.*context_id"):
        examples_from_frames(ex, ctx.clear())


def test_config_fails_on_bad_fields() -> None:
    with pytest.raises(ValueError, match="null_rule"):
        InferenceConfig(null_rule="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stride"):
        InferenceConfig(max_length=64, stride=40)


def test_checkpoint_resolution_and_run_ids(tmp_path: Path, tiny) -> None:
    model, tok = tiny
    run = tmp_path / "my-run"
    model.save(run / "model", tok)
    assert checkpoint_folder(run) == run / "model" and run_id_of(run, run / "model") == "my-run"
    step = tmp_path / "r2" / "checkpoints" / "step-000040"
    assert run_id_of(step, step) == "r2@step-000040"
    loaded = load_checkpoint(str(run))
    assert loaded.run_id == "my-run" and not loaded.model.training
    exs = _examples()
    assert [p.text for p in predict(loaded.model, loaded.tokenizer, exs, CFG)] == [
        p.text for p in predict(model, tok, exs, CFG)
    ]
    with pytest.raises(FileNotFoundError, match="run folder"):
        checkpoint_folder(tmp_path / "nothing")


def test_evaluate_run_adds_bundle_and_breakdown_rows(samples: Path) -> None:
    from pipeline.sources import SourceSpec, load_source
    from training.inference import InferenceConfig, evaluate_run

    result = load_source(SourceSpec("s", str(samples / "squad20_sample.json")))
    ex, ctx = result.examples.drop("split"), result.contexts.drop("split")
    pair = ex.filter(pl.col("answers").list.len() > 0).group_by("context_id").head(2).head(2)
    bundles = pl.DataFrame(
        [
            {
                "bundle_id": "b0",
                "kind": "flip",
                "mode": "test",
                "example_id": r["example_id"],
                "context_id": r["context_id"],
                "question": r["question"],
                "answer": r["answers"][0],
                "role": "original",
                "rule": None,
                "parent_id": None,
            }
            for r in pair.iter_rows(named=True)
        ],
        schema=io.empty_frame(schemas.BUNDLES).schema,
    )
    loaded = load_checkpoint("tiny")
    preds, metrics = evaluate_run(
        loaded, ex, ctx, InferenceConfig(max_length=64, stride=16), bundles=bundles, n_resamples=50
    )
    io.to_table(preds, schemas.PREDICTIONS)
    io.to_table(metrics, schemas.METRICS)
    names = set(metrics["metric"])
    assert {"em", "f1", "top10_em", "has_ans_f1", "no_ans_f1", "best_f1", "consistency", "joint_em"} <= names
    n = dict(zip(metrics["metric"], metrics["n"], strict=False))
    assert n["has_ans_f1"] + n["no_ans_f1"] == ex.height == preds.height and n["consistency"] == 1


@pytest.mark.parametrize("crf_weight, decodes_with_crf", [(1.0, True), (0.0, False)])
def test_a_crf_head_whose_loss_had_weight_0_is_not_decoded(
    tmp_path: Path, crf_weight: float, decodes_with_crf: bool
) -> None:
    """The CRF paper's equal-budget control (crf.yaml, crf_nll weight 0) never trains its CRF:
    decoding it through the CRF would score a random CRF against the method. Its span head
    (trained by the control's span loss) decodes it instead."""
    from training.config import config_from_dict, save_config

    model, tok = load_model(ModelConfig(name="tiny", crf_head=True), seed=0)
    run = tmp_path / "crf-run"
    model.save(run / "model", tok)
    cfg = config_from_dict(
        {
            "model": {"name": "tiny", "crf_head": True},
            "losses": [{"name": "mle", "weight": 1.0}, {"name": "crf_nll", "weight": crf_weight}],
        }
    )
    save_config(cfg, run / "config.yaml")
    loaded = load_checkpoint(str(run))
    assert (loaded.model.crf is not None) is decodes_with_crf
    preds = predict(loaded.model, loaded.tokenizer, _examples(), CFG)
    if decodes_with_crf:
        assert all(p.null_score is None for p in preds)  # CRF decoding has no null score
    else:
        assert all(p.null_score is not None for p in preds)  # n-best span decoding
        span = predict(load_model(ModelConfig(name="tiny", crf_head=False), seed=0)[0].eval(), tok, _examples(), CFG)
        assert [p.text for p in preds] == [p.text for p in span]  # same encoder + span head, same answers
