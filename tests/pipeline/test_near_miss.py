"""Near-miss negatives: hand-built frames, a small real spaCy run, and all of SQuAD 1.1 dev."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest

from pipeline import io
from pipeline.coarse_types import COARSE_TYPES, coarse_type
from pipeline.near_miss import NearMissConfig, near_miss, normalize_text
from pipeline.nlp import IndexConfig, ModelNotFoundError, load_nlp, resolve_package
from pipeline.schemas import CONTEXTS, EXAMPLES, INDEX, NEAR_MISS, REJECTS
from pipeline.spacy_index import build_index, read_index

#      0         1         2         3         4         5         6         7
#      0123456789012345678901234567890123456789012345678901234567890123456789012345
TEXT = "Alice met Bob, the Bob and Carol in Paris with the Alice. Dave saw Rome."
ENTS = [  # (text, label, sentence)
    ("Alice", "PERSON", 0),
    ("Bob", "PERSON", 0),
    ("the Bob", "PERSON", 0),
    ("Carol", "PERSON", 0),
    ("Paris", "GPE", 0),
    ("the Alice", "PERSON", 0),
    ("Dave", "PERSON", 1),
    ("Rome", "GPE", 1),
]
CID = io.text_id(TEXT)


def _span(text: str, occurrence: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(occurrence + 1):
        start = TEXT.index(text, start + 1)
    return start, start + len(text)


def _entities() -> list[dict]:
    out, used = [], {}
    for text, label, sent in ENTS:
        start = TEXT.index(text, used.get(text, 0))
        used[text] = start + 1
        out.append({"start": start, "end": start + len(text), "label": label, "sent": sent})
    return sorted(out, key=lambda e: e["start"])


def frames(*answers: list[dict], impossible: tuple[int, ...] = (), context_id: str = CID):
    examples = pl.DataFrame(
        [
            {
                "example_id": f"q{i}",
                "context_id": context_id,
                "title": "t",
                "question": "?",
                "answers": a,
                "is_impossible": i in impossible,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "toy.json",
                "source_record": f"qas[{i}]",
            }
            for i, a in enumerate(answers)
        ],
        schema=io.empty_frame(EXAMPLES).schema,
    )
    contexts = pl.DataFrame(
        [{"context_id": CID, "context": TEXT, "title": "t", "lang": "en", "n_chars": len(TEXT)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    split = TEXT.index("Dave")
    index = pl.DataFrame(
        [
            {
                "context_id": CID,
                "n_chars": len(TEXT),
                "entities": _entities(),
                "sentences": [{"start": 0, "end": split - 1}, {"start": split, "end": len(TEXT)}],
            }
        ],
        schema=io.empty_frame(INDEX).schema,
    )
    return examples, contexts, index


def gold(text: str, occurrence: int = 0) -> dict:
    start, end = _span(text, occurrence)
    return {"text": text, "start": start, "end": end}


def mine(*answers, cfg=NearMissConfig(), **kw):
    rows, rejects = near_miss(*frames(*answers, **kw), cfg)
    io.to_table(rows, NEAR_MISS), io.to_table(rejects, REJECTS)
    return rows.to_dicts(), rejects.to_dicts()


def test_same_sentence_same_type_other_text_in_document_order():
    [row], rejects = mine([gold("Carol")])
    assert rejects == []
    assert row["status"] == "ok" and row["gold_label"] == "PERSON" and row["gold_coarse"] == "PERSON"
    assert row["sentence"] == {"start": 0, "end": TEXT.index("Dave") - 1}
    # "the Bob" = "Bob" and "the Alice" = "Alice" after normalisation; Paris is a place; Dave is in sentence 1
    assert [n["text"] for n in row["negatives"]] == ["Alice", "Bob"] and row["n_negatives"] == 2
    assert all(TEXT[n["start"] : n["end"]] == n["text"] and n["label"] == "PERSON" for n in row["negatives"])


def test_max_negatives_and_all_gold_answers_excluded():
    [row], _ = mine([gold("Carol")], cfg=NearMissConfig(max_negatives=1))
    assert [n["text"] for n in row["negatives"]] == ["Alice"]
    [row], _ = mine([gold("Carol"), {"text": "the Alice", **dict(zip(("start", "end"), _span("the Alice")))}])
    assert [n["text"] for n in row["negatives"]] == ["Bob"]  # Alice would be right under the official metric


def test_gold_entity_prefers_exact_span_then_largest_overlap_and_negatives_avoid_the_gold():
    [row], _ = mine([gold("Bob and Carol")])  # overlaps "the Bob" (3 chars) and Carol (5 chars)
    assert row["gold_label"] == "PERSON"
    # "the Bob" and Carol overlap the gold span: skipped; the first "Bob" (offset 10) lies outside it
    assert [(n["text"], n["start"]) for n in row["negatives"]] == [("Alice", 0), ("Bob", 10)]
    [row], _ = mine([gold("Paris")])
    assert (row["gold_coarse"], row["status"], row["negatives"]) == ("PLACE", "no_negative", [])  # Rome: other sentence


def test_statuses_no_gold_entity_no_sentence_unanswerable():
    rows, rejects = mine([gold("met")], [gold(" Dave")], [], [gold("Alice")], impossible=(3,))
    assert [r["status"] for r in rows] == ["no_gold_entity", "no_negative", "unanswerable", "unanswerable"]
    assert rows[0]["sentence"] is not None and rows[0]["gold_label"] is None
    assert rows[1]["gold"]["text"] == " Dave"  # leading space skipped to find the sentence
    assert rows[2]["gold"] is None and rows[2]["n_negatives"] == 0
    examples, contexts, index = frames([gold("Alice")])
    gap = index.with_columns(pl.lit([{"start": 5, "end": 10}], dtype=index["sentences"].dtype).alias("sentences"))
    [row] = near_miss(examples, contexts, gap, NearMissConfig())[0].to_dicts()
    assert row["status"] == "no_sentence" and row["gold_label"] == "PERSON" and row["sentence"] is None


def test_unindexed_context_and_bad_offsets_go_to_rejects():
    examples, contexts, index = frames([gold("Alice")], [gold("Bob")], [{"text": "Bobby", "start": 10, "end": 15}])
    rows, rejects = near_miss(examples, contexts, index.clear(), NearMissConfig())
    assert rows.height == 0 and rejects["reason"].to_list() == ["context_not_indexed"] * 3
    rows, rejects = near_miss(examples, contexts, index, NearMissConfig())
    assert rows["example_id"].to_list() == ["q0", "q1"]
    assert rejects.select("record_id", "field", "reason", "source_file").row(0) == (
        "q2",
        "answers[0]",
        "gold_offset_mismatch",
        "toy.json",
    )
    rows, rejects = near_miss(examples, contexts.clear(), index, NearMissConfig())
    assert rejects["reason"].to_list() == ["context_missing"] * 3


def test_bad_config_and_frames_fail_clearly():
    with pytest.raises(ValueError, match="NearMissConfig.max_negatives"):
        NearMissConfig(max_negatives=0)
    examples, contexts, index = frames([gold("Alice")])
    with pytest.raises(ValueError, match=r"index frame lacks column\(s\) \['entities'\]"):
        near_miss(examples, contexts, index.drop("entities"), NearMissConfig())


def test_normalisation_and_coarse_table():
    assert normalize_text("The  Eiffel-Tower!") == "eiffeltower" and normalize_text("an apple") == "apple"
    assert normalize_text("A") == ""
    assert coarse_type("NORP") == coarse_type("ORG") == "ORG"
    assert coarse_type("FAC") == coarse_type("GPE") == "PLACE"
    assert coarse_type("ORDINAL") == "NUMBER" and coarse_type("TIME") == "TIME" and coarse_type("LAW") == "NAMED_THING"
    assert coarse_type("DISEASE") == "DISEASE" and coarse_type(None) is None
    assert len(set(COARSE_TYPES.values())) == 6


@pytest.fixture(scope="module")
def nlp():
    try:
        resolve_package("en_core_web_sm")
    except ModelNotFoundError as e:
        pytest.skip(str(e))
    return load_nlp(IndexConfig())


def test_coarse_table_covers_every_label_of_the_model(nlp):
    assert set(nlp.get_pipe("ner").labels) <= set(COARSE_TYPES)


def check_invariants(rows: pl.DataFrame, contexts: pl.DataFrame, index: pl.DataFrame) -> None:
    """Every negative: inside the gold's sentence, the gold's coarse type, other normalised text, real entity."""
    texts = dict(zip(contexts["context_id"], contexts["context"]))
    ents = {
        cid: {(e["start"], e["end"]): e["label"] for e in es} for cid, es in zip(index["context_id"], index["entities"])
    }
    for r in rows.filter(pl.col("n_negatives") > 0).iter_rows(named=True):
        text, sent, g = texts[r["context_id"]], r["sentence"], r["gold"]
        assert (
            r["status"] == "ok" and sent["start"] <= g["start"] + len(g["text"]) - len(g["text"].lstrip()) < sent["end"]
        )
        norms = [normalize_text(n["text"]) for n in r["negatives"]]
        assert len(set(norms)) == len(norms) <= 4
        for n in r["negatives"]:
            assert sent["start"] <= n["start"] < sent["end"], (r["example_id"], n)
            assert (
                text[n["start"] : n["end"]] == n["text"] and ents[r["context_id"]][(n["start"], n["end"])] == n["label"]
            )
            assert coarse_type(n["label"]) == r["gold_coarse"]
            assert normalize_text(n["text"]) != normalize_text(g["text"])


def test_small_real_spacy_run(root, nlp):
    text = (
        "In 1905 Albert Einstein published four papers while working in Bern, not in Zurich or Basel. "
        "Max Planck and Hendrik Lorentz read them in 1906."
    )
    contexts = pl.DataFrame(
        [{"context_id": io.text_id(text), "context": text, "title": "t", "lang": "en", "n_chars": len(text)}],
        schema=io.empty_frame(CONTEXTS).schema,
    )
    build_index(root, contexts, IndexConfig(), nlp=nlp)
    index = read_index(root, IndexConfig())
    qa = [
        ("Who published four papers?", "Albert Einstein"),
        ("Where did he not work?", "Zurich"),
        ("Who read them?", "Max Planck"),
    ]
    examples = pl.DataFrame(
        [
            {
                "example_id": f"e{i}",
                "context_id": io.text_id(text),
                "title": "t",
                "question": q,
                "answers": [{"text": a, "start": text.index(a), "end": text.index(a) + len(a)}],
                "is_impossible": False,
                "plausible_answers": [],
                "lang": "en",
                "question_type": None,
                "source_file": "made-up",
                "source_record": str(i),
            }
            for i, (q, a) in enumerate(qa)
        ],
        schema=io.empty_frame(EXAMPLES).schema,
    )
    rows, rejects = near_miss(examples, contexts, index, NearMissConfig())
    assert rows.height == 3 and rejects.height == 0
    by_id = {r["example_id"]: r for r in rows.to_dicts()}
    assert {n["text"] for n in by_id["e1"]["negatives"]} == {"Basel"}  # the small model tags Bern as ORG
    assert {n["text"] for n in by_id["e2"]["negatives"]} == {"Hendrik Lorentz"}
    assert by_id["e0"]["status"] == "no_negative"  # no other person in the first sentence
    check_invariants(rows, contexts, index)


# Integration: all of SQuAD 1.1 dev -------------------------------------------------------


def squad_frames(path) -> tuple[pl.DataFrame, pl.DataFrame]:
    with open(path, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    contexts, examples = {}, []
    for a in articles:
        for p in a["paragraphs"]:
            cid = io.text_id(p["context"])
            contexts[cid] = {
                "context_id": cid,
                "context": p["context"],
                "title": a["title"],
                "lang": "en",
                "n_chars": len(p["context"]),
            }
            for q in p["qas"]:
                answers = [
                    {"text": x["text"], "start": x["answer_start"], "end": x["answer_start"] + len(x["text"])}
                    for x in q["answers"]
                ]
                examples.append(
                    {
                        "example_id": q["id"],
                        "context_id": cid,
                        "title": a["title"],
                        "question": q["question"],
                        "answers": answers,
                        "is_impossible": False,
                        "plausible_answers": [],
                        "lang": "en",
                        "question_type": None,
                        "source_file": str(path),
                        "source_record": q["id"],
                    }
                )
    return (
        pl.DataFrame(examples, schema=io.empty_frame(EXAMPLES).schema),
        pl.DataFrame(list(contexts.values()), schema=io.empty_frame(CONTEXTS).schema),
    )


@pytest.fixture(scope="session")
def squad_dev_index(shared_data, tmp_path_factory):
    """SQuAD 1.1 dev examples, contexts and their index, built once per test session."""
    examples, contexts = squad_frames(shared_data / "squad" / "v1.1" / "dev-v1.1.json")
    root = tmp_path_factory.mktemp("squad_dev_index")
    t0 = time.perf_counter()
    stats = build_index(root, contexts, IndexConfig())
    print(f"\nindexed {stats.n_new} SQuAD 1.1 dev contexts in {time.perf_counter() - t0:.1f}s")
    return examples, contexts, read_index(root, IndexConfig())


@pytest.mark.integration
def test_squad11_dev_near_miss(squad_dev_index):
    examples, contexts, index = squad_dev_index
    assert (examples.height, contexts.height, index.height) == (10570, 2067, 2067)
    rows, rejects = near_miss(examples, contexts, index, NearMissConfig())
    assert rejects.height == 0 and rows.height == examples.height
    assert rows["example_id"].to_list() == examples["example_id"].to_list()
    share = (rows["n_negatives"] > 0).mean()
    counts = dict(rows["status"].value_counts().iter_rows())
    print(f"\nnear_miss on {rows.height} questions; share with >=1 negative {share:.1%}; {counts}")
    assert 0.2 < share < 0.45, counts
    check_invariants(rows, contexts, index)
