"""The PROTOCOL.md article split: train on part of SQuAD 1.1 dev, evaluate on the rest.

Rule (../shared/data/PROTOCOL.md): sort the article titles with a plain Python string sort;
titles at positions 2, 5, 8, ... (index % 3 == 2) are `eval`, the others `train`. On
dev-v1.1.json this gives eval 16 articles / 768 paragraphs / 3,634 questions and train
32 / 1,299 / 6,936. XQuAD and the adversarial sets reuse SQuAD 1.1 dev paragraphs, so they
are evaluated on the eval titles only:

    SourceSpec("addonesent", ".../sample1k-HCVerifySample.json",
               restrict_titles=protocol_eval_titles(".../dev-v1.1.json"))   # 609 questions
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

TRAIN, EVAL = "train", "eval"


def protocol_split(titles: Iterable[str]) -> dict[str, str]:
    """Title -> "train"/"eval": sorted unique titles, index % 3 == 2 -> eval."""
    ordered = sorted(set(titles))
    return {title: EVAL if i % 3 == 2 else TRAIN for i, title in enumerate(ordered)}


def protocol_eval_titles(squad_dev_path: str | Path) -> tuple[str, ...]:
    """The eval titles of a SQuAD-format file (normally dev-v1.1.json), sorted."""
    from pipeline.sources.input_file import read_json
    from pipeline.sources.spec import SourceError

    path = Path(squad_dev_path)
    try:
        doc = read_json(path)  # every whole-file problem (missing, folder, not UTF-8, bad JSON) as a SourceError
    except SourceError as e:
        raise SourceError(f"{e} (needed for the protocol eval titles)") from e
    try:
        titles = [article["title"] for article in doc["data"]]
        if not all(isinstance(t, str) for t in titles):
            raise TypeError("a title is not a string")
    except (KeyError, TypeError) as e:
        raise SourceError(f"{path}: expected a SQuAD-format file with data[*].title ({e!r})") from e
    return tuple(sorted(t for t, split in protocol_split(titles).items() if split == EVAL))
