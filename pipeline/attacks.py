"""Evaluation sets and robustness attacks (METHODS.md §3): named sets, AddSent/AddOneSent, negation.

    python -m pipeline.attacks neg-squad11-eval --data-dir ../shared/data      # prints a summary line

An evaluation set is named on the command line as
- a preset resolved under the shared data folder (`PRESETS`): `squad11-eval` and
  `squad20-eval` (PROTOCOL.md article split, eval titles), `addsent` / `addonesent`
  (Jia & Liang 2017) and `xquad-<lang>` restricted to the PROTOCOL eval titles of SQuAD 1.1
  dev, `ropes-dev`;
- or `NAME=PATH[:FORMAT]` for any SQuAD-format file, ROPES/HotpotQA file or hub id
  (`pipeline.sources.SourceSpec.from_arg`).
A name starting with `neg-` applies the negation attack to the set after it
(`neg-squad11-eval`, `neg-mine=path/to/file.json`).

Negation attack (one attacked example per answerable question):
1. the question's first finite verb / auxiliary (spaCy tags) is negated: an auxiliary is
   contracted ("When was X built?" → "When wasn't X built?"), a main verb gets do-support
   with its lemminflect lemma ("Who founded X?" → "Who didn't found X?");
2. the question becomes unanswerable (gold "", as SQuAD 2.0's negation questions); the
   original answers are kept as `plausible_answers`;
3. a distractor sentence restating the ORIGINAL question with its gold answer
   (`pipeline.statements.statement`: "Alice Smith founded X.") is appended to the context:
   it matches the question's words closely and baits a model that ignores "not".
Questions that cannot be negated (no finite verb, already negated) and
unanswerable questions are written to `rejects` (stage `negation_attack`), never dropped silently.

`adversarial_base_id("56be...-high-conf-turk1")` gives the original question id, for the
adversarial (worst case over a question's variants) scores of AddSent/AddOneSent.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline import io, schemas
from pipeline.rejects import reject, rejects_frame
from pipeline.sources import SourceSpec, load_source, protocol_eval_titles
from pipeline.statements import statement

Token = tuple[str, str, int]  # (text, fine-grained tag, char offset), as pipeline.flips.spacy_tagger gives
Tagger = Callable[[Sequence[str]], list[list[Token]]]

NEGATION_PREFIX = "neg-"
STAGE = "negation_attack"
SQUAD11_DEV = "squad/v1.1/dev-v1.1.json"
XQUAD_LANGS = ("en", "es", "de", "ar", "hi", "vi")
_ADV_SUFFIX = re.compile(r"-high-conf(?:-turk\d+)?$|-turk\d+$")


@dataclass(frozen=True)
class Preset:
    path: str  # file under the shared data folder
    keep_split: str | None = None  # keep this split of the PROTOCOL article split (None = whole file)
    eval_titles: bool = False  # keep only the PROTOCOL eval titles of SQuAD 1.1 dev
    article_split: bool = False  # apply the PROTOCOL article split (then keep `keep_split`)


PRESETS: dict[str, Preset] = {
    "squad11-eval": Preset(SQUAD11_DEV, keep_split="eval", article_split=True),
    "squad20-eval": Preset("squad/v2.0/dev-v2.0.cs224n-dev-half.json", keep_split="eval", article_split=True),
    "addsent": Preset("adversarial_squad/sample1k-HCVerifyAll.json", eval_titles=True),
    "addonesent": Preset("adversarial_squad/sample1k-HCVerifySample.json", eval_titles=True),
    "ropes-dev": Preset("ropes/dev-v1.0.json"),
    **{f"xquad-{lang}": Preset(f"xquad/xquad.{lang}.json", eval_titles=True) for lang in XQUAD_LANGS},
}


@dataclass(frozen=True)
class EvalSet:
    name: str  # evaluation set name (the `eval_set` partition of predictions/metrics)
    source: SourceSpec  # what to load
    keep_split: str | None = None  # keep only this split of the loaded frames
    negation: bool = False  # apply the negation attack


@dataclass
class EvalFrames:
    examples: pl.DataFrame  # EXAMPLES columns
    contexts: pl.DataFrame  # CONTEXTS columns
    rejects: pl.DataFrame  # REJECTS columns (loading + attack)


def parse_eval_set(text: str, data_dir: str | Path | None = None) -> EvalSet:
    """`squad11-eval`, `neg-addsent`, `name=path[:format]` → EvalSet (ValueError names what was expected)."""
    negation = text.startswith(NEGATION_PREFIX)
    rest = text[len(NEGATION_PREFIX):] if negation else text
    if "=" in rest:
        src = SourceSpec.from_arg(rest)
        return EvalSet(f"{NEGATION_PREFIX}{src.dataset}" if negation else src.dataset, src, None, negation)
    preset = PRESETS.get(rest)
    if preset is None:
        raise ValueError(f"eval set {text!r}: expected NAME=PATH[:FORMAT] or a preset ({', '.join(PRESETS)}), "
                         f"optionally prefixed with {NEGATION_PREFIX!r}")
    if data_dir is None:
        raise ValueError(f"eval set {text!r}: the preset needs the shared data folder (--data-dir)")
    base = Path(data_dir)
    path = base / preset.path
    if not path.is_file():
        raise ValueError(f"eval set {text!r}: file {path} not found (is --data-dir the shared data folder?)")
    titles = protocol_eval_titles(base / SQUAD11_DEV) if preset.eval_titles else None
    name = text.replace(".", "_")
    src = SourceSpec(dataset=name, path=str(path), restrict_titles=titles,
                     article_split="protocol" if preset.article_split else None)
    return EvalSet(name, src, preset.keep_split, negation)


def load_eval_set(es: EvalSet, tagger: Tagger | None = None) -> EvalFrames:
    """Load the set's source (and attack it); frames carry the artifact columns only."""
    result = load_source(es.source)
    ex, ctx, rej = result.examples, result.contexts, result.rejects
    if es.keep_split is not None:
        ex, ctx = ex.filter(pl.col("split") == es.keep_split), ctx.filter(pl.col("split") == es.keep_split)
    frames = EvalFrames(ex.select(schemas.EXAMPLES.column_names), ctx.select(schemas.CONTEXTS.column_names).unique("context_id", keep="first", maintain_order=True),
                        rej.select(schemas.REJECTS.column_names))
    if not es.negation:
        return frames
    if tagger is None:
        from pipeline.flips import spacy_tagger

        tagger = spacy_tagger("en_core_web_sm")
    attacked = negation_attack(frames.examples, frames.contexts, tagger)
    return EvalFrames(attacked.examples, attacked.contexts, pl.concat([frames.rejects, attacked.rejects]))


