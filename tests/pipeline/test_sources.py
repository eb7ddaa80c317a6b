"""Unit tests of pipeline.sources on the committed samples (data/samples) and tiny tmp files.

pytest tests/pipeline/test_sources.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline import io
from pipeline.schemas import CONTEXTS, EXAMPLES, REJECTS
from pipeline.sources import (
    FORMATS,
    LoadResult,
    SourceError,
    SourceSpec,
    load_source,
    load_sources_config,
    protocol_eval_titles,
    protocol_split,
    source_fingerprint,
)
from pipeline.sources.locate import ContextPart, find_whole_word, join_parts, locate_answer

SAMPLE_FILES = {
    "squad11_sample.json": "squad",
    "squad20_sample.json": "squad",
    "ropes_sample.json": "ropes",
    "hotpot_sample.json": "hotpot",
    "xquad_sample.de.json": "squad",
    "broken_sample.json": "squad",
}


def load(samples: Path, name: str, **kw) -> LoadResult:
    return load_source(SourceSpec(kw.pop("dataset", "ds"), str(samples / name), **kw))


def raw_question_count(path: Path) -> int:
    """Questions in a file, counted straight from the JSON (independent of the loader)."""
    obj = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(obj, list):
        return len(obj)
    return sum(
        len(p["qas"])
        for a in obj["data"]
        if isinstance(a, dict) and isinstance(a.get("paragraphs"), list)
        for p in a["paragraphs"]
        if isinstance(p, dict) and isinstance(p.get("qas"), list)
    )


def spans_point_at_text(result: LoadResult) -> bool:
    joined = result.examples.join(result.contexts.select("context_id", "split", "context"), on=["context_id", "split"])
    for row in joined.iter_rows(named=True):
        for s in row["answers"] + row["plausible_answers"]:
            if row["context"][s["start"] : s["end"]] != s["text"]:
                return False
    return True


def write_json(tmp_path: Path, name: str, obj) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    return str(path)


# Every format ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_loads_into_declared_schema_and_accounts_for_every_question(samples, name):
    result = load(samples, name)
    for frame, spec in ((result.examples, EXAMPLES), (result.contexts, CONTEXTS), (result.rejects, REJECTS)):
        assert frame.columns == spec.column_names + ["split"]
        io.to_table(frame.drop("split"), spec)  # what write_partition validates
    assert result.examples.height > 0
    assert result.n_records == raw_question_count(samples / name)
    assert result.examples.height + result.n_rejected_questions + result.n_filtered == result.n_records
    assert spans_point_at_text(result)
    assert result.contexts["context_id"].is_unique().all()
    assert set(result.examples["context_id"]) == set(result.contexts["context_id"])
    assert result.contexts["n_chars"].to_list() == [len(c) for c in result.contexts["context"]]
    assert result.examples["example_id"].is_unique().all()
    assert set(result.examples["split"]) == {"dev"}


def test_squad11_sample(samples):
    result = load(samples, "squad11_sample.json", dataset="squad11")
    assert (result.examples.height, result.contexts.height, result.rejects.height) == (28, 6, 0)
    assert result.summary() == "squad11: 28 examples, 6 contexts, 0 rejected"
    row = result.examples.filter(pl.col("example_id") == "hic-0005").row(0, named=True)
    assert [a["text"] for a in row["answers"]] == ["the Rhône Valley Company", "Rhône Valley Company"]
    assert row["source_record"] == "data[0].paragraphs[0].qas[4]"
    assert row["lang"] == "en" and row["question_type"] is None and not row["is_impossible"]
    assert result.contexts["context_id"].to_list()[0] == io.text_id(result.contexts["context"][0])


def test_squad20_sample_keeps_unanswerable_with_plausible_answers(samples):
    result = load(samples, "squad20_sample.json")
    impossible = result.examples.filter(pl.col("is_impossible"))
    assert impossible.height == 7
    assert impossible["answers"].list.len().max() == 0
    assert impossible["plausible_answers"].list.len().min() == 1
    assert result.examples.filter(~pl.col("is_impossible"))["answers"].list.len().min() >= 1


def test_xquad_language_from_file_name(samples):
    result = load(samples, "xquad_sample.de.json")
    assert set(result.examples["lang"]) == {"de"} and set(result.contexts["lang"]) == {"de"}
    assert set(load(samples, "xquad_sample.de.json", lang="en").examples["lang"]) == {"en"}


@pytest.mark.parametrize(
    ("path", "lang"),
    [
        ("xquad.de.json", "de"),
        ("data/xquad.vi.json", "vi"),
        ("dev-context-de-question-de.json", "de"),
        ("test-context-es-question-en.json", "es"),
        ("dev-v1.1.json", "en"),
        ("squad11_sample.json", "en"),
    ],
)
def test_resolved_lang(path, lang):
    assert SourceSpec("x", path).resolved_lang() == lang


# Rejects -----------------------------------------------------------------------------


def test_broken_sample_rejects_each_defect_with_field_and_reason(samples):
    result = load(samples, "broken_sample.json")
    got = sorted(zip(result.rejects["record_id"], result.rejects["field"], result.rejects["reason"]))
    assert got == sorted(
        [
            ("brk-02", "answers[0].answer_start", "offset_mismatch"),
            ("brk-02", "answers", "no_valid_answer"),
            ("brk-03", "answers[1].answer_start", "offset_mismatch"),
            ("brk-04", "question", "missing_field"),
            ("brk-05", "answers", "missing_field"),
            ("brk-01", "id", "duplicate_id"),
            ("brk-06", "answers[0].answer_start", "bad_type"),
            ("brk-06", "answers", "no_valid_answer"),
            ("data[0].paragraphs[0].qas[7]", "data[0].paragraphs[0].qas[7]", "bad_type"),
            ("brk-07", "context", "empty_context"),
            ("brk-08", "context", "empty_context"),
            ("brk-09", "context", "missing_field"),
            ("brk-10", "plausible_answers[0].answer_start", "offset_mismatch"),
            ("brk-11", "answers", "answers_on_impossible"),
            ("data[1]", "paragraphs", "missing_field"),
        ]
    )
    assert sorted(result.examples["example_id"]) == ["brk-01", "brk-03", "brk-10"]
    kept_first = result.examples.filter(pl.col("example_id") == "brk-01")["source_record"].item()
    assert kept_first == "data[0].paragraphs[0].qas[0]"  # the first of two records with one id is kept
    assert set(result.rejects["stage"]) == {"load"}
    assert set(result.rejects["source_file"]) == {str(samples / "broken_sample.json")}
    detail = result.rejects.filter(pl.col("record_id") == "brk-02", pl.col("reason") == "offset_mismatch")[
        "detail"
    ].item()
    assert "data[0].paragraphs[0].qas[1]" in detail and "'Hannah Price'" in detail
    assert "offset_mismatch: 3" in result.summary()


def test_unreadable_file_raises_source_error_with_position(samples):
    with pytest.raises(SourceError, match=r"unreadable_sample\.json: not valid JSON at line 6, column 7"):
        load(samples, "unreadable_sample.json")


def test_missing_file_and_wrong_shapes_raise_source_error(tmp_path, samples):
    with pytest.raises(SourceError, match="nope.json: file not found"):
        load_source(SourceSpec("x", str(tmp_path / "nope.json")))
    with pytest.raises(SourceError, match=r"numbers\.json: unknown shape: a JSON list of 3"):
        load_source(SourceSpec("x", write_json(tmp_path, "numbers.json", [1, 2, 3])))
    with pytest.raises(SourceError, match=r"obj\.json: unknown shape: a JSON object with keys \[version\]"):
        load_source(SourceSpec("x", write_json(tmp_path, "obj.json", {"version": "1"})))
    with pytest.raises(SourceError, match="format 'ropes' was requested but the file looks like 'squad'"):
        load(samples, "squad11_sample.json", format="ropes")
    with pytest.raises(SourceError, match="article_split='protocol' needs article titles"):
        load(samples, "ropes_sample.json", article_split="protocol")


# Splits and title filters ------------------------------------------------------------


def test_protocol_split_rule():
    titles = [f"t{i:02d}" for i in range(9, -1, -1)] + ["t03"]
    split = protocol_split(titles)
    assert [t for t, s in sorted(split.items()) if s == "eval"] == ["t02", "t05", "t08"]
    assert len(split) == 10


def test_article_split_protocol_on_sample(samples):
    # sorted titles: Harbour_Institute_of_Chemistry, Kestrel_River, Northbridge_Marathon -> index 2 is eval
    result = load(samples, "squad11_sample.json", article_split="protocol")
    by_split = dict(result.examples.group_by("split").agg(pl.col("title").unique().sort()).iter_rows())
    assert by_split == {"train": ["Harbour_Institute_of_Chemistry", "Kestrel_River"], "eval": ["Northbridge_Marathon"]}
    assert result.contexts.group_by("split").len().sort("split").rows() == [("eval", 2), ("train", 4)]
    assert protocol_eval_titles(samples / "squad11_sample.json") == ("Northbridge_Marathon",)
    assert "splits eval=10, train=18" in result.summary()


def test_restrict_titles_filters_and_counts(samples):
    eval_titles = protocol_eval_titles(samples / "squad11_sample.json")
    result = load(samples, "xquad_sample.de.json", restrict_titles=eval_titles)
    assert set(result.examples["title"]) == {"Northbridge_Marathon"}
    assert (result.examples.height, result.n_filtered, result.n_records) == (3, 6, 9)
    assert result.rejects.height == 0
    assert "6 questions outside restrict_titles left out" in result.summary()


def test_duplicate_ids_are_per_split(tmp_path):
    qa = {"id": "same", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}
    data = {
        "data": [{"title": t, "paragraphs": [{"context": f"Ann went to {t}.", "qas": [qa]}]} for t in ("a", "b", "c")]
    }
    path = write_json(tmp_path, "dups.json", data)
    protocol = load_source(SourceSpec("x", path, article_split="protocol"))
    # a (train) kept, b (train) dup, c (eval) kept
    assert protocol.examples.height == 2 and protocol.rejects.height == 1
    assert protocol.rejects.row(0, named=True)["split"] == "train"
    assert load_source(SourceSpec("x", path)).examples.height == 1


def test_malformed_article_does_not_shift_the_protocol_split(tmp_path):
    qa = {"id": "q", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}
    articles = [{"title": t, "paragraphs": [{"context": f"Ann went to {t}.", "qas": [{**qa, "id": t}]}]} for t in "abc"]
    result = load_source(
        SourceSpec("x", write_json(tmp_path, "junk.json", {"data": ["junk", *articles]}), article_split="protocol")
    )
    assert dict(result.examples.select("title", "split").iter_rows()) == {"a": "train", "b": "train", "c": "eval"}
    assert result.rejects.select("record_id", "reason", "split").rows() == [("data[0]", "bad_type", "dev")]


def test_missing_id_gets_context_id_and_position(tmp_path):
    data = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "Ann went home.",
                        "qas": [
                            {"question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]},
                            {"question": "Where?", "answers": [{"text": "home", "answer_start": 9}]},
                        ],
                    }
                ],
            }
        ]
    }
    result = load_source(SourceSpec("x", write_json(tmp_path, "noid.json", data)))
    cid = io.text_id("Ann went home.")
    assert result.examples["example_id"].to_list() == [f"{cid}:0", f"{cid}:1"]


# ROPES -------------------------------------------------------------------------------


def test_ropes_shared_context_per_situation(samples):
    result = load(samples, "ropes_sample.json", ropes_context="shared")
    assert result.contexts.height == 3
    assert result.examples.group_by("context_id").len()["len"].sort().to_list() == [4, 5, 6]
    ctx = result.contexts.filter(pl.col("title") == "ropes-0")["context"].item()
    background, situation = ctx.split("\n\n")
    assert situation.startswith("Doctors followed two groups")
    row = result.examples.filter(pl.col("example_id") == "rp-bp-01").row(0, named=True)
    assert row["answers"][0]["start"] > len(background)  # "group A" found in the situation
    # a minimal pair (higher/lower) shares the context, with different answers
    pair = result.examples.filter(pl.col("example_id").is_in(["rp-bp-01", "rp-bp-02"]))
    assert pair["context_id"].n_unique() == 1 and pair["answers"].list.first().struct.field("text").to_list() == [
        "group A",
        "group B",
    ]
    # "more" is not in the situation: found as a whole word in the background
    more = result.examples.filter(pl.col("example_id") == "rp-bp-05")["answers"].item()[0]
    assert more["end"] <= len(background)
    reject = result.rejects.row(0, named=True)
    assert (reject["record_id"], reject["field"], reject["reason"]) == (
        "rp-ps-06",
        "answers",
        "answer_only_in_question",
    )


def test_ropes_with_question_context_is_the_default(samples):
    result = load(samples, "ropes_sample.json")
    assert result.examples.height == 16 and result.rejects.height == 0
    assert result.contexts.height == 16
    joined = result.examples.join(result.contexts, on=["context_id", "split"])
    assert all(c.endswith("\n\n" + q.strip()) for c, q in zip(joined["context"], joined["question"]))
    # the questions of one situation share background + situation + separator, character for character
    shared = load(samples, "ropes_sample.json", ropes_context="shared").contexts
    for title, g in joined.group_by("title"):
        prefix = shared.filter(pl.col("title") == title[0])["context"].item() + "\n\n"
        assert all(c.startswith(prefix) for c in g["context"])
    # an answer found in the situation or background has the offsets the shared layout gives it
    old = load(samples, "ropes_sample.json", ropes_context="shared").examples.select("example_id", "answers")
    both = joined.join(old, on="example_id", suffix="_shared")
    assert both.height == 15 and (both["answers"] == both["answers_shared"]).all()
    closer = joined.filter(pl.col("example_id") == "rp-ps-06").row(0, named=True)
    start = closer["answers"][0]["start"]
    assert start > len(closer["context"]) - len(closer["question"]) - 1  # located in the question part


def test_ropes_malformed_records(tmp_path):
    qa = {"id": "r1", "question": "Which group, A or B?", "answers": [{"text": "group A"}]}
    paragraphs = [
        {
            "background": "Salt raises pressure.",
            "situation": "In group A people eat salt.",
            "qas": [
                qa,
                {**qa, "id": "r2", "answers": []},
                {**qa, "id": "r3", "answers": [{"text": "group A"}, {"text": "group C"}]},
                {**qa, "id": "r4", "answers": [{"text": "group Z"}]},
                {"id": "r5", "answers": [{"text": "x"}]},
                {**qa},
            ],
        },
        {"background": "B.", "qas": [{**qa, "id": "r6"}]},
        {"background": " ", "situation": "", "qas": [{**qa, "id": "r7"}]},
    ]
    result = load_source(
        SourceSpec("x", write_json(tmp_path, "r.json", {"data": [{"title": "t", "paragraphs": paragraphs}]}))
    )
    got = sorted(zip(result.rejects["record_id"], result.rejects["field"], result.rejects["reason"]))
    assert got == sorted(
        [
            ("r2", "answers", "no_valid_answer"),
            ("r3", "answers[1].text", "answer_not_in_context"),
            ("r4", "answers", "answer_not_in_context"),
            ("r5", "question", "missing_field"),
            ("r1", "id", "duplicate_id"),
            ("r6", "situation", "missing_field"),
            ("r7", "situation", "empty_context"),
        ]
    )
    assert sorted(result.examples["example_id"]) == ["r1", "r3"]
    assert result.examples.height + result.n_rejected_questions == result.n_records == 8


# HotpotQA ----------------------------------------------------------------------------


def test_hotpot_supporting_paragraphs_only(samples):
    result = load(samples, "hotpot_sample.json")
    assert sorted(result.examples["example_id"]) == ["hp-brg-001", "hp-cmp-001", "hp-cmp-002", "hp-cmp-004"]
    assert result.rejects.select("record_id", "field", "reason").rows() == [("hp-cmp-003", "answer", "yes_no_answer")]
    row = (
        result.examples.join(result.contexts, on=["context_id", "split"])
        .filter(pl.col("example_id") == "hp-cmp-001")
        .row(0, named=True)
    )
    paragraphs = row["context"].split("\n\n")
    # file order, distractors dropped
    assert [p.split(":")[0] for p in paragraphs] == ["Ada Lovelace", "Charles Babbage"]
    assert "Mary Somerville" not in row["context"]
    assert row["question_type"] == "comparison" and row["title"] == "Ada Lovelace | Charles Babbage"
    assert dict(result.examples.select("example_id", "question_type").iter_rows())["hp-brg-001"] == "bridge"


def test_hotpot_answer_not_found_and_missing_paragraph(tmp_path):
    base = {
        "_id": "h1",
        "question": "Which is older?",
        "answer": "Zed",
        "type": "comparison",
        "level": "easy",
        "supporting_facts": [["A", 0], ["B", 0]],
        "context": [["A", ["A is old."]], ["B", [" B is older."]]],
    }
    records = [
        base,
        {**base, "_id": "h2", "supporting_facts": [["A", 0], ["C", 0]]},
        {**base, "_id": "h3", "answer": "B"},
        {"_id": "h4"},
    ]
    result = load_source(SourceSpec("x", write_json(tmp_path, "h.json", records)))
    reasons = dict(zip(result.rejects["record_id"], result.rejects["reason"]))
    assert reasons == {"h1": "answer_not_in_context", "h2": "supporting_paragraph_missing", "h4": "missing_field"}
    h3 = result.examples.join(result.contexts, on=["context_id", "split"]).row(0, named=True)
    assert h3["context"] == "A: A is old.\n\nB: B is older."
    assert h3["answers"] == [{"text": "B", "start": 14, "end": 15}]  # first whole-word "B": the title prefix


# Locating free-text answers ----------------------------------------------------------


def test_locate_prefers_whole_words_and_exact_case():
    context, parts = join_parts([("situation", "It is colourless and less dense."), ("background", "Less is more.")])
    found = locate_answer("less", parts)
    assert (
        context[found.start : found.end] == "less"
        and found.start == context.index("less dense")
        and found.part == "situation"
    )
    assert locate_answer("Dan", [ContextPart("s", 0, "Danny ran.")]) is None
    any_case = locate_answer("company x", [ContextPart("s", 0, "Company X paid.")])
    assert (any_case.start, any_case.end) == (0, 9)
    assert find_whole_word("Alkali soil", "including Alkali soil.") == 10
    assert locate_answer(" Alkali soil", [ContextPart("s", 5, "Alkali soil")]).start == 5


# Hub path (the real datasets.load_dataset call, on a local folder) -------------------


def _hub_folder(samples: Path, tmp_path: Path) -> Path:
    """squad20_sample.json flattened to the HF SQuAD layout, as `validation.jsonl` in a folder."""
    folder = tmp_path / "hub_squad"
    folder.mkdir()
    obj = json.loads((samples / "squad20_sample.json").read_text(encoding="utf-8"))
    rows = [
        {
            "id": qa["id"],
            "title": a["title"],
            "context": p["context"],
            "question": qa["question"],
            "answers": {
                "text": [x["text"] for x in qa["answers"]],
                "answer_start": [x["answer_start"] for x in qa["answers"]],
            },
        }
        for a in obj["data"]
        for p in a["paragraphs"]
        for qa in p["qas"]
    ]
    rows[0]["answers"]["answer_start"] = [rows[0]["answers"]["answer_start"][0] + 1]  # one wrong offset
    (folder / "validation.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


def test_hub_path_through_load_dataset(samples, tmp_path):
    folder = _hub_folder(samples, tmp_path)
    spec = SourceSpec("hubsq", str(folder), format="hub", hub_split="validation")
    result = load_source(spec)
    direct = load(samples, "squad20_sample.json")
    assert result.n_records == direct.n_records == 20
    assert result.rejects.select("record_id", "field", "reason").rows() == [
        ("ovr-0001", "answers[0].answer_start", "offset_mismatch"),
        ("ovr-0001", "answers", "no_valid_answer"),
    ]
    cols = ["example_id", "context_id", "title", "question", "answers", "is_impossible"]
    assert result.examples.select(cols).equals(direct.examples.filter(pl.col("example_id") != "ovr-0001").select(cols))
    assert result.examples["source_record"][0] == "validation[1]"
    assert result.examples["source_file"][0] == str(folder)
    before = source_fingerprint(spec)
    assert before == source_fingerprint(SourceSpec("hubsq", str(folder), format="hub"))
    assert before != source_fingerprint(SourceSpec("hubsq", str(folder), format="hub", hub_config="other"))
    (folder / "validation.jsonl").write_text((folder / "validation.jsonl").read_text().replace("Bristol", "Bath"))
    assert source_fingerprint(spec) != before  # a local dataset folder is fingerprinted by its files
    with pytest.raises(SourceError, match=r"could not be loaded"):
        load_source(SourceSpec("hubsq", str(folder), format="hub", hub_split="train"))


def test_hub_missing_columns_is_a_source_error(tmp_path):
    folder = tmp_path / "hub_bad"
    folder.mkdir()
    (folder / "validation.jsonl").write_text(json.dumps({"id": "1", "context": "c", "question": "q"}) + "\n")
    with pytest.raises(SourceError, match=r"missing column\(s\) \['answers'\]"):
        load_source(SourceSpec("x", str(folder), format="hub"))


def test_import_pipeline_stays_light():
    code = (
        "import sys, pipeline.sources; print(sorted(m for m in ('datasets', 'torch', 'prefect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Specs, config and fingerprints ------------------------------------------------------


def test_from_arg():
    assert SourceSpec.from_arg("squad11=../shared/data/squad/v1.1/dev-v1.1.json") == SourceSpec(
        "squad11", "../shared/data/squad/v1.1/dev-v1.1.json"
    )
    assert SourceSpec.from_arg("sq=rajpurkar/squad:hub") == SourceSpec("sq", "rajpurkar/squad", format="hub")
    assert SourceSpec.from_arg("r=data/ropes.json:ropes").format == "ropes"
    assert SourceSpec.from_arg("x=C:/data/file.json").path == "C:/data/file.json"  # not a format: stays in the path
    for bad in ("no-equals.json", "=path.json", "name=", "bad/name=x.json"):
        with pytest.raises(ValueError):
            SourceSpec.from_arg(bad)


def test_spec_validation_names_the_field():
    with pytest.raises(ValueError, match=r"SourceSpec\.format: got 'csv', expected one of \['auto', "):
        SourceSpec("x", "f.json", format="csv")
    with pytest.raises(ValueError, match=r"SourceSpec\.article_split: got 'random'"):
        SourceSpec("x", "f.json", article_split="random")
    with pytest.raises(ValueError, match=r"SourceSpec\.ropes_context: got 'both'"):
        SourceSpec("x", "f.json", ropes_context="both")
    with pytest.raises(ValueError, match=r"SourceSpec\.split: got 'a/b', expected a name of letters"):
        SourceSpec("x", "f.json", split="a/b")
    assert SourceSpec("x", "f.json", restrict_titles=["b", "a"]).restrict_titles == ("b", "a")


def test_ids_and_frames_stable_across_runs(samples):
    a, b = load(samples, "squad20_sample.json"), load(samples, "squad20_sample.json")
    assert a.examples.equals(b.examples) and a.contexts.equals(b.contexts)


def test_source_fingerprint(samples, tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes((samples / "squad11_sample.json").read_bytes())
    spec = SourceSpec("squad11", str(path))
    first = source_fingerprint(spec)
    assert first == source_fingerprint(SourceSpec("squad11", str(path)))
    assert first != source_fingerprint(SourceSpec("squad11", str(path), article_split="protocol"))
    path.write_bytes(path.read_bytes().replace(b"Lyon", b"Nice"))
    assert first != source_fingerprint(spec)
    with pytest.raises(SourceError, match="file not found"):
        source_fingerprint(SourceSpec("x", str(tmp_path / "missing.json")))


def test_load_sources_config(tmp_path, samples):
    (tmp_path / "in.json").write_text("{}")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        "sources:\n  - {dataset: a, path: in.json, restrict_titles: [x, y]}\n"
        "  - {dataset: b, path: rajpurkar/squad, format: hub}\n"
    )
    specs = load_sources_config(cfg)
    assert specs[0] == SourceSpec("a", str(tmp_path / "in.json"), restrict_titles=("x", "y"))
    assert specs[1].path == "rajpurkar/squad"
    cfg.write_text("sources:\n  - {dataset: a, path: in.json, colour: red}\n")
    with pytest.raises(
        ValueError, match=r"sources\.0\.colour: unknown key; expected one of \['article_split', 'dataset', "
    ):
        load_sources_config(cfg)
    cfg.write_text("sources:\n  - {dataset: a}\n")
    with pytest.raises(ValueError, match=r"sources\.0\.path: missing \(required\)"):
        load_sources_config(cfg)
    cfg.write_text("sources:\n  - {dataset: a, path: in.json, format: xml}\n")
    with pytest.raises(ValueError, match=r"sources\.0\.format: got 'xml', expected one of"):
        load_sources_config(cfg)


def test_demo_build_config_sources_all_load(samples):
    """The sources of data/samples/build.yaml (the demo run) exist and load."""
    build = samples / "build.yaml"
    if not build.exists():
        pytest.skip("data/samples/build.yaml not written yet")
    specs = load_sources_config(build)
    assert specs
    for spec in specs:
        assert load_source(spec).examples.height > 0, spec


def test_hub_hotpot_layout_reads_like_the_json(samples, tmp_path):
    """A local folder in the hub's `hotpot_qa` layout goes through `datasets.load_dataset` and
    gives the same rows and rejects as the original JSON sample (the hub code path of HotpotQA)."""
    records = json.loads((samples / "hotpot_sample.json").read_text())
    folder = tmp_path / "hub_hotpot"
    folder.mkdir()
    with (folder / "validation.jsonl").open("w") as f:
        for r in records:
            f.write(
                json.dumps(
                    {
                        "id": r["_id"],
                        "question": r["question"],
                        "answer": r["answer"],
                        "type": r["type"],
                        "level": r["level"],
                        "supporting_facts": {
                            "title": [t for t, _ in r["supporting_facts"]],
                            "sent_id": [i for _, i in r["supporting_facts"]],
                        },
                        "context": {"title": [t for t, _ in r["context"]], "sentences": [s for _, s in r["context"]]},
                    }
                )
                + "\n"
            )
    result = load_source(SourceSpec("hotpot", str(folder), format="hub", hub_split="validation", split="dev"))
    direct = load(samples, "hotpot_sample.json")
    assert result.n_records == direct.n_records == len(records) and result.examples.height > 0
    cols = ["example_id", "context_id", "title", "question", "answers", "question_type"]
    assert result.examples.select(cols).equals(direct.examples.select(cols))
    assert (
        result.rejects.select("record_id", "field", "reason").rows()
        == direct.rejects.select("record_id", "field", "reason").rows()
    )

    # the flip rules on HotpotQA comparison questions, read through the hub path (spaCy tagger)
    from pipeline.flips import flips

    got = flips(result.examples, result.contexts)
    assert [(r["question"], r["answer"]["text"]) for r in got.rows] == [
        ("Who was born last, Ada Lovelace or Charles Babbage?", "Ada Lovelace"),
        ("Which band formed later, The Larkspurs or Copper Harbour?", "The Larkspurs"),
        ("Which mountain is lower, Mount Ostry or Mount Velka?", "Mount Ostry"),
    ]
    assert got.counts["not_a_choice"] == 1  # the bridge question has no options


# Issue 15: wrong gold span, format suffix, folder ---------------------------------------------


def test_any_case_match_ends_at_the_lowered_answer_length() -> None:
    # "İSTANBUL".lower() == "i̇stanbul": "i" + U+0307 COMBINING DOT ABOVE + "stanbul" = 9 characters,
    # one more than the answer. The context "We went to i̇stanbul." has it at 11 ("We went to " = 11
    # characters), so the span is [11, 20); the old code ended it at 11 + 8 = 19 ("i̇stanbu").
    context, parts = join_parts([("situation", "We went to i\u0307stanbul.")])
    found = locate_answer("\u0130STANBUL", parts)
    assert (found.start, found.end) == (11, 20)
    assert context[found.start : found.end] == "i\u0307stanbul"


def test_unknown_format_suffix_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown format 'csv' after the last ':'.*path would be 'file.json'"):
        SourceSpec.from_arg("x=file.json:csv")
    assert SourceSpec.from_arg("x=data/a:b.json").path == "data/a:b.json"  # a colon inside a file name stays a path
    assert SourceSpec.from_arg("x=rajpurkar/squad:hub").format == "hub"


def test_a_folder_is_named_as_a_folder_not_as_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a folder, expected a JSON file"):
        source_fingerprint(SourceSpec("x", str(tmp_path)))


def test_a_match_that_does_not_read_as_the_answer_is_no_match(tmp_path: Path, monkeypatch) -> None:
    """With the pre-issue-15 `_find_any_case` (end = start + len(answer)) the 8 characters "i̇stanbu"
    do not read as "İSTANBUL": the question is rejected instead of stored with a wrong gold span."""
    from pipeline.sources import locate

    def old_find_any_case(needle: str, haystack: str):
        i = locate.find_whole_word(needle.lower(), haystack.lower())
        return (i, i + len(needle)) if i != -1 else None

    monkeypatch.setattr(locate, "_find_any_case", old_find_any_case)
    doc = {
        "data": [
            {
                "title": "r",
                "paragraphs": [
                    {
                        "background": "B.",
                        "situation": "Tom lives in i\u0307stanbul.",
                        "qas": [{"id": "r1", "question": "Where?", "answers": [{"text": "\u0130STANBUL"}]}],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "ropes.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    r = load_source(SourceSpec("ropes", str(path)))
    assert r.examples.height == 0 and r.rejects.height == 1  # rejected with a reason, not kept wrong


def test_the_write_gate_stops_a_span_that_does_not_read_its_text(tmp_path: Path, monkeypatch) -> None:
    """A reader bug that stores an end one past the text: run_load refuses, names the record, writes nothing."""
    from pipeline.sources import squad
    from pipeline.stages import run_load

    monkeypatch.setattr(squad, "span", lambda text, start: {"text": text, "start": start, "end": start + len(text) + 1})
    doc = {
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "Marie Curie was born in Warsaw.",
                        "qas": [
                            {"id": "q1", "question": "Where?", "answers": [{"text": "Warsaw", "answer_start": 24}]}
                        ],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    root = tmp_path / "artifacts"
    with pytest.raises(
        io.ArtifactError, match=r"artifact 'examples' squad/dev .*column 'answers'.*example_id 'q1'.*\[24:31\]"
    ):
        run_load(root, SourceSpec("squad", str(path)))
    assert not (root / "examples").exists() and not (root / "contexts").exists()


def test_one_table_of_source_formats():
    """Every format of the table is accepted and has its parser module with `load_<parser>`."""
    import importlib

    from pipeline.sources.spec import SOURCE_FORMATS

    assert FORMATS == ("auto", *SOURCE_FORMATS)
    for name, fmt in SOURCE_FORMATS.items():
        assert callable(getattr(importlib.import_module(f"pipeline.sources.{fmt.parser}"), f"load_{fmt.parser}")), name
    assert [n for n, f in SOURCE_FORMATS.items() if not f.titles] == ["ropes", "hotpot"]
