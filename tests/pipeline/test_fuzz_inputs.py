"""Hostile inputs through the loader: a named error or rejects rows, never a traceback, never a wrong span.

Issue 15. Every case below is a corrupted input file (or path) built from a small valid
SQuAD, SQuAD 2.0, ROPES or HotpotQA document: every field of every record set to every
kind of wrong value (missing, null, wrong type, empty, huge, lone surrogate, zero-width
space, NUL, ...), plus whole-file damage (truncated, empty, BOM, non-UTF-8 bytes, raw NUL,
deep nesting, wrong top-level shape, a folder, a 5 MB context, an unknown format suffix).

For each case exactly one of:
- the whole input is refused with one `SourceError` whose message names the file (and, for
  JSON errors, line and column); `python -m pipeline.sources` prints it as ONE `error:` line;
- it loads, and: kept + rejected questions = the questions in the file (counted here, not by
  the loader); every kept span reads its text at its offsets (checked here by plain slicing
  and by the write gate `io.check_spans`); every frame can be written to Parquet; every
  rejects row names file, field and reason. `run_load` writes it (or raises `SourceError`).

Cases with a known right answer (the `İSTANBUL` span, `true` ids, `plausible_answers: "foo"`,
...) also assert that answer. The hypothesis test at the end feeds random unicode answers and
contexts (case-folding pairs, combining marks, surrogates, RTL marks, NUL) through the same
checks. The whole file runs in well under a minute (no spaCy, no Prefect).
"""

from __future__ import annotations

import copy
import io as _io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import io
from pipeline.schemas import CONTEXTS, EXAMPLES, REJECTS
from pipeline.sources import SourceError, SourceSpec, load_source, main
from pipeline.stages import run_load

# Valid documents -------------------------------------------------------------------------

CTX = "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891."
SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Marie_Curie",
            "paragraphs": [
                {
                    "context": CTX,
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where was Marie Curie born?",
                            "answers": [{"text": "Warsaw", "answer_start": 24}],
                        },
                        {
                            "id": "q2",
                            "question": "When did she move to Paris?",
                            "answers": [{"text": "1891", "answer_start": 62}, {"text": "in 1891", "answer_start": 59}],
                        },
                    ],
                }
            ],
        }
    ],
}
SQUAD2 = {
    "version": "v2.0",
    "data": [
        {
            "title": "Marie_Curie",
            "paragraphs": [
                {
                    "context": CTX,
                    "qas": [
                        {
                            "id": "u1",
                            "question": "Where did Curie die?",
                            "answers": [],
                            "is_impossible": True,
                            "plausible_answers": [{"text": "Paris", "answer_start": 53}],
                        },
                        {
                            "id": "u2",
                            "question": "Where was she born?",
                            "answers": [{"text": "Warsaw", "answer_start": 24}],
                            "is_impossible": False,
                        },
                    ],
                }
            ],
        }
    ],
}
ROPES = {
    "version": "1.0",
    "data": [
        {
            "title": "ropes",
            "paragraphs": [
                {
                    "background": "Acid rain lowers the pH of lakes.",
                    "situation": "Lake Alpha got more acid rain than Lake Beta.",
                    "qas": [
                        {
                            "id": "r1",
                            "question": "Which lake has the lower pH, Lake Alpha or Lake Beta?",
                            "answers": [{"text": "Lake Alpha"}],
                        },
                        {
                            "id": "r2",
                            "question": "Did Lake Beta get more or less acid rain?",
                            "answers": [{"text": "less"}],
                        },
                    ],
                }
            ],
        }
    ],
}
HOTPOT = [
    {
        "_id": "h1",
        "question": "Where was Marie Curie born?",
        "answer": "Warsaw",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Marie Curie", 0]],
        "context": [
            ["Marie Curie", ["Marie Curie was born in Warsaw.", " She moved to Paris."]],
            ["Other", ["Nothing here."]],
        ],
    },
    {
        "_id": "h2",
        "question": "Is Warsaw in Poland?",
        "answer": "yes",
        "type": "comparison",
        "level": "easy",
        "supporting_facts": [["Other", 0]],
        "context": [["Other", ["Warsaw is in Poland."]]],
    },
]
BASES = {"squad": SQUAD, "squad2": SQUAD2, "ropes": ROPES, "hotpot": HOTPOT}