# Negation attack ---------------------------------------------------------------------------


_MODALS = {"can", "could", "should", "will", "would", "may", "might", "must", "shall"}
_BE = {"is", "are", "was", "were", "am"}
_DO = {"do", "does", "did"}
_HAVE = {"has": "doesn't", "have": "don't", "had": "didn't"}  # "has" as a main verb: "doesn't have"
_DO_FOR_TAG = {"VBZ": "doesn't", "VBP": "don't", "VBD": "didn't"}
_CONTRACTED = {"will": "won't", "can": "can't", "shall": "shan't", "am": "am not", "may": "may not", "might": "might not"}
_FINITE_TAGS = ("VBZ", "VBP", "VBD", "MD")


def _keep_case(template: str, word: str) -> str:
    return word[0].upper() + word[1:] if template[:1].isupper() else word


def _perfect(tokens: Sequence[Token], i: int) -> bool:
    """tokens[i] (has/have/had) is a perfect auxiliary: a participle follows before any "to" ("had to go")."""
    for _, tag, _ in tokens[i + 1:]:
        if tag == "TO":
            return False
        if tag == "VBN":
            return True
    return False


def _negated_word(tokens: Sequence[Token], i: int) -> str | None:
    """Negated form of the finite verb tokens[i]: contracted auxiliary, or do-support + lemma."""
    text, tag, _ = tokens[i]
    low = text.lower()
    if low in _MODALS or tag == "MD" or low in _BE or low in _DO or (low in _HAVE and _perfect(tokens, i)):
        return _keep_case(text, _CONTRACTED.get(low, low + "n't"))
    if low in _HAVE:
        return _keep_case(text, _HAVE[low]) + " have"
    if tag in _DO_FOR_TAG:
        from lemminflect import getLemma  # imports spaCy (and torch): only when an attack is built

        lemma = getLemma(low, upos="VERB")
        return _keep_case(text, _DO_FOR_TAG[tag]) + " " + lemma[0] if lemma else None
    return None


