"""The batch contract (training/batch.py): one table drives featurization storage, collation and the config check.

Hand-worked: a 2-window batch whose windows have 5 and 11 tokens, collated with
pad_multiple 4, gives 12-token tensors; every tensor is written out below.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.conftest import tiny_overrides
from tests.training.test_features import _other_fast_tokenizers
from tests.training.test_features_vectorised import EDGE, _sample_examples
from training import batch as contract
from training.batch import BATCH, KEYS, Key, check_arrays, check_batch, check_loss_inputs, check_padding, keys
from training.config import ConfigError, FeatureConfig, load_config
from training.data import TrainExample
from training.features import (
    CACHE_VERSION,
    FEATURES_DIR,
    WINDOWS_FILE,
    Features,
    collate,
    featurize,
    featurize_cached,
    layout_sizes,
)
from training.losses import LOSSES
from training.losses.synthetic_batch import synthetic_batch
from training.model import load_tokenizer

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(load_config(None, ["model.name=tiny"], validate=False).model)


# The hand-worked 2-window batch --------------------------------------------------------------
#
# max_length 16 (stored), K=2 negatives, A=1 bundle answer, Z=2 top-k slots.
# window 0 (example 0, no bundle, no gold in the window): [CLS] q [SEP] c [SEP]            -> 5 tokens
# window 1 (example 1, bundle "b", question 1, gold 0):    [CLS] q q [SEP] c c c c c c [SEP] -> 11 tokens
# window 1's gold is tokens 5..6, one negative at 7..8, top-k (5, 6) gold + (8, 8).
# collate pads to the longest window rounded up to pad_multiple: ceil(11 / 4) * 4 = 12 tokens.


def _row(values, length=16, pad=0):
    return list(values) + [pad] * (length - len(values))


def _hand_features() -> Features:
    ids = [_row([1, 5, 2, 6, 2]), _row([1, 5, 5, 2, 6, 6, 6, 6, 6, 6, 2])]
    attention = [_row([1] * 5), _row([1] * 11)]
    types = [_row([0, 0, 0, 1, 1]), _row([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])]
    context = [_row([0, 0, 0, 1]), _row([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])]
    question = [_row([0, 1]), _row([0, 1, 1])]
    offsets = np.full((2, 16, 2), -1, dtype=np.int32)
    offsets[0, 3] = (0, 4)
    offsets[1, 4:10] = [(0, 3), (4, 8), (9, 12), (13, 17), (18, 20), (21, 25)]
    start_multi = np.zeros((2, 16), dtype=bool)
    start_multi[1, 5] = True
    end_multi = np.zeros((2, 16), dtype=bool)
    end_multi[1, 6] = True
    bio = [_row([]), _row([0, 0, 0, 0, 0, 1, 2])]
    arrays = {
        "input_ids": np.array(ids, np.int32),
        "attention_mask": np.array(attention, np.int8),
        "token_type_ids": np.array(types, np.int8),
        "context_mask": np.array(context, bool),
        "question_mask": np.array(question, bool),
        "offsets": offsets,
        "start_positions": np.array([0, 5], np.int16),
        "end_positions": np.array([0, 6], np.int16),
        "gold_start_multi": start_multi,
        "gold_end_multi": end_multi,
        "has_answer": np.array([False, True]),
        "bio_tags": np.array(bio, np.int8),
        "neg_spans": np.array([[[0, 0], [0, 0]], [[7, 8], [0, 0]]], np.int16),
        "neg_mask": np.array([[False, False], [True, False]]),
        "bundle_spans": np.zeros((2, 1, 2), np.int16),
        "bundle_mask": np.zeros((2, 1), bool),
        "topk_spans": np.array([[[0, 0], [0, 0]], [[5, 6], [8, 8]]], np.int16),
        "topk_mask": np.array([[False, False], [True, True]]),
        "topk_is_gold": np.array([[False, False], [True, False]]),
    }
    examples = [
        TrainExample("e0", "word", "q?", ()),
        TrainExample(
            "e1",
            "six words of the context here",
            "q q?",
            ((4, 8),),
            bundle_id="b",
            bundle_answers=((4, 8),),
            bundle_gold=0,
            bundle_question=1,
        ),
    ]
    return Features(examples, np.array([0, 1, 2]), np.array([0, 1]), arrays)


def test_hand_worked_two_window_batch_is_padded_to_12_tokens() -> None:
    feats = _hand_features()
    assert check_arrays(feats.arrays, {"L": 16, "K": 2, "Z": 2, "A": 1}) == []
    assert check_padding(feats.arrays, type("Tok", (), {"pad_token_id": 0, "pad_token_type_id": 0})()) == []
    b = collate(feats, [0, 1], pad_multiple=4)
    t = b.tensors
    expected_long = {
        "input_ids": [[1, 5, 2, 6, 2, 0, 0, 0, 0, 0, 0, 0], [1, 5, 5, 2, 6, 6, 6, 6, 6, 6, 2, 0]],
        "attention_mask": [[1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]],
        "token_type_ids": [[0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]],
        "bio_tags": [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0]],
        "start_positions": [0, 5],
        "end_positions": [0, 6],
        "neg_spans": [[[0, 0], [0, 0]], [[7, 8], [0, 0]]],
        "bundle_spans": [[[0, 0]], [[0, 0]]],
        "topk_spans": [[[0, 0], [0, 0]], [[5, 6], [8, 8]]],
        "window_example": [0, 1],
        "window_bundle": [-1, 0],
        "window_question": [-1, 1],
        "bundle_gold": [-1, 0],
    }
    expected_bool = {
        "context_mask": [[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]],
        "question_mask": [[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
        "has_answer": [0, 1],
        "neg_mask": [[0, 0], [1, 0]],
        "bundle_mask": [[0], [0]],
        "topk_mask": [[0, 0], [1, 1]],
        "topk_is_gold": [[0, 0], [1, 0]],
    }
    expected_float = {
        "gold_start_multi": [[0.0] * 12, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]],
        "gold_end_multi": [[0.0] * 12, [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]],
    }
    assert set(t) == set(expected_long) | set(expected_bool) | set(expected_float)
    for name, want in expected_long.items():
        assert t[name].dtype == torch.long and t[name].tolist() == want, name
    for name, want in expected_bool.items():
        assert t[name].dtype == torch.bool and t[name].long().tolist() == want, name
    for name, want in expected_float.items():
        assert t[name].dtype == torch.float32 and t[name].tolist() == want, name
    want_offsets = np.full((2, 12, 2), -1)
    want_offsets[0, 3] = (0, 4)
    want_offsets[1, 4:10] = [(0, 3), (4, 8), (9, 12), (13, 17), (18, 20), (21, 25)]
    assert (
        isinstance(b.offsets, np.ndarray) and np.array_equal(b.offsets, want_offsets) and b.host["offsets"] is b.offsets
    )
    assert check_batch(t, {"L": 12, "B": 2, "K": 2, "A": 1, "Z": 2}) == []
    # the other order: windows follow the example order, batch-local indices restart at 0
    r = collate(feats, [1, 0], pad_multiple=4).tensors
    assert r["input_ids"][0].tolist() == expected_long["input_ids"][1]
    assert r["window_example"].tolist() == [0, 1] and r["window_bundle"].tolist() == [0, -1]
    # one window alone: its own length (5 -> 8 with pad_multiple 4)
    assert collate(feats, [0], pad_multiple=4).tensors["input_ids"].tolist() == [[1, 5, 2, 6, 2, 0, 0, 0]]


# The table alone drives collation --------------------------------------------------------------


def test_a_key_added_to_the_table_alone_is_padded_and_stacked(monkeypatch) -> None:
    feats = _hand_features()
    feats.arrays["token_weight"] = np.arange(32, dtype=np.float16).reshape(2, 16)
    with pytest.raises(
        KeyError, match=r"token_weight.*does not declare"
    ):  # an undeclared array is refused, not passed on
        collate(feats, [0, 1], pad_multiple=4)
    added = (
        Key("token_weight", ("B", "L"), "float", "window", "a new per-token weight", storage="float16"),
        Key(
            "n_answers",
            ("B",),
            "long",
            "example",
            "gold answers of the example",
            per_example=lambda exs: [len(e.answers) for e in exs],
        ),
    )
    monkeypatch.setattr(contract, "BATCH", BATCH + added)
    t = collate(feats, [0, 1], pad_multiple=4).tensors
    assert t["token_weight"].dtype == torch.float32
    assert t["token_weight"].tolist() == [list(range(12)), list(range(16, 28))]  # cut to the batch's 12 tokens
    assert t["n_answers"].dtype == torch.long and t["n_answers"].tolist() == [0, 1]
    del feats.arrays["token_weight"]
    with pytest.raises(KeyError, match=r"no 'token_weight'"):  # declared but not featurized: said, not skipped
        collate(feats, [0, 1], pad_multiple=4)


def test_storage_dtypes_come_from_the_table(monkeypatch, tokenizer) -> None:
    cfg = FeatureConfig(max_length=48, stride=8)
    monkeypatch.setattr(
        contract, "BATCH", tuple(dataclasses.replace(k, storage="int64") if k.name == "bio_tags" else k for k in BATCH)
    )
    assert featurize(tokenizer, EDGE, cfg).arrays["bio_tags"].dtype == np.int64
    monkeypatch.undo()
    assert featurize(tokenizer, EDGE, cfg).arrays["bio_tags"].dtype == np.int8


# Featurization and the synthetic batch follow the table ------------------------------------------


def test_featurized_samples_follow_the_table(train_root: Path, tmp_path: Path, tokenizer) -> None:
    examples = _sample_examples(train_root, tmp_path)
    cfg = FeatureConfig(max_length=64, stride=16, max_topk=3)
    feats = featurize(tokenizer, examples, cfg)
    assert check_arrays(feats.arrays, layout_sizes(cfg)) == []
    assert check_padding(feats.arrays, tokenizer) == []
    for name, _ in (("neg_mask", "data.near_miss"), ("bundle_mask", "data.bundles"), ("topk_mask", "data.topk_model")):
        # the sample fills every optional source, so padding is checked around data
        assert feats.arrays[name].any(), name
    t = collate(feats, list(range(len(examples)))).tensors
    assert check_batch(t, {"B": feats.n_windows, "K": cfg.max_negatives, "Z": cfg.max_topk}) == []


@pytest.mark.parametrize("which", [0, 1])
def test_other_tokenizers_pad_with_their_own_ids(which: int) -> None:
    tok = _other_fast_tokenizers()[which]
    feats = featurize(tok, EDGE, FeatureConfig(max_length=64, stride=8))
    assert check_padding(feats.arrays, tok) == []
    beyond = feats.arrays["attention_mask"] == 0
    assert beyond.any() and (feats.arrays["input_ids"][beyond] == tok.pad_token_id).all()
    if which == 1:
        assert tok.pad_token_id != 0 and "token_type_ids" not in feats.arrays  # RoBERTa layout: optional key absent


def test_checks_can_fail() -> None:
    feats = _hand_features()
    assert check_arrays(dict(feats.arrays, extra=np.zeros(2))) == [
        "extra: not a declared window key (training/batch.py)"
    ]
    bad = dict(feats.arrays, input_ids=feats.arrays["input_ids"].astype(np.int64))
    assert check_arrays(bad) == ["input_ids: stored as int64, declared int32"]
    bad = dict(feats.arrays, neg_mask=np.zeros((2, 3), bool))
    assert check_arrays(bad) == ["neg_mask: dim K is 3, but 2 in neg_spans"]
    assert check_arrays(feats.arrays, {"L": 32}) == [
        f"{k}: dim L is 16, expected 32"
        for k in (
            "input_ids",
            "attention_mask",
            "token_type_ids",
            "context_mask",
            "question_mask",
            "offsets",
            "gold_start_multi",
            "gold_end_multi",
            "bio_tags",
        )
    ]
    bad = dict(feats.arrays, bio_tags=feats.arrays["bio_tags"].copy())
    bad["bio_tags"][0, 10] = 2
    assert check_padding(bad, type("Tok", (), {"pad_token_id": 0})()) == [
        "bio_tags: 1 entries beyond the windows' tokens are not the pad 0"
    ]
    t = dict(collate(feats, [0, 1]).tensors)
    t["neg_mask"] = t["neg_mask"].long()
    del t["has_answer"]
    assert check_batch(t) == ["has_answer: missing", "neg_mask: torch.int64, declared bool"]


def test_synthetic_batch_follows_the_table() -> None:
    batch, outputs = synthetic_batch(num_windows=6, length=16, num_negatives=3, num_answers=2, num_slots=4)
    sizes = {"B": 6, "L": 16, "K": 3, "A": 2, "Z": 4}
    assert check_batch(batch, sizes) == []
    assert check_batch(outputs, sizes, sources=("model",)) == []


def test_every_loss_reads_only_declared_keys() -> None:
    for name, cls in LOSSES.items():
        assert set(cls.inputs) <= set(KEYS), (name, set(cls.inputs) - set(KEYS))
        assert set(getattr(cls, "optional_inputs", ())) <= set(cls.inputs), name


def test_the_stored_layout_is_the_one_of_cache_version_1() -> None:
    """The feature cache's layout. If this fails, bump training.features.CACHE_VERSION and update the literal:
    old caches would otherwise be refused on every load (check_arrays) instead of missed by key."""
    assert CACHE_VERSION == 1
    assert {k.name: (k.dims, k.storage, k.optional) for k in keys("window")} == {
        "input_ids": (("B", "L"), "int32", False),
        "attention_mask": (("B", "L"), "int8", False),
        "token_type_ids": (("B", "L"), "int8", True),
        "context_mask": (("B", "L"), "bool", False),
        "question_mask": (("B", "L"), "bool", False),
        "offsets": (("B", "L", 2), "int32", False),
        "start_positions": (("B",), "int16", False),
        "end_positions": (("B",), "int16", False),
        "gold_start_multi": (("B", "L"), "bool", False),
        "gold_end_multi": (("B", "L"), "bool", False),
        "has_answer": (("B",), "bool", False),
        "bio_tags": (("B", "L"), "int8", False),
        "neg_spans": (("B", "K", 2), "int16", False),
        "neg_mask": (("B", "K"), "bool", False),
        "bundle_spans": (("B", "A", 2), "int16", False),
        "bundle_mask": (("B", "A"), "bool", False),
        "topk_spans": (("B", "Z", 2), "int16", False),
        "topk_mask": (("B", "Z"), "bool", False),
        "topk_is_gold": (("B", "Z"), "bool", False),
    }


def test_a_cache_in_another_layout_is_refused_and_rebuilt(tmp_path: Path, tokenizer, capsys) -> None:
    from safetensors.numpy import load_file, save_file

    cfg = FeatureConfig(max_length=48, stride=8)
    featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    (path,) = (tmp_path / FEATURES_DIR).glob(f"*/{WINDOWS_FILE}")
    stored = load_file(str(path))
    stored["arrays.bio_tags"] = stored["arrays.bio_tags"].astype(np.int64)  # a layout this table does not declare
    save_file(stored, str(path))
    feats, hit = featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    err = capsys.readouterr().err
    assert not hit and "stored layout is not the batch table's" in err and "bio_tags: stored as int64" in err
    assert feats.arrays["bio_tags"].dtype == np.int8
    assert featurize_cached(tokenizer, EDGE, cfg, tmp_path)[1]  # rebuilt in this layout: the next call hits
    assert json.loads((path.parent / "meta.json").read_text())["version"] == CACHE_VERSION


# The config check --------------------------------------------------------------------------------


class _ReadsNegatives(torch.nn.Module):
    inputs = ("start_logits", "neg_spans", "neg_mask")

    def forward(self, **_):  # never called: the config refuses it first
        raise AssertionError


class _ReadsUndeclared(torch.nn.Module):
    inputs = ("start_logits", "span_weights")

    def forward(self, **_):
        raise AssertionError


def test_a_loss_whose_input_the_run_does_not_produce_fails_in_load_config(train_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(LOSSES, "toy_negatives", _ReadsNegatives)
    overrides = tiny_overrides(train_root, tmp_path) + ["losses=[{name: toy_negatives}]"]
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / "mle.yaml", overrides)
    assert str(err.value) == (
        "losses.0 (toy_negatives): reads neg_spans, neg_mask, which only data.near_miss produces, "
        "but data.near_miss is off — the loss would never see its inputs; set data.near_miss or "
        "remove the loss"
    )
    assert load_config(CONFIGS / "mle.yaml", overrides + ["data.near_miss=true"]).losses[0].name == "toy_negatives"


def test_a_loss_reading_an_undeclared_key_fails_in_load_config(train_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(LOSSES, "toy_undeclared", _ReadsUndeclared)
    overrides = tiny_overrides(train_root, tmp_path) + ["losses=[{name: mle}, {name: toy_undeclared, weight: 0}]"]
    with pytest.raises(
        ConfigError,
        match=r"^losses\.1 \(toy_undeclared\): reads span_weights, which no batch key or model "
        r"output declares \(training/batch.py BATCH\)",
    ):
        load_config(CONFIGS / "mle.yaml", overrides)  # even at weight 0: the objective calls every loss


def test_a_key_declared_with_its_setting_is_checked_by_the_table_alone(train_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(LOSSES, "toy_undeclared", _ReadsUndeclared)
    monkeypatch.setattr(
        contract,
        "BATCH",
        BATCH
        + (
            Key(
                "span_weights",
                ("B",),
                "float",
                "window",
                "per-window weight from flips",
                setting="data.flips",
                storage="float32",
            ),
        ),
    )
    monkeypatch.setattr(contract, "KEYS", {k.name: k for k in contract.BATCH})
    cfg = load_config(CONFIGS / "mle.yaml", tiny_overrides(train_root, tmp_path), validate=False)
    cfg = dataclasses.replace(cfg, losses=(dataclasses.replace(cfg.losses[0], name="toy_undeclared"),))
    assert check_loss_inputs(cfg) == [
        "losses.0 (toy_undeclared): reads span_weights, which only data.flips produces, but data.flips is off — the "
        "loss would never see its inputs; set data.flips or remove the loss"
    ]
    flips_on = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, flips=True))
    assert check_loss_inputs(flips_on) == []


def test_shipped_configs_pass_the_input_check() -> None:
    for path in sorted(CONFIGS.glob("*.yaml")):
        assert check_loss_inputs(load_config(path, ["model.name=tiny"], validate=False)) == [], path.name
