"""The evaluation-set registry: named presets, `NAME=PATH[:FORMAT]` sets and the `neg-` attack prefix.

    python -c "from pipeline.eval_sets import PRESETS; print({n: p.adversarial for n, p in PRESETS.items()})"

An evaluation set is named on the command line (`cqa evaluate --set ...`, a profile's
`evaluate.sets`) as
- a preset resolved under the shared data folder (`PRESETS`): `squad11-eval` and
  `squad20-eval` (PROTOCOL.md article split, eval titles), `addsent` / `addonesent`
  (Jia & Liang 2017) and `xquad-<lang>` restricted to the PROTOCOL eval titles of SQuAD 1.1
  dev, `ropes-dev`;
- or `NAME=PATH[:FORMAT]` for any SQuAD-format file, ROPES/HotpotQA file or hub id
  (`pipeline.sources.SourceSpec.from_arg`).
A name starting with `neg-` applies the negation attack (`pipeline.attacks`) to the set after
it (`neg-squad11-eval`, `neg-mine=path/to/file.json`).

A preset declares what its evaluation needs: `adversarial=True` (AddSent/AddOneSent) scores
each question by its worst variant, the variants found by `adversarial_base_id`
("56be...-high-conf-turk1" -> "56be..."). Adding a preset is one entry in `PRESETS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.sources import SourceSpec, protocol_eval_titles

NEGATION_PREFIX = "neg-"
SQUAD11_DEV = "squad/v1.1/dev-v1.1.json"
XQUAD_LANGS = ("en", "es", "de", "ar", "hi", "vi")
_ADV_SUFFIX = re.compile(r"-high-conf(?:-turk\d+)?$|-turk\d+$")


@dataclass(frozen=True)
class Preset:
    path: str  # file under the shared data folder
    keep_split: str | None = None  # keep this split of the PROTOCOL article split (None = whole file)
    eval_titles: bool = False  # keep only the PROTOCOL eval titles of SQuAD 1.1 dev
    article_split: bool = False  # apply the PROTOCOL article split (then keep `keep_split`)
    adversarial: bool = False  # AddSent-style variants of one question: also score the worst variant per question


PRESETS: dict[str, Preset] = {
    "squad11-eval": Preset(SQUAD11_DEV, keep_split="eval", article_split=True),
    "squad20-eval": Preset("squad/v2.0/dev-v2.0.cs224n-dev-half.json", keep_split="eval", article_split=True),
    "addsent": Preset("adversarial_squad/sample1k-HCVerifyAll.json", eval_titles=True, adversarial=True),
    "addonesent": Preset("adversarial_squad/sample1k-HCVerifySample.json", eval_titles=True, adversarial=True),
    "ropes-dev": Preset("ropes/dev-v1.0.json"),
    **{f"xquad-{lang}": Preset(f"xquad/xquad.{lang}.json", eval_titles=True) for lang in XQUAD_LANGS},
}


@dataclass(frozen=True)
class EvalSet:
    name: str  # evaluation set name (the `eval_set` partition of predictions/metrics)
    source: SourceSpec  # what to load
    keep_split: str | None = None  # keep only this split of the loaded frames
    negation: bool = False  # apply the negation attack
    adversarial: bool = False  # score the worst variant per question (`adversarial_base_id`); from the preset


def parse_eval_set(text: str, data_dir: str | Path | None = None) -> EvalSet:
    """`squad11-eval`, `neg-addsent`, `name=path[:format]` → EvalSet (ValueError names what was expected)."""
    negation = text.startswith(NEGATION_PREFIX)
    rest = text[len(NEGATION_PREFIX) :] if negation else text
    if "=" in rest:
        src = SourceSpec.from_arg(rest)
        return EvalSet(f"{NEGATION_PREFIX}{src.dataset}" if negation else src.dataset, src, None, negation)
    preset = PRESETS.get(rest)
    if preset is None:
        raise ValueError(
            f"eval set {text!r}: expected NAME=PATH[:FORMAT] or a preset ({', '.join(PRESETS)}), "
            f"optionally prefixed with {NEGATION_PREFIX!r}"
        )
    if data_dir is None:
        raise ValueError(f"eval set {text!r}: the preset needs the shared data folder (--data-dir)")
    base = Path(data_dir)
    path = base / preset.path
    if not path.is_file():
        raise ValueError(f"eval set {text!r}: file {path} not found (is --data-dir the shared data folder?)")
    titles = protocol_eval_titles(base / SQUAD11_DEV) if preset.eval_titles else None
    name = text.replace(".", "_")
    src = SourceSpec(
        dataset=name, path=str(path), restrict_titles=titles, article_split="protocol" if preset.article_split else None
    )
    # the negation attack's ids (`<id>~neg`) are no variants of each other: no worst-variant score
    return EvalSet(name, src, preset.keep_split, negation, preset.adversarial and not negation)


def adversarial_base_id(example_id: str) -> str:
    """Original question id of an AddSent/AddOneSent variant (`<id>-high-conf-turk1` → `<id>`)."""
    return _ADV_SUFFIX.sub("", example_id)
