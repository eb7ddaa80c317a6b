"""Featurization and the model's forward passes report progress (`pipeline.progress.track`)."""

from __future__ import annotations

from pipeline.progress import set_reporter_factory
from tests.pipeline.test_progress import Recorder


def test_featurize_and_forward_passes_report_their_steps() -> None:
    from training.config import FeatureConfig, ModelConfig
    from training.data import TrainExample
    from training.features import _CHUNK, featurize
    from training.inference import _batches, window_logits
    from training.model import load_model

    model, tok = load_model(ModelConfig(name="tiny"), seed=1)
    context = "The company was founded by Ada Lovelace in London in 1843."
    examples = [TrainExample(f"x{i}", context, "Who founded the company?", ((27, 39),)) for i in range(5)]
    rec = Recorder()
    previous = set_reporter_factory(rec)
    try:
        features = featurize(tok, examples, FeatureConfig(max_length=32, stride=8))
        window_logits(model, features, batch_windows=2)
    finally:
        set_reporter_factory(previous)
    n_batches = len(_batches(features, 2))
    assert n_batches >= 3  # 5 examples, 2 windows per batch at most
    assert rec.stages == [
        {"description": f"featurize ({_CHUNK}-example chunks)", "total": 1, "done": 1, "closed": True},
        {"description": "model forward (2-window batches)", "total": n_batches, "done": n_batches, "closed": True},
    ]
