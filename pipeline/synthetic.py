"""Synthetic answer spans (docs/methods.md §3, docs/methods.md §3.1): a second gold answer inserted into the context.

    python -m pipeline.synthetic ../shared/data/squad/v1.1/dev-v1.1.json 0.2   # share check on a file

For a configured share of the answerable examples, one declarative sentence restating the
question with a different answer of the same type is inserted at a sentence boundary; the
inserted answer becomes a second gold answer.

- Gold type: the spaCy label (DATE, CARDINAL, GPE, …) of the index entity overlapping the
  first gold answer most, when that overlap covers at least half of the answer and half
  of the entity (`gold_entity`). No such entity → not eligible (`no_gold_entity`).
- Substitute answer, first match wins: an entity with the gold's label from the same
  context; an entity text with that label from another context of the partition
  (`corpus_fallback`); only then, when `coarse_fallback` is on, the same two steps with the
  gold's coarse type (`pipeline.coarse_types`; counted in `type_match.coarse`). Every
  candidate's normalised text differs from every gold answer and neither contains nor is
  contained in one. A possessive ending is stripped ("Raymond Smullyan's" → "Raymond
  Smullyan") unless the gold has one; a same-label candidate must have the gold entity's
  surface shape (`answer_shape`: digits or words; DATE with a year / century / month-day /
  other; CARDINAL range or single; QUANTITY unit kind; MONEY currency; TIME clock or
  duration), so "in eleven-year" never stands for "July 1977" nor "700 megawatt" for
  "45,000 pounds". Removed candidates are counted (`shape_filter` in the stats); an example
  left with none is `no_shape_match`, one that never had any `no_substitute`. Picks are
  seeded by example id. The statement's prefix and the substitute are fitted to each other
  (`pipeline.statements.join_answer`: "in" + "4 July 1990" → "on 4 July 1990"); a substitute
  that the sentence already holds ("Bank of America introduced Bank of America in 1958") is
  not inserted (`substitute_in_sentence`, the share filled from the next examples).
- Position: a sentence start from the index (or the end of the context), seeded, never
  strictly inside a gold answer span. Original answers at or after it shift by the
  length of the inserted text; every answer span is checked against its text.
- Sentence: `pipeline.statements.rule_statement` (rules table there). A question that no
  rule rewrites is not augmented (`no_statement` in the skips); there is no quoted
  fallback sentence.
- Label check (`check_label`, on by default): the index model's NER runs again on the
  augmented context; the entity overlapping the inserted answer most must have the gold's
  label (its coarse type for a coarse fallback), else the example is not augmented
  (`label_check_failed`): a substitute that reads as another type in its new sentence
  ("Byzantine" after "located in") is not type-true.
- Share: exactly round(share × answerable) examples are augmented: the eligible ones are
  taken in the order of a seeded hash of their id, skipping those without a statement or
  failing the label check, so ineligible examples do not shrink the share (unless too few
  are left: `shortfall`).
- `placement`: `replace` (the paper: the question is trained on the augmented context,
  with its two golds, instead of the original) or `add` (the augmented example next to
  the original). The miner writes the same rows either way and records the choice in the
  partition's manifest (`config.placement`, `stats.placement`); the training reader
  (`training/data.py`, `synthetic_placement`) applies it: `replace` puts the augmented
  example where its parent was and drops the parent, `add` keeps both.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import polars as pl

from pipeline.coarse_types import coarse_type
from pipeline.config_model import Checked, constrained
from pipeline.flips import Tagger, normalize, spacy_tagger
from pipeline.io import empty_frame, text_id
from pipeline.nlp import IndexConfig
from pipeline.progress import track
from pipeline.rejects import reject, rejects_frame
from pipeline.schemas import INDEX, SYNTHETIC
from pipeline.statements import join_answer, join_suffix, rule_statement

Placement = Literal["replace", "add"]
PLACEMENTS = get_args(Placement)


@dataclass(frozen=True)
class SyntheticConfig(Checked):
    share: float = constrained(0.2, ge=0.0, le=1.0)  # share of answerable examples that get an inserted sentence
    seed: int = 13  # seeds the choice of examples, substitutes and positions
    corpus_fallback: bool = True  # take a substitute from other contexts when the own context has none
    coarse_fallback: bool = True  # no entity with the gold's spaCy label anywhere: use the coarse type (counted)
    placement: Placement = "replace"  # `replace` (paper) or `add`: see the module doc
    check_label: bool = True  # re-run NER on the augmented context; keep only type-true insertions
    spacy_model: str = "en_core_web_sm"  # tagger used by the statement rules


@dataclass
class SyntheticResult:
    rows: list[dict[str, Any]] = field(default_factory=list)  # SYNTHETIC rows
    counts: Counter = field(default_factory=Counter)  # outcome → count
    rejects: list[dict[str, str]] = field(default_factory=list)  # REJECTS rows (example without index/context)
    answerable: int = 0  # denominator of the share


def _hash(seed: int, *parts: Any) -> int:
    return int(hashlib.sha1(":".join(map(str, (seed, *parts))).encode()).hexdigest()[:15], 16)


def _distinct(gold_norms: set[str], text: str) -> bool:
    n = normalize(text)
    if not n or n in gold_norms:
        return False
    toks = set(n.split())
    return all(not (toks <= set(g.split()) or set(g.split()) <= toks) for g in gold_norms)


_MONTHS = r"January|February|March|April|May|June|July|August|September|October|November|December"
_YEAR = re.compile(r"\b(?:1\d{3}|20\d{2})s?\b|\b\d0s\b|'\d0s\b")
_DAYLIKE = re.compile(rf"\b(?:{_MONTHS}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)\b")
_NUMBER_WORDS = re.compile(
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|first|second|third)",
    re.I,
)
# number modifiers, not units: "about 300", "more than 200,000"
_MODIFIERS = {
    "and",
    "a",
    "about",
    "approximately",
    "around",
    "over",
    "under",
    "nearly",
    "almost",
    "some",
    "more",
    "less",
    "than",
    "at",
    "least",
    "most",
    "up",
    "to",
    "only",
    "just",
    "roughly",
    "estimated",
    "an",
    "some",
    "several",
}
_UNITS = {  # QUANTITY unit words -> the kind of thing they measure
    "weight": r"pounds?|lbs?|tons?|tonnes?|kilograms?|kg|grams?|g|ounces?|oz",
    "length": (
        r"miles?|mi|km|kilomet(?:er|re)s?|met(?:er|re)s?|m|feet|foot|ft|"
        r"inch(?:es)?|in|yards?|cm|mm|centimet(?:er|re)s?"
    ),
    "area": r"square|sq|acres?|hectares?|ha|km2|km²",
    "volume": r"lit(?:er|re)s?|gallons?|barrels?|cubic|bbl|m3|m³",
    "power": r"watts?|megawatts?|kilowatts?|gigawatts?|mw|kw|gw|horsepower|hp",
    "energy": r"joules?|calories?|kwh|mwh|gwh|btu",
    "temperature": r"degrees?|°[cf]?|celsius|fahrenheit|kelvin",
    "speed": r"mph|km/h|knots?|kph",
    "time": r"hours?|minutes?|seconds?|days?|years?|weeks?|months?",
}


def answer_shape(text: str, label: str) -> tuple | None:
    """The surface shape class of an answer of spaCy `label`, for the substitute check (**our choice**,
    docs/methods.md §3.1): digits or words, and
    - DATE: has a year ("July 1977", "1990s") / a century / a month or weekday without a year / other
      ("eleven-year", "the previous year");
    - DATE and CARDINAL: a range ("1277–1347", "1294 to 1307") or a single one; CARDINAL also: a decimal
      point, a word besides number words ("8.8 lb");
    - QUANTITY: the kind of its unit (weight, length, power, …; else the unit word itself);
    - MONEY: the currency sign or word; TIME: a clock time (am/pm, ":") or a duration.
    None for the other labels (no shape constraint)."""
    low = text.lower()
    digits = any(c.isdigit() for c in text)
    if label == "DATE":
        kind = (
            "year"
            if _YEAR.search(text)
            else "century"
            if "century" in low or "centuries" in low
            else "day"
            if _DAYLIKE.search(text)
            else "other"
        )
        return kind, digits, _range(text)
    if label == "CARDINAL":  # digits, range, decimal, a word that is not a number word ("8.8 lb")
        other = any(not _NUMBER_WORDS.fullmatch(w) for w in re.findall(r"[a-z]+", low) if w not in _MODIFIERS)
        one = bool(re.fullmatch(r"(?:\D*\s)?(?:1|one|a single)", low.strip()))  # "One rival princes were"
        magnitude = bool(re.search(r"hundred|thousand|million|billion|trillion|dozen", low))
        return digits, _range(text), bool(re.search(r"\d\.\d", text)), other, one, magnitude  # "one million"
    if label == "QUANTITY":
        words = re.findall(r"[a-z°²³/]+", low)
        kind = next((k for k, pat in _UNITS.items() for w in words if re.fullmatch(pat, w)), words[-1] if words else "")
        return digits, kind
    if label == "MONEY":
        sign = next((c for c in text if c in "$£€¥₹"), None)
        word = next(
            (
                w
                for w in ("dollar", "pound", "euro", "yen", "franc", "mark", "rupee", "yuan", "krone", "kroner", "peso")
                if w in low
            ),
            None,
        )
        return digits, sign or word
    if label == "TIME":
        return digits, bool(re.search(r"\d:\d|\b[ap]\.?m\b|o'clock", low))
    if label in ("PERCENT", "ORDINAL"):
        return (digits,)
    return None


_DANGLING = {"of", "the", "and", "a", "an", "in", "for", "to", "on", "at", "by", "with", "or", "from"}


def _range(text: str) -> bool:
    return bool(re.search(r"\d\s*[–—-]\s*\d|\d\s+(?:to|and)\s+\d", text))


def strip_possessive(text: str, gold: str) -> str:
    """`text` without a possessive ending ("Raymond Smullyan's" -> "Raymond Smullyan") unless the gold has one."""
    if re.search(r"['’]s?$", gold.strip()):
        return text
    return re.sub(r"(?<=\w)['’]s$|(?<=s)['’]$", "", text.strip())


def shape_fits(gold: str, cand: str, label: str) -> bool:
    """True when the candidate substitute has the gold's surface shape class (`answer_shape`; a possessive
    ending of either does not count)."""
    return answer_shape(strip_possessive(gold, ""), label) == answer_shape(strip_possessive(cand, ""), label)


def gold_entity(
    gold: dict[str, Any], entities: Sequence[dict[str, Any]], min_cover: float = 0.5
) -> dict[str, Any] | None:
    """The index entity that types the gold answer, or None.

    The entity overlapping the gold span most (the first of equals), kept only when the
    overlap covers at least `min_cover` of the gold span and of the entity: "French"
    does not type the answer "dislodge the French", nor "1990s" the answer "9"."""
    best, best_overlap = None, 0
    for ent in entities:
        overlap = min(ent["end"], gold["end"]) - max(ent["start"], gold["start"])
        if overlap > best_overlap:
            best, best_overlap = ent, overlap
    if best is None:
        return None
    if best_overlap < min_cover * (gold["end"] - gold["start"]) or best_overlap < min_cover * (
        best["end"] - best["start"]
    ):
        return None
    return best


def corpus_pool(contexts: dict[str, str], index: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """spaCy label → sorted (entity text, context_id) over the whole partition."""
    pool: dict[str, set[tuple[str, str]]] = {}
    for cid, rec in index.items():
        text = contexts.get(cid)
        if text is None:
            continue
        for ent in rec["entities"] or []:
            pool.setdefault(ent["label"], set()).add((text[ent["start"] : ent["end"]], cid))
    return {k: sorted(v) for k, v in pool.items()}


def _candidates(
    ex: dict[str, Any],
    context: str,
    rec: dict[str, Any],
    pool: dict[str, list[tuple[str, str]]],
    labels: set[str],
    norms: set[str],
    corpus: bool,
    gold: str = "",
    gold_label: str = "",
    removed: Counter | None = None,
    gold_answer: str = "",
) -> tuple[list[str], str]:
    """Substitutes with a label in `labels`, differing from every gold, possessive ending stripped (unless the
    gold answer `gold_answer` has one), without an unbalanced quote, and with the shape of the gold entity
    `gold` (`shape_fits` on `gold_label`); candidates the shape check removes are counted in `removed`."""

    def keep(texts: set[tuple[str, str]]) -> list[str]:
        out = set()
        for t, lab in texts:
            t = strip_possessive(t, gold_answer)
            if (
                not t
                or not _distinct(norms, t)
                or t.count('"') % 2
                or t.count("(") != t.count(")")
                or t.split()[-1].lower() in _DANGLING
            ):  # a cut-off entity: "The French Confession of"
                continue
            if gold and not shape_fits(gold, t, gold_label if lab == gold_label else lab):
                if removed is not None:
                    removed["candidates"] += 1
                continue
            out.add(t)
        return sorted(out)

    own = keep({(context[e["start"] : e["end"]], e["label"]) for e in rec["entities"] or [] if e["label"] in labels})
    if own or not corpus:
        return own, "context"
    return keep(
        {(t, label) for label in sorted(labels) for t, cid in pool.get(label, []) if cid != ex["context_id"]}
    ), "corpus"


def plan(
    ex: dict[str, Any], context: str, rec: dict[str, Any], pool: dict[str, list[tuple[str, str]]], cfg: SyntheticConfig
) -> tuple[dict[str, Any] | None, str]:
    """Substitute answer and insertion point for one example, or (None, reason)."""
    gold = ex["answers"][0]
    ent = gold_entity(gold, rec["entities"] or [])
    if ent is None:
        return None, "no_gold_entity"
    label, coarse = ent["label"], coarse_type(ent["label"])
    norms = {normalize(a["text"]) for a in ex["answers"]}
    gold_text = context[ent["start"] : ent["end"]]  # the shape is the gold entity's (the answer may hold more)
    removed: Counter = Counter()
    cands, source = _candidates(
        ex, context, rec, pool, {label}, norms, cfg.corpus_fallback, gold_text, label, removed, gold["text"]
    )
    match = "label"
    if not cands and cfg.coarse_fallback:
        same_coarse = {lab for lab in pool if coarse_type(lab) == coarse} | {
            e["label"] for e in rec["entities"] or [] if coarse_type(e["label"]) == coarse
        }
        cands, source = _candidates(
            ex, context, rec, pool, same_coarse - {label}, norms, cfg.corpus_fallback, gold_answer=gold["text"]
        )
        match = "coarse"
    if not cands:
        return None, "no_shape_match" if removed["candidates"] else "no_substitute"
    substitute = cands[_hash(cfg.seed, ex["example_id"], "sub") % len(cands)].strip()
    spans = [(a["start"], a["end"]) for a in ex["answers"]]
    points = sorted({s["start"] for s in rec["sentences"] or []} | {0, len(context)})
    points = [p for p in points if all(not (s < p < e) for s, e in spans)]
    point = points[_hash(cfg.seed, ex["example_id"], "pos") % len(points)]
    return {
        "substitute": substitute,
        "coarse": coarse,
        "label": label,
        "match": match,
        "source": source,
        "point": point,
        "shape_removed": removed["candidates"],
    }, "ok"


def insert(ex: dict[str, Any], context: str, p: dict[str, Any], stmt: tuple[str, str, str]) -> dict[str, Any]:
    """The SYNTHETIC row: context with the sentence inserted, shifted answers + the new one."""
    rule, prefix, suffix = stmt
    point = p["point"]
    lead = "" if point == 0 or context[point - 1].isspace() else " "
    trail = " " if point < len(context) else ""
    text = lead + prefix + p["substitute"] + suffix + trail
    aug = context[:point] + text + context[point:]
    ins_start = point + len(lead) + len(prefix)
    inserted = {"text": p["substitute"], "start": ins_start, "end": ins_start + len(p["substitute"])}
    shifted = [
        {
            "text": a["text"],
            "start": a["start"] + (len(text) if a["start"] >= point else 0),
            "end": a["end"] + (len(text) if a["start"] >= point else 0),
        }
        for a in ex["answers"]
    ]
    answers = shifted + [inserted]
    for a in answers:
        if aug[a["start"] : a["end"]] != a["text"]:
            raise AssertionError(
                f"synthetic {ex['example_id']}: span {a} does not match {aug[a['start'] : a['end']]!r}"
            )
    return {
        "example_id": f"{ex['example_id']}~syn:{rule}",
        "parent_id": ex["example_id"],
        "context_id": text_id(aug),
        "parent_context_id": ex["context_id"],
        "context": aug,
        "question": ex["question"],
        "answers": answers,
        "insert_offset": point,
        "inserted_text": text,
        "inserted_answer": inserted,
        "rule": rule,
    }


Labeller = Callable[[Sequence[str]], list[list[dict[str, Any]]]]


def spacy_labeller(model: str = "en_core_web_sm") -> Labeller:
    """Batch NER with the index's components (`pipeline.nlp.load_nlp`): [{start, end, label}] per text."""
    from pipeline.nlp import IndexConfig, load_nlp

    nlp = None

    def label(texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        nonlocal nlp
        nlp = nlp or load_nlp(IndexConfig(model=model))
        docs = nlp.pipe(texts, batch_size=32)
        return [[{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents] for doc in docs]

    return label


def synthetic(
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    index: pl.DataFrame,
    cfg: SyntheticConfig = SyntheticConfig(),
    tagger: Tagger | None = None,
    source: str = "examples",
    labeller: Labeller | None = None,
) -> SyntheticResult:
    """SYNTHETIC rows for `examples` (EXAMPLES), `contexts` (CONTEXTS) and their `index` (INDEX).

    `labeller` (used when `cfg.check_label`): NER for the label check; default
    `spacy_labeller(cfg.spacy_model)` — pass the index's model when it differs."""
    ctx = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list()))
    idx = {r["context_id"]: r for r in index.iter_rows(named=True)}
    pool = corpus_pool(ctx, idx)
    result = SyntheticResult()
    eligible: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for ex in track(examples.iter_rows(named=True), "synthetic (plan)", examples.height):
        if ex["is_impossible"] or not ex["answers"]:
            result.counts["unanswerable"] += 1
            continue
        result.answerable += 1
        context, rec = ctx.get(ex["context_id"]), idx.get(ex["context_id"])
        if context is None or rec is None:
            result.counts["not_indexed"] += 1
            detail = f"context {ex['context_id']} has no {'context' if context is None else 'index'} row"
            result.rejects.append(reject("synthetic", source, ex["example_id"], "context_id", "not_indexed", detail))
            continue
        p, reason = plan(ex, context, rec, pool, cfg)
        if p is None:
            result.counts[reason] += 1
            continue
        eligible.append((_hash(cfg.seed, ex["example_id"], "pick"), ex, p))
    target = round(cfg.share * result.answerable)
    ranked = sorted(eligible, key=lambda t: (t[0], t[1]["example_id"]))
    result.counts["eligible"] = len(eligible)
    tag = tagger or spacy_tagger(cfg.spacy_model)
    pos = 0
    while len(result.rows) < target and pos < len(ranked):
        # tag in batches a little larger than what is still needed; examined strictly in rank
        # order and stopped at the target, so the batch size never changes the result
        need = target - len(result.rows)
        batch = ranked[pos : pos + need + need // 4 + 8]
        pos += len(batch)
        written = []
        for (_, ex, p), toks in zip(batch, tag([ex["question"] for _, ex, _ in batch])):
            stmt = rule_statement(ex["question"], toks)
            if stmt is not None:  # the substitute's form fitted to the sentence ("in" + "4 July" -> "on 4 July")
                prefix, sub = join_answer(stmt[1], p["substitute"])
                stmt, p = (stmt[0], prefix, join_suffix(sub, stmt[2])), {**p, "substitute": sub}
                if f" {normalize(sub)} " in f" {normalize(prefix + ' ' + stmt[2])} ":
                    stmt = "in_sentence"  # "Bank of America introduced Bank of America in 1958"
            if stmt == "in_sentence":
                written.append((ex, p, "in_sentence"))
                continue
            written.append((ex, p, None if stmt is None else insert(ex, ctx[ex["context_id"]], p, stmt)))
        labels: list[str | None] = [None] * len(written)
        if cfg.check_label:
            todo = [k for k, (_, _, row) in enumerate(written) if isinstance(row, dict)]
            found = (
                (labeller or spacy_labeller(cfg.spacy_model))([written[k][2]["context"] for k in todo]) if todo else []
            )
            for k, ents in zip(todo, found):
                ent = gold_entity(written[k][2]["inserted_answer"], ents, min_cover=0)  # overlapping it most
                labels[k] = ent and ent["label"]
        for (ex, p, row), got in zip(written, labels):
            if len(result.rows) == target:
                break
            if row is None:
                result.counts["no_statement"] += 1
                continue
            if row == "in_sentence":
                result.counts["substitute_in_sentence"] += 1
                continue
            if cfg.check_label and not (
                got == p["label"] if p["match"] == "label" else got is not None and coarse_type(got) == p["coarse"]
            ):
                result.counts["label_check_failed"] += 1
                continue
            result.rows.append(row)
            result.counts[f"rule:{row['rule']}"] += 1
            result.counts[f"substitute:{p['source']}"] += 1
            result.counts[f"type_match:{p['match']}"] += 1
            if p["shape_removed"]:
                result.counts["shape_filter:examples"] += 1
                result.counts["shape_filter:candidates_removed"] += p["shape_removed"]
    result.counts["shortfall"] = max(0, target - len(result.rows))
    result.rows.sort(key=lambda r: r["example_id"])
    return result


def mine_synthetic(
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    index: pl.DataFrame,
    nlp: IndexConfig,
    partition: str,
    cfg: SyntheticConfig,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """The registered miner (`pipeline.miners`): synthetic rows of one partition (the label check runs
    the index's own model, `nlp`). All or nothing: the exact share and the corpus pool of substitutes
    are partition-wide, so a change anywhere can change any row."""
    res = synthetic(
        examples, contexts, index.select(INDEX.column_names), cfg, source=partition, labeller=spacy_labeller(nlp.model)
    )
    rows = pl.DataFrame(res.rows, schema=empty_frame(SYNTHETIC).schema) if res.rows else empty_frame(SYNTHETIC)
    return rows, rejects_frame(res.rejects), synthetic_stats(res, cfg)


def synthetic_stats(result: SyntheticResult, cfg: SyntheticConfig) -> dict[str, Any]:
    """Numbers for the run report: configured vs achieved share, rules, skip reasons."""
    n = len(result.rows)
    return {
        "configured_share": cfg.share,
        "answerable": result.answerable,
        "augmented": n,
        "share": round(n / result.answerable, 4) if result.answerable else 0.0,
        "rules": {k[5:]: v for k, v in sorted(result.counts.items()) if k.startswith("rule:")},
        "substitutes": {k[11:]: v for k, v in sorted(result.counts.items()) if k.startswith("substitute:")},
        "type_match": {k[11:]: v for k, v in sorted(result.counts.items()) if k.startswith("type_match:")},
        "shape_filter": {k[13:]: v for k, v in sorted(result.counts.items()) if k.startswith("shape_filter:")},
        "placement": cfg.placement,
        "skips": {k: v for k, v in sorted(result.counts.items()) if ":" not in k and k not in ("eligible",)},
        "eligible": result.counts.get("eligible", 0),
    }


def main(argv: Sequence[str]) -> None:
    from pipeline.nlp import IndexConfig, load_nlp
    from pipeline.sources import SourceSpec, load_source
    from pipeline.spacy_index import parse_contexts

    loaded = load_source(SourceSpec(dataset="squad", path=argv[0], split="dev"))
    cfg = SyntheticConfig(share=float(argv[1]) if len(argv) > 1 else 0.2)
    icfg = IndexConfig()
    recs = parse_contexts(load_nlp(icfg), loaded.contexts["context"].to_list(), icfg)
    index = pl.DataFrame([{"context_id": c, **r} for c, r in zip(loaded.contexts["context_id"].to_list(), recs)])
    res = synthetic(loaded.examples, loaded.contexts, index, cfg)
    print(synthetic_stats(res, cfg))


if __name__ == "__main__":
    main(sys.argv[1:])
