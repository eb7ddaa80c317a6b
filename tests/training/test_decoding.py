"""decode_nbest against a straightforward copy of Hugging Face's `postprocess_qa_predictions`.

The reference below is the nested loop of transformers' `examples/pytorch/question-answering/
utils_qa.py` (argsort top-n starts x ends per feature, None offsets for non-context tokens,
max_answer_length, SQuAD 2.0 minimum null score), reduced to the parts that choose the answer.
`synthetic_windows` builds sliding windows with realistic offsets; the benchmark reuses both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from training.decoding import Prediction, decode_crf, decode_nbest


@dataclass
class Windows:
    contexts: list[str]
    start_logits: np.ndarray  # (W, L) float32
    end_logits: np.ndarray  # (W, L) float32
    offsets: np.ndarray  # (W, L, 2) int64, -1 outside the context
    context_mask: np.ndarray  # (W, L) bool
    window_example: np.ndarray  # (W,) int64


def synthetic_windows(
    n_examples: int,
    seq_len: int = 384,
    stride: int = 128,
    seed: int = 0,
    mean_tokens: int = 150,
    long_share: float = 0.02,
) -> Windows:
    """Word-piece-like tokens over random word contexts, cut into [CLS] q [SEP] ctx [SEP] windows."""
    rng = np.random.default_rng(seed)
    contexts: list[str] = []
    rows: list[np.ndarray] = []
    wex: list[int] = []
    for ex in range(n_examples):
        n_tok = (
            int(rng.integers(seq_len, 2 * seq_len))
            if rng.random() < long_share
            else int(np.clip(rng.normal(mean_tokens, 40), 5, seq_len - 40))
        )
        lens = rng.integers(1, 9, size=n_tok)
        seps = rng.random(n_tok) < 0.8  # a space before the token (else: a word piece)
        seps[0] = False
        starts = np.cumsum(lens + seps) - lens
        ends = starts + lens
        chars = np.full(int(ends[-1]), "a", dtype="<U1")
        chars[(starts - 1)[seps]] = " "
        contexts.append("".join(chars))
        q_len = int(rng.integers(5, 20))
        room = seq_len - q_len - 3
        assert 0 <= stride < room - 1, "stride must leave room for new context tokens in each window"
        first = 0
        while True:
            chunk = slice(first, min(first + room, n_tok))
            row = np.full((seq_len, 2), -1, dtype=np.int64)
            k = chunk.stop - chunk.start
            row[q_len + 2 : q_len + 2 + k, 0] = starts[chunk]
            row[q_len + 2 : q_len + 2 + k, 1] = ends[chunk]
            rows.append(row)
            wex.append(ex)
            if chunk.stop >= n_tok:
                break
            first += room - stride
    offsets = np.stack(rows)
    w = len(rows)
    return Windows(
        contexts,
        rng.normal(size=(w, seq_len)).astype(np.float32),
        rng.normal(size=(w, seq_len)).astype(np.float32),
        offsets,
        offsets[..., 0] >= 0,
        np.asarray(wex, dtype=np.int64),
    )


def hf_postprocess_reference(
    win: Windows,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
) -> list[dict]:
    """Hugging Face's postprocess_qa_predictions, loop for loop, on `Windows`."""
    features_per_example: dict[int, list[int]] = {}
    for feature_index, ex in enumerate(win.window_example.tolist()):
        features_per_example.setdefault(ex, []).append(feature_index)
    out = []
    for example_index, context in enumerate(win.contexts):
        min_null_prediction = None
        prelim_predictions = []
        for feature_index in features_per_example.get(example_index, []):
            start_logits = win.start_logits[feature_index]
            end_logits = win.end_logits[feature_index]
            offset_mapping = [None if o[0] < 0 else (int(o[0]), int(o[1])) for o in win.offsets[feature_index]]
            feature_null_score = start_logits[0] + end_logits[0]
            if min_null_prediction is None or min_null_prediction["score"] > feature_null_score:
                min_null_prediction = {"offsets": (0, 0), "score": feature_null_score}
            start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
            end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if (
                        start_index >= len(offset_mapping)
                        or end_index >= len(offset_mapping)
                        or offset_mapping[start_index] is None
                        or len(offset_mapping[start_index]) < 2
                        or offset_mapping[end_index] is None
                        or len(offset_mapping[end_index]) < 2
                    ):
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    prelim_predictions.append(
                        {
                            "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                            "score": start_logits[start_index] + end_logits[end_index],
                        }
                    )
        null_score = None
        if version_2_with_negative and min_null_prediction is not None:
            prelim_predictions.append(min_null_prediction)
            null_score = min_null_prediction["score"]
        predictions = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[:n_best_size]
        if (
            version_2_with_negative
            and min_null_prediction is not None
            and not any(p["offsets"] == (0, 0) for p in predictions)
        ):
            predictions.append(min_null_prediction)
        for pred in predictions:
            pred["text"] = context[pred["offsets"][0] : pred["offsets"][1]]
        if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
            predictions.insert(0, {"text": "empty", "offsets": (0, 0), "score": 0.0})
        if not version_2_with_negative:
            answer = predictions[0]["text"]
        else:
            i = 0
            while predictions[i]["text"] == "":
                i += 1
            score_diff = null_score - predictions[i]["score"]
            answer = "" if score_diff > null_score_diff_threshold else predictions[i]["text"]
        out.append({"text": answer, "predictions": predictions, "null_score": null_score})
    return out


