"""Sample artifacts for training tests, written from the declared schemas with `pipeline.io`.

Dataset `sample`, splits `train` and `dev`: SQuAD-style contexts long enough for several
64-token windows, near-miss negatives, a ROPES-style 2x2 bundle per situation, question
flips, synthetic-answer examples and a `topk` partition (model `base`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline import io, schemas

DATASET = "sample"

PEOPLE = [
    (
        (
            "In 1998 Alice Smith founded the Orchard Company in Boston, "
            "and Bob Jones joined it in 2001 as its chief engineer."
        ),
        [
            ("Who founded the Orchard Company?", "Alice Smith", ["Bob Jones"]),
            ("When was the Orchard Company founded?", "1998", ["2001"]),
        ],
    ),
    (
        (
            "The bridge over the Red River was opened by Mayor Carla Diaz in 1964, "
            "eight years after Governor Ed Park approved it in 1956."
        ),
        [
            ("Who opened the bridge over the Red River?", "Carla Diaz", ["Ed Park"]),
            ("When did Governor Ed Park approve the bridge?", "1956", ["1964"]),
        ],
    ),
    (
        (
            "Paris hosted the fair in 1900 with 50 million visitors, "
            "while London had hosted an earlier one in 1851 with 6 million visitors."
        ),
        [
            ("Which city hosted the fair in 1900?", "Paris", ["London"]),
            ("How many visitors came to the fair in Paris?", "50 million", ["6 million"]),
        ],
    ),
]
FILLER = (
    " The archive that records these events is kept in a stone building near the old harbour, where visitors can "
    "read letters, maps and ledgers from many decades of local history. Volunteers guide small groups through the "
    "rooms every weekend and answer questions about the collection."
)
SITUATIONS = [
    (
        (
            "Town Alpha used a lot of fertilizer on its fields this year. Town Beta used none. "
            "Fertilizer runoff feeds algae in lakes."
        ),
        [
            ("Which town had more algae in its lake?", "Town Alpha"),
            ("Which town had less algae in its lake?", "Town Beta"),
        ],
    ),
    (
        (
            "Mary studied plants kept in sunlight, and John studied plants kept in a dark cellar. "
            "Sunlight drives photosynthesis."
        ),
        [("Whose plants did more photosynthesis?", "Mary"), ("Whose plants did less photosynthesis?", "John")],
    ),
]


def _span(context: str, text: str) -> dict:
    start = context.index(text)
    return {"text": text, "start": start, "end": start + len(text)}


def _example(eid: str, cid: str, question: str, answers: list[dict]) -> dict:
    return {
        "example_id": eid,
        "context_id": cid,
        "title": "",
        "question": question,
        "answers": answers,
        "is_impossible": not answers,
        "plausible_answers": [],
        "lang": "en",
        "question_type": None,
        "source_file": "tests",
        "source_record": eid,
    }


def _frames() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {
        k: [] for k in ("examples", "contexts", "near_miss", "bundles", "flips", "synthetic", "topk")
    }
    for i, (text, qas) in enumerate(PEOPLE):
        context = text + FILLER
        cid = io.text_id(context)
        rows["contexts"].append(
            {"context_id": cid, "context": context, "title": "", "lang": "en", "n_chars": len(context)}
        )
        for j, (question, answer, negatives) in enumerate(qas):
            eid = f"p{i}q{j}"
            gold = _span(context, answer)
            rows["examples"].append(_example(eid, cid, question, [gold]))
            negs = [{**_span(context, n), "label": "X"} for n in negatives]
            rows["near_miss"].append(
                {
                    "example_id": eid,
                    "context_id": cid,
                    "status": "ok",
                    "gold": gold,
                    "gold_label": "X",
                    "gold_coarse": "X",
                    "sentence": {"start": 0, "end": len(text)},
                    "negatives": negs,
                    "n_negatives": len(negs),
                }
            )
            for rank, span in enumerate(
                [gold] + [_span(context, n) for n in negatives] + [_span(context, "stone building")]
            ):
                rows["topk"].append(
                    {
                        "example_id": eid,
                        "context_id": cid,
                        "rank": rank,
                        "span": span,
                        "score": float(5 - rank),
                        "is_gold": rank == 0,
                        "overlaps_gold": False,
                    }
                )
            augmented = context + f" Some say {negatives[0]} is the answer to: {question}"
            inserted = _span(augmented[len(context) :], negatives[0])
            inserted = {**inserted, "start": inserted["start"] + len(context), "end": inserted["end"] + len(context)}
            rows["synthetic"].append(
                {
                    "example_id": f"{eid}~syn:rule",
                    "parent_id": eid,
                    "context_id": io.text_id(augmented),
                    "parent_context_id": cid,
                    "context": augmented,
                    "question": question,
                    "answers": [gold, inserted],
                    "insert_offset": len(context),
                    "inserted_text": augmented[len(context) :],
                    "inserted_answer": inserted,
                    "rule": "rule",
                }
            )
        rows["examples"].append(_example(f"p{i}u", cid, "What colour was the harbour boat?", []))
    for i, (text, qas) in enumerate(SITUATIONS):
        context = text + FILLER
        cid = io.text_id(context)
        rows["contexts"].append(
            {"context_id": cid, "context": context, "title": "", "lang": "en", "n_chars": len(context)}
        )
        for j, (question, answer) in enumerate(qas):
            eid = f"s{i}q{j}"
            rows["examples"].append(_example(eid, cid, question, [_span(context, answer)]))
            rows["bundles"].append(
                {
                    "bundle_id": f"b{i}",
                    "kind": "ropes-mined",
                    "mode": "paper",
                    "example_id": eid,
                    "context_id": cid,
                    "question": question,
                    "answer": _span(context, answer),
                    "role": "original",
                    "rule": None,
                    "parent_id": None,
                }
            )
        q0, a0 = qas[0]
        other = qas[1][1]
        rows["flips"].append(
            {
                "example_id": f"s{i}q0~flip:antonym",
                "parent_id": f"s{i}q0",
                "context_id": cid,
                "rule": "antonym",
                "question": q0.replace("more", "fewer"),
                "parent_question": q0,
                "options": [a0, other],
                "answer": _span(context, other),
                "parent_answer": _span(context, a0),
            }
        )
    return rows


def build_sample_artifacts(root: Path) -> Path:
    """Write every training input artifact for dataset `sample` (splits train and dev)."""
    rows = _frames()
    specs = {
        "examples": schemas.EXAMPLES,
        "contexts": schemas.CONTEXTS,
        "near_miss": schemas.NEAR_MISS,
        "bundles": schemas.BUNDLES,
        "flips": schemas.FLIPS,
        "synthetic": schemas.SYNTHETIC,
        "topk": schemas.TOPK,
    }
    for name, spec in specs.items():
        frame = pl.DataFrame(rows[name], schema=io.empty_frame(spec).schema)
        for split in ("train", "dev"):
            part = {"dataset": DATASET, "split": split}
            if name == "topk":
                part["model"] = "base"
            # the synthetic miner records its placement in the manifest; training follows it
            config = {"miner": "synthetic", "placement": "replace"} if name == "synthetic" else None
            io.write_partition(root, spec, frame, part, config=config)
    return root


@pytest.fixture(scope="session")
def train_root(tmp_path_factory) -> Path:
    """Artifact root with the sample training artifacts (built once per session)."""
    return build_sample_artifacts(tmp_path_factory.mktemp("train_artifacts"))


def tiny_overrides(root: Path, out: Path, steps: int = 20) -> list[str]:
    """`--set` overrides that turn any method config into a seconds-long CPU run."""
    return [
        "model.name=tiny",
        f"data.root={root}",
        f"data.dataset={DATASET}",
        "data.split=train",
        "data.filter_min_context_chars=0",
        "features.max_length=64",
        "features.stride=16",
        "optim.batch_windows=8",
        f"optim.max_steps={steps}",
        "optim.lr=3e-3",
        "optim.warmup_ratio=0.1",
        "optim.grad_accum=1",
        "precision=fp32",
        "device=cpu",
        f"output_dir={out}",
        "init_from=null",
        "data.max_examples=null",
    ]
