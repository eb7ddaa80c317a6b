"""Loading evaluation sets and the negation attack (docs/methods.md §3).

    python -m pipeline.attacks neg-squad11-eval --data-dir ../shared/data   # attacked / rejected by reason

Evaluation sets are named and resolved by `pipeline.eval_sets` (presets, `NAME=PATH[:FORMAT]`,
the `neg-` prefix); `load_eval_set` here loads one and, for `neg-<set>`, attacks it.

Negation attack (Tran et al., EACL 2023; reference: sonqt/unanswerable-robustness
`src/attack_squad.py`), one attacked example `<id>~neg` per attackable answerable question:
1. the question and its gold answers stay as they are (a robust model keeps answering the gold);
2. "not" is inserted before the question's first adjective (`insert_not`, the reference's
   `attack_question`; an adjective right after "how" is skipped);
3. a fake answer of the gold's type is chosen (`fake_answer`: same spaCy entity label, from
   another context of the set, different from every gold);
4. the negated question is turned into a declarative sentence with the fake answer
   (`pipeline.statements.rule_statement`) and appended to the context (a space before it), so
   the gold offsets do not move. There is no quoting fallback (`The answer to "<question>" is
   X.`): it plants the question verbatim beside the fake answer, a distractor a model can
   dismiss by its form, so a question no rule can restate is rejected.
Rejected with a reason (stage `negation_attack`, never dropped silently): `unanswerable`,
`already_negated` (not/n't/never), `no_adjective`, `untyped_answer` (no context entity
overlaps the gold), `no_fake_answer`, `no_statement` (no statement rule applies to the
negated question). The same examples unattacked are returned beside the
attacked ones (`EvalFrames.unattacked`), so `cqa evaluate` reports the EM/F1 drop on the
same questions; `EvalFrames.audit` keeps the negated question, fake answer and sentence.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from pipeline import io, schemas
from pipeline.config_model import Checked
from pipeline.eval_sets import EvalSet, parse_eval_set
from pipeline.flip_rules import Token
from pipeline.flips import Tagger, spacy_tagger  # a Tagger: questions -> (text, fine-grained tag, char offset)
from pipeline.rejects import reject, rejects_frame
from pipeline.sources import load_source
from pipeline.statements import join_answer, join_suffix, rule_statement

STAGE = "negation_attack"


@dataclass
class EvalFrames:
    examples: pl.DataFrame  # EXAMPLES columns
    contexts: pl.DataFrame  # CONTEXTS columns
    rejects: pl.DataFrame  # REJECTS columns (loading + attack)
    unattacked: EvalFrames | None = None  # negation attack: the attacked examples without the attack
    audit: pl.DataFrame | None = None  # negation attack: one row per attacked example (AUDIT_SCHEMA)


def load_eval_set(
    es: EvalSet,
    tagger: Tagger | None = None,
    entities: Callable[[pl.DataFrame], dict[str, list[dict]]] | None = None,
    negation: NegationConfig | None = None,
) -> EvalFrames:
    """Load the set's source (and attack it); frames carry the artifact columns only.

    `tagger` (questions → tokens) and `entities` (contexts frame → context_id → entities)
    default to the spaCy ones (`pipeline.flips.spacy_tagger`, `spacy_entities`).
    """
    result = load_source(es.source)
    ex, ctx, rej = result.examples, result.contexts, result.rejects
    if es.keep_split is not None:
        ex, ctx = ex.filter(pl.col("split") == es.keep_split), ctx.filter(pl.col("split") == es.keep_split)
    frames = EvalFrames(
        ex.select(schemas.EXAMPLES.column_names),
        ctx.select(schemas.CONTEXTS.column_names).unique("context_id", keep="first", maintain_order=True),
        rej.select(schemas.REJECTS.column_names),
    )
    if not es.negation:
        return frames
    cfg = negation or NegationConfig()
    tagger = tagger if tagger is not None else spacy_tagger(cfg.spacy_model)
    ents = entities(frames.contexts) if entities is not None else spacy_entities(frames.contexts, cfg.spacy_model)
    out = negation_attack(frames.examples, frames.contexts, tagger, ents, cfg)
    return EvalFrames(
        out.attacked.examples,
        out.attacked.contexts,
        pl.concat([frames.rejects, out.attacked.rejects]),
        unattacked=out.unattacked,
        audit=out.audit,
    )


# Negation attack (Tran et al., EACL 2023) -------------------------------------------------

ADJECTIVE_TAGS = ("JJ", "JJR", "JJS", "AFX")  # Penn tags that spaCy's English attribute ruler maps to POS `ADJ`
NOT = "not"
_ALREADY_NEGATED = re.compile(r"\bnot\b|n't\b|\bnever\b", re.IGNORECASE)


@dataclass(frozen=True)
class NegationConfig(Checked):
    seed: int = 13  # seeds the pick of each fake answer (by example id)
    # tagger of the questions (pipeline.flips) and NER of the contexts (pipeline.nlp)
    spacy_model: str = "en_core_web_sm"


def insert_not(question: str, tokens: Sequence[Token]) -> str | None:
    """The question with "not" inserted before its first adjective (Tran et al.'s `attack_question`), or None.

    An adjective is a token whose Penn tag maps to POS `ADJ` (`ADJECTIVE_TAGS`). One
    extension: an adjective right after "how" belongs to the wh-phrase ("How many", "How
    long") and is skipped ("How not many ..." is not a sentence any rule can restate).
    """
    for i, (text, tag, off) in enumerate(tokens):
        if tag in ADJECTIVE_TAGS and not (i and tokens[i - 1][0].lower() == "how"):
            return question[:off] + NOT + " " + question[off:]
    return None


def entity_pool(contexts: dict[str, str], entities: dict[str, Sequence[dict]]) -> dict[str, list[tuple[str, str]]]:
    """spaCy label → sorted distinct (entity text, context_id) over every context of the set."""
    pool: dict[str, set[tuple[str, str]]] = {}
    for cid, ents in entities.items():
        text = contexts.get(cid)
        for ent in ents if text is not None else ():
            pool.setdefault(ent["label"], set()).add((text[ent["start"] : ent["end"]].strip(), cid))
    return {label: sorted(v) for label, v in pool.items()}


def fake_answer(
    ex: dict, context: str, entities: Sequence[dict], pool: dict[str, list[tuple[str, str]]], seed: int
) -> tuple[str | None, str, str]:
    """(fake answer, label, reason): an answer of the gold's entity type that differs from every gold.

    Type: the spaCy label of the context entity overlapping the first gold answer most.
    Substitute: an entity text with that label from ANOTHER context of the set, picked by a
    seeded hash of the example id among those that differ from every gold (normalised
    text, neither a token subset nor a superset: `pipeline.synthetic._distinct`). When the
    gold entity lies inside the gold answer, only that part is replaced ("in 1990" →
    "in 1875"), as the reference replaces the entities inside the answer text. Candidates
    lose a possessive ending and must have the gold entity's surface shape
    (`pipeline.synthetic.shape_fits`: a year for a year, a count in digits for one in digits,
    a weight for a weight), else `no_fake_answer`.
    """
    from pipeline.flips import normalize
    from pipeline.synthetic import _distinct, _hash, gold_entity, shape_fits, strip_possessive

    gold = ex["answers"][0]
    ent = gold_entity(gold, entities, min_cover=0)  # the context entity overlapping the gold most, however little
    if ent is None:
        return None, "", "untyped_answer"
    norms = {normalize(a["text"]) for a in ex["answers"]}
    inside = gold["start"] <= ent["start"] and ent["end"] <= gold["end"]
    candidates = []
    ent_text = context[ent["start"] : ent["end"]]
    for text, cid in pool.get(ent["label"], []):
        if cid == ex["context_id"]:
            continue
        # the same shape checks as synthetic answer spans (docs/methods.md §3.1)
        text = strip_possessive(text, gold["text"])
        if not text or not shape_fits(ent_text, text, ent["label"]):
            continue
        fake = (
            (gold["text"][: ent["start"] - gold["start"]] + text + gold["text"][ent["end"] - gold["start"] :]).strip()
            if inside
            else text
        )
        if fake and _distinct(norms, fake) and fake not in candidates:
            candidates.append(fake)
    if not candidates:
        return None, ent["label"], "no_fake_answer"
    return candidates[_hash(seed, ex["example_id"], "fake") % len(candidates)], ent["label"], "ok"


def spacy_entities(contexts: pl.DataFrame, model: str = "en_core_web_sm") -> dict[str, list[dict]]:
    """context_id → spaCy entities (start, end, label) of each context (`pipeline.nlp`: NER + senter only)."""
    from pipeline.nlp import IndexConfig, load_nlp
    from pipeline.spacy_index import parse_contexts

    cfg = IndexConfig(model=model)
    records = parse_contexts(load_nlp(cfg), contexts["context"].to_list(), cfg)
    return {cid: rec["entities"] for cid, rec in zip(contexts["context_id"].to_list(), records, strict=True)}


@dataclass
class NegationResult:
    attacked: EvalFrames  # attacked examples (`<id>~neg`, gold kept) + their contexts + rejects
    unattacked: EvalFrames  # the same examples unattacked (original ids and contexts), for the EM/F1 drop
    audit: pl.DataFrame  # per attacked example: negated question, fake answer, its label, statement rule, distractor


def negation_attack(
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    tagger: Tagger,
    entities: dict[str, Sequence[dict]],
    cfg: NegationConfig = NegationConfig(),
) -> NegationResult:
    """Attack every answerable question that has an adjective and a typed gold (see the module docstring)."""
    text = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list(), strict=True))
    pool = entity_pool(text, dict(entities))
    rows = examples.to_dicts()
    tokens = tagger([r["question"] for r in rows]) if rows else []
    planned, rejects = [], []
    for r, toks in zip(rows, tokens, strict=True):
        where = (STAGE, r["source_file"], r["example_id"])
        if not r["answers"]:
            rejects.append(reject(*where, "answers", "unanswerable", "no gold answer for the model to keep"))
            continue
        if _ALREADY_NEGATED.search(r["question"]):
            rejects.append(reject(*where, "question", "already_negated", f"{r['question']!r} is already negated"))
            continue
        negated = insert_not(r["question"], toks)
        if negated is None:
            rejects.append(
                reject(*where, "question", "no_adjective", f"no adjective (outside 'how ADJ') in {r['question']!r}")
            )
            continue
        ctx = text[r["context_id"]]
        fake, label, reason = fake_answer(r, ctx, entities.get(r["context_id"], ()), pool, cfg.seed)
        if fake is None:
            detail = (
                f"no context entity overlaps the gold {r['answers'][0]['text']!r}"
                if reason == "untyped_answer"
                else f"no {label} entity of another context differs from the gold {r['answers'][0]['text']!r}"
            )
            rejects.append(reject(*where, "answers", reason, detail))
            continue
        planned.append((r, ctx, negated, fake, label))
    neg_tokens = tagger([p[2] for p in planned]) if planned else []
    out_ex, out_ctx, clean_ex, clean_ctx, audit = [], {}, [], {}, []
    for (r, ctx, negated, fake, label), toks in zip(planned, neg_tokens, strict=True):
        restated = rule_statement(negated, toks)
        if restated is None:
            detail = f"no statement rule restates the negated question {negated!r}"
            rejects.append(reject(STAGE, r["source_file"], r["example_id"], "question", "no_statement", detail))
            continue
        rule, prefix, suffix = restated
        prefix, fake = join_answer(prefix, fake)  # "founded in" + "In 2001" -> "founded in 2001"
        suffix = join_suffix(fake, suffix)
        sentence = prefix + fake + suffix
        attacked = ctx + " " + sentence
        cid = io.text_id(attacked)
        out_ctx.setdefault(cid, _context_row(cid, attacked, r))
        for a in r["answers"]:  # appended at the end: every gold span keeps its offsets
            if attacked[a["start"] : a["end"]] != a["text"]:
                raise ValueError(
                    f"negation attack: example {r['example_id']!r} field answers: span {a} does not match its context"
                )
        out_ex.append({**r, "example_id": f"{r['example_id']}{NEG_SUFFIX}", "context_id": cid})
        clean_ex.append(r)
        clean_ctx.setdefault(r["context_id"], _context_row(r["context_id"], ctx, r))
        audit.append(
            {
                "example_id": out_ex[-1]["example_id"],
                "question": r["question"],
                "negated_question": negated,
                "gold": r["answers"][0]["text"],
                "fake_answer": fake,
                "label": label,
                "rule": rule,
                "distractor": sentence,
                "distractor_start": len(ctx) + 1,
            }
        )
    rej = rejects_frame(rejects)
    return NegationResult(
        EvalFrames(
            _frame(out_ex, examples.schema, schemas.EXAMPLES),
            _frame(list(out_ctx.values()), None, schemas.CONTEXTS),
            rej,
        ),
        EvalFrames(
            _frame(clean_ex, examples.schema, schemas.EXAMPLES),
            _frame(list(clean_ctx.values()), None, schemas.CONTEXTS),
            io.empty_frame(schemas.REJECTS),
        ),
        pl.DataFrame(audit, schema=AUDIT_SCHEMA),
    )


NEG_SUFFIX = "~neg"
AUDIT_SCHEMA = {
    "example_id": pl.String,
    "question": pl.String,
    "negated_question": pl.String,
    "gold": pl.String,
    "fake_answer": pl.String,
    "label": pl.String,
    "rule": pl.String,
    "distractor": pl.String,
    "distractor_start": pl.Int64,
}


def _context_row(cid: str, text: str, example: dict) -> dict:
    """A CONTEXTS row of `text`, titled like the example it belongs to."""
    return {
        "context_id": cid,
        "context": text,
        "title": example["title"],
        "lang": example["lang"],
        "n_chars": len(text),
    }


def _frame(rows: list[dict], schema, spec) -> pl.DataFrame:
    if not rows:
        return io.empty_frame(spec)
    return pl.from_arrow(
        io.to_table(pl.DataFrame(rows, schema=schema) if schema is not None else pl.DataFrame(rows), spec)
    )


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.attacks", description="load (and attack) evaluation sets")
    parser.add_argument("sets", nargs="+")
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args(argv)
    for text in args.sets:
        frames = load_eval_set(parse_eval_set(text, args.data_dir))
        print(
            f"{text}: {frames.examples.height} examples, {frames.contexts.height} contexts, "
            f"{frames.rejects.height} rejected"
        )
        if frames.rejects.height:
            by_reason = frames.rejects.group_by("stage", "reason").len().sort("len", descending=True)
            print("  rejected by reason: " + ", ".join(f"{s}/{r}: {n}" for s, r, n in by_reason.iter_rows()))
        if frames.audit is not None and frames.audit.height:
            rules = frames.audit.group_by("rule").len().sort("len", descending=True)
            print("  statement rules: " + ", ".join(f"{r}: {n}" for r, n in rules.iter_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