def _decode(win: Windows, **kw) -> list[Prediction]:
    return decode_nbest(
        win.start_logits, win.end_logits, win.context_mask, win.offsets, win.window_example, win.contexts, **kw
    )


def _assert_same_answer(ours: Prediction, ref: dict) -> None:
    if ref["text"] == "empty":  # HF's placeholder when no span is valid; we answer "" with no n-best
        assert ours.text == "" and ours.start is None and not ours.nbest
    else:
        assert ours.text == ref["text"]


def _distinct(preds: list[dict]) -> list[tuple[str, int, int, float]]:
    seen, out = set(), []
    for p in preds:
        if p["offsets"] != (0, 0) and p["offsets"] not in seen:
            seen.add(p["offsets"])
            out.append((p["text"], *p["offsets"], float(p["score"])))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_answers_and_nbest_as_reference(seed: int) -> None:
    win = synthetic_windows(150, seq_len=128, stride=32, seed=seed, mean_tokens=80, long_share=0.3)
    assert len(win.window_example) > 200  # many examples have several windows
    ours = _decode(win)
    ref = hf_postprocess_reference(win)
    for o, r in zip(ours, ref, strict=True):
        _assert_same_answer(o, r)
        # HF keeps duplicate spans from overlapping windows; its distinct spans are our n-best's prefix
        expected = _distinct(r["predictions"])
        got = [(c.text, c.start, c.end, c.score) for c in o.nbest[: len(expected)]]
        assert got == expected


@pytest.mark.parametrize(("n_best", "max_len"), [(1, 30), (5, 3), (20, 1), (7, 12)])
def test_n_best_and_max_answer_len_match_reference(n_best: int, max_len: int) -> None:
    win = synthetic_windows(80, seq_len=96, stride=24, seed=7, mean_tokens=60, long_share=0.4)
    ours = _decode(win, n_best=n_best, max_answer_len=max_len)
    ref = hf_postprocess_reference(win, n_best_size=n_best, max_answer_length=max_len)
    for o, r in zip(ours, ref, strict=True):
        _assert_same_answer(o, r)
        assert all(c.end - c.start >= 1 for c in o.nbest)


@pytest.mark.parametrize("threshold", [-2.0, 0.0, 1.5])
def test_squad2_null_threshold_matches_reference(threshold: float) -> None:
    win = synthetic_windows(120, seq_len=96, stride=24, seed=3, mean_tokens=60, long_share=0.4)
    win.start_logits[:, 0] += 2.0  # make the null competitive
    ours = _decode(win, null_rule="cls_threshold", null_threshold=threshold)
    ref = hf_postprocess_reference(win, version_2_with_negative=True, null_score_diff_threshold=threshold)
    n_null = 0
    for o, r in zip(ours, ref, strict=True):
        _assert_same_answer(o, r)
        assert o.null_score == pytest.approx(float(r["null_score"]), abs=0)
        n_null += o.text == ""
    assert 0 < n_null < len(ours)


def test_negative_score_rule() -> None:
    win = synthetic_windows(60, seq_len=96, stride=24, seed=4, mean_tokens=50)
    plain = _decode(win)
    neg = _decode(win, null_rule="negative_score")
    for p, n in zip(plain, neg, strict=True):
        assert n.text == ("" if p.score < 0 else p.text)
        assert n.nbest == p.nbest
    assert any(p.score < 0 for p in plain) and any(p.score >= 0 for p in plain)


