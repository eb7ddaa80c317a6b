"""Top-k candidates: diverse vs plain selection, gold / sub-super-string flags, gold at the last rank."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch

from pipeline import io, schemas
from training.config import ModelConfig
from training.data import TrainExample
from training.decoding import Candidate, Prediction, decode_nbest
from training.model import load_model
from training.topk import (
    TopkCandidate,
    gold_flags,
    pool_size,
    sample_topk,
    select_candidates,
    topk_candidates,
    topk_frame,
    with_gold_last,
)

CONTEXT = "Alice Smith founded the Orchard Company in Boston in 1998 with Bob Jones."


def _cand(text: str, score: float) -> Candidate:
    start = CONTEXT.index(text)
    return Candidate(text, start, start + len(text), score)


def test_gold_flags_follow_official_normalisation_and_token_containment() -> None:
    golds = ["the Orchard Company", "Alice Smith"]
    assert gold_flags("Orchard Company", golds) == (True, False)  # article dropped
    assert gold_flags("Smith", golds) == (False, True)  # sub-string of a gold
    assert gold_flags("Alice Smith founded", golds) == (False, True)  # super-string
    assert gold_flags("Smi", golds) == (False, False)  # not a token sub-sequence
    assert gold_flags("Boston", golds) == (False, False)
    assert gold_flags("", golds) == (False, False)


def test_diverse_keeps_one_span_per_start_plain_keeps_the_best_spans() -> None:
    nbest = [
        _cand("Alice Smith", 9.0),
        _cand("Alice", 8.0),
        _cand("Bob Jones", 7.0),
        _cand("Boston", 6.0),
        _cand("Bob", 5.0),
    ]
    assert [c.text for c in select_candidates(nbest, 3, "diverse")] == ["Alice Smith", "Bob Jones", "Boston"]
    assert [c.text for c in select_candidates(nbest, 3, "plain")] == ["Alice Smith", "Alice", "Bob Jones"]
    assert pool_size(20, "diverse") > pool_size(20, "plain") >= 20
    with pytest.raises(ValueError, match="mode"):
        pool_size(2, "random")  # type: ignore[arg-type]


def test_diverse_from_real_decoding_has_distinct_starts_with_their_best_end() -> None:
    # one window, 6 context tokens at chars [0,2), [3,5), ...; start 1 is strong with two good ends
    offsets = torch.tensor([[[-1, -1]] + [[3 * i, 3 * i + 2] for i in range(6)]])
    start = torch.tensor([[0.0, 0.0, 5.0, 4.0, 0.0, 0.0, 0.0]])
    end = torch.tensor([[0.0, 0.0, 0.0, 3.0, 2.5, 0.0, 0.0]])
    mask = offsets[..., 0] >= 0
    (pred,) = decode_nbest(start, end, mask, offsets, torch.zeros(1, dtype=torch.long), ["x" * 20], n_best=10)
    diverse = select_candidates(pred.nbest, 2, "diverse")
    # start tok 2 → best end tok 3; then start tok 3 → tok 3
    assert [(c.start, c.end) for c in diverse] == [(3, 8), (6, 8)]
    assert [(c.start, c.end) for c in select_candidates(pred.nbest, 2, "plain")] == [(3, 8), (3, 11)]


def test_gold_inserted_at_last_rank_only_when_missing() -> None:
    pred = Prediction("Boston", 0, 0, 3.0, None, [_cand("Boston", 3.0), _cand("Bob Jones", 2.0), _cand("Smith", 1.0)])
    cands = topk_candidates(pred, ["Alice Smith"], 3, "plain")
    assert [c.overlaps_gold for c in cands] == [False, False, True] and not any(c.is_gold for c in cands)
    forced = with_gold_last(cands, ("Alice Smith", 0, 11), z=3)
    assert [c.text for c in forced] == ["Boston", "Bob Jones", "Alice Smith"]
    assert forced[-1].is_gold and forced[-1].rank == 2 and math.isnan(forced[-1].score)
    assert [c.text for c in with_gold_last(cands[:1], ("Alice Smith", 0, 11), z=20)] == ["Boston", "Alice Smith"]
    has_gold = [TopkCandidate(0, "Alice Smith", 0, 11, 1.0, True, False)]
    assert with_gold_last(has_gold, ("Alice Smith", 0, 11)) == has_gold
    assert with_gold_last(cands, None) == cands  # unanswerable: nothing to insert


def test_topk_frame_fits_the_schema() -> None:
    ex = TrainExample("q1", CONTEXT, "Who founded it?", ((0, 11),))
    pred = Prediction("Boston", 0, 0, 3.0, None, [_cand("Boston", 3.0), _cand("Alice Smith", 2.0)])
    frame = topk_frame([ex], [pred], ["c1"], k=20, mode="plain", force_gold=True)
    io.to_table(frame, schemas.TOPK)
    assert frame["rank"].to_list() == [0, 1] and frame["is_gold"].to_list() == [False, True]
    assert frame["span"].struct.field("text").to_list() == ["Boston", "Alice Smith"]
    assert topk_frame([], [], [], 3, "plain").height == 0


def test_sample_topk_with_a_tiny_model() -> None:
    model, tok = load_model(ModelConfig(name="tiny"), seed=0)
    ex = io.empty_frame(schemas.EXAMPLES).vstack(
        pl.DataFrame(
            [
                {
                    "example_id": "q1",
                    "context_id": "c1",
                    "title": "",
                    "question": "Who founded the Orchard Company?",
                    "answers": [{"text": "Alice Smith", "start": 0, "end": 11}],
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
    )
    ctx = pl.DataFrame({"context_id": ["c1"], "context": [CONTEXT]})
    frame = sample_topk(model, tok, ex, ctx, k=20, mode="plain", force_gold=True)
    assert frame.height == 20 and frame["rank"].to_list() == list(range(20))
    scores = frame["score"].to_numpy()[:-1] if not frame["is_gold"][:-1].any() else frame["score"].to_numpy()
    assert np.all(np.diff(scores[np.isfinite(scores)]) <= 1e-6)  # ranked by score
    assert frame["is_gold"].sum() >= 1  # gold present or inserted last
    spans = frame["span"].struct.unnest()
    assert spans.select(pl.struct("start", "end").n_unique()).item() == 20  # distinct spans
    diverse = sample_topk(model, tok, ex, ctx, k=5, mode="diverse")
    assert diverse["span"].struct.field("start").n_unique() == diverse.height == 5
