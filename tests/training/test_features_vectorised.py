"""The vectorised featurization equals the per-window one it replaced; the window cache.

`tests/training/features_reference.py` is the implementation before issue 14 (per-window
`sequence_ids` in Python). Every array, its dtype and shape, the window → example maps, are
compared window by window: on the sample artifacts with every source attached (negatives,
bundles, flips, synthetic, top-k), on edge cases (literal special-token text, an empty
context, answers outside every window), with three tokenizer families, and on all of
SQuAD 1.1 dev.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import tiny_overrides
from tests.training.features_reference import reference_featurize
from tests.training.test_features import CONTEXT, _other_fast_tokenizers
from training.config import FeatureConfig, load_config
from training.data import TrainExample, load_examples
from training.features import FEATURES_DIR, WINDOWS_FILE, Features, featurize, featurize_cached, pair_template
from training.model import load_tokenizer

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(load_config(None, ["model.name=tiny"], validate=False).model)


def assert_same(new: Features, old: Features) -> None:
    assert new.arrays.keys() == old.arrays.keys()
    assert np.array_equal(new.example_windows, old.example_windows)
    assert np.array_equal(new.window_example, old.window_example)
    for key in old.arrays:
        a, b = new.arrays[key], old.arrays[key]
        assert (a.dtype, a.shape) == (b.dtype, b.shape), key
        for w in range(b.shape[0]):
            if not np.array_equal(a[w], b[w]):
                raise AssertionError(f"{key}, window {w} (example {old.window_example[w]}): {a[w]} != {b[w]}")


def _sample_examples(train_root: Path, tmp_path: Path) -> list[TrainExample]:
    """Every source: negatives, flips, bundles and top-k; then the synthetic examples (they replace their parents)."""
    examples = []
    for sources in (
        ["data.near_miss=true", "data.flips=true", "data.bundles={kind: ropes-mined}"],
        ["data.synthetic=true"],
    ):
        cfg = load_config(
            CONFIGS / "mle.yaml",
            tiny_overrides(train_root, tmp_path) + sources + ["data.topk_model=base"],
            validate=False,
        )
        examples += load_examples(cfg.data, max_topk=cfg.features.max_topk)
    assert any(e.extra["origin"] == "synthetic" for e in examples) and any(
        e.extra["origin"] == "flip" for e in examples
    )
    assert any(e.negatives for e in examples) and any(e.bundle_id for e in examples) and any(e.topk for e in examples)
    return examples


@pytest.mark.parametrize(
    "features",
    [
        FeatureConfig(max_length=64, stride=16),
        FeatureConfig(max_length=32, stride=8, max_topk=3),
        FeatureConfig(max_length=384, stride=128),
    ],
)
def test_samples_identical_to_the_reference(
    train_root: Path, tmp_path: Path, tokenizer, features: FeatureConfig
) -> None:
    examples = _sample_examples(train_root, tmp_path)
    assert_same(featurize(tokenizer, examples, features), reference_featurize(tokenizer, examples, features))


EDGE = [
    TrainExample(
        "sep",
        CONTEXT + " A literal [SEP] and [CLS] and <s> </s> [PAD] here.",
        "Is [SEP] a [CLS] token?",
        ((0, 7),),
        negatives=((8, 19),),
        topk=((0, 7), (500, 600)),
        topk_is_gold=(True, False),
    ),
    TrainExample("empty-context", "", "Who?", ()),
    TrainExample("outside", "Short text.", "Where?", ((3, 900),), negatives=((-1, -1),)),
    TrainExample("long-question", CONTEXT, " ".join(["question"] * 6) + "?", ((8, 19),)),
    TrainExample(
        "unicode", "Café über naïve — 東京 was founded in 1457 by ✓ people.", "When was 東京 founded?", ((33, 37),)
    ),
]


@pytest.mark.parametrize("which", ["minilm", "wordpiece", "bytelevel_bpe"])
def test_edge_cases_and_other_tokenizers_identical(tokenizer, which: str) -> None:
    tok = {"minilm": tokenizer}.get(which) or _other_fast_tokenizers()[["wordpiece", "bytelevel_bpe"].index(which)]
    for cfg in (FeatureConfig(max_length=64, stride=8), FeatureConfig(max_length=128, stride=32)):
        assert_same(featurize(tok, EDGE, cfg), reference_featurize(tok, EDGE, cfg))


def test_pair_template_of_bert_and_roberta_layouts(tokenizer) -> None:
    assert pair_template(tokenizer) == (1, 1)  # [CLS] q [SEP] c [SEP]
    assert pair_template(_other_fast_tokenizers()[1]) == (1, 2)  # <s> q </s></s> c </s>


@pytest.mark.slow
@pytest.mark.integration
def test_squad11_dev_identical_to_the_reference(shared_data: Path, tokenizer) -> None:
    with open(shared_data / "squad" / "v1.1" / "dev-v1.1.json", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    examples = [
        TrainExample(
            qa["id"],
            p["context"],
            qa["question"],
            tuple(dict.fromkeys((a["answer_start"], a["answer_start"] + len(a["text"])) for a in qa["answers"])),
        )
        for art in articles
        for p in art["paragraphs"]
        for qa in p["qas"]
    ]
    assert len(examples) == 10570
    cfg = FeatureConfig()  # 384 / 128, the configs' windows
    assert_same(featurize(tokenizer, examples, cfg), reference_featurize(tokenizer, examples, cfg))


# Cache -----------------------------------------------------------------------------------------


def test_cache_hit_skips_tokenizing_and_any_change_misses(tmp_path: Path, tokenizer, monkeypatch) -> None:
    cfg = FeatureConfig(max_length=48, stride=8)
    first, hit = featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    assert not hit
    folders = list((tmp_path / FEATURES_DIR).iterdir())
    assert len(folders) == 1 and (folders[0] / WINDOWS_FILE).is_file() and not folders[0].name.startswith(".")
    calls = []
    monkeypatch.setattr(tokenizer.__class__, "__call__", lambda *a, **k: calls.append(1))  # a hit must not tokenize
    again, hit = featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    assert hit and not calls
    assert_same(again, first)
    assert again.examples is EDGE
    monkeypatch.undo()
    # every part of the key: the features config, the examples' content, the tokenizer
    changed = [EDGE[0].__class__(**{**EDGE[0].__dict__, "question": "Is [SEP] a token?"})] + EDGE[1:]
    for args in (
        (tokenizer, EDGE, FeatureConfig(max_length=48, stride=16)),
        (tokenizer, changed, cfg),
        (_other_fast_tokenizers()[0], EDGE, cfg),
    ):
        feats, hit = featurize_cached(*args, tmp_path)
        assert not hit
        assert_same(feats, featurize(*args))
    assert len(list((tmp_path / FEATURES_DIR).iterdir())) == 4


def test_a_truncated_cache_is_said_and_rebuilt(tmp_path: Path, tokenizer, capsys) -> None:
    cfg = FeatureConfig(max_length=48, stride=8)
    featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    (path,) = (tmp_path / FEATURES_DIR).glob(f"*/{WINDOWS_FILE}")
    path.write_bytes(path.read_bytes()[:100])
    feats, hit = featurize_cached(tokenizer, EDGE, cfg, tmp_path)
    assert not hit and "warning: feature cache" in capsys.readouterr().err
    assert_same(feats, featurize(tokenizer, EDGE, cfg))
    assert featurize_cached(tokenizer, EDGE, cfg, tmp_path)[1]  # rebuilt: the next call hits


def test_an_unwritable_root_still_featurizes(tmp_path: Path, tokenizer, capsys) -> None:
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the artifact root should be")  # fails for root too, unlike chmod
    feats, hit = featurize_cached(tokenizer, EDGE, FeatureConfig(max_length=48, stride=8), root)
    assert not hit and feats.n_windows > 0 and "cannot write the feature cache" in capsys.readouterr().err


def test_training_reuses_the_cached_windows(train_root: Path, tmp_path: Path) -> None:
    from training.loop import train

    root = tmp_path / "artifacts"
    shutil.copytree(train_root, root, ignore=shutil.ignore_patterns(FEATURES_DIR))  # other tests cache into train_root
    overrides = tiny_overrides(root, tmp_path / "runs", steps=1)
    train(load_config(CONFIGS / "mle.yaml", overrides + ["run_name=a"]))
    (folder,) = (root / FEATURES_DIR).iterdir()
    stamp = (folder / WINDOWS_FILE).stat().st_mtime_ns
    train(load_config(CONFIGS / "mle.yaml", overrides + ["run_name=b"]))
    assert [p.name for p in (root / FEATURES_DIR).iterdir()] == [folder.name]
    assert (folder / WINDOWS_FILE).stat().st_mtime_ns == stamp  # hit: not rewritten
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["label"] == "sample/train" and meta["n_windows"] > 0