HUGE = "__HUGE_NUMBER__"  # replaced by 5,000 digits in the file text (Python cannot even print such an int)
DELETE = object()
BAD_VALUES: list[tuple[str, Any]] = [
    ("missing", DELETE),
    ("null", None),
    ("int", 5),
    ("negative", -1),
    ("float", 1.5),
    ("true", True),
    ("empty_str", ""),
    ("blank", "  "),
    ("word", "x"),
    ("empty_list", []),
    ("empty_obj", {}),
    ("list", [1, "a"]),
    ("obj", {"a": 1}),
    ("huge", HUGE),
    ("surrogate", "\udfff"),
    ("zwsp", "\u200b"),
    ("punct", "?!"),
    ("nul", "a\x00b"),
]
FIELD_PATHS = {
    "squad": [
        "data.0",
        "data.0.title",
        "data.0.paragraphs",
        "data.0.paragraphs.0",
        "data.0.paragraphs.0.context",
        "data.0.paragraphs.0.qas",
        "data.0.paragraphs.0.qas.0",
        "data.0.paragraphs.0.qas.0.id",
        "data.0.paragraphs.0.qas.0.question",
        "data.0.paragraphs.0.qas.0.answers",
        "data.0.paragraphs.0.qas.0.answers.0",
        "data.0.paragraphs.0.qas.0.answers.0.text",
        "data.0.paragraphs.0.qas.0.answers.0.answer_start",
    ],
    "squad2": [
        "data.0.paragraphs.0.qas.0.is_impossible",
        "data.0.paragraphs.0.qas.0.plausible_answers",
        "data.0.paragraphs.0.qas.0.plausible_answers.0.answer_start",
    ],
    "ropes": [
        "data.0.paragraphs.0.background",
        "data.0.paragraphs.0.situation",
        "data.0.paragraphs.0.qas.0.id",
        "data.0.paragraphs.0.qas.0.question",
        "data.0.paragraphs.0.qas.0.answers",
        "data.0.paragraphs.0.qas.0.answers.0.text",
    ],
    "hotpot": [
        "0",
        "0._id",
        "0.question",
        "0.answer",
        "0.supporting_facts",
        "0.supporting_facts.0",
        "0.context",
        "0.context.0",
        "0.context.0.1",
        "0.context.0.1.0",
        "0.type",
    ],
}


# Cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    make: Callable[[Path], Path]  # writes the input under a tmp folder, returns the path to load
    expect_error: str | None = None  # regex the SourceError message must match (None: must load)
    check: Callable[[Any], None] | None = None  # extra assertions on the LoadResult
    arg_suffix: str = ""  # appended to NAME=PATH for the CLI form
    spec: dict[str, Any] = field(default_factory=dict)
    write: bool = True  # also run `run_load` (the writing stage) on it