def test_hand_made_windows_pick_best_over_windows() -> None:
    context = "alpha beta gamma delta"
    offsets = torch.tensor(
        [[[-1, -1], [0, 5], [6, 10], [11, 16], [-1, -1]], [[-1, -1], [6, 10], [11, 16], [17, 22], [-1, -1]]]
    )
    start = torch.tensor([[9.0, 1, 0, 0, 50], [0, -3, -3, 5, 0]])
    end = torch.tensor([[9.0, 0, 2, 0, 50], [0, -3, -3, 4, 0]])
    mask = offsets[..., 0] >= 0
    [p] = decode_nbest(start, end, mask, offsets, torch.tensor([0, 0]), [context], n_best=5)
    assert (p.text, p.start, p.end, p.score) == ("delta", 17, 22, 9.0)  # padding logits 50 never used
    assert p.null_score == 0.0  # min over the two windows' CLS scores (18 and 0)
    assert [(c.text, c.score) for c in p.nbest][:3] == [("delta", 9.0), ("alpha beta", 3.0), ("beta", 2.0)]
    assert len({(c.start, c.end) for c in p.nbest}) == len(p.nbest)
    [q] = decode_nbest(
        start, end, mask, offsets, torch.tensor([0, 0]), [context], null_rule="cls_threshold", null_threshold=-10.0
    )
    assert q.text == "" and q.start is None and q.score == 9.0


def test_example_without_windows_and_bad_shapes() -> None:
    win = synthetic_windows(3, seq_len=64, stride=16, seed=5, mean_tokens=20)
    preds = decode_nbest(
        win.start_logits,
        win.end_logits,
        win.context_mask,
        win.offsets,
        win.window_example,
        win.contexts + ["no windows"],
    )
    assert preds[3].text == "" and preds[3].null_score is None and preds[3].nbest == ()
    with pytest.raises(ValueError, match="offsets"):
        decode_nbest(
            win.start_logits, win.end_logits, win.context_mask, win.offsets[:, :10], win.window_example, win.contexts
        )
    with pytest.raises(ValueError, match="null_rule"):
        _decode(win, null_rule="bogus")  # type: ignore[arg-type]


class _StubCrf:
    """Test-only stand-in for BioCrf.decode: fixed spans per window."""

    def __init__(self, spans):
        self.spans = spans

    def decode(self, emissions, mask, allowed=None):
        return self.spans


def test_decode_crf_maps_tokens_to_chars_and_picks_best_window() -> None:
    contexts = ["alpha beta gamma", "one two"]
    offsets = torch.tensor(
        [
            [[-1, -1], [0, 5], [6, 10], [11, 16]],
            [[-1, -1], [6, 10], [11, 16], [-1, -1]],
            [[-1, -1], [0, 3], [4, 7], [-1, -1]],
        ]
    )
    emissions = torch.zeros(3, 4, 3)
    emissions[0, 1, 1] = 1.0  # window 0: "alpha beta" gains 1.0 + 0.5
    emissions[0, 2, 2] = 0.5
    emissions[1, 2, 1] = 3.0  # window 1: "gamma" gains 3.0 -> wins example 0
    mask = torch.ones(3, 4, dtype=torch.bool)
    crf = _StubCrf([(1, 2), (2, 2), (2, 3)])  # window 2's span touches padding -> dropped
    preds = decode_crf(crf, emissions, mask, offsets[..., 0] >= 0, offsets, torch.tensor([0, 0, 1]), contexts)
    assert (preds[0].text, preds[0].start, preds[0].end, preds[0].score) == ("gamma", 11, 16, 3.0)
    assert preds[1].text == "" and preds[1].start is None


def test_decode_crf_with_real_bio_crf() -> None:
    crf_mod = pytest.importorskip("training.crf", reason="training/crf.py not written yet")
    crf = crf_mod.BioCrf()
    emissions = torch.full((1, 5, 3), -5.0)
    emissions[0, :, 0] = 0.0
    emissions[0, 2, 1], emissions[0, 3, 2] = 8.0, 8.0  # B at 2, I at 3
    offsets = torch.tensor([[[-1, -1], [0, 2], [3, 5], [6, 8], [9, 11]]])
    [p] = decode_crf(
        crf,
        emissions,
        torch.ones(1, 5, dtype=torch.bool),
        offsets[..., 0] >= 0,
        offsets,
        torch.tensor([0]),
        ["aa bb cc dd"],
    )
    assert (p.text, p.start, p.end) == ("bb cc", 3, 8)


