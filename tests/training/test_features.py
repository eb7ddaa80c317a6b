"""Sliding windows and char-span → token mapping (against slow loop references)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.training.conftest import tiny_overrides
from training.config import FeatureConfig, load_config
from training.data import TrainExample, load_examples
from training.features import B_TAG, I_TAG, collate, featurize, map_char_span
from training.model import load_tokenizer

MLE = Path(__file__).resolve().parents[2] / "training" / "configs" / "mle.yaml"
SMALL = FeatureConfig(max_length=32, stride=8)
CONTEXT = (
    "In 1998 Alice Smith founded the Orchard Company in Boston, and Bob Jones joined it in 2001. "
    "The archive is kept in a stone building near the old harbour, where visitors read letters, maps "
    "and ledgers. Volunteers guide small groups every weekend and answer questions about the collection."
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(load_config(None, ["model.name=tiny"], validate=False).model)


def _other_fast_tokenizers():
    """A WordPiece and a byte-level BPE fast tokenizer trained offline on the test text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    out = []
    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.train_from_iterator(
        [CONTEXT] * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    )
    wp.post_processor = processors.BertProcessing(
        ("[SEP]", wp.token_to_id("[SEP]")), ("[CLS]", wp.token_to_id("[CLS]"))
    )
    out.append(
        PreTrainedTokenizerFast(
            tokenizer_object=wp, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
        )
    )
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        [CONTEXT] * 3,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<s>", "<pad>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    bpe.post_processor = processors.RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")), trim_offsets=True
    )
    out.append(
        PreTrainedTokenizerFast(
            tokenizer_object=bpe,
            bos_token="<s>",
            eos_token="</s>",
            pad_token="<pad>",
            cls_token="<s>",
            sep_token="</s>",
        )
    )
    return out


def _reference(offsets: np.ndarray, start: int, end: int):
    """Slow loop: the span is inside when the window's context tokens cover [start, end)."""
    ctx = [i for i in range(len(offsets)) if offsets[i, 0] >= 0]
    if not ctx or start < offsets[ctx[0], 0] or end > offsets[ctx[-1], 1] or end <= start:
        return None
    s = [i for i in ctx if offsets[i, 0] <= start][-1]
    e = [i for i in ctx if offsets[i, 1] >= end][0]
    return (s, e) if e >= s else None


def _example(answers, negatives=()):
    return TrainExample("x", CONTEXT, "Who founded the company?", tuple(answers), negatives=tuple(negatives))


def _span(text: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = CONTEXT.index(text, start + 1)
    return start, start + len(text)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(CONTEXT) - 1), st.integers(1, 40))
def test_map_char_span_matches_loop_reference(tokenizer, start: int, length: int) -> None:
    feats = featurize(tokenizer, [_example([])], SMALL)
    end = min(len(CONTEXT), start + length)
    for offsets in feats.arrays["offsets"]:
        assert map_char_span(offsets, start, end) == _reference(offsets, start, end)


@pytest.mark.parametrize("which", ["minilm", "wordpiece", "bytelevel_bpe"])
def test_gold_maps_to_its_text_in_every_window_holding_it(tokenizer, which: str) -> None:
    tok = {"minilm": tokenizer}.get(which) or _other_fast_tokenizers()[["wordpiece", "bytelevel_bpe"].index(which)]
    gold = _span("stone building")
    feats = featurize(tok, [_example([gold])], SMALL)
    a, offsets = feats.arrays, feats.arrays["offsets"]
    assert feats.n_windows >= 3, feats.n_windows
    inside_any = False
    for w in range(feats.n_windows):
        ctx = offsets[w, a["context_mask"][w]]
        holds = ctx[0, 0] <= gold[0] and gold[1] <= ctx[-1, 1]
        assert bool(a["has_answer"][w]) == holds
        if holds:
            inside_any = True
            s, e = a["start_positions"][w], a["end_positions"][w]
            assert CONTEXT[offsets[w, s, 0] : offsets[w, e, 1]].strip() == "stone building"
            assert a["bio_tags"][w, s] == B_TAG and (a["bio_tags"][w, s + 1 : e + 1] == I_TAG).all()
            assert a["bio_tags"][w].astype(bool).sum() == e - s + 1
        else:
            assert a["start_positions"][w] == 0 and a["end_positions"][w] == 0 and not a["bio_tags"][w].any()
    assert inside_any


def test_multi_hot_holds_every_gold_and_first_gold_sets_positions(tokenizer) -> None:
    golds = [_span("Alice Smith"), _span("Bob Jones")]
    a = featurize(tokenizer, [_example(golds)], FeatureConfig(max_length=128, stride=32)).arrays
    assert a["gold_start_multi"][0].sum() == 2 and a["gold_end_multi"][0].sum() == 2
    assert a["gold_start_multi"][0, a["start_positions"][0]] == 1


def test_negatives_count_only_in_windows_holding_the_gold(tokenizer) -> None:
    gold, near, far = _span("Alice Smith"), _span("Bob Jones"), _span("stone building")
    feats = featurize(tokenizer, [_example([gold], [near, far])], SMALL)
    a = feats.arrays
    for w in range(feats.n_windows):
        if not a["has_answer"][w]:
            assert not a["neg_mask"][w].any()
        for k in range(2):
            if a["neg_mask"][w, k]:
                s, e = a["neg_spans"][w, k]
                text = CONTEXT[a["offsets"][w, s, 0] : a["offsets"][w, e, 1]]
                assert text == ("Bob Jones", "stone building")[k]
    assert a["neg_mask"][:, 0].any()


def test_collate_keeps_bundle_indices_and_trims(train_root: Path, tmp_path: Path, tokenizer) -> None:
    cfg = load_config(MLE, tiny_overrides(train_root, tmp_path) + ["data.bundles={kind: ropes-mined}"])
    examples = load_examples(cfg.data)
    feats = featurize(tokenizer, examples, cfg.features)
    members = [i for i, e in enumerate(examples) if e.bundle_id == "b0"]
    batch = collate(feats, [0] + members)
    t = batch.tensors
    assert t["input_ids"].shape[1] % 8 == 0 and t["input_ids"].shape[1] <= cfg.features.max_length
    assert t["attention_mask"].sum(1).max() <= t["input_ids"].shape[1]
    in_bundle = t["window_bundle"] == 0
    assert (t["window_bundle"][~in_bundle] == -1).all() and in_bundle.any()
    assert set(t["window_question"][in_bundle].tolist()) == {0, 1}
    assert set(t["bundle_gold"][in_bundle].tolist()) == {0, 1}
    held = t["bundle_mask"] & in_bundle[:, None]
    for w, a in zip(*np.nonzero(held.numpy())):
        ex = examples[batch.example_index[int(t["window_example"][w])]]
        s, e = t["bundle_spans"][w, a].tolist()
        got = ex.context[batch.offsets[w, s, 0] : batch.offsets[w, e, 1]]
        want = ex.context[ex.bundle_answers[a][0] : ex.bundle_answers[a][1]]
        assert got == want