def _set(doc: Any, path: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return doc


def _text(doc: Any) -> str:
    return json.dumps(doc).replace(f'"{HUGE}"', "9" * 5000)  # ensure_ascii: a lone surrogate stays "\udfff"


def writes_text(text: str, name: str = "input.json") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        return p

    return make


def writes_bytes(data: bytes, name: str = "input.json") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p

    return make


def _kept(n: int) -> Callable[[Any], None]:
    def check(r: Any) -> None:
        assert r.examples.height == n, r.rejects.to_dicts()

    return check


def _rejected(field_name: str, reason: str, kept: int | None = None) -> Callable[[Any], None]:
    def check(r: Any) -> None:
        rows = r.rejects.filter((pl.col("field") == field_name) & (pl.col("reason") == reason))
        assert rows.height >= 1, r.rejects.select("field", "reason", "detail").to_dicts()
        if kept is not None:
            assert r.examples.height == kept

    return check


def _cases() -> list[Case]:
    cases: list[Case] = []
    # 1. every field of every format, set to every kind of wrong value
    for fmt, paths in FIELD_PATHS.items():
        for path in paths:
            for label, value in BAD_VALUES:
                if value is DELETE and path.split(".")[-1].isdigit() and path.count(".") == 0:
                    continue
                # run_load (Parquet writes) on one generated case in three keeps the file under a minute
                cases.append(
                    Case(
                        f"{fmt}:{path}={label}",
                        writes_text(_text(_set(BASES[fmt], path, value))),
                        write=len(cases) % 3 == 0,
                    )
                )
    # 2. whole-file damage
    good = _text(SQUAD)
    for cut in (1, 10, len(good) // 2, len(good) - 1):
        cases.append(
            Case(f"truncated@{cut}", writes_text(good[:cut]), r"input\.json: not valid JSON at line 1, column \d+")
        )
    cases += [
        Case("empty_file", writes_text(""), r"input\.json: the file is empty"),
        Case("whitespace_file", writes_text(" \n\t "), r"input\.json: the file is empty"),
        Case("bom_valid", writes_bytes(b"\xef\xbb\xbf" + good.encode()), check=_kept(2)),
        Case(
            "bom_twice",
            writes_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + good.encode()),
            r"input\.json: not valid JSON at line 1",
        ),
        Case(
            "latin1_bytes",
            writes_bytes(good.replace("Warsaw in", "Warsaw \u00e9n").encode("latin-1")),
            r"input\.json: not UTF-8 text",
        ),
        Case(
            "invalid_utf8_byte",
            writes_bytes(good.encode()[:40] + b"\xff\xfe" + good.encode()[40:]),
            r"input\.json: not UTF-8 text",
        ),
        Case(
            "raw_nul_byte",
            writes_bytes(good.encode()[:50] + b"\x00" + good.encode()[50:]),
            r"input\.json: not valid JSON",
        ),
        Case("utf16", writes_bytes(good.encode("utf-16")), r"input\.json: not UTF-8 text"),
        Case("deep_nesting_top", writes_text("[" * 100_000 + "]" * 100_000), r"input\.json: JSON nested too deeply"),
        Case(
            "deep_nesting_field",
            writes_text(good.replace('"answer_start": 24', '"answer_start": ' + "[" * 5000 + "]" * 5000)),
            r"input\.json: JSON nested too deeply",
        ),
        Case(
            "deep_but_readable_field",
            writes_text(good.replace('"answer_start": 24', '"answer_start": ' + "[" * 500 + "]" * 500)),
            check=_rejected("answers[0].answer_start", "bad_type", kept=1),
        ),
        Case("top_number", writes_text("42"), r"input\.json: unknown shape: a JSON int"),
        Case("top_string", writes_text('"data"'), r"input\.json: unknown shape"),
        Case("top_null", writes_text("null"), r"input\.json: unknown shape"),
        Case("top_empty_obj", writes_text("{}"), r"input\.json: unknown shape: a JSON object with keys \[\]"),
        Case("top_empty_list", writes_text("[]"), r"input\.json: top level is an empty list"),
        Case("data_not_list", writes_text('{"data": {"a": 1}}'), r"input\.json: unknown shape"),
        Case("data_empty", writes_text('{"data": []}'), check=_kept(0)),
        Case(
            "nan_offset",
            writes_text(good.replace('"answer_start": 24', '"answer_start": NaN')),
            check=_rejected("answers[0].answer_start", "bad_type", kept=1),
        ),
        Case(
            "infinite_offset",
            writes_text(good.replace('"answer_start": 24', '"answer_start": 1e999')),
            check=_rejected("answers[0].answer_start", "bad_type", kept=1),
        ),
        Case(
            "offset_huge_digits",
            writes_text(good.replace('"answer_start": 24', '"answer_start": ' + "9" * 5000)),
            check=_rejected("answers[0].answer_start", "bad_type", kept=1),
        ),
        Case(
            "id_huge_digits",
            writes_text(good.replace('"id": "q1"', '"id": ' + "1" * 5000)),
            check=_rejected("id", "bad_type", kept=1),
        ),
        Case(
            "offset_negative",
            writes_text(good.replace('"answer_start": 24', '"answer_start": -24')),
            check=_rejected("answers[0].answer_start", "offset_mismatch", kept=1),
        ),
        Case(
            "offset_past_end",
            writes_text(good.replace('"answer_start": 24', '"answer_start": 2400000000')),
            check=_rejected("answers[0].answer_start", "offset_mismatch", kept=1),
        ),
        Case(
            "offset_off_by_one",
            writes_text(good.replace('"answer_start": 24', '"answer_start": 25')),
            check=_rejected("answers[0].answer_start", "offset_mismatch", kept=1),
        ),
        Case(
            "answer_not_in_context",
            writes_text(good.replace('"text": "Warsaw"', '"text": "Krakow"')),
            check=_rejected("answers[0].answer_start", "offset_mismatch", kept=1),
        ),
        Case(
            "duplicate_ids",
            writes_text(good.replace('"id": "q2"', '"id": "q1"')),
            check=_rejected("id", "duplicate_id", kept=1),
        ),
        Case(
            "id_true", writes_text(good.replace('"id": "q1"', '"id": true')), check=_rejected("id", "bad_type", kept=1)
        ),
        Case(
            "id_empty", writes_text(good.replace('"id": "q1"', '"id": ""')), check=_rejected("id", "empty_id", kept=1)
        ),
        Case(
            "id_int_kept_as_digits",
            writes_text(good.replace('"id": "q1"', '"id": 17')),
            check=lambda r: (
                sorted(r.examples["example_id"]) == ["17", "q2"] or pytest.fail(str(r.examples["example_id"]))
            ),
        ),
        Case(
            "question_punctuation",
            writes_text(good.replace('"Where was Marie Curie born?"', '"?!?"')),
            check=_rejected("question", "empty_question", kept=1),
        ),
        Case(
            "question_zwsp",
            writes_text(good.replace('"Where was Marie Curie born?"', '"\\u200b"')),
            check=_rejected("question", "empty_question", kept=1),
        ),
        Case(
            "question_surrogate",
            writes_text(good.replace('"Where was Marie Curie born?"', '"Where \\udfff?"')),
            check=_rejected("question", "invalid_unicode", kept=1),
        ),
        Case(
            "id_surrogate",
            writes_text(good.replace('"id": "q1"', '"id": "q\\ud800"')),
            check=_rejected("id", "invalid_unicode", kept=1),
        ),
        Case(
            "title_surrogate",
            writes_text(good.replace('"Marie_Curie"', '"Marie\\udfff"')),
            check=_rejected("title", "invalid_unicode", kept=0),
        ),
        Case(
            "context_surrogate",
            writes_text(good.replace("She moved", "She \\udfff moved")),
            check=_rejected("context", "invalid_unicode", kept=0),
        ),
        Case(
            "context_5mb",
            writes_text(
                good.replace("She moved to Paris in 1891.", "She moved to Paris in 1891." + " word" * 1_026_000)
            ),
            check=_rejected("context", "context_too_long", kept=0),
        ),
        Case(
            "context_nul_kept",
            writes_text(
                good.replace("She moved", "She\\u0000 moved")
                .replace('"answer_start": 62', '"answer_start": 63')
                .replace('"answer_start": 59', '"answer_start": 60')
            ),
            check=_kept(2),
        ),
        Case(
            "plausible_answers_string",
            writes_text(_text(_set(SQUAD2, "data.0.paragraphs.0.qas.0.plausible_answers", "foo"))),
            check=_rejected("plausible_answers", "bad_type", kept=2),
        ),
        Case(
            "hotpot_duplicate_ids",
            writes_text(_text(_set(HOTPOT, "1._id", "h1"))),
            check=_rejected("id", "duplicate_id", kept=1),
        ),
        Case(
            "hotpot_id_true",
            writes_text(_text(_set(HOTPOT, "0._id", True))),
            check=_rejected("_id", "bad_type", kept=0),
        ),
        Case(
            "ropes_answer_not_in_context",
            writes_text(_text(_set(ROPES, "data.0.paragraphs.0.qas.0.answers.0.text", "Lake Gamma"))),
            check=_rejected("answers", "answer_not_in_context", kept=1),
        ),
        Case(
            "ropes_dotless_capital_i",
            writes_text(
                _text(
                    _set(
                        _set(ROPES, "data.0.paragraphs.0.situation", "Tom lives in i\u0307stanbul, Ann in Oslo."),
                        "data.0.paragraphs.0.qas.0.answers.0.text",
                        "\u0130STANBUL",
                    )
                )
            ),
            check=lambda r: _assert_answer(r, "r1", "i\u0307stanbul"),
        ),
        Case(
            "folder",
            lambda d: (d / "a_folder").mkdir() or d / "a_folder",
            r"a_folder: is a folder, expected a JSON file",
        ),
        Case("missing_file", lambda d: d / "nothing_here.json", r"nothing_here\.json: file not found"),
        Case("unknown_format_suffix", writes_text(good), r"unknown format 'csv'", arg_suffix=":csv"),
        Case(
            "wrong_format_requested",
            writes_text(good),
            r"format 'ropes' was requested but the file looks like 'squad'",
            spec={"format": "ropes"},
        ),
    ]
    return cases


def _assert_answer(r: Any, qid: str, text: str) -> None:
    row = r.examples.filter(pl.col("example_id") == qid)
    assert row.height == 1, r.rejects.to_dicts()
    assert row["answers"][0][0]["text"] == text


CASES = _cases()


def test_there_are_at_least_100_corrupted_inputs() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)