def negate_question(question: str, tokens: Sequence[Token]) -> str | None:
    """The question with its first finite verb / auxiliary negated, or None (no finite verb, already negated).

    Auxiliaries are contracted so inverted questions stay grammatical ("In what year was X
    founded?" → "In what year wasn't X founded?"); a main verb gets do-support ("Who founded
    X?" → "Who didn't found X?", lemma by lemminflect).
    """
    if re.search(r"\bnot\b|n't\b", question, re.IGNORECASE):
        return None
    for i, (text, tag, off) in enumerate(tokens):
        if tag in _FINITE_TAGS or text.lower() in _MODALS | _BE | _DO | set(_HAVE):
            rep = _negated_word(tokens, i)
            return None if rep is None else question[:off] + rep + question[off + len(text):]
    return None


def distractor(question: str, tokens: Sequence[Token], answer: str) -> str:
    """A declarative sentence restating `question` with `answer` (the bait appended to the context)."""
    _, prefix, suffix = statement(question, tokens)
    return prefix + answer + suffix


def negation_attack(examples: pl.DataFrame, contexts: pl.DataFrame, tagger: Tagger) -> EvalFrames:
    """One attacked example per answerable, negatable question (see the module docstring)."""
    text = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list(), strict=True))
    rows = examples.to_dicts()
    tokens = tagger([r["question"] for r in rows]) if rows else []
    out_ex, out_ctx, rejects = [], {}, []
    for r, toks in zip(rows, tokens, strict=True):
        where = (STAGE, r["source_file"], r["example_id"])
        if not r["answers"]:
            rejects.append(reject(*where, "answers", "unanswerable", "the question has no answer to negate"))
            continue
        negated = negate_question(r["question"], toks)
        if negated is None:
            rejects.append(reject(*where, "question", "not_negatable", f"no finite verb to negate in {r['question']!r}"))
            continue
        ctx = text[r["context_id"]]
        attacked = ctx + " " + distractor(r["question"], toks, r["answers"][0]["text"])
        cid = io.text_id(attacked)
        out_ctx.setdefault(cid, {"context_id": cid, "context": attacked, "title": r["title"], "lang": r["lang"],
                                 "n_chars": len(attacked)})
        out_ex.append({**r, "example_id": f"{r['example_id']}~neg", "context_id": cid, "question": negated,
                       "answers": [], "is_impossible": True, "plausible_answers": r["answers"]})
    ex_frame = pl.from_arrow(io.to_table(pl.DataFrame(out_ex, schema=examples.schema), schemas.EXAMPLES)) if out_ex \
        else io.empty_frame(schemas.EXAMPLES)
    ctx_frame = pl.from_arrow(io.to_table(pl.DataFrame(list(out_ctx.values())), schemas.CONTEXTS)) if out_ctx \
        else io.empty_frame(schemas.CONTEXTS)
    return EvalFrames(ex_frame, ctx_frame, rejects_frame(rejects))


def adversarial_base_id(example_id: str) -> str:
    """Original question id of an AddSent/AddOneSent variant (`<id>-high-conf-turk1` → `<id>`)."""
    return _ADV_SUFFIX.sub("", example_id)


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.attacks", description="load (and attack) evaluation sets")
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args(argv)
    for text in args.sets:
        frames = load_eval_set(parse_eval_set(text, args.data_dir))
        print(f"{text}: {frames.examples.height} examples, {frames.contexts.height} contexts, {frames.rejects.height} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
