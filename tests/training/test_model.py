"""Model wrapper: output dict of the contract, CPU dropout default, save/load, offline MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering

from training.config import ModelConfig
from training.model import load_model


def _inputs(tokenizer):
    enc = tokenizer(
        ["who?", "when did it open?"],
        ["Alice founded it.", "It opened in 1964 near the river."],
        padding=True,
        return_tensors="pt",
    )
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def test_outputs_follow_the_contract() -> None:
    model, tok = load_model(ModelConfig(name="tiny", crf_head=True), seed=1)
    ids, mask, types = _inputs(tok)
    out = model(ids, mask, types, need_hidden=True)
    w, length = ids.shape
    assert out["start_logits"].shape == (w, length) and out["end_logits"].shape == (w, length)
    assert out["hidden_states"].shape == (w, length, 32)
    assert out["crf_emissions"].shape == (w, length, 3)
    plain = load_model(ModelConfig(name="tiny"), seed=1)[0](ids, mask, types)
    assert set(plain) == {"start_logits", "end_logits"}


def test_cpu_attention_dropout_defaults_to_zero_and_can_be_set() -> None:
    assert load_model(ModelConfig(name="tiny"))[0].encoder.config.attention_probs_dropout_prob == 0.0
    cfg = ModelConfig(name="tiny", attention_dropout=0.2, hidden_dropout=0.05)
    config = load_model(cfg)[0].encoder.config
    assert config.attention_probs_dropout_prob == 0.2 and config.hidden_dropout_prob == 0.05


def test_same_seed_same_init() -> None:
    a = load_model(ModelConfig(name="tiny", crf_head=True), seed=4)[0].state_dict()
    b = load_model(ModelConfig(name="tiny", crf_head=True), seed=4)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_saved_folder_loads_with_hugging_face_and_with_heads(tmp_path: Path) -> None:
    model, tok = load_model(ModelConfig(name="tiny", crf_head=True), seed=2)
    model.eval()
    model.save(tmp_path / "ckpt", tok)
    ids, mask, types = _inputs(tok)
    hf = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "ckpt").eval()
    assert torch.equal(
        hf(input_ids=ids, attention_mask=mask, token_type_ids=types).start_logits,
        model(ids, mask, types)["start_logits"],
    )
    other, _ = load_model(ModelConfig(name="tiny", crf_head=True), seed=3)
    other.load_weights(tmp_path / "ckpt")
    ref, got = model.state_dict(), other.state_dict()
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)


@pytest.mark.slow
def test_packaged_minilm_loads_offline() -> None:
    model, tok = load_model(ModelConfig(name="minilm"), seed=0)
    ids, mask, types = _inputs(tok)
    out = model(ids, mask, types)
    assert out["start_logits"].shape == ids.shape and torch.isfinite(out["start_logits"]).all()
    assert model.encoder.config.hidden_size == 384