def test_decode_crf_searches_context_tokens_only() -> None:
    """Defect 8 of issue 9: a best path through question tokens must not drop the window's answer.

    Window: [CLS] q1 q2 [SEP] c1 c2. Emissions (O, B, I), zero transitions:
    question tokens q1 = (0, 9, -5), q2 = (0, -5, 9): the unconstrained best path is B I on
    the question, gain 18. Context c1 = (0, 3, -5): the best context span is "c1" with gain 3.
    Decoding over every real token returns (1, 2), which touches the question and is
    dropped, so the window answered "" before the fix; with allowed = context it is "c1".
    """
    crf_mod = pytest.importorskip("training.crf")
    crf = crf_mod.BioCrf()
    emissions = torch.tensor(
        [
            [
                [0.0, -5.0, -5.0],
                [0.0, 9.0, -5.0],
                [0.0, -5.0, 9.0],
                [0.0, -5.0, -5.0],
                [0.0, 3.0, -5.0],
                [0.0, -5.0, -5.0],
            ]
        ]
    )
    offsets = torch.tensor([[[-1, -1], [-1, -1], [-1, -1], [-1, -1], [0, 2], [3, 5]]])
    assert crf.decode(emissions, torch.ones(1, 6, dtype=torch.bool)) == [(1, 2)]  # the trap
    [p] = decode_crf(
        crf, emissions, torch.ones(1, 6, dtype=torch.bool), offsets[..., 0] >= 0, offsets, torch.tensor([0]), ["c1 c2"]
    )
    assert (p.text, p.start, p.end, p.score) == ("c1", 0, 2, 3.0)


def _real_windows():
    """Windows from the packaged MiniLM tokenizer through `training.features.featurize`."""
    transformers = pytest.importorskip("transformers")
    from training.config import ConfigError, FeatureConfig, minilm_path
    from training.data import TrainExample
    from training.features import featurize

    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(minilm_path()), use_fast=True)
    except ConfigError as e:
        pytest.skip(str(e))
    text = (
        "In 1998 Alice Smith founded the Orchard Company in Boston, and Bob Jones joined it in 2001 as its "
        "chief engineer. The archive that records these events is kept in a stone building near the old "
        "harbour, where visitors can read letters, maps and ledgers from many decades of local history."
    )
    qas = [
        ("Who founded the company?", "Alice Smith"),
        ("Where is the archive?", "a stone building"),
        ("What can visitors read?", "letters, maps and ledgers"),
        ("When did Bob join?", "2001"),
    ]
    exs = [TrainExample(f"q{i}", text, q, ((text.index(a), text.index(a) + len(a)),)) for i, (q, a) in enumerate(qas)]
    feats = featurize(tok, exs, FeatureConfig(max_length=48, stride=16))
    return feats, [a for _, a in qas]


def test_real_tokenizer_windows_gold_logits_and_reference() -> None:
    feats, answers = _real_windows()
    a = feats.arrays
    assert feats.n_windows > len(answers)  # the contexts need several windows
    w = np.arange(feats.n_windows)
    start = np.full(a["offsets"].shape[:2], -5.0, dtype=np.float32)
    end = start.copy()
    start[w[a["has_answer"]], a["start_positions"][a["has_answer"]]] = 5.0
    end[w[a["has_answer"]], a["end_positions"][a["has_answer"]]] = 5.0
    contexts = [e.context for e in feats.examples]
    preds = decode_nbest(start, end, a["context_mask"], a["offsets"], feats.window_example, contexts)
    assert [p.text for p in preds] == answers
    rng = np.random.default_rng(0)
    win = Windows(
        contexts,
        rng.normal(size=start.shape).astype(np.float32),
        rng.normal(size=start.shape).astype(np.float32),
        a["offsets"],
        a["context_mask"],
        feats.window_example,
    )
    for o, r in zip(_decode(win), hf_postprocess_reference(win), strict=True):
        _assert_same_answer(o, r)


def test_distinct_starts_keeps_the_best_end_per_start() -> None:
    from training.decoding import distinct_starts

    win = synthetic_windows(30, seq_len=96, stride=24, seed=9, mean_tokens=60)
    for p in _decode(win, n_best=40):
        top = distinct_starts(p.nbest, 5)
        assert len({c.start for c in top}) == len(top) == min(5, len({c.start for c in p.nbest}))
        for c in top:  # no better candidate shares its start
            assert c.score == max(x.score for x in p.nbest if x.start == c.start)
        assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)