# Independent counts and checks -------------------------------------------------------------


def _questions_in(doc: Any) -> int:
    """Questions in a document, counted the plain way: every qas entry under an article object's
    paragraph object (SQuAD, ROPES), or every record (HotpotQA)."""
    if isinstance(doc, list):
        return len(doc)
    n = 0
    for article in doc.get("data", []) if isinstance(doc, dict) and isinstance(doc.get("data"), list) else []:
        if isinstance(article, dict) and isinstance(article.get("paragraphs"), list):
            for p in article["paragraphs"]:
                if isinstance(p, dict) and isinstance(p.get("qas"), list):
                    n += len(p["qas"])
    return n


def _assert_sound(r: Any, doc: Any, source: Path) -> None:
    """kept + rejected = input; every kept span reads its text; every frame storable; rejects name file/field/reason."""
    n = _questions_in(doc)
    assert r.n_records == n
    assert r.examples.height + r.n_rejected_questions == n, (r.examples.height, r.n_rejected_questions, n)
    assert r.rejects.height >= r.n_rejected_questions
    contexts = dict(zip(r.contexts["context_id"], r.contexts["context"]))
    for row in r.examples.iter_rows(named=True):
        context = contexts[row["context_id"]]
        assert row["context_id"] == io.text_id(context)
        for s in [*row["answers"], *row["plausible_answers"]]:
            assert s["end"] == s["start"] + len(s["text"]) and context[s["start"] : s["end"]] == s["text"], (
                row["example_id"],
                s,
            )
        assert row["answers"] or row["is_impossible"]
    io.check_spans(EXAMPLES, r.examples, r.contexts, "fuzz")
    for spec, frame in ((EXAMPLES, r.examples), (CONTEXTS, r.contexts), (REJECTS, r.rejects)):
        pq.write_table(io.to_table(frame.drop("split"), spec), _io.BytesIO())  # a lone surrogate would fail here
    for row in r.rejects.iter_rows(named=True):
        assert row["source_file"] == str(source) and row["field"] and re.fullmatch(r"[a-z_]+", row["reason"]), row


