"""Progress of long stages: `pipeline.progress.track` counts, `flows.progress` shows them.

.venv/bin/python -m pytest -q tests/pipeline/test_progress.py
"""

from __future__ import annotations

import io as _io

import pytest
from rich.console import Console

from pipeline.progress import set_reporter_factory, track


class Recorder:
    def __init__(self) -> None:
        self.stages: list[dict] = []

    def __call__(self, description: str, total: int):
        stage = {"description": description, "total": total, "done": 0, "closed": False}
        self.stages.append(stage)

        class R:
            def advance(self, n: int = 1) -> None:
                stage["done"] += n

            def close(self) -> None:
                stage["closed"] = True

        return R()


@pytest.fixture
def recorder():
    rec = Recorder()
    previous = set_reporter_factory(rec)
    yield rec
    set_reporter_factory(previous)


def test_track_without_a_reporter_is_the_plain_iterable() -> None:
    assert list(track(iter([1, 2, 3]), "x", 3)) == [1, 2, 3]


def test_track_reports_each_item_and_closes_even_on_error(recorder: Recorder) -> None:
    assert list(track(range(4), "miner", 4)) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError):
        for i in track(range(10), "broken", 10):
            if i == 2:
                raise RuntimeError("stop")
    assert recorder.stages == [
        {"description": "miner", "total": 4, "done": 4, "closed": True},
        {"description": "broken", "total": 10, "done": 2, "closed": True},
    ]


def test_the_index_reports_one_step_per_parsed_context(recorder: Recorder, root) -> None:
    import polars as pl

    from pipeline.nlp import IndexConfig
    from pipeline.spacy_index import build_index

    texts = ["Paris is in France.", "Rome is in Italy.", "Bern is in Switzerland."]
    contexts = pl.DataFrame({"context_id": ["a", "b", "c"], "context": texts})
    build_index(root, contexts, IndexConfig())
    assert recorder.stages == [{"description": "index (en_core_web_sm)", "total": 3, "done": 3, "closed": True}]
    build_index(root, contexts, IndexConfig())  # nothing new: no parse, no progress
    assert len(recorder.stages) == 1


def test_terminal_bar_shows_counts_rate_and_eta_and_is_quiet_off_a_terminal() -> None:
    from flows.progress import reporter_factory

    out = _io.StringIO()
    tty = Console(file=out, force_terminal=True, width=120)
    make = reporter_factory(tty, prefect=False)
    r = make("index (en_core_web_sm)", 5)
    for _ in range(5):
        r.advance(1)
    r.close()
    text = out.getvalue()
    assert "index (en_core_web_sm)" in text and "5/5" in text and "items/s" in text and "ETA" in text

    quiet = _io.StringIO()
    make = reporter_factory(Console(file=quiet, force_terminal=False), prefect=False)
    r = make("index", 5)
    r.advance(5)
    r.close()
    assert quiet.getvalue() == ""


def test_prefect_reporter_sends_percent_every_step_and_at_the_end() -> None:
    from flows.progress import PrefectProgressReporter

    calls: list[tuple] = []

    def create(progress, key, description):
        calls.append(("create", progress, key, description))
        return "id-1"

    def update(artifact_id, progress, description):
        calls.append(("update", artifact_id, progress, description))

    # 7 items, step 25 points: 1/7 = 14.3 (no), 2/7 = 28.6 (send), 3/7 = 42.9 (no), 4/7 = 57.1 (send),
    # 5/7 = 71.4 (no), 6/7 = 85.7 (send), 7/7 = 100 (send: >= 25 points? 100 - 85.7 = 14.3, no; sent at close)
    r = PrefectProgressReporter("index (en_core_web_sm)", 7, create, update, step=25.0)
    for _ in range(7):
        r.advance(1)
    r.close()
    assert calls[0] == ("create", 0.0, "progress-index-en-core-web-sm", "index (en_core_web_sm): 0/7")
    assert [c[2] for c in calls[1:]] == [28.57, 57.14, 85.71, 100.0]
    assert calls[-1][3] == "index (en_core_web_sm): 7/7"


def test_a_miner_reports_one_step_per_unit_of_work(recorder: Recorder, samples) -> None:
    from pipeline.ropes_bundles import BundleConfig, ropes_bundles, situations
    from pipeline.sources import SourceSpec, load_source

    examples = load_source(
        SourceSpec(dataset="ropes", path=str(samples / "ropes_sample.json"), format="ropes", split="dev")
    ).examples
    ropes_bundles(examples, BundleConfig(mode="paper"))
    n_situations = situations(examples)["situation"].n_unique()
    assert recorder.stages == [
        {"description": "ropes_bundles (paper)", "total": n_situations, "done": n_situations, "closed": True}
    ]