def _read_doc(path: Path) -> Any:
    return json.loads(
        path.read_text(encoding="utf-8-sig", errors="surrogatepass"), parse_int=lambda s: 0 if len(s) > 100 else int(s)
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corrupted_input_gives_a_named_error_or_rejects_rows(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = case.make(tmp_path)
    spec = SourceSpec.from_arg(f"fz={path}{case.arg_suffix}") if not case.arg_suffix else None
    if case.arg_suffix:  # the CLI form must say what is wrong with the argument
        with pytest.raises(ValueError, match=case.expect_error):
            SourceSpec.from_arg(f"fz={path}{case.arg_suffix}")
    else:
        spec = SourceSpec("fz", str(path), **case.spec)
        try:
            result = load_source(spec)
        except SourceError as e:
            assert case.expect_error is not None, f"unexpected SourceError: {e}"
            assert re.search(case.expect_error, str(e)), str(e)
            assert str(path) in str(e)  # names the file
            result = None
        else:
            assert case.expect_error is None, (
                f"expected an error matching {case.expect_error!r}, loaded {result.summary()}"
            )
            _assert_sound(result, _read_doc(path), path)
            if case.check:
                case.check(result)
        # the stage that writes: the same outcome, and every written span passes the gate
        root = tmp_path / "artifacts"
        if not case.write:
            pass
        elif result is None:
            with pytest.raises(SourceError, match=case.expect_error):  # the same message (a folder is not "not found")
                run_load(root, spec)
        else:
            reports = run_load(root, spec)
            assert sum(rep.rows for rep in reports) == result.examples.height
            if result.examples.height:
                io.check_spans(
                    EXAMPLES,
                    io.read(root, EXAMPLES).drop("dataset", "split"),
                    io.read(root, CONTEXTS).drop("dataset", "split"),
                )
    # the command line: one `error:` line naming the file, or one summary line
    capsys.readouterr()
    rc = main([f"fz={path}{case.arg_suffix}"] if not case.spec else [f"fz={path}:{case.spec['format']}"])
    out, err = capsys.readouterr()
    if case.expect_error is None:
        assert rc == 0 and len(out.strip().splitlines()) == 1 and not err, (out, err)
    else:
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0], err
        assert "Traceback" not in err


# Property test: random unicode through the loader ---------------------------------------------

TRICKY = [
    "\u0130",
    "i\u0307",
    "\u00df",
    "SS",
    "\ufb01",
    "\u03a3",
    "\u03c3",
    "\u03c2",
    "\u0301",
    "e\u0301",
    "\u00e9",
    "\u200f",
    "\u202e",
    "\u05d0",
    "\u0627",
    "\u0000",
    "\ud800",
    "\udfff",
    "\u200b",
    "K",
    "\u212a",
    " ",
    "\n",
    "a",
    "Z",
    "1",
]
pieces = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(min_size=0, max_size=3)), min_size=1, max_size=8).map(
    "".join
)


def _write(tmp: Path, doc: Any) -> Path:
    p = tmp / "prop.json"
    p.write_text(json.dumps(doc), encoding="utf-8")  # ensure_ascii keeps lone surrogates as escapes
    return p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=pieces, answer=pieces, after=pieces, question=pieces, shift=st.integers(-2, 2))
def test_random_unicode_in_squad_answers_and_contexts(
    tmp_path: Path, before: str, answer: str, after: str, question: str, shift: int
) -> None:
    context = before + answer + after
    doc = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "p1",
                                "question": question,
                                "answers": [{"text": answer, "answer_start": len(before) + shift}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    path = _write(tmp_path, doc)
    r = load_source(SourceSpec("prop", str(path)))
    _assert_sound(r, doc, path)
    if shift == 0 and _no_surrogate(context + question) and answer.strip() and any(c.isalnum() for c in question):
        assert r.examples.height == 1, r.rejects.to_dicts()  # a right offset is kept, whatever the characters


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=pieces, answer=pieces, after=pieces, upper=st.booleans(), fmt=st.sampled_from(["ropes", "hotpot"]))
def test_random_unicode_in_located_answers(
    tmp_path: Path, before: str, answer: str, after: str, upper: bool, fmt: str
) -> None:
    """ROPES and HotpotQA answers have no offsets: the loader finds them, and what it stores must read back."""
    text = before + " " + answer + " " + after
    wanted = answer.upper() if upper else answer
    if fmt == "ropes":
        doc: Any = {
            "data": [
                {
                    "title": "r",
                    "paragraphs": [
                        {
                            "background": "Background.",
                            "situation": text,
                            "qas": [{"id": "p1", "question": "Which one?", "answers": [{"text": wanted}]}],
                        }
                    ],
                }
            ]
        }
    else:
        doc = [
            {
                "_id": "p1",
                "question": "Which one?",
                "answer": wanted,
                "type": "bridge",
                "level": "easy",
                "supporting_facts": [["T", 0]],
                "context": [["T", [text]]],
            }
        ]
    path = _write(tmp_path, doc)
    r = load_source(SourceSpec("prop", str(path)))
    _assert_sound(r, doc, path)


def _no_surrogate(s: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
